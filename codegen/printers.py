"""The element-wise expression printer every backend specializes, and common-subexpression
elimination.

Backends' printers (``codegen/backends/<name>/printer.py``) print element-wise,
broadcasting code: every symbol stands for an array (or tensor) of any leading shape,
numbers print as Python floats, and any node the printers do not know raises
:class:`~glep.derive.errors.CodegenError` naming it instead of emitting code that would
silently detach autograd or fail on batched inputs.

``Abs``, ``sign``, ``Max``/``Min``, ``Heaviside``, ``Piecewise`` (``And``/``Or`` of relations)
print element-wise. Symbols are real and kernels drop ``DiracDelta`` (:mod:`.kernel`): rules
hold almost everywhere, away from kinks (across the kink of ``Abs(q)`` a sensitivity jumps).

>>> import sympy as sp
>>> q, k = sp.symbols("q k")
>>> ArrayPrinter().doprint(k * sp.sin(q) ** 2 / 2 + sp.sqrt(q))
'(1/2)*k*np.sin(q)**2 + np.sqrt(q)'
"""

from __future__ import annotations

import functools
import math
import re
from typing import ClassVar

import sympy as sp
from sympy.printing.precedence import PRECEDENCE, precedence
from sympy.printing.pycode import PythonCodePrinter, _known_functions_math

from glep.derive.convolution import Operator
from glep.derive.errors import CodegenError

from .convolution import printed

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
        #: Subexpressions printed as the name of a temporary holding them (line splitting).
        self.temporaries: dict[sp.Basic, str] = {}
        #: Sums whose first ``k`` added terms a temporary holds: sum → [(k, name)], k rising.
        self.prefixes: dict[sp.Add, list[tuple[int, str]]] = {}
        self._ordered: dict = {}

    def _as_ordered_terms(self, expr, order=None):
        key = (expr, order)  # sorting terms is the costliest part of printing: once per sum
        if key not in self._ordered:
            self._ordered[key] = super()._as_ordered_terms(expr, order=order)
        return self._ordered[key]

    def chain(self, expr: sp.Add) -> list:
        """The terms of a sum in the order the printed code adds them up."""
        return self._as_ordered_terms(expr)

    def print_sum(self, expr: sp.Add, count: int) -> str:
        """The code of the first ``count`` terms of :meth:`chain`, added left to right,
        starting from the longest shorter prefix a temporary holds: the same operations in
        the same order as the whole sum's code."""
        terms = self.chain(expr)
        start, code = 0, None
        for k, name in self.prefixes.get(expr, ()):
            if k < count:
                start, code = k, name
        for term in terms[start:count]:
            code = self._add(code, term)
        return code

    def _add(self, code, term) -> str:
        text = self._print(term)
        sign = "+"
        if text.startswith("-") and not term.is_Add:
            sign, text = "-", text[1:]
        if precedence(term) < PRECEDENCE["Add"] or term.is_Add:
            text = f"({text})"
        if code is None:
            return f"-{text}" if sign == "-" else text
        return f"{code} {sign} {text}"

    def _print_Add(self, expr, order=None):
        if expr not in self.prefixes:
            return super()._print_Add(expr, order=order)
        return self.print_sum(expr, len(self.chain(expr)))

    def _function_name(self, sympy_name: str) -> str:
        return self.names.get(sympy_name, _ELEMENTWISE[sympy_name])

    def _print(self, expr, **kwargs):
        if self.temporaries and expr in self.temporaries:
            return self.temporaries[expr]
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
    _print_MatrixBase = _print_Basic

    def _fold(self, expr, name, number=None):
        """Nested ``name(a, b)``; Max/Min's number is a bound of Torch's ``clamp``."""
        code = functools.reduce(lambda a, b: f"{self.module}.{name}({a}, {b})",
                                [self._print(a) for a in expr.args if not a.is_number])
        bound = next((self._print(a) for a in expr.args if a.is_number), None)
        if bound is not None and self.module == "torch":
            return f"torch.clamp({code}, {number}={bound})"
        return code if bound is None else f"{self.module}.{name}({code}, {bound})"

    _print_Max = functools.partialmethod(_fold, name="maximum", number="min")
    _print_Min = functools.partialmethod(_fold, name="minimum", number="max")
    _print_And = functools.partialmethod(_fold, name="logical_and")
    _print_Or = functools.partialmethod(_fold, name="logical_or")

    def _print_Piecewise(self, expr):
        """Nested ``where`` (numbers as floats); the last piece holds otherwise (``True``)."""
        *pieces, (code, otherwise) = expr.args
        if otherwise != sp.true:
            raise CodegenError(f"Piecewise {expr} has no otherwise piece: end with (value, True)")
        text = self._print(sp.Float(code) if code.is_number else code)
        if self.module == "torch" and code.is_number and all(e.is_number for e, _ in pieces):
            text = f"0*{self._print(sorted(expr.free_symbols, key=str)[0])} + {text}"  # a tensor
        for e, c in reversed(pieces):
            e = sp.Float(e) if e.is_number else e
            text = f"{self.module}.where({self._print(c)}, {self._print(e)}, {text})"
        return text

    def _print_Heaviside(self, expr):
        x, h0 = (*expr.args, sp.S.Half)[:2]
        return self._print(sp.Piecewise((0, x < 0), (h0, sp.Eq(x, 0)), (1, True)))


