"""Holonomic constraints ``g(q) = 0``: multipliers, the index-1 equations, RATTLE's data.

A constrained system moves on the manifold ``g(q) = 0`` under ``M q̈ = ∂L/∂q − G(q)ᵀλ``
with ``G = ∂g/∂q`` (in Hamiltonian form ``ṗ = −∂H/∂q − Gᵀλ``; the sign convention of SymPy's
``LagrangesMethod``). Differentiating ``G q̇ = 0`` once more gives ``G q̈ + h = 0`` with
``h_i = q̇ᵀ ∇²g_i q̇``. With the unconstrained acceleration ``a0`` and the compliance
``W = M⁻¹ = ∂²H/∂p²`` this fixes the multipliers (the index-1 form)::

    λ = (G W Gᵀ)⁻¹ (G a0 + h),        q̈ = a0 − W Gᵀλ,

an ODE on the whole state space that keeps the manifold invariant: rk4 and the continuous
adjoint integrate it. RATTLE, symmetric and symplectic on the manifold, needs
``H = ½ pᵀWp + V(q, t, x)`` with a constant ``W``; the discrete echo (HEL) runs on it.

>>> import sympy as sp
>>> from glep.derive import Lagrangian
>>> t = sp.Symbol("t")
>>> x, y = sp.Function("x")(t), sp.Function("y")(t)
>>> m, g = sp.symbols("m g")
>>> L = Lagrangian(m * (x.diff(t)**2 + y.diff(t)**2) / 2 - m * g * y, [x, y], [m, g],
...                constraints=[sp.Eq(x**2 + y**2, 1)])
>>> L.euler_lagrange()[1]
Eq(-g*m - 2*lambda_1*y(t) - m*Derivative(y(t), (t, 2)), 0)
>>> sp.factor(L.multipliers()[0])
-m*(g*y(t) - Derivative(x(t), t)**2 - Derivative(y(t), t)**2)/(2*(x(t)**2 + y(t)**2))
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

import sympy as sp

from . import mechanics
from .errors import ConstraintError, InitialValueError, NotQuadraticError
from .practicality import Practicality

_FIXES = {
    "velocities": "velocity (non-holonomic) constraints are not supported; if it is the time "
                  "derivative of a position constraint g(q) = 0, declare g(q) instead",
    "momenta": "write the constraint in the coordinates only, g(q) = 0",
    "inputs": "a moving constraint is not supported: give a constraint of the positions only",
    "time": "a moving constraint is not supported: give a constraint of the positions only",
    "parameters": "a learned constraint would move the manifold away from the fixed initial "
                  "state; write its value as a number (a module-level setting such as l = 1.0)",
}


class Constraints:
    """The holonomic constraints of a system, checked, in its plain symbols: ``expressions``
    (``g``), ``jacobian`` (``G``), ``multipliers`` (the symbols ``λ_i`` shown in equations)."""

    def __init__(self, system, constraints):
        self.system = system
        self.declared = tuple(constraints)
        self.expressions = tuple(
            _positions_only(system, c.lhs - c.rhs if isinstance(c, sp.Equality) else c, i)
            for i, c in enumerate(self.declared, 1))
        k, n = len(self.expressions), len(system.q)
        if k >= n:
            raise ConstraintError(f"{k} constraint(s) on {n} coordinate(s) leave nothing to move: "
                                  f"declare fewer constraints than coordinates")
        self.jacobian = mechanics.jacobian(self.expressions, system.q)
        rank = _generic_rank(self.jacobian)
        if rank < k:
            raise ConstraintError(f"the {k} constraints are not independent (∂g/∂q has rank "
                                  f"{rank} at every position): drop the redundant ones")
        self.multipliers = tuple(sp.Symbol(f"lambda_{i}") for i in range(1, k + 1))

    def force(self, multipliers=None) -> list:
        """``Gᵀλ``, the constraint force subtracted from ``∂L/∂q`` (or ``−∂H/∂q``)."""
        lam = sp.Matrix(self.multipliers if multipliers is None else multipliers)
        return list(self.jacobian.T * lam)

    def rates(self, velocity) -> list:
        """``ġ = G q̇`` for velocities ``q̇`` (expressions or symbols)."""
        return list(self.jacobian * sp.Matrix(velocity))

    def solve(self, acceleration, compliance: sp.Matrix, velocity) -> list:
        """``λ = (G W Gᵀ)⁻¹ (G a0 + h)``: the multipliers of the index-1 form."""
        q, v = self.system.q, sp.Matrix(velocity)
        curvature = sp.Matrix([sum((e * vj for e, vj in zip(mechanics.gradient(r, q), v)),
                                   sp.S.Zero) for r in self.rates(v)])
        G = self.jacobian
        return mechanics.solve_linear((G * compliance * G.T).applyfunc(sp.cancel),
                                      list(G * sp.Matrix(acceleration) + curvature))

    def check_initial(self, problem) -> None:
        """Refuse an initial state off the manifold or with velocities not tangent to it."""
        system, n = self.system, len(self.system.q)
        at = {**dict(zip(system.q, problem.initial_state[:n])),
              **dict(zip(problem.params, problem.param_values)), system.time: 0}
        second = problem.initial_state[n:]
        if problem.state_kind == "velocity":
            velocity = second
        else:
            velocity = [e.xreplace({**at, **dict(zip(system.p, second))})
                        for e in _hamiltonian(system)._free_rhs[0]]
        shown = ", ".join(f"{s} = {v:.6g}" for s, v in zip(system.q, problem.initial_state))
        G = self.jacobian.xreplace(at)
        scale = max(1.0, float(G.norm()) * max(map(abs, problem.initial_state)))
        gram = (G * G.T).det()
        if gram <= 1e-12 * float(G.norm()) ** (2 * G.shape[0]):
            raise InitialValueError(f"the constraints are dependent at the initial positions "
                                    f"({shown}): ∂g/∂q loses rank there; start elsewhere")
        for i, (g, rate) in enumerate(zip(self.expressions, self.rates(velocity)), 1):
            value, speed = g.xreplace(at), rate.xreplace(at)
            if abs(value) > 1e-9 * scale:
                raise InitialValueError(
                    f"the initial state is off the constraint manifold: constraint {i} "
                    f"({g} = 0) is {float(value):.3g} at the initial positions ({shown}): give "
                    f"initial positions that satisfy every constraint")
            if speed.is_number and abs(speed) > 1e-9 * scale:
                raise InitialValueError(
                    f"the initial velocities are not tangent to the constraint manifold: "
                    f"d/dt of constraint {i} ({g} = 0) is {float(speed):.3g} at the initial "
                    f"state ({shown}): give velocities (or momenta) with ∂g/∂q · q̇0 = 0")


def _positions_only(system, expr, index):
    what = f"constraint {index} ({sp.sympify(expr)} = 0)"
    momenta = system.p if system.kind == "hamiltonian" else ()
    plain = system.to_plain(expr, what, momenta)
    for name, symbols in (("velocities", system.v), ("momenta", momenta), ("inputs", system.x),
                          ("time", (system.time,)), ("parameters", system.params)):
        found = sorted(str(s) for s in plain.free_symbols & set(symbols))
        if found:
            raise ConstraintError(f"{what} depends on {name} {found}: constraints may depend on "
                                  f"the positions only; {_FIXES[name]}")
    if not plain.free_symbols & set(system.q):
        raise ConstraintError(f"{what} does not involve any coordinate: drop it")
    return plain


def _generic_rank(matrix: sp.Matrix) -> int:
    """The largest rank at three random rational points (the rank almost everywhere)."""
    rng = random.Random(0)
    free = sorted(matrix.free_symbols, key=str)
    return max(matrix.xreplace({s: sp.Rational(rng.randint(7, 97), rng.randint(11, 53))
                                for s in free}).rank() for _ in range(3))


def _hamiltonian(system):
    return system if system.kind == "hamiltonian" else system.to_hamiltonian()


def rattle_reason(system) -> str | None:
    """None when RATTLE applies (``H = ½pᵀWp + V(q, t, x)``, constant W), else what it needs."""
    need = "H = ½ pᵀWp + V(q, t) with a constant inverse mass matrix W"
    try:
        hamiltonian = _hamiltonian(system)
    except NotQuadraticError:
        return f"{need} (this Lagrangian has no Hamiltonian form)"
    dq, dp = hamiltonian._free_rhs
    p = hamiltonian.p
    varying = set(system.q) | set(system.x) | {system.time}
    at_rest = dict.fromkeys(p, 0)
    if (any(e.free_symbols & varying or e.xreplace(at_rest) != 0 for e in dq)
            or any(e.free_symbols & set(p) for e in dp)):
        return f"{need} (this kinetic energy depends on the positions, or couples them)"
    return None


@dataclass(frozen=True)
class Manifold:
    """What code generation prints for a constrained system (plain SymPy data)."""

    constraints: tuple  # g(q)
    jacobian: sp.Matrix  # G = ∂g/∂q
    residual: tuple  # (g, G ∂H/∂p) at a canonical state (q, p), None without RATTLE
    state_jacobian: sp.Matrix  # ∂(g, ġ)/∂z in the module's state coordinates
    drift: tuple | None  # ∂H/∂p = W p (RATTLE)
    force: tuple | None  # −∂H/∂q without the constraint force (RATTLE)
    rattle: str | None  # None when RATTLE applies, else what it needs


def manifold(system, state, state_kind) -> Manifold:
    """The manifold data of a constrained system whose state is ``state``."""
    c = system.constraints
    n = len(system.q)
    reason = rattle_reason(system)
    if state_kind == "velocity":
        velocity = system.v
    else:
        velocity = _hamiltonian(system)._free_rhs[0]
    rates = c.rates(velocity)
    drift = force = residual = None
    if reason is None:
        drift, force = _hamiltonian(system)._free_rhs
        residual = (*c.expressions, *c.rates(drift))
        drift, force = tuple(drift), tuple(force)
    return Manifold(c.expressions, c.jacobian, residual,
                    mechanics.jacobian([*c.expressions, *rates], list(state[:2 * n])),
                    drift, force, reason)


# -- learning rules -----------------------------------------------------------------------------

_ELSEWHERE = "; use HEL (the discrete echo on RATTLE), BPTT (Torch) or the adjoint"
_NOT_DERIVED = {
    "CIVP": "its residual R_T needs forward sensitivities on the constraint manifold",
    "CBVP": "its boundary value solves would have to stay on the constraint manifold",
    "PFVP": "its backward run is what HEL's echo on RATTLE does forward",
}


def constrained_reasons(reasons: dict, system, cost_on_motion: bool = False) -> dict:
    """Rule → None or why not, for a constrained system (updates ``reasons``);
    ``cost_on_motion``: the cost reads velocities or momenta."""
    for rule, why in _NOT_DERIVED.items():
        if reasons[rule] is None:
            reasons[rule] = f"not derived for constrained systems: {why}{_ELSEWHERE}"
    rattle = rattle_reason(system)
    if reasons["HEL"] is None and rattle is not None:
        reasons["HEL"] = f"the discrete echo runs on RATTLE, which needs {rattle}"
    if reasons["HEL"] is None and cost_on_motion:
        reasons["HEL"] = ("the discrete echo on RATTLE nudges momenta by a cost on positions; a "
                          "cost on velocities or momenta is not derived for it; use BPTT (Torch) "
                          "or the adjoint")
    return reasons


def on_rattle(rules: dict) -> dict:
    """HEL as the discrete echo on RATTLE, BPTT through it, the adjoint of the index-1 form."""
    hel, adjoint, civp = rules["HEL"], rules["adjoint"], rules["CIVP"]
    free, plus, minus = hel.phases
    rules["CIVP"] = replace(civp, residual={k: v for k, v in civp.residual.items()
                                            if not isinstance(v, sp.MatrixBase)})
    rules["HEL"] = replace(
        hel, title="Hamiltonian echo learning, discrete, on RATTLE",
        phases=(replace(free, direction="forward RATTLE"),
                replace(plus, direction="forward RATTLE",
                        boundary="(q_K, −p_K + β(∇ψ + ½dt ∇c))"),
                replace(minus, direction="forward RATTLE",
                        boundary="(q_K, −p_K − β(∇ψ + ½dt ∇c))")),
        estimator={"one-sided": "dC/dθ ≈ −(dt/β) Σ_k [∂θH½(e_k^+β) − ∂θH½(e_k^0)] + R",
                   "centered": "dC/dθ ≈ −(dt/2β) Σ_k [∂θH½(e_k^+β) − ∂θH½(e_k^−β)] + R"},
        residual={**hel.residual,
                  "loss": "Σ_k w_k dt c(q_k) + ψ(q_K), trapezoid weights w_0 = w_K = ½",
                  "kick": "echo starts at (q_K, −p_K + β(∇ψ + ½dt ∇c(q_K)))",
                  "nudge": "after the echo step landing on q_k: p += β w_k dt ∇c(q_k)",
                  "∂θH½": "∂θT(p_half) + ½[∂θV(q_k) + ∂θV(q_k+1)], p_half the drift momentum"},
        initial_state_gradient={**hel.initial_state_gradient,
                                "manifold": "projected on the tangent space of the manifold"})
    rules["BPTT"] = replace(
        adjoint, name="BPTT", title="backpropagation through the RATTLE steps (Torch autograd)",
        phases=(replace(free, direction="forward RATTLE"),
                replace(free, trajectory="reverse", direction="backward (autograd)",
                        boundary="every stored step")),
        estimator={"exact": "autograd of Σ_k w_k dt c(q_k) + ψ(q_K) through every RATTLE step"},
        residual={}, initial_state_gradient={"dC/dz0": "autograd, projected on the manifold"},
        practicality=Practicality(
            available=adjoint.available, forward_only=False, same_system=False, passes=2,
            memory="O(T) (every step stored)", needs_jacobian=True, needs_bvp=False,
            local=False, bias_order=0,
            reason=adjoint.practicality.reason if not adjoint.available else
            "a computer's reverse pass through every stored step (Torch modules only)"))
    rules["adjoint"] = replace(adjoint, title="continuous adjoint of the index-1 form (reference)")
    return rules


def describe(system, show) -> list[str]:
    """The constraints, their Jacobian and the multipliers, as ``glep derive`` prints them."""
    c = system.constraints
    law = "ṗ = −∂H/∂q − Gᵀλ" if system.kind == "hamiltonian" else "M q̈ = ∂L/∂q − Gᵀλ"
    out = [f"\nConstraints g(q) = 0 (holonomic; multipliers λ: {law}, G = ∂g/∂q)"]
    out += [f"  0 = {show(system.to_time(g))}" for g in c.expressions]
    out.append(f"  G = {show(system.to_time(c.jacobian))}")
    out.append("\nMultipliers (index-1 form: G q̈ + q̇ᵀ∇²g q̇ = 0 solved for λ)")
    out += [f"  {lam} = {show(e)}" for lam, e in zip(c.multipliers, system.multipliers())]
    reason = rattle_reason(system)
    out.append("  integrator: " + ("RATTLE (symplectic, time-reversible on the manifold)"
                                   if reason is None else f"rk4 only; RATTLE needs {reason}"))
    return out
