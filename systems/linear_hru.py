"""A linear Hamiltonian recurrent unit (the RHEL paper's linear HRU), n units, m inputs:

    H = ½‖π‖² + ½ Σ_i A_i φ_i² − φᵀ B u,    A ≥ 0 (stable leapfrog needs δ² A < 4)

Declared per unit: ``h_i = ½ π_i² + ½ A_i φ_i² − φ_i (B u)_i``, summed over units.
Quadratic, so the centered discrete echo (RHEL) equals BPTT at every β.
"""

import sympy as sp

from glep import HRUProblem, InputMatrix, VectorizedHamiltonian

phi, pi = sp.symbols("phi pi")  # one unit's position and momentum
A = sp.Symbol("A")  # stiffness per unit, shape (n,)
B = InputMatrix("B")  # input matrix, shape (n, m); B.drive stands for (B u)_i

problem = HRUProblem(
    VectorizedHamiltonian(pi**2 / 2 + A * phi**2 / 2 - phi * B.drive,
                          position=phi, momentum=pi, params=[A, B]),
    name="linear_hru",
    init={A: (0.0, 1.0)},
    positive=[A],
)
