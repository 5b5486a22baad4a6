"""Six coupled oscillators (the RHEL paper's physical example).

Six masses in a row, each tied to the ground by a spring k_i and to its neighbour by a
coupling spring c_i; an input force drives mass 1 and the cost asks mass 4 to follow a
target signal. Masses, springs and couplings are all learnable.

    L = Σ ½ m_i q̇_i² − Σ ½ k_i q_i² − Σ ½ c_i (q_{i+1} − q_i)² + u q_1,   c = ½ (q_4 − y)²
"""

import sympy as sp

from glep import Cost, Lagrangian, Problem

n = 6
t = sp.Symbol("t")
q = [sp.Function(f"q{i}")(t) for i in range(1, n + 1)]
u = sp.Function("u")(t)
y = sp.Function("y")(t)
m = sp.symbols(f"m1:{n + 1}")
k = sp.symbols(f"k1:{n + 1}")
c = sp.symbols(f"c1:{n}")

kinetic = sum(mi * qi.diff(t) ** 2 / 2 for mi, qi in zip(m, q))
ground = sum(ki * qi**2 / 2 for ki, qi in zip(k, q))
coupling = sum(ci * (q[i + 1] - q[i]) ** 2 / 2 for i, ci in enumerate(c))

problem = Problem(
    Lagrangian(kinetic - ground - coupling + u * q[0], coords=q, params=[*m, *k, *c], inputs=[u]),
    Cost(running=(q[3] - y) ** 2 / 2, targets=[y]),
    params={
        **{mi: 1.0 + 0.1 * i for i, mi in enumerate(m)},
        **{ki: 1.0 + 0.2 * i for i, ki in enumerate(k)},
        **{ci: 0.5 for ci in c},
    },
    initial={**{qi: 0.0 for qi in q}, **{qi.diff(t): 0.0 for qi in q}},
    inputs={u: sp.sin(2 * t) + sp.cos(3 * t) / 2},
    targets={y: sp.sin(t) / 4},
    horizon=5.0,
    steps=2000,
)
