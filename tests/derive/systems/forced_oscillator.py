"""An oscillator forced by a known function of time written into L (test system).

    L = ½ m q̇² − ½ k q² + a sin(2t) q,   c = ½ (q − y)²,   ψ = ½ (q(T) − 0.2)²

``sin(2t)`` is lifted to an input signal, so the system is time-reversal invariant with
that signal replayed reversed, and HEL applies.
"""

import sympy as sp

from glep import Cost, Lagrangian, Problem

t = sp.Symbol("t")
q = sp.Function("q")(t)
y = sp.Function("y")(t)
m, k, a = sp.symbols("m k a")

problem = Problem(
    Lagrangian(m * q.diff(t) ** 2 / 2 - k * q**2 / 2 + a * sp.sin(2 * t) * q, [q], [m, k, a]),
    Cost(running=(q - y) ** 2 / 2, terminal=(q - 0.2) ** 2 / 2, targets=[y]),
    params={m: 1.0, k: 2.0, a: 0.7},
    initial={q: 0.1, q.diff(t): 0.3},
    targets={y: sp.cos(t) / 3},
    horizon=3.0,
    steps=600,
)
