"""System identification: a chain of n masses whose springs are to be learned from data.

The same anharmonic (FPU-β) chain as ``anharmonic_chain.py``, with known unit masses; the
spring constants k_j and quartic coefficients b_j are learnable. An input force drives
mass 1 and every mass position is observed: the cost compares them all with targets (the
positions a teacher chain produced under the same force; ``glep data identification``).

    L = Σ ½ q̇_i² − Σ_j [½ k_j (q_{j+1} − q_j)² + ¼ b_j (q_{j+1} − q_j)⁴] + u q_1
    c = ½ Σ_i (q_i − y_i)²
"""

import sympy as sp

from glep import Cost, Lagrangian, Problem

n = 4
t = sp.Symbol("t")
q = [sp.Function(f"q{i}")(t) for i in range(1, n + 1)]
y = [sp.Function(f"y{i}")(t) for i in range(1, n + 1)]
u = sp.Function("u")(t)
k = sp.symbols(f"k0:{n + 1}")
b = sp.symbols(f"b0:{n + 1}")

walls = [sp.S.Zero, *q, sp.S.Zero]
stretch = [walls[j + 1] - walls[j] for j in range(n + 1)]
potential = sum(kj * s**2 / 2 + bj * s**4 / 4 for kj, bj, s in zip(k, b, stretch))
kinetic = sum(qi.diff(t) ** 2 / 2 for qi in q)

problem = Problem(
    Lagrangian(kinetic - potential + u * q[0], coords=q, params=[*k, *b], inputs=[u]),
    Cost(running=sum((qi - yi) ** 2 for qi, yi in zip(q, y)) / 2, targets=y),
    params={**{kj: 1.0 for kj in k}, **{bj: 0.5 for bj in b}},
    initial={**{qi: 0.0 for qi in q}, **{qi.diff(t): 0.0 for qi in q}},
    inputs={u: sp.sin(2 * t)},
    targets={yi: 0 for yi in y},
    horizon=4.0,
    steps=400,
)
