"""A pendulum driven by an input torque; the cost asks its angle to follow a target.

    L = ½ m l² θ̇² + m g l cos θ + u θ,    c = ½ (θ − y)²
"""

import sympy as sp

from glep import Cost, Lagrangian, Problem

g = 9.81
t = sp.Symbol("t")
theta1 = sp.Function("theta1")(t)
u = sp.Function("u")(t)
y = sp.Function("y")(t)
m, l = sp.symbols("m l")

problem = Problem(
    Lagrangian(m * l**2 * theta1.diff(t) ** 2 / 2 + m * g * l * sp.cos(theta1) + u * theta1,
               coords=[theta1], params=[m, l], inputs=[u]),
    Cost(running=(theta1 - y) ** 2 / 2, targets=[y]),
    params={m: 1.0, l: 1.0},
    initial={theta1: 0.5, theta1.diff(t): 0.0},
    inputs={u: sp.sin(2 * t) / 2},
    targets={y: sp.sin(t) / 5},
    horizon=3.0,
    steps=1200,
)
