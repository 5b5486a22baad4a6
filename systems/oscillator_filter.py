"""Physical signal processing: six coupled oscillators with a learnable linear readout.

The oscillators of ``coupled_oscillators.py`` (masses, springs and couplings learnable)
are driven by an input force on mass 1; a linear readout ŷ = Σ w_j q_j of their positions
should reproduce a target signal, a fixed linear filter of the input
(``glep data filter``). The readout weights live only in the cost.

    L = Σ ½ m_i q̇_i² − Σ ½ k_i q_i² − Σ ½ c_i (q_{i+1} − q_i)² + u q_1
    c = ½ (Σ w_j q_j − y)²
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
w = sp.symbols(f"w1:{n + 1}")

kinetic = sum(mi * qi.diff(t) ** 2 / 2 for mi, qi in zip(m, q))
ground = sum(ki * qi**2 / 2 for ki, qi in zip(k, q))
coupling = sum(ci * (q[i + 1] - q[i]) ** 2 / 2 for i, ci in enumerate(c))
readout = sum(wi * qi for wi, qi in zip(w, q))

problem = Problem(
    Lagrangian(kinetic - ground - coupling + u * q[0], coords=q, params=[*m, *k, *c], inputs=[u]),
    Cost(running=(readout - y) ** 2 / 2, targets=[y], params=w),
    params={
        **{mi: 1.0 for mi in m},
        **{ki: 1.0 + 0.5 * i for i, ki in enumerate(k)},
        **{ci: 0.5 for ci in c},
        **{wi: 0.1 for wi in w},
    },
    initial={**{qi: 0.0 for qi in q}, **{qi.diff(t): 0.0 for qi in q}},
    inputs={u: sp.sin(2 * t)},
    targets={y: 0},
    horizon=10.0,
    steps=500,
)
