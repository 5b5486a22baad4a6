"""Three masses on springs, every mass learnable and moving at t = 0.

With ``(q0, q̇0)`` fixed (the default), the initial momentum p0 = M(θ) q̇0 moves with the
masses, so PFVP and HEL need the boundary residual R_0 = ∂θp(0)·∂βq(0). With
``--set fixed=momentum`` the file fixes ``(q0, p0)`` instead and no residual is needed.

    L = Σ ½ m_i q̇_i² − Σ ½ k_i q_i² − Σ ½ c_i (q_{i+1} − q_i)² + u q_1,   c = ½ (q_3 − y)²
"""

import sympy as sp

from glep import Cost, Lagrangian, Problem, momentum

fixed = "velocity"  # or "momentum"
n = 3
t = sp.Symbol("t")
q = [sp.Function(f"q{i}")(t) for i in range(1, n + 1)]
u = sp.Function("u")(t)
y = sp.Function("y")(t)
m = sp.symbols(f"m1:{n + 1}")
k = sp.symbols(f"k1:{n + 1}")
c = sp.symbols(f"c1:{n}")

kinetic = sum(mi * qi.diff(t) ** 2 / 2 for mi, qi in zip(m, q))
potential = sum(ki * qi**2 / 2 for ki, qi in zip(k, q)) + sum(
    ci * (q[i + 1] - q[i]) ** 2 / 2 for i, ci in enumerate(c)
)
velocities = (0.3, -0.2, 0.25)
masses = (1.0, 1.4, 0.8)
if fixed == "velocity":
    second = {qi.diff(t): v for qi, v in zip(q, velocities)}
else:
    second = {momentum(qi): mi * v for qi, mi, v in zip(q, masses, velocities)}

problem = Problem(
    Lagrangian(kinetic - potential + u * q[0], coords=q, params=[*m, *k, *c], inputs=[u]),
    Cost(running=(q[-1] - y) ** 2 / 2, targets=[y]),
    params={**dict(zip(m, masses)), **{ki: 1.0 + 0.3 * i for i, ki in enumerate(k)},
            **{ci: 0.6 for ci in c}},
    initial={**{qi: 0.1 * (i + 1) for i, qi in enumerate(q)}, **second},
    inputs={u: sp.cos(2 * t) / 2},
    targets={y: sp.sin(t) / 5},
    horizon=3.0,
    steps=1200,
)
