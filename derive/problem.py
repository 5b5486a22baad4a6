"""A problem: a system, a cost and the numbers needed to simulate and learn.

>>> import sympy as sp
>>> from glep.derive import Cost, Lagrangian, Problem
>>> t = sp.Symbol("t")
>>> q, u, y = (sp.Function(n)(t) for n in "quy")
>>> m, k = sp.symbols("m k")
>>> problem = Problem(
...     Lagrangian(m * q.diff(t) ** 2 / 2 - k * q**2 / 2 + u * q, [q], [m, k], [u]),
...     Cost(running=(q - y) ** 2 / 2, targets=[y]),
...     params={m: 1.0, k: 2.0},
...     initial={q: 0.1, q.diff(t): 0.0},
...     inputs={u: sp.sin(t)},
...     targets={y: sp.cos(t)},
...     horizon=1.0,
...     steps=100,
... )
>>> problem.state_kind
'velocity'
"""

from __future__ import annotations

import math
import numbers

import sympy as sp
from sympy.core.function import AppliedUndef

from .errors import (
    CostError,
    HorizonError,
    InitialValueError,
    ParameterValueError,
    SignalError,
    StepsError,
)
from .system import Cost, Hamiltonian, Lagrangian, TimeReversal
from .variables import check_params, check_unique, momentum, name_of


