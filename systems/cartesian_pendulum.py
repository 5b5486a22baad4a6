"""The pendulum of pendulum.py in Cartesian coordinates: the bob (x, y) is held on a circle of
radius l by a holonomic constraint, whose multiplier λ is the rod's tension; an input torque
u drives it, and the cost asks its horizontal position to follow a target.

    L = ½ m (ẋ² + ẏ²) − m g y + u atan2(x, −y),    x² + y² − l² = 0,    c = ½ (x − x_ref)²

With θ = atan2(x, −y) this is L = ½ m l² θ̇² + m g l cos θ + u θ. The mass m and the gravity
g are learned; the length l sits in the constraint and is a number (a learned constraint
would move the manifold away from the initial state). RATTLE integrates it; HEL is its
discrete echo.
"""

import math

import sympy as sp

from glep import Cost, Lagrangian, Problem

l = 1.0  # the rod's length
angle = 0.5  # the initial angle from the downward vertical
t = sp.Symbol("t")
x, y = sp.Function("x")(t), sp.Function("y")(t)
u = sp.Function("u")(t)
x_ref = sp.Function("x_ref")(t)
m, g = sp.symbols("m g")

problem = Problem(
    Lagrangian(m * (x.diff(t) ** 2 + y.diff(t) ** 2) / 2 - m * g * y + u * sp.atan2(x, -y),
               coords=[x, y], params=[m, g], inputs=[u], constraints=[x**2 + y**2 - l**2]),
    Cost(running=(x - x_ref) ** 2 / 2, targets=[x_ref]),
    params={m: 1.0, g: 9.81},
    initial={x: l * math.sin(angle), y: -l * math.cos(angle), x.diff(t): 0.0, y.diff(t): 0.0},
    inputs={u: sp.sin(2 * t) / 2},
    targets={x_ref: sp.sin(t) / 5},
    horizon=3.0,
    steps=6000,
)
