"""GLEP learning rules for every boundary-condition variant, and the continuous adjoint.

The GLEP identity (THEORY.md §2) turns ``dC/dθ`` into a contrast of ``∫ ∂L/∂θ dt`` between
nudged trajectories, plus a boundary residual that depends on the boundary conditions:

- **CIVP** both trajectories start from the same ``(q0, q̇0)``; needs ``R_T`` and hence the
  state–parameter Jacobian (forward sensitivities).
- **CBVP** both trajectories are two-point boundary value solutions; no residual, acausal.
- **PFVP** the nudged trajectory ends where the free one ends (momentum kicked by ``−β∇ψ``)
  and is integrated backward in time; residual ``R_0`` only for learned momenta.
- **HEL** PFVP of a time-reversal invariant system: the backward run is a forward echo.

Everything is derived in canonical coordinates of the variational form ``H̃``
(:mod:`derive.variational`), with ``H̃_β = H̃ − βc``. The :class:`LearningModel` holds the
plain expressions code generation prints; :func:`derive_rules` the rule objects.

>>> from pathlib import Path
>>> from glep.derive.systemfile import load_problem
>>> problem = load_problem(Path(__file__).parent.parent / "systems" / "pendulum.py")
>>> rules = derive_rules(problem)
>>> rules["HEL"].practicality.forward_only, rules["CIVP"].practicality.needs_jacobian
(True, True)
>>> rules["HEL"].bulk[problem.params[0]]
l**2*theta1_dot**2/2 + 9.81*l*cos(theta1)
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import sympy as sp

from . import mechanics
from .constraints import constrained_reasons, on_rattle
from .model import Model, Sparse, sparse
from .practicality import Practicality
from .problem import Problem
from .system import Hamiltonian
from .variational import variational_form

BETA = sp.Symbol("beta")
RULES = ("CIVP", "CBVP", "PFVP", "HEL", "adjoint")


@dataclass(frozen=True)
class Phase:
    """One run of the system within a learning rule."""

    trajectory: str  # "free", "nudged +β", "echo −β", ...
    direction: str  # "forward", "backward", "boundary value", "backward (adjoint)"
    boundary: str  # the conditions it starts from or is pinned to
    nudging: str  # "none", "+β c", ...
    signals: str = "as given"  # or "reversed in time"


@dataclass(frozen=True)
class Rule:
    """A learning rule: its phases, estimator, bulk integrand, residual and practicality."""

    name: str
    title: str
    phases: tuple[Phase, ...]
    estimator: dict[str, str]  # "one-sided" / "centered" → formula
    bulk: dict[sp.Symbol, sp.Expr]  # ∂L̃/∂θ_j (plain q, q̇, t), the contrast integrand
    residual: dict[str, object]  # named symbolic boundary terms
    initial_state_gradient: dict[str, str]
    practicality: Practicality

    @property
    def available(self) -> bool:
        return self.practicality.available


@dataclass(frozen=True)
class LearningModel:
    """Plain expressions for every emitted learning rule (canonical coordinates of H̃)."""

    model: Model
    targets: tuple[sp.Symbol, ...]
    target_signals: tuple
    hamiltonian: sp.Expr | None  # H̃(q, p, t)
    field: tuple[sp.Expr, ...]  # (∂H̃/∂p, −∂H̃/∂q)
    field_jacobian: Sparse  # ∂field/∂(q, p)
    field_dtheta: Sparse  # ∂field/∂θ
    dH_dtheta: tuple[sp.Expr, ...]  # ∂H̃/∂θ
    kinetic_dtheta: tuple[sp.Expr, ...] | None  # ∂T/∂θ (separable only)
    potential_dtheta: tuple[sp.Expr, ...] | None  # ∂V/∂θ (separable only)
    running_cost: sp.Expr  # c(q, y, θ, t)
    cost_gradient: tuple[sp.Expr, ...]  # ∇_q c
    cost_dtheta: tuple[sp.Expr, ...]  # ∂c/∂θ
    terminal_cost: sp.Expr  # ψ(q, θ)
    terminal_gradient: tuple[sp.Expr, ...]  # ∇_q ψ
    terminal_dtheta: tuple[sp.Expr, ...]  # ∂ψ/∂θ
    momentum: tuple[sp.Expr, ...] | None  # p̃(z, θ) at t = 0 for a velocity state
    momentum_jacobian: Sparse  # ∂p̃/∂z at t = 0
    momentum_dtheta: Sparse  # ∂p̃/∂θ at t = 0
    # the continuous adjoint works in the module's own state coordinates
    state_jacobian: Sparse  # ∂f/∂z of the module's vector field
    state_dtheta: Sparse  # ∂f/∂θ
    state_cost_gradient: tuple[sp.Expr, ...]  # ∇_z c
    state_terminal_gradient: tuple[sp.Expr, ...]  # ∇_z ψ
    available: dict[str, str | None]  # rule → None if available, else the reason
    weighted: bool  # the variational form carries a weight e^{γt}


class Learning:
    """Derives the :class:`LearningModel` and the :class:`Rule` objects of a problem."""

    def __init__(self, problem: Problem, name: str | None = None):
        self.problem = problem
        self.system = problem.system
        self.model = Model.from_problem(problem, name)
        self.form = variational_form(self.system)
        self.reversal = problem.time_reversal()

    # -- availability ------------------------------------------------------------------

    @cached_property
    def reasons(self) -> dict[str, str | None]:
        problem, system = self.problem, self.system
        reasons: dict[str, str | None] = dict.fromkeys(RULES)
        general = None
        if problem.cost is None:
            general = "the problem declares no cost: add cost=Cost(...)"
        elif problem.running_cost.free_symbols & set(system.v):
            general = "the running cost depends on velocities; GLEP rules need a position cost"
        elif not self.form.available:
            general = self.form.reason
        for rule in ("CIVP", "CBVP", "PFVP", "HEL"):
            reasons[rule] = general
        if problem.cost is None:
            reasons["adjoint"] = general
        if reasons["HEL"] is None and system.dissipation is not None:
            reasons["HEL"] = (
                "dissipative: a damped system has no echo in the same system (an echo "
                "would need gain instead of damping)"
            )
        if reasons["HEL"] is None and not self.reversal.reversible:
            reasons["HEL"] = "not time-reversal invariant: " + "; ".join(self.reversal.reasons)
        if reasons["HEL"] is None and self.form.weight != 1:
            reasons["HEL"] = "the variational form depends on time explicitly"
        if system.constraints is not None:
            constrained_reasons(reasons, system)
        return reasons

    # -- expressions ---------------------------------------------------------------------

    @cached_property
    def learning_model(self) -> LearningModel:
        problem, system, model = self.problem, self.system, self.model
        q = system.q
        p = system.p
        theta = problem.params
        H = self.form.hamiltonian
        available = self.form.available and problem.cost is not None
        if available:
            if self.form.weight == 1 and model.canonical is not None:
                field = model.canonical.dq + model.canonical.dp  # H̃ = H: already derived
            else:
                dH_dp = mechanics.gradient(H, p)
                dH_dq = mechanics.gradient(H, q)
                field = tuple(dH_dp) + tuple(-e for e in dH_dq)
            dH_dtheta = tuple(mechanics.gradient(H, theta))
            separable = mechanics.is_separable(H, q, p, (*system.x, system.time))
            if separable:
                at_rest = dict.fromkeys(p, sp.S.Zero)
                kinetic = H - H.xreplace(at_rest)
                kinetic_dtheta = tuple(mechanics.gradient(kinetic, theta))
                potential_dtheta = tuple(
                    sp.expand(a - b) for a, b in zip(dH_dtheta, kinetic_dtheta)
                )
            else:
                kinetic_dtheta = potential_dtheta = None
            # without a weight the canonical Jacobian of the model serves (codegen aliases it)
            jac = (
                sparse(mechanics.jacobian(field, list(q) + list(p)))
                if self.form.weight != 1
                else model.canonical.jacobian
            )
            fth = sparse(mechanics.jacobian(field, theta))
        else:
            field, dH_dtheta, jac, fth = (), (), (), ()
            kinetic_dtheta = potential_dtheta = None
        c = problem.running_cost
        psi = problem.terminal_cost
        if self.problem.state_kind == "velocity" and available:
            at_start = {system.time: sp.S.Zero}
            momentum = tuple(
                e.xreplace(at_start)
                for e in mechanics.gradient(self.form.lagrangian, system.v)
            )
            momentum_jacobian = sparse(mechanics.jacobian(momentum, list(model.state)))
            momentum_dtheta = sparse(mechanics.jacobian(momentum, theta))
        else:
            momentum, momentum_jacobian, momentum_dtheta = None, (), ()
        state_cost = [c.diff(s) if s in c.free_symbols else sp.S.Zero for s in model.state]
        state_terminal = [psi.diff(s) if s in psi.free_symbols else sp.S.Zero for s in model.state]
        return LearningModel(
            model=model,
            targets=problem.y,
            target_signals=problem.targets,
            hamiltonian=H,
            field=field,
            field_jacobian=jac,
            field_dtheta=fth,
            dH_dtheta=dH_dtheta,
            kinetic_dtheta=kinetic_dtheta,
            potential_dtheta=potential_dtheta,
            running_cost=c,
            cost_gradient=tuple(mechanics.gradient(c, q)),
            cost_dtheta=tuple(mechanics.gradient(c, theta)),
            terminal_cost=psi,
            terminal_gradient=tuple(mechanics.gradient(psi, q)),
            terminal_dtheta=tuple(mechanics.gradient(psi, theta)),
            momentum=momentum,
            momentum_jacobian=momentum_jacobian,
            momentum_dtheta=momentum_dtheta,
            state_jacobian=sparse(mechanics.jacobian(model.vector_field, list(model.state))),
            state_dtheta=sparse(mechanics.jacobian(model.vector_field, theta)),
            state_cost_gradient=tuple(state_cost),
            state_terminal_gradient=tuple(state_terminal),
            available=self.reasons,
            weighted=self.form.weight != 1,
        )

    # -- rule objects ---------------------------------------------------------------------

    @cached_property
    def bulk(self) -> dict[sp.Symbol, sp.Expr]:
        """``∂L̃/∂θ_j`` in plain (q, q̇, t); ``−∂H̃/∂θ_j`` in (q, p) without a Lagrangian."""
        if not self.form.available:
            return {}
        theta = self.system.params
        if self.form.lagrangian is not None:
            return dict(zip(theta, mechanics.gradient(self.form.lagrangian, theta)))
        return {th: -e for th, e in zip(theta, mechanics.gradient(self.form.hamiltonian, theta))}

    def _reads(self) -> dict[str, list[str]]:
        return {
            str(th): sorted(
                str(s) for s in e.free_symbols if s not in set(self.problem.params)
                and s != self.system.time
            )
            for th, e in self.bulk.items()
        }

    @cached_property
    def momentum_dtheta(self) -> sp.Matrix:
        """``∂p/∂θ`` at fixed ``(q, q̇)``: non-zero for learned masses."""
        if self.form.lagrangian is None or isinstance(self.system, Hamiltonian):
            return sp.zeros(len(self.system.q), len(self.problem.params))
        p = mechanics.gradient(self.form.lagrangian, self.system.v)
        return mechanics.jacobian([e.xreplace({self.system.time: 0}) for e in p],
                                  self.problem.params)

    def rules(self) -> dict[str, Rule]:
        rules = {name: getattr(self, f"_rule_{name}")() for name in RULES}
        return rules if self.system.constraints is None else on_rattle(rules)

    def _practicality(self, name, **fields) -> Practicality:
        reason = self.reasons[name]
        available = reason is None
        return Practicality(available=available, reason=reason or fields.pop("why", ""),
                            **{k: v for k, v in fields.items() if k != "why"})

    def _terminal(self) -> dict:
        psi = self.problem.terminal_cost
        return {"∇ψ": sp.Matrix(mechanics.gradient(psi, self.system.q))} if psi != 0 else {}

    def _bulk_estimators(self, direction: str) -> dict[str, str]:
        integral = "∫_0^T" if direction == "forward" else "∫_0^T (echo time τ)"
        return {
            "one-sided": f"dC/dθ ≈ (1/β) {integral} [∂L/∂θ(s^β) − ∂L/∂θ(s^0)] dt + R",
            "centered": f"dC/dθ ≈ (1/2β) {integral} [∂L/∂θ(s^+β) − ∂L/∂θ(s^−β)] dt + R",
        }

    def _rule_CIVP(self) -> Rule:
        learned = self.learning_model
        residual = {
            "R_T": "∂_β p(T)·∂_θ q(T) − ∂_θ p(T)·∂_β q(T) + ∇ψ·∂_θ q(T)",
            "sensitivity": "dS/dt = (∂f/∂z) S + ∂f/∂θ, S(0) = ∂z0/∂θ",
            **self._terminal(),
        }
        if learned is not None and learned.field:
            residual["∂f/∂z"] = _dense(learned.field_jacobian, 2 * len(self.system.q),
                                       2 * len(self.system.q))
            residual["∂f/∂θ"] = _dense(learned.field_dtheta, 2 * len(self.system.q),
                                       len(self.problem.params))
        return Rule(
            "CIVP",
            "constant initial value problem",
            (
                Phase("free", "forward", "(q0, q̇0) given", "none"),
                Phase("nudged +β", "forward", "the same (q0, q̇0)", "+β c"),
                Phase("nudged −β", "forward", "the same (q0, q̇0)", "−β c"),
            ),
            self._bulk_estimators("forward"),
            self.bulk,
            residual,
            {"dC/dz0": "∂_β p(T)·∂_z0 q(T) − ∂_z0 p(T)·∂_β q(T) + ∇ψ·∂_z0 q(T)"},
            self._practicality(
                "CIVP", forward_only=True, same_system=True, passes=3,
                memory="O(1) in T, plus O(n·d) sensitivity states", needs_jacobian=True,
                needs_bvp=False, local=False, bias_order=2, reads=self._reads(),
                why="the boundary residual R_T needs the full state–parameter Jacobian "
                    "∂θ q(T), ∂θ p(T) (forward sensitivities: non-local, O(n·d) extra state)",
            ),
        )

    def _rule_CBVP(self) -> Rule:
        return Rule(
            "CBVP",
            "constant boundary value problem",
            (
                Phase("free", "boundary value", "q(0) = q0, q(T) = b", "none"),
                Phase("nudged +β", "boundary value", "q(0) = q0, q(T) = b", "+β c"),
                Phase("nudged −β", "boundary value", "q(0) = q0, q(T) = b", "−β c"),
            ),
            self._bulk_estimators("forward"),
            self.bulk,
            {"R": 0},
            {"dC/dq0": "−∂_β p(0)", "dC/db": "+∂_β p(T)"},
            self._practicality(
                "CBVP", forward_only=False, same_system=True, passes=3,
                memory="O(T) (collocation mesh)", needs_jacobian=False, needs_bvp=True,
                local=True, bias_order=2, reads=self._reads(),
                why="acausal: every pass is a two-point boundary value solve (collocation, "
                    "O(T) memory, Newton iterations), not a physical forward run",
            ),
        )

    def _initial_state(self) -> dict[str, str]:
        out = {"dC/dq0 at fixed p0": "−∂_β p(0)", "dC/dp0": "+∂_β q(0)"}
        if self.problem.state_kind == "velocity":
            out["dC/dq̇0"] = "(∂p/∂q̇)ᵀ dC/dp0"
            out["dC/dq0 at fixed q̇0"] = "−∂_β p(0) + (∂p/∂q)ᵀ ∂_β q(0)"
        return out

    def _initial_residual(self) -> dict:
        if self.problem.state_kind != "velocity":
            return {"R_0": "0: (q0, p0) is fixed, independent of θ"}
        dp = self.momentum_dtheta
        if dp.is_zero_matrix:
            return {"R_0": "0: the momentum does not depend on θ"}
        return {"R_0": "∂_θ p(0) · ∂_β q(0)", "∂p/∂θ": dp}

    def _rule_PFVP(self) -> Rule:
        return Rule(
            "PFVP",
            "parametric final value problem",
            (
                Phase("free", "forward", "(q0, q̇0) or (q0, p0) given", "none"),
                Phase("nudged +β", "backward", "q(T), p(T) − β∇ψ", "+β c"),
                Phase("nudged −β", "backward", "q(T), p(T) + β∇ψ", "−β c"),
            ),
            self._bulk_estimators("forward"),
            self.bulk,
            {"kick": "p^β(T) = p(T) − β∇ψ(q(T))", **self._initial_residual(),
             **self._terminal()},
            self._initial_state(),
            self._practicality(
                "PFVP", forward_only=False, same_system=False, passes=3, memory="O(1)",
                needs_jacobian=False, needs_bvp=False, local=True, bias_order=2,
                reads=self._reads(),
                why="the nudged trajectories run backward in time, which a physical system "
                    "can only do through an echo when it is time-reversal invariant (HEL)",
            ),
        )

    def _rule_HEL(self) -> Rule:
        return Rule(
            "HEL",
            "Hamiltonian echo learning",
            (
                Phase("free", "forward", "(q0, q̇0) or (q0, p0) given", "none"),
                Phase("echo +β", "forward", "(q(T), −p(T) + β∇ψ)", "+β c", "reversed in time"),
                Phase("echo −β", "forward", "(q(T), −p(T) − β∇ψ)", "−β c", "reversed in time"),
            ),
            self._bulk_estimators("echo"),
            self.bulk,
            {"kick": "echo starts at (q(T), −p(T) + β∇ψ(q(T)))", **self._initial_residual(),
             **self._terminal()},
            {
                **self._initial_state(),
                "note": "∂_β q(0) = ∂_β q_echo(T), ∂_β p(0) = −∂_β p_echo(T)",
            },
            self._practicality(
                "HEL", forward_only=True, same_system=True, passes=3, memory="O(1)",
                needs_jacobian=False, needs_bvp=False, local=True, bias_order=2,
                reads=self._reads(), why="",
            ),
        )

    def _rule_adjoint(self) -> Rule:
        model = self.model
        z = sp.Matrix(model.state)
        lam = sp.Matrix([sp.Symbol(f"lambda_{s.name}") for s in model.state])
        f = sp.Matrix(model.vector_field)
        c = self.problem.running_cost
        adjoint = -(f.jacobian(z).T * lam) - sp.Matrix([c.diff(s) for s in model.state])
        return Rule(
            "adjoint",
            "continuous adjoint (reference)",
            (
                Phase("free", "forward", "z0 given", "none"),
                Phase("adjoint", "backward", "λ(T) = ∇ψ, z re-integrated backward", "none"),
            ),
            {"exact": "dC/dθ = ∫_0^T [λᵀ ∂f/∂θ + ∂c/∂θ] dt + ∂ψ/∂θ"},
            {},
            {"dλ/dt": adjoint, "λ": lam},
            {"dC/dz0": "λ(0)"},
            self._practicality(
                "adjoint", forward_only=False, same_system=False, passes=2,
                memory="O(1) with backward re-integration (O(T) when checkpointed)",
                needs_jacobian=True, needs_bvp=False, local=False, bias_order=0,
                why="a different system (the adjoint, with vector–Jacobian products) runs "
                    "backward in time; non-local",
            ),
        )


def _dense(entries: Sparse, rows: int, cols: int) -> sp.Matrix:
    out = sp.zeros(rows, cols)
    for i, j, e in entries:
        out[i, j] = e
    return out


def derive_rules(problem: Problem) -> dict[str, Rule]:
    """Every rule of a problem (available or not, with the reason)."""
    return Learning(problem).rules()
