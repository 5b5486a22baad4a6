"""A Hamiltonian state-space model over the nonlinear HRU (systems/nonlinear_hru.py), for
sequence classification: encoder → ``blocks`` × (LayerNorm → HRU layer → readout → GELU →
GLU → residual) → mean over time → classifier. The HRU layers learn by RHEL (bias O(β²):
the unit is not quadratic) or BPTT:

    glep train systems/hssm_nonlinear.py --data BasicMotions --compare RHEL,BPTT --seed 0,1,2

Sizes are settings (``--set units=64``).
"""

from pathlib import Path

import glep

hidden, units, blocks = 32, 32, 2  # features between blocks, HRU units per layer, layers
dt = 0.5  # leapfrog time step of the HRU layers
dropout = 0.0
# float64 and RHEL's nudge beta = 1e-5: the bias is O(beta^2) for this unit. With the unit's
# defaults (float32: beta 2e-2; float64: 1e-3) the echo of the second block misses the initial
# state by more than its tolerance on BasicMotions (up to 0.4; gradient errors up to 8 %).
dtype = "float64"
beta = 1e-5

problem = glep.HSSMProblem(
    glep.load_problem(Path(__file__).with_name("nonlinear_hru.py")),
    hidden=hidden, units=units, blocks=blocks, dt=dt, dropout=dropout, beta=beta,
    dtype=dtype,
)
