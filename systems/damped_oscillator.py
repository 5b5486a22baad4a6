"""A driven oscillator with viscous damping, declared by a Rayleigh function.

Damping breaks time-reversal invariance, so there is no echo. A single mass has
mass-proportional damping (γ = c/m), whose Lagrangian is e^{γt} L (THEORY.md §6): PFVP
still applies to it, by backward integration.

    L = ½ m q̇² − ½ k q² + u q,    F = ½ c q̇²,    c_cost = ½ (q − y)²
"""

import sympy as sp

from glep import Cost, Lagrangian, Problem

t = sp.Symbol("t")
q = sp.Function("q")(t)
u = sp.Function("u")(t)
y = sp.Function("y")(t)
m, k, c = sp.symbols("m k c")

problem = Problem(
    Lagrangian(m * q.diff(t) ** 2 / 2 - k * q**2 / 2 + u * q, coords=[q], params=[m, k, c],
               inputs=[u], dissipation=c * q.diff(t) ** 2 / 2),
    Cost(running=(q - y) ** 2 / 2, targets=[y]),
    params={m: 1.0, k: 2.0, c: 0.3},
    initial={q: 0.2, q.diff(t): 0.1},
    inputs={u: sp.sin(2 * t) / 2},
    targets={y: sp.cos(t) / 4},
    horizon=3.0,
    steps=1200,
)
