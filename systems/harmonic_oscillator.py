"""A driven harmonic oscillator: one mass on a spring, pushed by an input force.

    L = ½ m q̇² − ½ k q² + w u q,    cost c = ½ (q − y)²
"""

import sympy as sp

from glep import Cost, Lagrangian, Problem

t = sp.Symbol("t")
q = sp.Function("q")(t)
u = sp.Function("u")(t)  # input force
y = sp.Function("y")(t)  # target position
m, k, w = sp.symbols("m k w")

problem = Problem(
    Lagrangian(m * q.diff(t) ** 2 / 2 - k * q**2 / 2 + w * u * q, coords=[q], params=[m, k, w],
               inputs=[u]),
    Cost(running=(q - y) ** 2 / 2, targets=[y]),
    params={m: 1.0, k: 2.0, w: 0.5},
    initial={q: 0.1, q.diff(t): 0.3},
    inputs={u: sp.sin(3 * t)},
    targets={y: sp.cos(t) / 2},
    horizon=3.0,
    steps=600,
)
