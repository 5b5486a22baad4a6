"""Kernels: the straight-line functions of a generated module, and their one printing path.

A :class:`Kernel` is plain data: a name, a signature, the arrays its symbols are unpacked
from, and the SymPy expressions it returns (a vector, a sparse matrix, a scalar or a
tuple). :func:`print_kernels` prints a list of kernels for a backend into the
:class:`Function` records that the ``function`` macro of ``function.py.jinja`` renders:

1. parameter-only subexpressions of every kernel are hoisted into ``prepare(theta)``
   (:mod:`glep.codegen.hoist`), read back as ``c[K]``;
2. each kernel is reduced by CSE, temporaries ``_t0, _t1, ...``;
3. any assignment or output that would print longer than :data:`LINE_LIMIT` characters is
   broken into further temporaries, its largest subexpressions first (on the SymPy
   expression, before printing), and the temporaries are numbered in order of assignment;
4. everything is printed by the backend's printer (:func:`glep.codegen.templating.printer`).

>>> import sympy as sp
>>> q, p, m, k = sp.symbols("q p m k")
>>> field = Kernel.of("_field", "t, z, c", "Hamilton's equations.", [p / m, -k * q],
...                   [("z", (q, p))])
>>> prepare, (printed,) = print_kernels([field], "numpy", invariants=(m, k))
>>> prepare.outputs, printed.unpack, printed.outputs
(['1/m', '-k'], ['q, p = _unstack(z)'], ['c[0]*p', 'c[1]*q'])
>>> from glep.codegen.templating import environment
>>> macro = environment("numpy").get_template("function.py.jinja").module.function
>>> print(macro(printed).strip())
def _field(t, z, c):
    \"\"\"Hamilton's equations.\"\"\"
    q, p = _unstack(z)
    return _stack([c[0]*p, c[1]*q], z[..., 0])
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

import sympy as sp
from sympy.matrices.expressions.matexpr import MatrixExpr

from glep.derive.errors import CodegenError

from .hoist import PREFIX, hoist
from .printers import TEMPORARY_PREFIX, ArrayPrinter, MatrixPrinter, batch_mean, eliminate_common
from .templating import LINE_LIMIT
from .templating import printer as backend_printer

__all__ = ["LINE_LIMIT", "Function", "Kernel", "Mean", "print_kernels"]

_INDENT = 4


@dataclass(frozen=True)
class Kernel:
    """A straight-line function: ``args`` are ``(argument, symbols)`` pairs, the symbols
    unpacked from the argument's last axis by ``_unstack`` or, given a third element (one
    subscript per symbol), one by one (``h = z[..., 0:3]``, ``W = theta["W"]``; those read
    along a last axis are batched); ``(None, symbols)`` are the function's own parameters.
    ``kind`` is ``vector`` (``exprs`` stacked on a new last axis), ``matrix`` (``exprs[k]``
    at ``entries[k]`` of a ``shape`` matrix), ``scalar`` (``exprs[0]``) or ``tuple`` (a
    Python tuple of the ``exprs``). ``form`` (head, tail) and ``items`` (format strings over
    the printed outputs ``{k}``) replace the kind's ``return``; ``ref``, the batch-shaped
    reference array, is by default the first argument's first column; ``prelude``: lines
    before the unpacking. ``layered``: ``exprs`` are matrix expressions of batched row
    vectors (:class:`~glep.codegen.printers.MatrixPrinter`, no CSE)."""

    name: str
    signature: str
    doc: str
    exprs: tuple
    args: tuple = ()
    kind: str = "vector"
    shape: tuple[int, int] | None = None
    entries: tuple | None = None
    form: tuple[str, str] | None = None
    items: tuple | None = None
    ref: str | None = None
    prelude: tuple = ()
    layered: bool = False

    @classmethod
    def of(cls, name, signature, doc, exprs, args=(), kind="vector", shape=None,
           **layout) -> Kernel:
        """A kernel from lists; for ``kind="matrix"``, ``exprs`` is sparse ``(i, j, e)``."""
        entries = None
        if kind == "matrix":
            entries = tuple((i, j) for i, j, _ in exprs)
            exprs = [e for _, _, e in exprs]
        args = tuple((a, tuple(symbols), *rest) for a, symbols, *rest in args)
        exprs = tuple(e if isinstance(e, Mean) else _real(sp.sympify(e)) for e in exprs)
        return cls(name, signature, doc, exprs, args, kind, shape, entries, **layout)


@dataclass(frozen=True)
class Mean:
    """An output that is the batch mean of ``expr`` (per sample of a parameter's ``shape``)
    or, with ``pairs`` (symbol → the same symbol at another state), of ``expr`` minus
    ``expr`` at that state: outer products as contractions in layered kernels."""

    expr: sp.Basic
    shape: tuple
    pairs: tuple = ()


def _real(e):
    """``e`` for real symbols (SymPy differentiates Abs through re/im), DiracDelta dropped."""
    if not e.has(sp.re, sp.im, sp.conjugate, sp.DiracDelta, sp.Derivative):
        return e
    real = {s: sp.Dummy(s.name, real=True) for s in e.free_symbols}
    e = e.xreplace(real).doit().replace(sp.DiracDelta, lambda *a: sp.S.Zero)
    return e.xreplace({v: k for k, v in real.items()})


@dataclass
class Function:
    """A printed kernel, what the ``function`` macro renders: unpack lines, temporaries
    ``(name, value)``, outputs (the items between ``head`` and ``tail`` of its ``return``;
    ``(i, j, value)`` for a matrix); ``rows``: the outputs packed into lines, when they do
    not fit on one."""

    name: str
    signature: str
    doc: str
    kind: str
    ref: str
    unpack: list[str] = field(default_factory=list)
    assignments: list[tuple[str, str]] = field(default_factory=list)
    outputs: list = field(default_factory=list)
    shape: tuple[int, int] | None = None
    rows: list[str] = field(default_factory=list)
    head: str = ""
    tail: str = ""


def print_kernels(kernels, backend: str, *, invariants=None, names=None, time=None,
                  limit: int = LINE_LIMIT) -> tuple[Function, list[Function]]:
    """``prepare(theta)`` and every kernel, printed for ``backend``.

    ``invariants`` are the symbols (parameters) whose subexpressions are hoisted into
    ``prepare`` (None: nothing is hoisted); ``names`` maps symbols to printed names;
    ``time`` is the symbol printed ``t`` (in Torch, made a tensor like the first argument
    when a kernel reads it).
    """
    names = dict(names or {})
    if time is not None:
        names[time] = "t"
    exprs = tuple(k.exprs for k in kernels)
    definitions, bodies = ((), exprs) if invariants is None else _hoisted(exprs, tuple(invariants))
    constants = {s: f"c[{i}]" for i, (s, _) in enumerate(definitions)}
    functions = [_print(k, body, backend, {**names, **constants}, time, limit)
                 for k, body in zip(kernels, bodies)]
    prepare = Kernel.of("prepare", "theta",
                        "Parameter-only subexpressions of every function, computed once per run.",
                        [e for _, e in definitions], [("theta", invariants or ())], kind="tuple")
    return _print(prepare, prepare.exprs, backend, names, time, limit), functions


@functools.lru_cache(maxsize=8)
def _hoisted(functions: tuple, invariants: tuple):
    """Hoisting is the same for every backend: done once per set of kernels."""
    return hoist(functions, invariants)


def _unpack(names, args, used, limit) -> list[str]:
    lines = []
    for array, symbols, *subscripts in args:
        if array is None or not set(symbols) & used:
            continue
        if subscripts:
            lines += [f"{names.get(s.name, s.name)} = {array}[{i}]"
                      for s, i in zip(symbols, *subscripts) if s in used]
            continue
        targets = [names.get(s.name, s.name) if s in used else "_" for s in symbols]
        target = targets[0] + "," if len(targets) == 1 else ", ".join(targets)
        line = f"{target} = _unstack({array})"
        if len(line) + _INDENT > limit:
            rows = "".join(f"{2 * _INDENT * ' '}{row}\n" for row in _rows(targets, limit))
            line = f"(\n{rows}{_INDENT * ' '}) = _unstack({array})"
        lines.append(line)
    return lines


def _rows(items, limit) -> list[str]:
    """``items`` packed into lines of ``item, item, ...,`` indented twice."""
    rows, row = [], ""
    for item in map(str, items):
        if row and 2 * _INDENT + len(row) + len(item) + 2 > limit:
            rows.append(row.rstrip())
            row = ""
        row += f"{item}, "
    return [*rows, row.rstrip()]


def _means(kernel: Kernel, exprs) -> tuple[list, list[str]]:
    """The outputs and the return's items; in an element-wise kernel, each :class:`Mean`
    written out as its expression(s) and an item that averages them."""
    exprs, items = list(exprs), list(kernel.items or (f"{{{k}}}" for k in range(len(exprs))))
    for k in range(len(exprs) * (not kernel.layered)):
        mean = exprs[k]
        if isinstance(mean, Mean):
            fit = f"_fit({{{k}}}, ref, {mean.shape!r})"
            if mean.pairs:
                fit += f" - _fit({{{len(exprs)}}}, ref, {mean.shape!r})"
                exprs.append(mean.expr.xreplace(dict(mean.pairs)))
            exprs[k] = mean.expr
            items = [i.replace(f"{{{k}}}", f"_batch_mean({fit}, ref)") for i in items]
    return exprs, items


def _print(kernel: Kernel, exprs, backend, names, time, limit) -> Function:
    exprs, items = _means(kernel, exprs)
    read = [x for e in exprs for x in ((e.expr, e.expr.xreplace(dict(e.pairs)))
                                       if isinstance(e, Mean) else (e,))]
    used = set().union(*(e.free_symbols for e in read)) if read else set()
    known = {s for _, symbols, *_ in kernel.args for s in symbols} | {time}
    unknown = {s for s in used - known if not s.name.startswith(PREFIX)}
    if unknown:
        raise CodegenError(
            f"{kernel.name} uses {sorted(map(str, unknown))}, not among its arguments"
        )
    printer = backend_printer(backend, names)
    unpack = [*kernel.prelude, *_unpack(printer._names, kernel.args, used, limit)]
    if time in used and backend == "torch":
        reference = kernel.args[0][0] if kernel.args else "None"
        unpack.insert(0, f"t = _time(t, {reference})")
    ref = kernel.ref or (f"{kernel.args[0][0]}[..., 0]" if kernel.args else "t")
    if kernel.layered:
        batched = {s for _, symbols, *subscripts in kernel.args for s, i in
                   zip(symbols, *subscripts or [()]) if i.startswith("...")}
        printer = MatrixPrinter(names, batched, printer)
        assignments, reduced = [], [e.doit() if isinstance(e, MatrixExpr) else e for e in exprs]
    else:
        assignments, reduced = eliminate_common(exprs)
    return _lines(kernel, printer, assignments, reduced, items, limit, ref, unpack, backend)


def _lines(kernel, printer, assignments, reduced, items, limit, ref, unpack,
           backend) -> Function:
    """Split long right-hand sides into temporaries, each line printed when it is final."""
    splitter = _Splitter(printer, limit)
    for symbol, value in assignments:
        width = 0
        while width != len(f"{TEMPORARY_PREFIX}{len(splitter.lines)}"):  # its own name's
            width = len(f"{TEMPORARY_PREFIX}{len(splitter.lines)}")
            splitter.split(value, limit - _INDENT - 3 - width)
        splitter.lines.append((f"{TEMPORARY_PREFIX}{len(splitter.lines)}", splitter.text(value)))
        splitter.printer._names[symbol.name] = splitter.lines[-1][0]
        splitter.texts.clear()
    head, tail = kernel.form or {
        "vector": ("_stack([", f"], {ref})"), "scalar": ("_scalar(", f", {ref})"),
        "tuple": ("(", ",)" if len(items) == 1 else ")")}.get(kernel.kind, ("", ""))
    entry = f"_out[..., {kernel.shape}] = " + ("_out = .at.set()" if backend == "jax" else "")
    base = {"matrix": limit - _INDENT - len(entry) + 2,
            "scalar": limit - _INDENT - len(f"return {head}{tail}")}.get(kernel.kind,
                                                                         limit - 2 * _INDENT - 1)
    room = {}
    for item in items:
        slots = [int(k) for k in re.findall(r"\{(\d+)\}", item)]
        width = (base - len(re.sub(r"\{\d+\}", "", item))) // max(len(slots), 1)
        room.update({k: min(room.get(k, base), width) for k in slots})
    codes = []
    for k, e in enumerate(reduced):
        if isinstance(e, Mean):
            codes.append(batch_mean(printer, e.expr, e.shape, e.pairs, splitter.hold,
                                    room.get(k, base)))
            continue
        splitter.split(e, room.get(k, base))
        if len(splitter.text(e)) > room.get(k, base) and not e.is_Atom:
            splitter.temporary(e)  # the whole output, when its item leaves it no room
        codes.append(splitter.text(e))
    if kernel.entries is not None:  # a layered block wrapped in brackets, without them
        outputs = [(i, j, o[1:-1] if kernel.layered and _wrapped(o) else o)
                   for (i, j), o in zip(kernel.entries, codes)]
    else:
        outputs = [item.format(*codes) for item in items]
    one_line = f"return {head}{', '.join(map(str, outputs))}{tail}"
    rows = [] if kernel.kind in ("scalar", "matrix") or len(one_line) + _INDENT <= limit else (
        _rows(outputs, limit))
    return Function(kernel.name, kernel.signature, kernel.doc, kernel.kind, ref, unpack,
                    splitter.lines, outputs, kernel.shape, rows, head, tail)


def _wrapped(code: str) -> bool:
    """Whether the brackets that open ``code`` close at its end."""
    depth = 0
    for i, char in enumerate(code):
        depth += (char == "(") - (char == ")")
        if depth == 0:
            return i == len(code) - 1 and i > 0
    return False


class _Splitter:
    """Chooses the temporaries that keep lines short. The printer writes a temporary's name
    where its subexpression (or the leading terms of its sum) stood, so the code performs
    the same operations in the same order as the unsplit line. Temporaries are numbered
    in the order of their lines; a line is printed once, when it is final."""

    def __init__(self, printer, limit):
        self.printer = printer
        self.room = limit - _INDENT - 3 - 8  # a temporary's own line
        self.lines: list[tuple[str, str]] = []
        self.texts: dict = {}  # printed subexpressions, until the next temporary

    def text(self, expr) -> str:
        if expr not in self.texts:
            self.texts[expr] = self.printer.doprint(expr)
        return self.texts[expr]

    def temporary(self, expr, prefix=None, code=None) -> None:
        name = f"{TEMPORARY_PREFIX}{len(self.lines)}"
        self.lines.append((name, self.text(expr) if prefix is None else code))
        if prefix is None:
            self.printer.temporaries[expr] = name
        else:
            self.printer.prefixes.setdefault(expr, []).append((prefix, name))
        self.texts.clear()

    def hold(self, code: str) -> str:
        """A temporary holding printed ``code``; its name."""
        self.lines.append((f"{TEMPORARY_PREFIX}{len(self.lines)}", code))
        return self.lines[-1][0]

    def split(self, expr, budget) -> None:
        """Make ``expr`` print within ``budget`` characters (largest parts first)."""
        if expr.is_Atom or len(self.text(expr)) <= budget:
            return
        for a in expr.args:
            self.split(a, self.room)
        while len(self.text(expr)) > budget:
            if isinstance(expr, sp.Add) and isinstance(self.printer, ArrayPrinter) and (
                    self._leading_terms(expr)):
                continue
            before = len(self.text(expr))
            for node in sorted(self._open(expr), key=lambda n: (-len(self.text(n)),
                                                                sp.default_sort_key(n))):
                self.temporary(node)
                if len(self.text(expr)) < before:
                    break
                del self.printer.temporaries[node]
                self.lines.pop()
                self.texts.clear()
            else:
                return

    def _open(self, expr) -> set:
        """Subexpressions that fit a line, printed in ``expr`` and not inside a temporary."""
        out, stack = set(), list(expr.args)
        while stack:
            e = stack.pop()
            if e.is_Atom or e.is_symbol or e.is_number or e in self.printer.temporaries:
                continue
            if len(self.text(e)) <= self.room:
                out.add(e)
            held = max([k for k, _ in self.printer.prefixes.get(e, ())] + [0])
            stack.extend(self.printer.chain(e)[held:] if isinstance(e, sp.Add) else e.args)
        return out

    def _leading_terms(self, expr) -> bool:
        """Hold the longest run of leading terms that fits a line in a temporary."""
        chain = self.printer.chain(expr)
        held, code = max(self.printer.prefixes.get(expr, ()), default=(0, None))
        best = None
        for k in range(held, len(chain) - 1):
            code = self.printer._add(code, chain[k])
            if len(code) > self.room:
                break
            if k + 1 >= held + 2 or held:
                best = k + 1, code
        if best is None:
            return False
        self.temporary(expr, *best)
        return True
