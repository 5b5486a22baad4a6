"""A Hamiltonian state-space model over the linear HRU (systems/linear_hru.py), for sequence
classification: encoder → ``blocks`` × (LayerNorm → HRU layer → readout → GELU → GLU →
residual) → mean over time → classifier. The HRU layers learn by RHEL (exact for this
quadratic unit) or BPTT:

    glep train systems/hssm_linear.py --data BasicMotions --compare RHEL,BPTT --seed 0,1,2

Sizes are settings (``--set units=64``).
"""

from pathlib import Path

import glep

hidden, units, blocks = 32, 32, 2  # features between blocks, HRU units per layer, layers
dt = 0.5  # leapfrog time step of the HRU layers
dropout = 0.0
dtype = "float32"  # RHEL is exact for this quadratic unit, at its default beta = 1

problem = glep.HSSMProblem(
    glep.load_problem(Path(__file__).with_name("linear_hru.py")),
    hidden=hidden, units=units, blocks=blocks, dt=dt, dropout=dropout, dtype=dtype,
)
