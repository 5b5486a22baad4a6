"""Two coupled oscillators asked to end at a target position (a terminal cost).

PFVP and HEL absorb the terminal cost by kicking the nudged run's final momentum by
−β∇ψ; CIVP adds ∇ψ·∂θq(T) to its residual.

    L = ½ m1 q̇1² + ½ m2 q̇2² − ½ k1 q1² − ½ k2 q2² − ½ c (q2 − q1)² + u q1
    C = ∫ ½ w (q2 − y)² dt + ½ (q2(T) − 0.3)²
"""

import sympy as sp

from glep import Cost, Lagrangian, Problem

t = sp.Symbol("t")
q1, q2 = sp.Function("q1")(t), sp.Function("q2")(t)
u = sp.Function("u")(t)
y = sp.Function("y")(t)
m1, m2, k1, k2, c = sp.symbols("m1 m2 k1 k2 c")
w = 0.1

lagrangian = (
    m1 * q1.diff(t) ** 2 / 2 + m2 * q2.diff(t) ** 2 / 2
    - k1 * q1**2 / 2 - k2 * q2**2 / 2 - c * (q2 - q1) ** 2 / 2 + u * q1
)

problem = Problem(
    Lagrangian(lagrangian, coords=[q1, q2], params=[m1, m2, k1, k2, c], inputs=[u]),
    Cost(running=w * (q2 - y) ** 2 / 2, terminal=(q2 - 0.3) ** 2 / 2, targets=[y]),
    params={m1: 1.0, m2: 1.2, k1: 1.0, k2: 1.5, c: 0.5},
    initial={q1: 0.1, q2: 0.0, q1.diff(t): 0.0, q2.diff(t): 0.2},
    inputs={u: sp.sin(2 * t) / 2},
    targets={y: sp.sin(t) / 5},
    horizon=3.0,
    steps=1200,
)
