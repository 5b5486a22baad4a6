"""A nonlinear Hamiltonian recurrent unit (the RHEL paper's nonlinear HRU):

    H = ½‖π‖² + ½ Σ_i alpha_i φ_i² + Σ_i log cosh(A_i φ_i + (B u)_i + b_i) / A_i,    A > 0

so the force on unit i is ``−alpha_i φ_i − tanh(A_i φ_i + (B u)_i + b_i)``. ``log cosh`` is
printed in a stable form (no overflow). Not quadratic: RHEL's bias is O(β²).
"""

import sympy as sp

from glep import HRUProblem, InputMatrix, LogCosh, VectorizedHamiltonian

phi, pi = sp.symbols("phi pi")  # one unit's position and momentum
A, b, alpha = sp.symbols("A b alpha")  # per-unit vectors, shape (n,)
B = InputMatrix("B")  # input matrix, shape (n, m); B.drive stands for (B u)_i

problem = HRUProblem(
    VectorizedHamiltonian(
        pi**2 / 2 + alpha * phi**2 / 2 + LogCosh(A * phi + B.drive + b) / A,
        position=phi, momentum=pi, params=[A, B, b, alpha],
    ),
    name="nonlinear_hru",
    init={A: (0.5, 1.5), b: (-0.1, 0.1), alpha: (0.0, 1.0)},
    positive=[A],
)
