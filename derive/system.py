"""Declarations: a Lagrangian or a Hamiltonian, a cost, and a problem with numbers.

>>> import sympy as sp
>>> from glep.derive import Lagrangian
>>> t = sp.Symbol("t")
>>> q = sp.Function("q")(t)
>>> m, k = sp.symbols("m k", positive=True)
>>> L = Lagrangian(m * q.diff(t) ** 2 / 2 - k * q**2 / 2, coords=[q], params=[m, k])
>>> L.euler_lagrange()
[Eq(-k*q(t) - m*Derivative(q(t), (t, 2)), 0)]
>>> L.to_hamiltonian().expr
k*q(t)**2/2 + p_q(t)**2/(2*m)
>>> L.is_time_reversible()
True
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import cached_property

import sympy as sp
from sympy.core.function import AppliedUndef

from . import mechanics
from .constraints import Constraints
from .errors import (
    ConstraintError,
    CoordinateError,
    DegenerateLagrangianError,
    NotQuadraticError,
    UndeclaredSymbolError,
)
from .variables import check_declared, check_params, check_unique, momentum, name_of, time_of

_DEGENERATE = (
    "The Lagrangian is degenerate: every coordinate needs a kinetic term "
    "(e.g. m*q.diff(t)**2/2) and the kinetic terms must be independent. A Lagrange "
    "multiplier is not a coordinate: declare its constraint with constraints=[g(q)] instead."
)


@dataclass(frozen=True)
class TimeReversal:
    """Whether a system is time-reversal invariant (THEORY.md §1), and why not."""

    reversible: bool
    reasons: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return self.reversible


class _Mechanical:
    """What Lagrangians and Hamiltonians share: coordinates, parameters, inputs, time."""

    def _declare(self, coords, params, inputs, time, extra_names=()):
        coords = tuple(coords)
        if not coords:
            raise CoordinateError("a system needs at least one coordinate: coords=[q, ...]")
        self.time = time if time is not None else time_of(coords[0], "coordinate")
        if not isinstance(self.time, sp.Symbol):
            raise CoordinateError(f"time {self.time!r} must be a sympy Symbol such as Symbol('t')")
        self.coords = coords
        self.params = check_params(params)
        self.inputs = tuple(inputs)
        names = [name_of(q, "coordinate", self.time) for q in coords]
        input_names = [name_of(u, "input", self.time) for u in self.inputs]
        self.q = tuple(sp.Symbol(n) for n in names)
        self.v = tuple(sp.Symbol(f"{n}_dot") for n in names)
        self.a = tuple(sp.Symbol(f"{n}_ddot") for n in names)
        self.x = tuple(sp.Symbol(n) for n in input_names)
        declared = (names + [s.name for s in self.v] + list(extra_names)
                    + [p.name for p in self.params] + input_names + [self.time.name])
        check_unique(declared, "system declaration")
        self._declared_names = set(declared)
        self.lifted = {}
        t = self.time
        self._plain = {}
        for q, qs, vs, acc in zip(coords, self.q, self.v, self.a):
            self._plain[q.diff(t, 2)] = acc
            self._plain[q.diff(t)] = vs
            self._plain[q] = qs
        for u, xs in zip(self.inputs, self.x):
            self._plain[u] = xs
        self._timed = {v: k for k, v in self._plain.items()}

    def _lift_known_time(self, kinetic_variables) -> None:
        """Lift the known functions of time in the plain expression (``sin(2*t)``: time
        alone, no parameter) to input signals ``ft1, ft2, ...`` whose values are those
        functions (:attr:`lifted`), so that an echo replays them reversed like declared
        inputs. Time inside the kinetic term stays explicit: inputs may not enter the
        momenta."""
        expr, lifted = mechanics.lift_time(
            self._plain_expr, self.time, lambda i: sp.Dummy(f"lifted{i}")
        )
        kinetic = set().union(
            *(e.free_symbols for e in mechanics.gradient(expr, kinetic_variables))
        )
        expr = expr.xreplace({s: f for s, f in lifted.items() if s in kinetic})
        names = (f"ft{i}" for i in itertools.count(1))
        renamed = {}
        for dummy, value in lifted.items():
            if dummy in kinetic:
                continue
            symbol = sp.Symbol(next(n for n in names if n not in self._declared_names))
            renamed[dummy] = symbol
            function = sp.Function(symbol.name)(self.time)
            self.inputs += (function,)
            self.x += (symbol,)
            self._plain[function] = symbol
            self._timed[symbol] = function
            self.lifted[function] = value
        self._plain_expr = expr.xreplace(renamed)

    def _constrain(self, constraints):
        """``constraints``: expressions ``g(q)`` (or ``Eq``) meaning ``g = 0``."""
        constraints = [constraints] if isinstance(constraints, sp.Basic) else list(constraints)
        self.constraints = Constraints(self, constraints) if constraints else None
        if self.constraints is not None and self.dissipation is not None:
            raise ConstraintError("constraints together with a dissipation function are not "
                                  "supported: drop one of them")

    def multipliers(self) -> list:
        """The multipliers ``λ`` of the constraints (index-1 form), as functions of time."""
        return [] if self.constraints is None else [self.to_time(e) for e in self.plain_multipliers]

    def to_plain(self, expr, what: str, allowed_extra=()):
        """Replace functions of time by plain symbols, rejecting anything undeclared."""
        expr = sp.sympify(expr)
        plain = expr.xreplace(self._plain)
        leftovers = plain.atoms(sp.Derivative) | plain.atoms(AppliedUndef)
        if leftovers:
            raise UndeclaredSymbolError(
                f"{what} contains {', '.join(sorted(map(str, leftovers)))}, which is not a "
                f"declared coordinate, velocity or input: declare it, or write it in terms of "
                f"the coordinates and their first derivatives"
            )
        allowed = set(self.q) | set(self.v) | set(self.x) | set(self.params) | {self.time}
        check_declared(plain, allowed | set(allowed_extra), what)
        return plain

    def plain(self, expr):
        """Functions of time shown as plain symbols (``q``, ``q_dot``), without checks."""
        return sp.sympify(expr).xreplace(self._plain)

    def to_time(self, expr):
        """Inverse of :meth:`to_plain`: plain symbols back to functions of time."""
        return sp.sympify(expr).xreplace(self._timed)

    def _time_reversal(self, odd_lagrangian_is_null: bool, odd_reason: str) -> TimeReversal:
        reasons = []
        if not odd_lagrangian_is_null:
            reasons.append(odd_reason)
        if self.time in self._plain_expr.free_symbols:
            reasons.append(
                f"time {self.time} appears explicitly (not only through inputs or targets)"
            )
        if self.dissipation is not None:
            reasons.append("dissipative: a Rayleigh dissipation function is declared")
        return TimeReversal(not reasons, tuple(reasons))

    def is_time_reversible(self) -> bool:
        """Time-reversal invariance in the sense of THEORY.md §1 (cost not included)."""
        return self.time_reversal().reversible


class Lagrangian(_Mechanical):
    """A Lagrangian ``L(q, q̇, t; θ, x)`` with an optional Rayleigh dissipation function.

    ``coords`` are functions of time; ``params`` plain Symbols (learnable); ``inputs``
    functions of time given numerically by the problem; ``dissipation`` a Rayleigh
    function ``F(q, q̇)`` whose force is ``−∂F/∂q̇``. A known function of time written
    into L (``a*sin(2*t)*q``) becomes an input signal ``ft1`` of that value (:attr:`lifted`).
    ``constraints``: holonomic constraints ``g(q)`` meaning ``g = 0`` (see
    :mod:`glep.derive.constraints`).
    """

    kind = "lagrangian"

    def __init__(self, expr, coords, params, inputs=(), time=None, dissipation=None,
                 constraints=()):
        self._declare(coords, params, inputs, time)
        self.expr = sp.sympify(expr)
        self._plain_expr = self.to_plain(self.expr, "the Lagrangian")
        self._lift_known_time(self.v)
        self.dissipation = None if dissipation is None else sp.sympify(dissipation)
        self._plain_dissipation = (
            None
            if dissipation is None
            else self.to_plain(self.dissipation, "the dissipation function")
        )
        if self._plain_expr.free_symbols.isdisjoint(self.v):
            raise DegenerateLagrangianError(
                "the Lagrangian does not depend on any velocity: add a kinetic term "
                "such as m*q.diff(t)**2/2"
            )
        self._constrain(constraints)

    # -- derived quantities (plain symbols), kept once computed ---------------------

    @cached_property
    def momentum_expressions(self) -> list:
        """``p = ∂L/∂q̇`` in plain symbols."""
        p = mechanics.momenta(self._plain_expr, self.v)
        for pi in p:
            if pi.free_symbols & set(self.x):
                raise UndeclaredSymbolError(
                    "the momentum ∂L/∂q̇ depends on an input; glep needs inputs to enter "
                    "through the potential or a force term (x·q), not the kinetic term"
                )
        return p

    @cached_property
    def plain_mass_matrix(self) -> sp.Matrix:
        return mechanics.mass_matrix(self.momentum_expressions, self.v)

    @cached_property
    def plain_dL_dq(self) -> list:
        """``∂L/∂q`` in plain symbols."""
        return mechanics.gradient(self._plain_expr, self.q)

    @cached_property
    def plain_accelerations(self) -> list:
        """``q̈`` in plain symbols (with constraints: ``a0 − M⁻¹Gᵀλ``, the index-1 form)."""
        if self.constraints is None:
            return self._free_accelerations
        inverse = mechanics.inverse(self.plain_mass_matrix)
        force = inverse * sp.Matrix(self.constraints.force(self.plain_multipliers))
        return [a - f for a, f in zip(self._free_accelerations, force)]

    @cached_property
    def plain_multipliers(self) -> list:
        return self.constraints.solve(self._free_accelerations,
                                      mechanics.inverse(self.plain_mass_matrix), self.v)

    @cached_property
    def _free_accelerations(self) -> list:
        mechanics.check_invertible(self.plain_mass_matrix, "the mass matrix ∂²L/∂q̇²", _DEGENERATE)
        forces = mechanics.generalized_forces(
            self.plain_dL_dq,
            self.q,
            self.v,
            self.momentum_expressions,
            self.time,
            self._plain_dissipation,
        )
        return mechanics.solve_linear(self.plain_mass_matrix, forces)

    @cached_property
    def p(self) -> tuple:
        """Plain momentum symbols ``p_q``."""
        return tuple(sp.Symbol(momentum(q).func.__name__) for q in self.coords)

    # -- the public, time-function view ---------------------------------------------

    def euler_lagrange(self) -> list[sp.Eq]:
        """``Eq(∂L/∂q − d/dt ∂L/∂q̇ − ∂F/∂q̇ − Gᵀλ, 0)`` for each coordinate."""
        residual = mechanics.euler_lagrange_residual(
            self._plain_expr, self.q, self.v, self.a, self.time, {}
        )
        if self._plain_dissipation is not None:
            dF = mechanics.gradient(self._plain_dissipation, self.v)
            residual = [r - f for r, f in zip(residual, dF)]
        if self.constraints is not None:
            residual = [r - f for r, f in zip(residual, self.constraints.force())]
        return [sp.Eq(self.to_time(r), 0) for r in residual]

    def mass_matrix(self) -> sp.Matrix:
        """``M = ∂²L/∂q̇²``."""
        return self.to_time(self.plain_mass_matrix)

    def accelerations(self) -> list:
        """Explicit ``q̈`` for each coordinate (a diagonal mass matrix is divided, not inverted;
        with constraints, the multipliers eliminated)."""
        return [self.to_time(a) for a in self.plain_accelerations]

    @cached_property
    def _legendre(self):
        return mechanics.legendre_to_hamiltonian(
            self._plain_expr, self.v, self.p, self.plain_mass_matrix
        )

    def to_hamiltonian(self) -> Hamiltonian:
        """Legendre transform ``H = p·q̇ − L`` with momenta ``p_q(t)`` (see :func:`momentum`)."""
        return self._hamiltonian

    @cached_property
    def _hamiltonian(self) -> Hamiltonian:
        mechanics.check_invertible(self.plain_mass_matrix, "the mass matrix ∂²L/∂q̇²", _DEGENERATE)
        H, velocity = self._legendre
        momenta = [momentum(q) for q in self.coords]
        to_time = {**self._timed, **{ps: pf for ps, pf in zip(self.p, momenta)}}
        hamiltonian = Hamiltonian(
            H.xreplace(to_time),
            self.coords,
            momenta,
            self.params,
            self.inputs,
            self.time,
            self.dissipation,
            self.constraints.declared if self.constraints else (),
        )
        # Hamilton's equations are known without differentiating H again: q̇ = q̇(q, p) from
        # the transform, and −∂H/∂q = ∂L/∂q at corresponding points.
        at = dict(zip(self.v, velocity))
        dp = self.plain_dL_dq
        if self._plain_dissipation is not None:
            dF = mechanics.gradient(self._plain_dissipation, self.v)
            dp = [a - f for a, f in zip(dp, dF)]
        hamiltonian.lifted = dict(self.lifted)
        hamiltonian.__dict__["_free_rhs"] = (list(velocity), [e.xreplace(at) for e in dp])
        return hamiltonian

    def odd_part_is_null(self) -> bool:
        """The part of L odd in the velocities is a total time derivative (harmless)."""
        odd = mechanics.odd_part(self._plain_expr, self.v)
        rates = {x: sp.Symbol(f"{x.name}_rate") for x in self.x}
        return odd == 0 or mechanics.is_null_lagrangian(
            odd, self.q, self.v, self.a, self.time, rates
        )

    def time_reversal(self) -> TimeReversal:
        return self._time_reversal(
            self.odd_part_is_null(),
            "the part of L odd in the velocities is not a total time derivative "
            "(e.g. a magnetic or gyroscopic term)",
        )


class Hamiltonian(_Mechanical):
    """A Hamiltonian ``H(q, p, t; θ, x)``; ``dissipation`` is a Rayleigh function of velocities.
    Known functions of time in H become input signals, as in :class:`Lagrangian`.

    >>> import sympy as sp
    >>> t = sp.Symbol("t")
    >>> q, p = sp.Function("q")(t), sp.Function("p")(t)
    >>> H = Hamiltonian(p**2 / 2 + q**2 / 2, coords=[q], momenta=[p], params=[])
    >>> H.hamilton_equations()
    [Eq(Derivative(q(t), t), p(t)), Eq(Derivative(p(t), t), -q(t))]
    >>> H.is_separable()
    True
    """

    kind = "hamiltonian"

    def __init__(self, expr, coords, momenta, params, inputs=(), time=None, dissipation=None,
                 constraints=()):
        momenta = tuple(momenta)
        if len(momenta) != len(tuple(coords)):
            raise CoordinateError(
                f"{len(tuple(coords))} coordinates but {len(momenta)} momenta: give one "
                f"momentum per coordinate"
            )
        time = time if time is not None else time_of(next(iter(coords)), "coordinate")
        momentum_names = [name_of(p, "momentum", time) for p in momenta]
        self._declare(coords, params, inputs, time, extra_names=momentum_names)
        self.momenta = momenta
        self.p = tuple(sp.Symbol(n) for n in momentum_names)
        for pf, ps in zip(momenta, self.p):
            self._plain[pf] = ps
            self._timed[ps] = pf
        self.expr = sp.sympify(expr)
        self._plain_expr = self.to_plain(self.expr, "the Hamiltonian", self.p)
        if self._plain_expr.free_symbols & set(self.v):
            raise UndeclaredSymbolError(
                "the Hamiltonian contains velocities: write it in coordinates and momenta"
            )
        self._lift_known_time(self.p)
        self.dissipation = None if dissipation is None else sp.sympify(dissipation)
        self._plain_dissipation = (
            None
            if dissipation is None
            else self.to_plain(self.dissipation, "the dissipation function")
        )
        self._constrain(constraints)

    @cached_property
    def plain_rhs(self) -> tuple[list, list]:
        """``(q̇, ṗ)`` in plain symbols (with constraints: ``ṗ = −∂H/∂q − Gᵀλ``, index-1)."""
        dq, dp = self._free_rhs
        if self.constraints is None:
            return dq, dp
        force = self.constraints.force(self.plain_multipliers)
        return dq, [e - f for e, f in zip(dp, force)]

    @cached_property
    def _free_rhs(self) -> tuple[list, list]:
        return mechanics.hamilton_rhs(
            self._plain_expr, self.q, self.p, self.v, self._plain_dissipation
        )

    @cached_property
    def plain_multipliers(self) -> list:
        dq, dp = self._free_rhs
        compliance = mechanics.jacobian(dq, self.p)
        acceleration = (mechanics.jacobian(dq, self.q) * sp.Matrix(dq) + compliance * sp.Matrix(dp)
                        + sp.Matrix([e.diff(self.time) for e in dq]))
        return self.constraints.solve(acceleration, compliance, dq)

    def hamilton_equations(self) -> list[sp.Eq]:
        """``q̇ = ∂H/∂p`` and ``ṗ = −∂H/∂q − ∂F/∂q̇ − Gᵀλ`` as equations in functions of time."""
        dq, dp = self._free_rhs
        if self.constraints is not None:
            dp = [e - f for e, f in zip(dp, self.constraints.force())]
        t = self.time
        return [sp.Eq(q.diff(t), self.to_time(e)) for q, e in zip(self.coords, dq)] + [
            sp.Eq(p.diff(t), self.to_time(e)) for p, e in zip(self.momenta, dp)
        ]

    def is_separable(self) -> bool:
        """``H = T(p) + V(q, t, x)`` with T free of coordinates, inputs and time."""
        return mechanics.is_separable(
            self._plain_expr, self.q, self.p, (*self.x, self.time)
        )

    @cached_property
    def _plain_lagrangian(self):
        return mechanics.legendre_to_lagrangian(self._plain_expr, self.p, self.v)

    def to_lagrangian(self) -> Lagrangian:
        """Inverse Legendre transform (H must be quadratic in the momenta)."""
        lagrangian = Lagrangian(
            self.to_time(self._plain_lagrangian),
            self.coords,
            self.params,
            self.inputs,
            self.time,
            self.dissipation,
            self.constraints.declared if self.constraints else (),
        )
        lagrangian.lifted = dict(self.lifted)
        return lagrangian

    def time_reversal(self) -> TimeReversal:
        flipped = self._plain_expr.xreplace({p: -p for p in self.p})
        even = sp.simplify(flipped - self._plain_expr) == 0
        if not even:
            try:
                lagrangian = self.to_lagrangian()
            except NotQuadraticError:
                return self._time_reversal(
                    False, "H is not even in the momenta and has no Lagrangian form to check"
                )
            even = lagrangian.odd_part_is_null()
        return self._time_reversal(
            even,
            "the part of the Lagrangian odd in the velocities is not a total time "
            "derivative (e.g. a magnetic or gyroscopic term)",
        )


class Cost:
    """The objective ``C = ∫_0^T c dt + ψ(q(T))``.

    ``running`` may use coordinates, velocities, targets and parameters; ``terminal``
    is evaluated at the final time (write it with the coordinates, e.g. ``(q - 1)**2``).
    ``targets`` are the functions of time the running cost compares with; ``params``
    are learnable parameters that appear only in the cost (e.g. readout weights).
    """

    def __init__(self, running=None, terminal=None, targets=(), params=()):
        if running is None and terminal is None:
            raise UndeclaredSymbolError(
                "a Cost needs a running cost, a terminal cost, or both"
            )
        self.running = sp.S.Zero if running is None else sp.sympify(running)
        self.terminal = sp.S.Zero if terminal is None else sp.sympify(terminal)
        self.targets = tuple(targets)
        self.params = tuple(params)
