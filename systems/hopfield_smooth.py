"""A small smooth Hopfield energy: three hidden units, two outputs, two inputs.

    E = Σ_i [½ s_i² + ½ log cosh s_i − b_i s_i] − Σ_(i,j) w_ij s_i s_j − Σ u_ik x_k s_i,
    C = ½ Σ_k (o_k − y_k)²

Couplings are small (‖W‖ < 1), so E is strongly convex and its minimum unique: the
exactness tests of the EP family (THEORY.md §7–§8) run here.
"""

import sympy as sp

from glep import Energy, EnergyCost, EnergyProblem

s1, s2, s3, o1, o2 = units = sp.symbols("s1 s2 s3 o1 o2")
x1, x2 = sp.symbols("x1 x2")
y1, y2 = sp.symbols("y1 y2")
edges = {"w12": (s1, s2), "w23": (s2, s3), "w1a": (s1, o1), "w2a": (s2, o1),
         "w2b": (s2, o2), "w3b": (s3, o2), "wab": (o1, o2)}
w = {name: sp.Symbol(name) for name in edges}
u = {name: sp.Symbol(name) for name in ("u11", "u22", "u31")}
b = {s: sp.Symbol(f"b_{s}") for s in units}

energy = (
    sum(s**2 / 2 + sp.log(sp.cosh(s)) / 2 - b[s] * s for s in units)
    - sum(w[name] * i * j for name, (i, j) in edges.items())
    - u["u11"] * x1 * s1 - u["u22"] * x2 * s2 - u["u31"] * x1 * s3
)

problem = EnergyProblem(
    Energy(energy, states=units, params=[*w.values(), *u.values(), *b.values()],
           inputs=[x1, x2], outputs=[o1, o2]),
    EnergyCost(((o1 - y1) ** 2 + (o2 - y2) ** 2) / 2, targets=[y1, y2]),
    params={**dict(zip(w.values(), (0.3, -0.25, 0.4, 0.2, -0.3, 0.35, 0.1))),
            **dict(zip(u.values(), (0.8, -0.6, 0.5))),
            **dict(zip(b.values(), (0.1, -0.2, 0.05, 0.0, 0.15)))},
    inputs={x1: [1.0, -0.5, 0.3], x2: [0.2, 0.7, -1.0]},
    targets={y1: [0.5, -0.2, 0.1], y2: [-0.3, 0.4, 0.6]},
    relaxation="gradient",
    step=0.5,
)