for _name in {*_ELEMENTWISE, *_known_functions_math} - {"atan2", "Sqrt"}:  # not bare names
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


class MatrixPrinter:
    """The companion of an :class:`ArrayPrinter` for layered (matrix) expressions: layers
    are batched arrays, never unrolled.

    Kinds: ``col`` (a column vector as ``(..., n)``), ``row`` (its transpose, same array),
    ``mat`` (an unbatched parameter matrix), ``bmat`` (a batched matrix ``(..., n, m)``),
    ``scalar`` (``(...)``). Scalar factors print with ``scalar_printer``.

    >>> h, W = sp.MatrixSymbol("h", 3, 1), sp.MatrixSymbol("W", 3, 3)
    >>> MatrixPrinter({}, {h}, ArrayPrinter())(h.T * W * h)
    ('_dot((h @ W), h)', 'scalar')
    """

    _PRODUCTS: ClassVar[dict] = {
        ("mat", "mat"): ("({a} @ {b})", "mat"), ("mat", "col"): ("({b} @ {a}.T)", "col"),
        ("row", "mat"): ("({a} @ {b})", "row"), ("row", "col"): ("_dot({a}, {b})", "scalar"),
        ("col", "row"): ("_outer({a}, {b})", "bmat"), ("mat", "bmat"): ("({a} @ {b})", "bmat"),
        ("bmat", "mat"): ("({a} @ {b})", "bmat"), ("bmat", "bmat"): ("({a} @ {b})", "bmat"),
        ("bmat", "col"): ("_matvec({a}, {b})", "col"),
        ("row", "bmat"): ("_vecmat({a}, {b})", "row"),
        ("scalar", "row"): ("({a})[..., None]*{b}", "row"),
        ("scalar", "col"): ("({a})[..., None]*{b}", "col"),
        ("col", "scalar"): ("{a}*({b})[..., None]", "col"),
        ("row", "scalar"): ("{a}*({b})[..., None]", "row"),
        ("scalar", "scalar"): ("{a}*{b}", "scalar"),
    }

    def __init__(self, names: dict, batched: set, scalar_printer: ArrayPrinter):
        self.names = names
        self.batched = batched
        self.scalar_printer = scalar_printer
        #: Subexpressions printed as a temporary's name (shared with ``scalar_printer``).
        self.temporaries, self.prefixes, self._kinds = scalar_printer.temporaries, {}, {}

    def __call__(self, expr) -> tuple[str, str]:
        """``(code, kind)`` of ``expr``."""
        from sympy.matrices.expressions.matexpr import MatrixExpr

        return self._print(expr.doit() if isinstance(expr, MatrixExpr) else expr)

    def doprint(self, expr) -> str:
        return self(expr)[0]

    def chain(self, expr) -> list:
        return list(expr.args)

    def _print(self, e) -> tuple[str, str]:
        if e in self.temporaries:
            return self.temporaries[e], self._kinds.get(e, "scalar")
        self._kinds[e] = (printed := self._node(e))[1]
        return printed

    def _node(self, e) -> tuple[str, str]:
        from sympy.matrices.expressions.matexpr import MatrixExpr

        if not isinstance(e, MatrixExpr) and not e.has(sp.MatrixSymbol):
            return self.scalar_printer.doprint(e), "scalar"
        if isinstance(e, sp.MatrixSymbol):
            name = self.names.get(e, e.name)
            if e.shape[1] == 1:
                return name, "col"
            return name, "bmat" if e in self.batched else "mat"
        if isinstance(e, sp.Transpose):
            code, kind = self._print(e.arg)
            return {"col": (code, "row"), "row": (code, "col"), "mat": (f"{code}.T", "mat"),
                    "bmat": (f"_swap({code})", "bmat")}[kind]
        if isinstance(e, sp.Identity):
            return f"_eye({int(e.shape[0])}, z)", "mat"
        if isinstance(e, sp.Trace):
            code, kind = self._print(e.arg)
            if kind != "scalar":
                raise CodegenError(f"cannot print the trace of a non-1×1 form {e}")
            return code, kind
        if isinstance(e, sp.MatAdd):
            parts = [self._print(a) for a in e.args]
            kinds = {k for _, k in parts}
            kind = "bmat" if kinds == {"mat", "bmat"} else kinds.pop() if len(kinds) == 1 else None
            if kind is None:
                raise CodegenError(f"cannot add terms of kinds {sorted(kinds)} in {e}")
            code = " + ".join(c for c, _ in parts).replace("+ -", "- ")
            return f"({code})", kind
        if isinstance(e, sp.MatMul):
            return self._print_product(e)
        if isinstance(e, Operator):
            return printed(e, self._print)
        if isinstance(e, (sp.Mul, sp.Add)):  # scalars and traces of 1×1 forms
            codes = [self._print(a)[0] for a in e.args]
            return f"({(' * ' if isinstance(e, sp.Mul) else ' + ').join(codes)})", "scalar"
        raise CodegenError(
            f"glep cannot print {type(e).__name__} ({e}) in a layered energy: use sums, "
            f"products and transposes of layers and weights"
        )

    def _print_product(self, e) -> tuple[str, str]:
        from sympy.matrices.expressions.matexpr import MatrixExpr

        matrices = [a for a in e.args if isinstance(a, MatrixExpr)]
        code, kind = self._print(matrices[0])
        for factor in matrices[1:]:
            other, other_kind = self._print(factor)
            if (kind, other_kind) not in self._PRODUCTS:
                raise CodegenError(f"cannot multiply a {kind} by a {other_kind} ({code} · {other})")
            pattern, kind = self._PRODUCTS[(kind, other_kind)]
            code = pattern.format(a=code, b=other)
        coefficient = sp.Mul(*[a for a in e.args if not isinstance(a, MatrixExpr)])
        if coefficient == 1:
            return code, kind
        if coefficient == -1:
            return f"-{code}", kind
        if kind == "scalar" or not coefficient.free_symbols:
            return f"{self.scalar_printer.doprint(coefficient)}*{code}", kind
        if not coefficient.has(sp.MatrixSymbol):  # a scalar parameter (a binary weight's scale)
            return f"({self.scalar_printer.doprint(coefficient)}*{code})", kind
        raise CodegenError(f"cannot print a state-dependent coefficient in {e}")



