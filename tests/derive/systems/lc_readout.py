"""An LC ladder in charges and fluxes with a voltage readout (test system).

Loop charges q_i and inductor fluxes phi_i are canonical pairs; the output voltage of the
last capacitor, scaled by a readout gain w, should follow a target. C3 enters both the
dynamics and the cost (it converts the charge to a voltage); w enters the cost only.

    H = Σ φ_i²/(2 L_i) + q1²/(2 C1) + Σ (q_i − q_{i+1})²/(2 C_{i+1}) − u q1
    c = ½ (w (q2 − q3)/C3 − y)²,   ψ = ½ w q3(T)²
"""

import sympy as sp

from glep import Cost, Hamiltonian, Problem

n = 3
t = sp.Symbol("t")
q = [sp.Function(f"q{i}")(t) for i in range(1, n + 1)]
phi = [sp.Function(f"phi{i}")(t) for i in range(1, n + 1)]
u = sp.Function("u")(t)
y = sp.Function("y")(t)
L = sp.symbols(f"L1:{n + 1}")
C = sp.symbols(f"C1:{n + 1}")
w = sp.Symbol("w")

H = (sum(p**2 / (2 * inductance) for p, inductance in zip(phi, L)) + q[0] ** 2 / (2 * C[0])
     + sum((q[i] - q[i + 1]) ** 2 / (2 * C[i + 1]) for i in range(n - 1)) - u * q[0])

problem = Problem(
    Hamiltonian(H, coords=q, momenta=phi, params=[*L, *C], inputs=[u]),
    Cost(running=(w * (q[-2] - q[-1]) / C[-1] - y) ** 2 / 2, terminal=w * q[-1] ** 2 / 2,
         targets=[y], params=[w]),
    params={**{inductance: 1.0 + 0.1 * i for i, inductance in enumerate(L)},
            **{c: 1.0 + 0.2 * i for i, c in enumerate(C)}, w: 0.8},
    initial={**{qi: 0.05 * i for i, qi in enumerate(q)}, **{p: 0.0 for p in phi}},
    inputs={u: sp.sin(2 * t)},
    targets={y: sp.sin(t) / 4},
    horizon=3.0,
    steps=600,
)