def finite_value(value, what: str, error=ParameterValueError) -> float:
    """``value`` as a finite float, or ``error`` saying what it is instead."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise error(f"{what} is {value!r}, not a number: give a finite float") from None
    if not math.isfinite(number):
        raise error(f"{what} is {number}, not finite: give a finite float")
    return number


class Signal:
    """An input or target: an expression of time, or samples on a uniform grid over [0, T]."""

    def __init__(self, name: str, value, time: sp.Symbol, what: str):
        self.name = name
        self.expression = None
        self.samples = None
        if isinstance(value, (sp.Basic, numbers.Number)):
            expr = sp.sympify(value)
            extra = expr.free_symbols - {time}
            if extra or expr.atoms(AppliedUndef):
                raise SignalError(
                    f"{what} {name} = {expr} may depend on time {time} only, but contains "
                    f"{sorted(map(str, extra or expr.atoms(AppliedUndef)))}: give numbers"
                )
            self.expression = expr
            return
        try:
            samples = tuple(float(v) for v in value)
        except TypeError:
            raise SignalError(
                f"{what} {name} is {type(value).__name__}: give an expression of time or a "
                f"1-D sequence of samples on a uniform grid over [0, horizon]"
            ) from None
        if len(samples) < 2:
            raise SignalError(f"{what} {name} has {len(samples)} sample(s): give at least two")
        if not all(math.isfinite(s) for s in samples):
            raise SignalError(f"{what} {name} contains NaN or infinite samples: clean the data")
        self.samples = samples


class ProblemBase:
    """What every kind of problem a system file may define has in common: a ``name``.

    :class:`Problem` (a Lagrangian or Hamiltonian system over time) is one kind; static
    energies and discrete recurrent units define their own problem classes on this base.
    """

    name: str | None = None


class Problem(ProblemBase):
    """A system with a cost, parameter values, initial state, signals, horizon and steps.

    ``initial`` gives every coordinate and either every velocity ``q.diff(t)`` (then
    ``(q0, q̇0)`` is what stays fixed when parameters change) or every momentum
    (``glep.momentum(q)`` for a Lagrangian, the declared momenta for a Hamiltonian;
    then ``(q0, p0)`` is fixed).
    """

    def __init__(
        self,
        system,
        cost: Cost | None = None,
        *,
        params,
        initial,
        inputs=None,
        targets=None,
        horizon,
        steps,
        name: str | None = None,
    ):
        if not isinstance(system, (Lagrangian, Hamiltonian)):
            raise SignalError(
                f"system is a {type(system).__name__}: give a derive.Lagrangian or "
                f"derive.Hamiltonian"
            )
        self.system = system
        self.cost = cost
        self.name = name
        self.horizon = finite_value(horizon, "horizon", HorizonError)
        if self.horizon <= 0:
            raise HorizonError(f"horizon is {self.horizon}: give a positive duration")
        if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or steps <= 0:
            raise StepsError(f"steps is {steps!r}: give a positive integer number of steps")
        self.steps = int(steps)
        self._declare_cost()
        self.params = self.system.params + self.cost_params
        self.param_values = self._param_values(params)
        self.state_kind, self.initial_state = self._initial(initial)
        if system.constraints is not None:
            system.constraints.check_initial(self)
        # known functions of time lifted out of L or H are inputs whose values are known
        self.inputs = self._signals({**system.lifted, **dict(inputs or {})}, system.inputs,
                                    "input")
        self.targets = self._signals(targets, self.cost_targets, "target")

    # -- validation -------------------------------------------------------------------

    def _declare_cost(self):
        system, cost = self.system, self.cost
        self.cost_targets = () if cost is None else cost.targets
        self.cost_params = (
            ()
            if cost is None
            else check_params(p for p in cost.params if p not in system.params)
        )
        names = [name_of(y, "target", system.time) for y in self.cost_targets]
        self.y = tuple(sp.Symbol(n) for n in names)
        check_unique(
            names + [p.name for p in system.params + self.cost_params]
            + [s.name for s in system.q + system.v + system.x],
            "cost declaration",
        )
        if cost is None:
            self.running_cost = self.terminal_cost = sp.S.Zero
            return
        plain = dict(zip(self.cost_targets, self.y))
        extra = set(self.y) | set(self.cost_params)
        if isinstance(system, Hamiltonian):
            extra |= set(system.p)
        else:  # a Lagrangian's momenta ∂L/∂q̇ are written out in (q, q̇)
            plain.update({momentum(q): system.to_time(e) for q, e in zip(
                system.coords, system.momentum_expressions)
                if (cost.running + cost.terminal).has(momentum(q))})
        self.running_cost, self.terminal_cost = (
            system.to_plain(expr.xreplace(plain), f"the {what} cost", extra)
            for expr, what in ((cost.running, "running"), (cost.terminal, "terminal")))
        inputs = (self.running_cost + self.terminal_cost).free_symbols & set(system.x)
        if inputs:
            raise CostError(
                f"the cost reads the input(s) {sorted(map(str, inputs))}: a cost compares the "
                f"motion with targets; declare the signal as a target too (targets=[...])"
            )
        if self.terminal_cost.free_symbols & (set(self.y) | {system.time}):
            raise CostError(
                "the terminal cost may depend on the final positions, velocities, momenta and "
                "parameters only: move target or time terms into the running cost"
            )

    def _param_values(self, values) -> tuple[float, ...]:
        by_name = {}
        for key, value in dict(values).items():
            key_name = key.name if isinstance(key, sp.Symbol) else str(key)
            by_name[key_name] = value
        known = {p.name for p in self.params}
        unknown = sorted(set(by_name) - known)
        if unknown:
            raise ParameterValueError(
                f"params gives values for {unknown}, which are not parameters of the system "
                f"or cost (declared: {sorted(known)})"
            )
        missing = [p.name for p in self.params if p.name not in by_name]
        if missing:
            raise ParameterValueError(
                f"no value for parameter(s) {missing}: add them to params={{...}}"
            )
        return tuple(
            finite_value(by_name[p.name], f"parameter {p.name}", ParameterValueError)
            for p in self.params
        )

    def _initial(self, initial):
        system = self.system
        t = system.time
        given = dict(initial)
        coords = {q: f"position {q}" for q in system.coords}
        velocities = {q.diff(t): f"velocity {q.diff(t)}" for q in system.coords}
        if isinstance(system, Hamiltonian):
            momenta = {p: f"momentum {p}" for p in system.momenta}
            velocities = {}
        else:
            momenta = {momentum(q): f"momentum {momentum(q)}" for q in system.coords}
        unknown = [k for k in given if k not in coords and k not in velocities and k not in momenta]
        if unknown:
            raise InitialValueError(
                f"initial gives a value for {unknown[0]}, which is not a coordinate, "
                f"velocity or momentum of the system"
            )
        missing = [name for key, name in coords.items() if key not in given]
        if missing:
            raise InitialValueError(f"initial has no value for the {missing[0]}: add it")
        uses_momenta = any(k in momenta for k in given)
        second = momenta if uses_momenta or not velocities else velocities
        if uses_momenta and any(k in velocities for k in given):
            raise InitialValueError(
                "initial mixes velocities and momenta: give all velocities or all momenta"
            )
        missing = [name for key, name in second.items() if key not in given]
        if missing:
            raise InitialValueError(f"initial has no value for the {missing[0]}: add it")
        values = tuple(
            finite_value(given[k], f"initial value of {k}", InitialValueError)
            for k in list(coords) + list(second)
        )
        return ("momentum" if second is momenta else "velocity"), values

    def _signals(self, given, declared, what) -> tuple[Signal, ...]:
        given = dict(given or {})
        time = self.system.time
        unknown = [k for k in given if k not in declared]
        if unknown:
            raise SignalError(
                f"{what}s gives a value for {unknown[0]}, which is not a declared {what}"
            )
        missing = [str(k) for k in declared if k not in given]
        if missing:
            raise SignalError(
                f"no {what} signal for {missing[0]}: add it to {what}s={{...}} as an "
                f"expression of {time} or an array of samples"
            )
        return tuple(Signal(k.func.__name__, given[k], time, what) for k in declared)

    # -- properties -------------------------------------------------------------------

    def time_reversal(self) -> TimeReversal:
        """TRI of the system together with its cost (THEORY.md §1, condition 4). A cost on
        velocities or momenta does not break it: an echo reads such a cost at the mirrored
        velocities (momenta ``−p``), which retrace the forward run's."""
        report = self.system.time_reversal()
        reasons = list(report.reasons)
        if self.system.time in self.running_cost.free_symbols:
            reasons.append("the running cost depends on time explicitly")
        return TimeReversal(not reasons, tuple(reasons))
