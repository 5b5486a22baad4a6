"""The element-wise expression printer every backend specializes, and common-subexpression
elimination.

Backends' printers (``codegen/backends/<name>/printer.py``) print element-wise,
broadcasting code: every symbol stands for an array (or tensor) of any leading shape,
numbers print as Python floats, and any node the printers do not know raises
:class:`~glep.derive.errors.CodegenError` naming it instead of emitting code that would
silently detach autograd or fail on batched inputs.

>>> import sympy as sp
>>> q, k = sp.symbols("q k")
>>> ArrayPrinter().doprint(k * sp.sin(q) ** 2 / 2 + sp.sqrt(q))
'(1/2)*k*np.sin(q)**2 + np.sqrt(q)'
"""

from __future__ import annotations

import functools
import math
from typing import ClassVar

import sympy as sp
from sympy.printing.pycode import PythonCodePrinter

from glep.derive.errors import CodegenError

#: Prefix reserved for common-subexpression temporaries in generated code.
TEMPORARY_PREFIX = "_t"

_ELEMENTWISE = {
    "sin": "sin",
    "cos": "cos",
    "tan": "tan",
    "asin": "arcsin",
    "acos": "arccos",
    "atan": "arctan",
    "sinh": "sinh",
    "cosh": "cosh",
    "tanh": "tanh",
    "asinh": "arcsinh",
    "acosh": "arccosh",
    "atanh": "arctanh",
    "exp": "exp",
    "log": "log",
    "Abs": "abs",
    "sign": "sign",
}


class ArrayPrinter(PythonCodePrinter):
    """Element-wise printer over a module prefix (``np`` or ``torch``)."""

    module = "np"
    names: ClassVar[dict[str, str]] = {}

    def __init__(self, names: dict[sp.Symbol, str] | None = None):
        super().__init__({"fully_qualified_modules": False, "strict": True})
        self._names = {s.name: v for s, v in (names or {}).items()}

    def _function_name(self, sympy_name: str) -> str:
        return self.names.get(sympy_name, _ELEMENTWISE[sympy_name])

    def _print(self, expr, **kwargs):
        if isinstance(expr, sp.Basic) and expr.is_number and not expr.is_Rational:
            value = complex(expr)
            if value.imag != 0:
                raise CodegenError(f"complex constant {expr} cannot be printed as real code")
            return repr(value.real) if value.real >= 0 else f"({value.real!r})"
        return super()._print(expr, **kwargs)

    def _print_Symbol(self, expr):
        return self._names.get(expr.name, expr.name)

    def _print_Function(self, expr):
        name = type(expr).__name__
        if name not in _ELEMENTWISE:
            raise CodegenError(
                f"glep cannot print the function {name} ({expr}) as {self.module} code: "
                f"supported are {sorted(_ELEMENTWISE)} and sqrt, atan2, powers"
            )
        args = ", ".join(self._print(a) for a in expr.args)
        return f"{self.module}.{self._function_name(name)}({args})"

    def _print_atan2(self, expr):
        y, x = (self._print(a) for a in expr.args)
        return f"{self.module}.{self.names.get('atan2', 'arctan2')}({y}, {x})"

    def _print_Pow(self, expr, rational=False):
        base, exponent = expr.args
        if exponent == sp.S.Half:
            return f"{self.module}.sqrt({self._print(base)})"
        if exponent == -sp.S.Half:
            return f"1/{self.module}.sqrt({self._print(base)})"
        if exponent.is_Rational and not exponent.is_Integer:
            return f"{self.parenthesize(base, 1000)}**{float(exponent)!r}"
        return super()._print_Pow(expr, rational=rational)

    def _print_LogCosh(self, expr):
        """``log cosh z`` as ``|z| + log1p(exp(−2|z|)) − log 2``: no overflow for large |z|."""
        z = f"{self.module}.abs({self._print(expr.args[0])})"
        return f"({z} + {self.module}.log1p({self.module}.exp(-2*{z})) - {math.log(2)!r})"

    def _print_Basic(self, expr):
        raise CodegenError(
            f"glep cannot print {type(expr).__name__} ({expr}) as {self.module} code: "
            f"rewrite the expression with elementary functions"
        )

    _print_Derivative = _print_Basic
    _print_Integral = _print_Basic
    _print_Piecewise = _print_Basic
    _print_MatrixBase = _print_Basic
    _print_Max = _print_Basic
    _print_Min = _print_Basic


for _name in _ELEMENTWISE:
    setattr(ArrayPrinter, f"_print_{_name}", ArrayPrinter._print_Function)




@functools.lru_cache(maxsize=256)
def _cse(exprs: tuple, prefix: str):
    return sp.cse(list(exprs), symbols=sp.numbered_symbols(prefix), order="canonical", list=True)


def eliminate_common(exprs, prefix: str = TEMPORARY_PREFIX):
    """CSE with temporaries named ``{prefix}0, {prefix}1, ...``.

    Returns ``(assignments, reduced)``: a list of ``(symbol, expression)`` and the
    reduced output expressions.
    """
    exprs = [sp.sympify(e) for e in exprs]
    taken = set().union(*(e.free_symbols for e in exprs)) if exprs else set()
    if any(s.name.startswith(prefix) for s in taken):
        raise CodegenError(
            f"a symbol name starts with the reserved prefix {prefix!r}: rename it"
        )
    return _cse(tuple(exprs), prefix)
