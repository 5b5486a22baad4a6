"""A double pendulum with a torque on the first joint (its kinetic term is not separable).

    L = ½ (m1 + m2) l1² θ̇1² + ½ m2 l2² θ̇2² + m2 l1 l2 θ̇1 θ̇2 cos(θ1 − θ2)
        + (m1 + m2) g l1 cos θ1 + m2 g l2 cos θ2 + u θ1,        c = ½ (θ2 − y)²
"""

import sympy as sp

from glep import Cost, Lagrangian, Problem

g = 9.81
t = sp.Symbol("t")
a1, a2 = sp.Function("theta1")(t), sp.Function("theta2")(t)
u = sp.Function("u")(t)
y = sp.Function("y")(t)
m1, m2, l1, l2 = sp.symbols("m1 m2 l1 l2")
w1, w2 = a1.diff(t), a2.diff(t)

lagrangian = (
    (m1 + m2) * l1**2 * w1**2 / 2
    + m2 * l2**2 * w2**2 / 2
    + m2 * l1 * l2 * w1 * w2 * sp.cos(a1 - a2)
    + (m1 + m2) * g * l1 * sp.cos(a1)
    + m2 * g * l2 * sp.cos(a2)
    + u * a1
)

problem = Problem(
    Lagrangian(lagrangian, coords=[a1, a2], params=[m1, m2, l1, l2], inputs=[u]),
    Cost(running=(a2 - y) ** 2 / 2, targets=[y]),
    params={m1: 1.0, m2: 0.8, l1: 1.0, l2: 0.7},
    initial={a1: 0.4, a2: -0.3, w1: 0.0, w2: 0.2},
    inputs={u: sp.sin(2 * t) / 2},
    targets={y: sp.sin(t) / 5},
    horizon=3.0,
    steps=1200,
)
