"""A charged particle in a plane, in a uniform magnetic field and a harmonic trap.

The magnetic term ½B(x ẏ − y ẋ) is odd in the velocities and not a total derivative:
the system is not time-reversal invariant, so Hamiltonian echo learning does not apply,
while PFVP (backward integration) still gives exact gradients.

    L = ½ m (ẋ² + ẏ²) + ½ B (x ẏ − y ẋ) − ½ k (x² + y²) + u x,    c = ½ (y − r)²
"""

import sympy as sp

from glep import Cost, Lagrangian, Problem

t = sp.Symbol("t")
x, y = sp.Function("x")(t), sp.Function("y")(t)
u = sp.Function("u")(t)  # force along x
r = sp.Function("r")(t)  # target for y
m, B, k = sp.symbols("m B k")

lagrangian = (
    m * (x.diff(t) ** 2 + y.diff(t) ** 2) / 2
    + B * (x * y.diff(t) - y * x.diff(t)) / 2
    - k * (x**2 + y**2) / 2
    + u * x
)

problem = Problem(
    Lagrangian(lagrangian, coords=[x, y], params=[m, B, k], inputs=[u]),
    Cost(running=(y - r) ** 2 / 2, targets=[r]),
    params={m: 1.0, B: 0.8, k: 1.5},
    initial={x: 0.2, y: -0.1, x.diff(t): 0.0, y.diff(t): 0.3},
    inputs={u: sp.sin(2 * t) / 2},
    targets={r: sp.sin(t) / 4},
    horizon=3.0,
    steps=1200,
)
