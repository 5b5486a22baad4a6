"""Functions of time and the plain symbols that stand for them during derivation.

A user declares coordinates as ``sympy.Function('q')(t)`` (or ``dynamicsymbols``);
derivation works on plain Symbols: ``q``, its velocity ``q_dot``, its acceleration
``q_ddot`` and its canonical momentum ``p_q``.

>>> import sympy as sp
>>> t = sp.Symbol("t")
>>> q = sp.Function("q")(t)
>>> name_of(q, "coordinate", t)
'q'
>>> momentum(q)
p_q(t)
"""

from __future__ import annotations

import keyword

import sympy as sp
from sympy.core.function import AppliedUndef

from .errors import CoordinateError, NameClashError, ParameterError, UndeclaredSymbolError


def usable_name(name: str) -> bool:
    """A Python identifier, not a keyword, not starting with ``_`` (kept for generated code)."""
    return name.isidentifier() and not keyword.iskeyword(name) and not name.startswith("_")


def time_of(obj, what: str) -> sp.Symbol:
    """The time symbol ``t`` of a declared function of time ``obj = f(t)``."""
    if not isinstance(obj, AppliedUndef) or len(obj.args) != 1 or not isinstance(
        obj.args[0], sp.Symbol
    ):
        raise CoordinateError(
            f"{what} {obj!r} is not a function of time: declare it as "
            f"sympy.Function('{_guess_name(obj)}')(t) or with dynamicsymbols"
        )
    return obj.args[0]


def name_of(obj, what: str, time: sp.Symbol) -> str:
    """The name of ``obj = f(time)``, checking that it is a function of ``time`` alone."""
    own_time = time_of(obj, what)
    if own_time != time:
        raise CoordinateError(
            f"{what} {obj!r} depends on {own_time}, but the system's time is {time}: "
            f"declare every function of time with the same time symbol"
        )
    name = obj.func.__name__
    if not usable_name(name):
        raise NameClashError(
            f"{what} {obj!r} has the name {name!r}, which cannot be used in generated code: "
            f"rename it (letters, digits and underscores, no leading underscore, not a "
            f"Python keyword)"
        )
    return name


def _guess_name(obj) -> str:
    return str(obj).split("(")[0] if obj is not None else "q"


def momentum(coordinate):
    """The canonical momentum ``p_<name>(t)`` that glep pairs with a coordinate.

    Use it to give a Lagrangian problem initial momenta instead of initial velocities.
    """
    time = time_of(coordinate, "coordinate")
    return sp.Function(f"p_{coordinate.func.__name__}")(time)


def check_params(params) -> tuple[sp.Symbol, ...]:
    """Parameters must be plain Symbols (not functions of time, not expressions)."""
    params = tuple(params)
    for p in params:
        if not isinstance(p, sp.Symbol):
            raise ParameterError(
                f"parameter {p!r} is not a sympy Symbol: declare learnable parameters with "
                f"sympy.symbols(...), and time-varying signals as inputs"
            )
        if not usable_name(p.name):
            raise NameClashError(
                f"parameter name {p.name!r} cannot be used in generated code: rename it "
                f"(letters, digits and underscores, no leading underscore, not a Python "
                f"keyword)"
            )
    return params


def check_unique(names, context: str) -> None:
    """No two declared objects may share a name."""
    seen: dict[str, int] = {}
    for n in names:
        seen[n] = seen.get(n, 0) + 1
    clashes = sorted(n for n, c in seen.items() if c > 1)
    if clashes:
        raise NameClashError(
            f"{context}: the name(s) {clashes} are used twice (for example a parameter and a "
            f"coordinate, or a velocity 'q_dot' and a coordinate); rename one of them"
        )


def check_declared(expr, allowed: set, what: str) -> None:
    """Every Symbol and function of time in ``expr`` must be in ``allowed``."""
    unknown_functions = sorted(
        {str(f) for f in expr.atoms(AppliedUndef)} - {str(a) for a in allowed}
    )
    if unknown_functions:
        raise UndeclaredSymbolError(
            f"{what} contains {', '.join(unknown_functions)}, declared nowhere: add it to the "
            f"coordinates, inputs or targets (or make it a parameter)"
        )
    unknown = sorted(str(s) for s in expr.free_symbols - set(allowed))
    if unknown:
        raise UndeclaredSymbolError(
            f"{what} contains the symbol(s) {', '.join(unknown)}, declared nowhere: list them "
            f"in params=[...] (learnable) or replace them by numbers"
        )
