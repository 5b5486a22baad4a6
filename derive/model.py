"""The numerical model of a problem: the plain data that code generation prints.

A :class:`Model` holds SymPy expressions over plain Symbols and numbers only:
the first-order vector field in the problem's own state coordinates, and, when the
system has a Hamiltonian form, the canonical pieces the symplectic integrators need.

>>> import sympy as sp
>>> from glep.derive import Hamiltonian, Problem
>>> t = sp.Symbol("t")
>>> q, p = sp.Function("q")(t), sp.Function("p")(t)
>>> k = sp.Symbol("k")
>>> H = Hamiltonian(p**2 / 2 + k * q**2 / 2, [q], [p], [k])
>>> model = Model.from_problem(
...     Problem(H, params={k: 1.0}, initial={q: 1.0, p: 0.0}, horizon=1.0, steps=10)
... )
>>> model.state, model.vector_field
((q, p), (p, -k*q))
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import sympy as sp

from . import mechanics
from .constraints import Manifold, manifold
from .errors import IntegratorError, NotQuadraticError, NotSeparableError
from .problem import Problem, Signal
from .system import Hamiltonian, Lagrangian

Sparse = tuple[tuple[int, int, sp.Expr], ...]


def sparse(matrix: sp.Matrix) -> Sparse:
    """The non-zero entries of a matrix as ``(row, column, expression)``."""
    rows, cols = matrix.shape
    return tuple(
        (i, j, matrix[i, j]) for i in range(rows) for j in range(cols) if matrix[i, j] != 0
    )


@dataclass(frozen=True)
class Canonical:
    """Hamilton's equations in ``(q, p)`` and the maps from and to the problem's state."""

    coords: tuple[sp.Symbol, ...]
    momenta: tuple[sp.Symbol, ...]
    hamiltonian: sp.Expr
    dq: tuple[sp.Expr, ...]
    dp: tuple[sp.Expr, ...]
    jacobian: Sparse  # ∂(q̇, ṗ)/∂(q, p), for Newton's method in implicit midpoint
    separable: bool
    conservative: bool
    kinetic_hessian: Sparse  # ∂²H/∂p²
    potential_hessian: Sparse  # ∂²H/∂q²
    momentum_of_state: tuple[sp.Expr, ...] | None  # p(q, q̇); None if the state is canonical
    velocity_of_momentum: tuple[sp.Expr, ...] | None  # q̇(q, p); None if the state is canonical


@dataclass(frozen=True)
class Model:
    """Everything a simulator needs, as plain SymPy data."""

    name: str
    kind: str  # "lagrangian" or "hamiltonian"
    time: sp.Symbol
    state: tuple[sp.Symbol, ...]
    state_kinds: tuple[str, ...]
    params: tuple[sp.Symbol, ...]
    param_values: tuple[float, ...]
    inputs: tuple[sp.Symbol, ...]
    input_signals: tuple[Signal, ...]
    vector_field: tuple[sp.Expr, ...]
    canonical: Canonical | None
    initial_state: tuple[float, ...]
    horizon: float
    steps: int
    time_reversible: bool
    time_reversal_reasons: tuple[str, ...]
    manifold: Manifold | None = None  # the constraints' data, None without constraints

    @property
    def n(self) -> int:
        return len(self.state) // 2

    @property
    def methods(self) -> tuple[str, ...]:
        """Integrators that apply: rk4 always; leapfrog for separable conservative
        Hamiltonian forms; implicit midpoint for any Hamiltonian form; with constraints,
        RATTLE (when it applies) and rk4 on the index-1 form."""
        if self.manifold is not None:
            return ("rattle", "rk4") if self.manifold.rattle is None else ("rk4",)
        canonical = self.canonical
        methods = ["rk4"]
        if canonical is not None and canonical.separable and canonical.conservative:
            methods.append("leapfrog")
        if canonical is not None:
            methods.append("implicit_midpoint")
        return tuple(methods)

    def require_method(self, method: str) -> None:
        """Raise a clear error when ``method`` cannot integrate this model."""
        if method in self.methods:
            return
        if self.manifold is not None or method == "rattle":
            raise IntegratorError(
                f"{self.name}: {method} does not apply: 'rattle' integrates constrained systems "
                f"with H = ½pᵀWp + V(q, t) and a constant W, 'rk4' their index-1 form; choose "
                f"one of {self.methods}"
            )
        if method == "leapfrog":
            if self.canonical is None:
                raise NotSeparableError(
                    f"{self.name}: leapfrog needs a Hamiltonian form, and this Lagrangian is "
                    f"not quadratic in the velocities; use method='rk4'"
                )
            if not self.canonical.conservative:
                raise IntegratorError(
                    f"{self.name}: leapfrog is for conservative systems, and this one "
                    f"dissipates; use method='rk4' or 'implicit_midpoint'"
                )
            raise NotSeparableError(
                f"{self.name}: leapfrog needs a separable Hamiltonian H = T(p) + V(q), and "
                f"this one couples positions and momenta; use method='implicit_midpoint' "
                f"(symplectic, reversible) or 'rk4'"
            )
        if method == "implicit_midpoint":
            raise IntegratorError(
                f"{self.name}: implicit_midpoint integrates the Hamiltonian form, and this "
                f"Lagrangian is not quadratic in the velocities; use method='rk4'"
            )
        raise IntegratorError(
            f"unknown integration method {method!r}: choose one of {self.methods}"
        )

    @classmethod
    def from_problem(cls, problem: Problem, name: str | None = None) -> Model:
        """The model of a problem (derived once per problem object, then kept)."""
        cached = problem.__dict__.get("_model")
        if cached is None:
            cached = problem.__dict__["_model"] = cls._derive(problem)
        name = name or problem.name or "system"
        return cached if cached.name == name else replace(cached, name=name)

    @classmethod
    def _derive(cls, problem: Problem) -> Model:
        system = problem.system
        n = len(system.q)
        if isinstance(system, Lagrangian) and problem.state_kind == "velocity":
            state = system.q + system.v
            kinds = ("position",) * n + ("velocity",) * n
            field = tuple(system.v) + tuple(system.plain_accelerations)
        else:
            hamiltonian = system if isinstance(system, Hamiltonian) else system.to_hamiltonian()
            state = system.q + hamiltonian.p
            kinds = ("position",) * n + ("momentum",) * n
            dq, dp = hamiltonian.plain_rhs
            field = tuple(dq) + tuple(dp)
        reversal = problem.time_reversal()
        return cls(
            name=problem.name or "system",
            kind=system.kind,
            time=system.time,
            state=tuple(state),
            state_kinds=kinds,
            params=problem.params,
            param_values=problem.param_values,
            inputs=system.x,
            input_signals=problem.inputs,
            vector_field=field,
            canonical=_canonical(problem),
            initial_state=problem.initial_state,
            horizon=problem.horizon,
            steps=problem.steps,
            time_reversible=reversal.reversible,
            time_reversal_reasons=reversal.reasons,
            manifold=None if system.constraints is None else manifold(
                system, state, problem.state_kind),
        )


def _canonical(problem: Problem) -> Canonical | None:
    system = problem.system
    if isinstance(system, Hamiltonian):
        hamiltonian, to_momentum, to_velocity = system, None, None
    else:
        try:
            hamiltonian = system.to_hamiltonian()
        except NotQuadraticError:
            return None
        _, velocity = system._legendre
        if problem.state_kind == "velocity":
            to_momentum = tuple(system.momentum_expressions)
            to_velocity = tuple(velocity)
        else:
            to_momentum = to_velocity = None
    q, p = system.q, hamiltonian.p
    H = hamiltonian._plain_expr
    dq, dp = hamiltonian.plain_rhs
    n = len(q)
    jacobian = mechanics.jacobian(list(dq) + list(dp), list(q) + list(p))
    # ∂²H/∂p² = ∂q̇/∂p; ∂²H/∂q² = −∂ṗ/∂q unless dissipation also enters ṗ
    kinetic = jacobian[:n, n:]
    if system.dissipation is None:
        potential = -jacobian[n:, :n]
    else:
        potential = mechanics.jacobian(mechanics.gradient(H, q), q)
    return Canonical(
        coords=q,
        momenta=p,
        hamiltonian=H,
        dq=tuple(dq),
        dp=tuple(dp),
        jacobian=sparse(jacobian),
        separable=hamiltonian.is_separable(),
        conservative=system.dissipation is None,
        kinetic_hessian=sparse(kinetic),
        potential_hessian=sparse(potential),
        momentum_of_state=to_momentum,
        velocity_of_momentum=to_velocity,
    )
