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

from dataclasses import dataclass, field, replace
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
#: β inside the nudged fields emitted for the rules (declared names cannot start with ``_``).
NUDGING = sp.Symbol("_beta")
RULES = ("CIVP", "CBVP", "PFVP", "HEL", "HEL-gain", "adjoint")


@dataclass(frozen=True)
class Phase:
    """One run of the system within a learning rule."""

    trajectory: str  # "free", "nudged +β", "echo −β", ...
    direction: str  # "forward", "backward", "boundary value", "backward (adjoint)"
    boundary: str  # the conditions it starts from or is pinned to
    nudging: str  # "none", "+β c", ...
    signals: str = "as given"  # or "reversed in time"


@dataclass(frozen=True)
class Update:
    """The update of one parameter θ_j by a GLEP rule, term by term::

        dC/dθ_j ≈ contrast of ∫ bulk dt between the nudged runs
                  + ∫_0^T running dt + terminal(q(T))    (on the free run)
                  + the rule's boundary residual R

    ``bulk`` is ∂L̃/∂θ_j (or −∂H/∂θ_j), zero for a parameter of the cost only; ``running`` is
    ∂c/∂θ_j and ``terminal`` ∂ψ/∂θ_j; ``reads`` names every signal the three read (states,
    velocities or momenta, inputs, targets, and time ``t`` where it appears explicitly).
    """

    bulk: sp.Expr
    running: sp.Expr
    terminal: sp.Expr
    reads: tuple[str, ...]


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
    updates: dict[sp.Symbol, Update] = field(default_factory=dict)  # per parameter
    bulk_name: str = "∂L/∂θ"  # or "∂L̃/∂θ", "−∂H/∂θ"

    @property
    def available(self) -> bool:
        return self.practicality.available


