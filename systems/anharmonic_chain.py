"""A chain of n masses between two walls, joined by anharmonic (FPU-β) springs.

Spring j joins mass j to mass j + 1 (mass 0 and mass n + 1 are the walls):

    L = Σ ½ m_i q̇_i² − Σ_j [½ k_j (q_{j+1} − q_j)² + ¼ b_j (q_{j+1} − q_j)⁴] + u q_1
    c = ½ (q_n − y)²

Change the number of masses with ``glep ... --set n=16``.
"""

import sympy as sp

from glep import Cost, Lagrangian, Problem

n = 8
t = sp.Symbol("t")
q = [sp.Function(f"q{i}")(t) for i in range(1, n + 1)]
u = sp.Function("u")(t)
y = sp.Function("y")(t)
m = sp.symbols(f"m1:{n + 1}")
k = sp.symbols(f"k0:{n + 1}")
b = sp.symbols(f"b0:{n + 1}")

walls = [sp.S.Zero, *q, sp.S.Zero]
stretch = [walls[j + 1] - walls[j] for j in range(n + 1)]
potential = sum(kj * s**2 / 2 + bj * s**4 / 4 for kj, bj, s in zip(k, b, stretch))
kinetic = sum(mi * qi.diff(t) ** 2 / 2 for mi, qi in zip(m, q))

problem = Problem(
    Lagrangian(kinetic - potential + u * q[0], coords=q, params=[*m, *k, *b], inputs=[u]),
    Cost(running=(q[-1] - y) ** 2 / 2, targets=[y]),
    params={
        **{mi: 1.0 for mi in m},
        **{kj: 1.0 + 0.05 * j for j, kj in enumerate(k)},
        **{bj: 0.5 for bj in b},
    },
    initial={**{qi: 0.1 * (-1) ** i for i, qi in enumerate(q)}, **{qi.diff(t): 0.0 for qi in q}},
    inputs={u: sp.sin(2 * t) / 2},
    targets={y: sp.sin(t) / 5},
    horizon=4.0,
    steps=1600,
)
