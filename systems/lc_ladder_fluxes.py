"""The LC ladder of ``systems/lc_ladder.py`` declared as a Hamiltonian in loop charges q_i and
inductor fluxes φ_i = L_i q̇_i (the variables a circuit designer measures):

    H = Σ φ_i²/(2 L_i) + Σ (q_i − q_{i+1})²/(2 C_i) − u q_1,   c = ½ Σ (v_i − y_i)²

with v_i = (q_i − q_{i+1})/C_i (q_{n+1} = 0). The rules are printed as −∂H/∂θ reading
(q, φ), and the initial state fixed when a parameter changes is (q0, φ0). Started from rest
it moves exactly as the Lagrangian ladder. Change the number of stages with ``--set n=5``.
"""

import sympy as sp

from glep import Cost, Hamiltonian, Problem

n = 3
t = sp.Symbol("t")
q = [sp.Function(f"q{i}")(t) for i in range(1, n + 1)]
phi = [sp.Function(f"phi{i}")(t) for i in range(1, n + 1)]
u = sp.Function("u")(t)
y = [sp.Function(f"y{i}")(t) for i in range(1, n + 1)]
inductance = sp.symbols(f"L1:{n + 1}")
capacitance = sp.symbols(f"C1:{n + 1}")

charge = [q[i] - (q[i + 1] if i + 1 < n else 0) for i in range(n)]
voltage = [qc / ci for qc, ci in zip(charge, capacitance)]
magnetic = sum(p**2 / (2 * li) for p, li in zip(phi, inductance))
electric = sum(qc**2 / (2 * ci) for qc, ci in zip(charge, capacitance))

problem = Problem(
    Hamiltonian(magnetic + electric - u * q[0], coords=q, momenta=phi,
                params=[*inductance, *capacitance], inputs=[u]),
    Cost(running=sum((vi - yi) ** 2 for vi, yi in zip(voltage, y)) / 2, targets=y),
    params={**{li: 1.0 for li in inductance}, **{ci: 1.0 for ci in capacitance}},
    initial={**{qi: 0.0 for qi in q}, **{p: 0.0 for p in phi}},
    inputs={u: sp.sin(2 * t)},
    targets={yi: 0 for yi in y},
    horizon=8.0,
    steps=400,
)