class _MeanPrinter(MatrixPrinter):
    """Prints the batch mean of a product whose only batched factors form one outer product
    a bᵀ: the contraction Σ_b a bᵀ / B (kind ``mean``), never the per-sample (B, m, n) array.
    With ``rename`` (code at s → code at s₀) it prints the mean of a bᵀ − a₀b₀ᵀ instead."""

    def __init__(self, p: MatrixPrinter, rename=None):
        super().__init__(p.names, p.batched, p.scalar_printer)
        outer = _Paired("_outer_mean({a}, {b}, ref)") if rename is None else _Paired(
            "_outer_contrast({a}, {b}, {a0}, {b0}, ref)", rename)
        self._PRODUCTS = {**self._PRODUCTS, ("col", "row"): (outer, "mean"),
                          ("mean", "mat"): ("({a} @ {b})", "mean"),
                          ("mat", "mean"): ("({a} @ {b})", "mean")}


class _Paired(str):
    """A product pattern that also names its factors at the other state (``a0``, ``b0``)."""

    def __new__(cls, pattern, rename=None):
        out = super().__new__(cls, pattern)
        out.rename = rename
        return out

    def format(self, a, b):
        paired = {"a0": self.rename(a), "b0": self.rename(b)} if self.rename else {}
        return str.format(self, a=a, b=b, **paired)


def batch_mean(p: MatrixPrinter, expr, shape: tuple, pairs=(), hold=None, room=None) -> str:
    """The batch mean of ``expr`` (a parameter's per-sample form of ``shape``) or, with
    ``pairs`` (symbol → the symbol at the other state s₀), of its difference between s and
    s₀: term by term, outer products as contractions (:class:`_MeanPrinter`), other terms
    averaged per sample (``_fit``, ``_batch_mean`` over the batch reference ``ref``). When
    the code is longer than ``room``, ``hold(code) -> name`` keeps the per-sample terms in
    temporaries."""
    rename = None
    if pairs:
        names = {p.names.get(s, s.name): p.names.get(t, t.name) for s, t in pairs}
        pattern = re.compile(rf"\b({'|'.join(map(re.escape, names))})\b")

        def rename(code):
            return pattern.sub(lambda m: names[m.group(1)], code)

    def per_sample(code, held):
        codes = [code, rename(code)] if rename else [code]
        fits = " - ".join(f"_fit({hold(c) if held else c}, ref, {shape!r})" for c in codes)
        return f"_batch_mean({fits}, ref)"

    terms, kinds, reduced = [], [], _MeanPrinter(p, rename)
    for term in expr.doit().args if isinstance(expr.doit(), sp.MatAdd) else [expr]:
        try:
            code, kind = (None, None) if term.has(Operator) else reduced(term)
        except (CodegenError, KeyError):
            kind = None
        terms.append(code if kind == "mean" else p(term)[0])
        kinds.append(kind)
    for held in (False, True):
        code = " + ".join(c if k == "mean" else per_sample(c, held)
                          for c, k in zip(terms, kinds)).replace("+ -", "- ")
        if hold is None or len(code) <= room:
            break
    return code
