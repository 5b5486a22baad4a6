"""An LC ladder in loop charges (Lagrangian form): a voltage source u drives n stages, each a
series inductor L_i and a shunt capacitor C_i; the capacitor voltages are observed.

Loop i carries the charge q_i through L_i; capacitor i carries q_i − q_{i+1} (q_{n+1} = 0)
and sits at the voltage v_i = (q_i − q_{i+1})/C_i:

    L = Σ ½ L_i q̇_i² − Σ ½ (q_i − q_{i+1})²/C_i + u q_1,   c = ½ Σ (v_i − y_i)²

The observed voltages cannot tell (L, C) from (αL, C/α): the scaled ladder has the
Lagrangian α L_0 + u q_1 (L_0 the source-free part), so from rest it moves as the original
ladder driven by u/α, q → q/α, and v = (q_i − q_{i+1})/C_i is unchanged. Started from rest
(the declared initial state; ``glep data identification --initial declared``), data can
only fix the products L_i C_j: ``glep train`` then reports the direction
d log L = +1, d log C = −1 as unidentifiable. Change the number of stages with
``--set n=5``.
"""

import sympy as sp

from glep import Cost, Lagrangian, Problem

n = 3
t = sp.Symbol("t")
q = [sp.Function(f"q{i}")(t) for i in range(1, n + 1)]
u = sp.Function("u")(t)
y = [sp.Function(f"y{i}")(t) for i in range(1, n + 1)]
inductance = sp.symbols(f"L1:{n + 1}")
capacitance = sp.symbols(f"C1:{n + 1}")

charge = [q[i] - (q[i + 1] if i + 1 < n else 0) for i in range(n)]
voltage = [qc / ci for qc, ci in zip(charge, capacitance)]
kinetic = sum(li * qi.diff(t) ** 2 / 2 for li, qi in zip(inductance, q))
potential = sum(qc**2 / (2 * ci) for qc, ci in zip(charge, capacitance))

problem = Problem(
    Lagrangian(kinetic - potential + u * q[0], coords=q, params=[*inductance, *capacitance],
               inputs=[u]),
    Cost(running=sum((vi - yi) ** 2 for vi, yi in zip(voltage, y)) / 2, targets=y),
    params={**{li: 1.0 for li in inductance}, **{ci: 1.0 for ci in capacitance}},
    initial={**{qi: 0.0 for qi in q}, **{qi.diff(t): 0.0 for qi in q}},
    inputs={u: sp.sin(2 * t)},
    targets={yi: 0 for yi in y},
    horizon=8.0,
    steps=400,
)