@dataclass(frozen=True)
class LearningModel:
    """Plain expressions for every emitted learning rule.

    The rule kernels work in the *rule coordinates* ``coordinates``: the canonical ``(q, p̃)``
    of the variational form H̃ when the GLEP rules apply (``field`` non-empty), else the
    canonical ``(q, p)`` of the model, else the model's own state; costs are written in them
    (velocities through ``q̇ = ∂H/∂p``). The continuous adjoint works in the module's state
    coordinates (``state_*``).
    """

    model: Model
    targets: tuple[sp.Symbol, ...]
    target_signals: tuple
    coordinates: tuple[sp.Symbol, ...]
    rule_kernels: str  # "weighted" (own kernels), "canonical" or "state" (aliased)
    hamiltonian: sp.Expr | None  # H̃(q, p, t)
    field: tuple[sp.Expr, ...]  # (∂H̃/∂p, −∂H̃/∂q), empty without GLEP rules
    field_jacobian: Sparse  # ∂field/∂(q, p)
    field_dtheta: Sparse  # ∂field/∂θ
    dH_dtheta: tuple[sp.Expr, ...]  # ∂H̃/∂θ
    kinetic_dtheta: tuple[sp.Expr, ...] | None  # ∂T/∂θ (separable only)
    potential_dtheta: tuple[sp.Expr, ...] | None  # ∂V/∂θ (separable only)
    running_cost: sp.Expr  # c(z, y, θ, t) in rule coordinates
    nudge: tuple[sp.Expr, ...]  # (−∂c/∂p, ∂c/∂q)
    nudged_field: tuple[sp.Expr, ...]  # field + NUDGING·nudge: Hamilton's equations of H̃ − βc
    cost_dtheta: tuple[sp.Expr, ...]  # ∂c/∂θ
    terminal_cost: sp.Expr  # ψ(z, θ, t) in rule coordinates
    terminal_gradient: tuple[sp.Expr, ...]  # (∂ψ/∂q, ∂ψ/∂p)
    terminal_dtheta: tuple[sp.Expr, ...]  # ∂ψ/∂θ
    momentum_cost: bool  # the cost reads momenta (or velocities) in rule coordinates
    momentum: tuple[sp.Expr, ...] | None  # p̃(z, θ) at t = 0 for a velocity state
    momentum_jacobian: Sparse  # ∂p̃/∂z at t = 0
    momentum_dtheta: Sparse  # ∂p̃/∂θ at t = 0
    # the continuous adjoint works in the module's own state coordinates
    state_jacobian: Sparse  # ∂f/∂z of the module's vector field
    state_dtheta: Sparse  # ∂f/∂θ
    state_cost: tuple | None  # (c, ∂c/∂θ, ψ, ∂ψ/∂θ) in state coordinates if not as above
    state_cost_gradient: tuple[sp.Expr, ...]  # ∇_z c
    state_terminal_gradient: tuple[sp.Expr, ...]  # ∇_z ψ
    available: dict[str, str | None]  # rule → None if available, else the reason
    weight: sp.Expr  # e^{γt} of the variational form, or 1
    echo: tuple | None  # an echo's own nudged field, ∂H̃/∂θ and state map (see _echo)


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
        elif not self.form.available:
            general = self.form.reason
        for rule in RULES[:-1]:
            reasons[rule] = general
        if problem.cost is None:
            reasons["adjoint"] = general
        final_motion = problem.terminal_cost.free_symbols & {*system.v, *system.p}
        if reasons["CBVP"] is None and final_motion:
            reasons["CBVP"] = (
                "the terminal cost reads the final velocities or momenta, which a boundary "
                "value problem leaves free: its gradient would need ∂θ p(T) (use PFVP or HEL)"
            )
        undamped = [r for r in self.reversal.reasons if not r.startswith("dissipative")]
        if reasons["HEL-gain"] is None and self.form.weight == 1:
            reasons["HEL-gain"] = (
                "needs mass-proportional Rayleigh damping D = γM; without damping use HEL"
            )
        if reasons["HEL-gain"] is None and undamped:
            reasons["HEL-gain"] = "not time-reversal invariant: " + "; ".join(undamped)
        if reasons["HEL"] is None and system.dissipation is not None:
            reasons["HEL"] = (
                "dissipative: a damped system has no echo in the same system (an echo "
                "would need gain instead of damping: HEL-gain)"
            )
        if reasons["HEL"] is None and not self.reversal.reversible:
            reasons["HEL"] = "not time-reversal invariant: " + "; ".join(self.reversal.reasons)
        if reasons["HEL"] is None and self.form.weight != 1:
            reasons["HEL"] = "the variational form depends on time explicitly"
        if system.constraints is not None:
            motion = (problem.running_cost + problem.terminal_cost).free_symbols & {
                *system.v, *system.p}
            constrained_reasons(reasons, system, bool(motion))
        return reasons

    # -- expressions ---------------------------------------------------------------------

    def _rule_coordinates(self):
        """The rule coordinates, how their kernels come about, their field (GLEP rules: the
        field of H̃, else empty) and their velocities q̇."""
        system, model, form = self.system, self.model, self.form
        canonical = model.canonical
        if form.available and self.problem.cost is not None:
            if form.weight == 1 and canonical is not None:
                field = canonical.dq + canonical.dp  # H̃ = H: already derived
                return system.q + system.p, "canonical", field, field[:model.n]
            H = form.hamiltonian
            field = tuple(mechanics.gradient(H, system.p)) + tuple(
                -e for e in mechanics.gradient(H, system.q))
            return system.q + system.p, "weighted", field, field[:model.n]
        if canonical is not None:
            return canonical.coords + canonical.momenta, "canonical", (), canonical.dq
        return model.state, "state", (), model.state[model.n:]

    @cached_property
    def learning_model(self) -> LearningModel:
        problem, system, model = self.problem, self.system, self.model
        q, p = system.q, system.p
        theta = problem.params
        H = self.form.hamiltonian
        coordinates, kernels, field, velocities = self._rule_coordinates()
        if field:
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
                if kernels == "weighted"
                else model.canonical.jacobian
            )
            fth = sparse(mechanics.jacobian(field, theta))
        else:
            dH_dtheta, jac, fth = (), (), ()
            kinetic_dtheta = potential_dtheta = None
        n = model.n
        coordinates, state = tuple(coordinates), tuple(model.state)
        qs, ps = coordinates[:n], coordinates[n:]
        costs = (problem.running_cost, problem.terminal_cost)
        c, psi = (e.xreplace(dict(zip(system.v, velocities))) for e in costs)
        state_cost = tuple(e.xreplace(dict(zip(system.v, model.vector_field[:n]))) for e in costs)
        shared = state_cost == (c, psi) and (
            coordinates == state or not (c + psi).free_symbols & {*ps, *state[n:]})
        if self.problem.state_kind == "velocity" and field:
            at_start = {system.time: sp.S.Zero}
            momentum = tuple(
                e.xreplace(at_start)
                for e in mechanics.gradient(self.form.lagrangian, system.v)
            )
            momentum_jacobian = sparse(mechanics.jacobian(momentum, list(model.state)))
            momentum_dtheta = sparse(mechanics.jacobian(momentum, theta))
        else:
            momentum, momentum_jacobian, momentum_dtheta = None, (), ()
        nudge = tuple(-e for e in mechanics.gradient(c, ps)) + tuple(
            mechanics.gradient(c, qs)) if field else ()
        return LearningModel(
            model=model,
            targets=problem.y,
            target_signals=problem.targets,
            coordinates=coordinates,
            rule_kernels=kernels,
            hamiltonian=H,
            field=tuple(field),
            field_jacobian=jac,
            field_dtheta=fth,
            dH_dtheta=dH_dtheta,
            kinetic_dtheta=kinetic_dtheta,
            potential_dtheta=potential_dtheta,
            running_cost=c,
            nudge=nudge,
            nudged_field=tuple(f + NUDGING * g for f, g in zip(field, nudge)),
            cost_dtheta=tuple(mechanics.gradient(c, theta)),
            terminal_cost=psi,
            terminal_gradient=tuple(mechanics.gradient(psi, coordinates)),
            terminal_dtheta=tuple(mechanics.gradient(psi, theta)),
            momentum_cost=bool((c + psi).free_symbols & set(ps)),
            momentum=momentum,
            momentum_jacobian=momentum_jacobian,
            momentum_dtheta=momentum_dtheta,
            state_jacobian=sparse(mechanics.jacobian(model.vector_field, list(model.state))),
            state_dtheta=sparse(mechanics.jacobian(model.vector_field, theta)),
            state_cost=None if shared else (state_cost[0], tuple(mechanics.gradient(
                state_cost[0], theta)), state_cost[1], tuple(mechanics.gradient(
                    state_cost[1], theta))),
            state_cost_gradient=tuple(mechanics.gradient(state_cost[0], model.state)),
            state_terminal_gradient=tuple(mechanics.gradient(state_cost[1], model.state)),
            available=self.reasons,
            weight=self.form.weight,
            echo=self._echo(field, nudge, dH_dtheta) if self.reasons["HEL-gain"] is None or (
                self.reasons["HEL"] is None and any(e != 0 for e in nudge[:n])) else None,
        )

    def _echo(self, field, nudge, dH_dtheta) -> tuple:
        """The echo in its own coordinates, when the plain flip Σz does not do: PFVP's
        backward run of H̃ − βc in echo time τ = T − t and echo momenta P = −p̃/w is a forward
        run of the nudged field. With mass-proportional damping (w = e^{γt}, THEORY.md
        §6) the field has gain +γP; with a cost on momenta (w = 1) the nudge reads the cost
        at the mirrored momenta −P. The contrast integrand is ∂H̃/∂θ at p̃ = −wP, and
        ``(q, −p̃/w)`` maps a canonical state of H̃ at time t to the echo's."""
        n, w, t = self.model.n, self.form.weight, self.system.time
        p = self.system.p
        to_echo = {pi: -w * pi for pi in p}
        rate = sp.simplify(w.diff(t) / w)

        def echo(vector, gain):
            vector = [e.xreplace(to_echo) for e in vector]
            return tuple(sp.expand(e) for e in [-e for e in vector[:n]] + [
                e / w + gain * pi for e, pi in zip(vector[n:], p)])

        return (tuple(f + NUDGING * g for f, g in zip(echo(field, rate), echo(nudge, 0))),
                tuple(e.xreplace(to_echo) for e in dH_dtheta),
                (*self.system.q, *(-pi / w for pi in p)))

    # -- rule objects ---------------------------------------------------------------------

    @cached_property
    def hamiltonian_view(self) -> bool:
        """Rules are shown as ``−∂H/∂θ`` in (q, p): the system is declared as a Hamiltonian,
        or has no Lagrangian form."""
        return isinstance(self.system, Hamiltonian) or self.form.lagrangian is None

    @property
    def bulk_name(self) -> str:
        """How the contrast integrand is written: ``∂L/∂θ``, ``∂L̃/∂θ`` (the weighted
        Lagrangian e^{γt} L of a damped system) or ``−∂H/∂θ``."""
        if self.hamiltonian_view:
            return "−∂H/∂θ"
        return "∂L̃/∂θ" if self.form.weight != 1 else "∂L/∂θ"

    @cached_property
    def bulk(self) -> dict[sp.Symbol, sp.Expr]:
        """The contrast integrand of every parameter (zero for a cost-only one):
        ``∂L̃/∂θ_j`` in plain (q, q̇, t), or ``−∂H̃/∂θ_j`` in (q, p) (:attr:`hamiltonian_view`)."""
        if not self.form.available:
            return {}
        theta = self.problem.params
        if not self.hamiltonian_view:
            return dict(zip(theta, mechanics.gradient(self.form.lagrangian, theta)))
        return {th: -e for th, e in zip(theta, mechanics.gradient(self.form.hamiltonian, theta))}

    @cached_property
    def updates(self) -> dict[sp.Symbol, Update]:
        """The complete update of every parameter: its bulk integrand, ``∂c/∂θ``, ``∂ψ/∂θ``
        and the signals they read."""
        if not self.bulk:
            return {}
        problem = self.problem
        running = mechanics.gradient(problem.running_cost, problem.params)
        terminal = mechanics.gradient(problem.terminal_cost, problem.params)
        hidden = set(problem.params)
        out = {}
        for th, b, c, psi in zip(problem.params, self.bulk.values(), running, terminal):
            free = b.free_symbols | c.free_symbols | psi.free_symbols
            out[th] = Update(b, c, psi, tuple(sorted(str(s) for s in free - hidden)))
        return out

    def _reads(self) -> dict[str, list[str]]:
        return {str(th): list(u.reads) for th, u in self.updates.items()}

    @cached_property
    def momentum_dtheta(self) -> sp.Matrix:
        """``∂p/∂θ`` at fixed ``(q, q̇)``: non-zero for learned masses."""
        if self.form.lagrangian is None or isinstance(self.system, Hamiltonian):
            return sp.zeros(len(self.system.q), len(self.problem.params))
        p = mechanics.gradient(self.form.lagrangian, self.system.v)
        return mechanics.jacobian([e.xreplace({self.system.time: 0}) for e in p],
                                  self.problem.params)

    def rules(self) -> dict[str, Rule]:
        rules = {name: getattr(self, f"_rule_{name.replace('-', '_')}")() for name in RULES}
        rules = {name: replace(rule, updates=self.updates, bulk_name=self.bulk_name)
                 if rule.bulk else rule for name, rule in rules.items()}
        return rules if self.system.constraints is None else on_rattle(rules)

    @property
    def given(self) -> str:
        """The initial conditions the problem fixes, in its own coordinates."""
        return "(q0, q̇0)" if self.problem.state_kind == "velocity" else "(q0, p0)"

    def _practicality(self, name, **fields) -> Practicality:
        reason = self.reasons[name]
        available = reason is None
        return Practicality(available=available, reason=reason or fields.pop("why", ""),
                            **{k: v for k, v in fields.items() if k != "why"})

    def _terminal(self) -> dict:
        """∇ψ, and what a cost on velocities or momenta changes (THEORY.md §2 in (q, p))."""
        psi, learned, n = self.problem.terminal_cost, self.learning_model, self.model.n
        out = {"∇ψ": sp.Matrix(mechanics.gradient(psi, self.system.q))} if psi != 0 else {}
        if learned.momentum_cost:
            out["∂ψ/∂p"] = sp.Matrix(learned.terminal_gradient[n:])
            out["motion cost"] = (
                "the nudge is H̃ − βc(q, p, t) with q̇ written as ∂H̃/∂p, so it moves q̇ by "
                "−β∂c/∂p as well as ṗ by +β∂c/∂q, and the final kick moves q(T) by +β∂ψ/∂p; "
                "p is then not nudged, so the boundary residuals keep their form; an echo "
                "reads c and ψ at the mirrored momenta −p"
            )
        return out

    def _bulk_estimators(self, direction: str) -> dict[str, str]:
        """The estimators in the rule's own variables, with the cost's direct terms (on the
        free run) when the cost depends on parameters."""
        integral = "∫_0^T" if direction == "forward" else "∫_0^T (echo time τ)"
        sign, b, s = ("−", "∂H/∂θ", "Φ") if self.hamiltonian_view else ("", self.bulk_name, "s")
        cost = ""
        if any(u.running != 0 for u in self.updates.values()):
            cost += f" + ∫_0^T ∂c/∂θ({s}^0) dt"
        if any(u.terminal != 0 for u in self.updates.values()):
            cost += " + ∂ψ/∂θ(q(T))"
        return {
            "one-sided": f"dC/dθ ≈ {sign}(1/β) {integral} [{b}({s}^β) − {b}({s}^0)] dt{cost} + R",
            "centered": f"dC/dθ ≈ {sign}(1/2β) {integral} [{b}({s}^+β) − {b}({s}^−β)] dt{cost}"
                        " + R",
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
                Phase("free", "forward", f"{self.given} given", "none"),
                Phase("nudged +β", "forward", f"the same {self.given}", "+β c"),
                Phase("nudged −β", "forward", f"the same {self.given}", "−β c"),
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
                memory="O(1) (shooting)", needs_jacobian=False, needs_bvp=True,
                local=True, bias_order=2, reads=self._reads(),
                why="acausal: every pass is a two-point boundary value solve (shooting: "
                    "Newton iterations on p(0), a forward run each), not a physical forward run",
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
                Phase("free", "forward", f"{self.given} given", "none"),
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
                Phase("free", "forward", f"{self.given} given", "none"),
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

    def _rule_HEL_gain(self) -> Rule:
        """PFVP of the weighted form e^{γt}L (THEORY.md §6) as a forward echo: with
        ``τ = T − t`` and the physical momentum ``P = −e^{−γt} p̃`` the backward run is a
        forward run of the same conservative part with gain ``+γ`` instead of damping."""
        return Rule(
            "HEL-gain",
            "Hamiltonian echo learning with gain (mass-proportional damping)",
            (
                Phase("free", "forward", f"{self.given} given", "none"),
                Phase("echo +β", "forward, gain −γ", "(q(T), −p(T) + β e^{−γT}∇ψ)",
                      "+β e^{−γ(T−τ)} c", "reversed in time"),
                Phase("echo −β", "forward, gain −γ", "(q(T), −p(T) − β e^{−γT}∇ψ)",
                      "−β e^{−γ(T−τ)} c", "reversed in time"),
            ),
            {form: formula + " (integrand weighted by e^{γ(T−τ)})"
             for form, formula in self._bulk_estimators("echo").items()},
            self.bulk,
            {"kick": "echo starts at (q(T), −p(T) + β e^{−γT}∇ψ(q(T)))",
             "weight": self.form.weight, **self._initial_residual(), **self._terminal()},
            {
                **self._initial_state(),
                "note": "∂_β q(0) = ∂_β q_echo(T), ∂_β p(0) = −∂_β p_echo(T)",
            },
            self._practicality(
                "HEL-gain", forward_only=True, same_system=False, passes=3, memory="O(1)",
                needs_jacobian=False, needs_bvp=False, local=True, bias_order=2,
                reads=self._reads(),
                why="the echo needs gain: an active element that pumps energy in at the "
                    "rate the damping takes it out (−γ instead of +γ), and a nudge that "
                    "fades as e^{−γ(T−τ)}; not the same physical system",
            ),
        )

    def _rule_adjoint(self) -> Rule:
        model = self.model
        z = sp.Matrix(model.state)
        lam = sp.Matrix([sp.Symbol(f"lambda_{s.name}") for s in model.state])
        f = sp.Matrix(model.vector_field)
        adjoint = -(f.jacobian(z).T * lam) - sp.Matrix(self.learning_model.state_cost_gradient)
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
