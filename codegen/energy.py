"""Static energies: emitted NumPy/Torch modules, numerical checks and ``glep`` handlers.

The derived :class:`~glep.derive.energy.EnergyModel` is printed into straight-line primitives
(energy, its gradient and Hessian, ``∂E/∂θ`` and its contraction ``vᵀ∂²E/∂s∂θ``, the cost);
relaxation (gradient flow, synchronous and asynchronous block updates), every EP-family
estimator and the implicit-differentiation reference are the runtime's ``EnergySystem``
(``runtime_energy.py.jinja``), which the module binds to its primitives. Scalar energies
print element-wise with CSE; layered energies print matrix expressions for batched row
vectors (a column ``h`` is an array ``(..., n)``).

>>> from glep.derive.systemfile import load_problem
>>> from pathlib import Path
>>> problem = load_problem(Path(__file__).parent.parent / "systems" / "hopfield_smooth.py")
>>> from glep.codegen.emit import load_module
>>> module = load_module(problem, "numpy")
>>> g = module.gradient(module.initial_params(), rule="C-EP", beta=1e-3)
>>> sorted(g["grad"]) == sorted(module.PARAMS)
True
"""

from __future__ import annotations

import re
import textwrap

import sympy as sp

from glep.derive import binary
from glep.derive.convolution import Operator
from glep.derive.energy import EnergyModel, EnergyProblem
from glep.derive.equilibrium import availability
from glep.derive.errors import CodegenError

from .backends import backend as backend_module
from .convolution import NAMES
from .printers import MatrixPrinter, printed_common
from .templating import LINE_LIMIT, environment, literal, printer

RESERVED = frozenset({"z", "theta", "x", "y", "v", "np", "torch", "beta", "ref", "out"})


# -- layout shared by the energy, chain and HRU modules ---------------------------------------


def wrap_code(line: str, indent: int, limit: int = LINE_LIMIT) -> str:
    """A printed statement broken inside its brackets (after ``, `` or before `` + ``/`` - ``)
    so that no line exceeds ``limit``; continuation lines are indented by 8."""
    if indent + len(line) <= limit:
        return line
    out, start, depth, soft, hard = [], 0, 0, None, None
    for i, char in enumerate(line):
        width = limit - indent - (8 if out else 0)
        if i - start >= width:
            # after ", " or before an operator when that keeps half the line, else after "("
            cut = hard if hard is not None and hard - start > width // 2 else soft or hard
            if cut is not None and cut > start:
                out.append(line[start:cut].rstrip())
                start, soft, hard = cut + (line[cut] == " "), None, None
        depth += (char in "([{") - (char in ")]}")
        if char in "([{" and line[i + 1] not in ")]}":
            soft = i + 1
        elif depth and (line.startswith(", ", i) or line.startswith((" + ", " - "), i)):
            hard = i + 1 if char == "," else i
    out.append(line[start:])
    return f"\n{' ' * (indent + 8)}".join(out)


def runtime_import(text: str, backend: str, candidates) -> str:
    """The module's imports: its backend if the printed code calls it, then ONE statement
    importing the runtime names it uses (``glep emit --standalone`` inlines the runtime)."""
    alias = {"numpy": "np", "torch": "torch"}[backend]
    lines = [f"import {'numpy as np' if backend == 'numpy' else 'torch'}", ""] if re.search(
        rf"\b{alias}\.", text) else []
    used = sorted((n for n in candidates if re.search(rf"\b{re.escape(n)}\b", text)),
                  key=lambda n: (0 if n.isupper() else 1 if n[0].isupper() else 2, n.lower()))
    return "\n".join([*lines, f"from glep.generated._runtime_{backend} import ("]
                     + [f"    {n}," for n in used] + [")"])


def render(template: str, backend: str, context: dict, candidates) -> str:
    """Render ``template`` with ``context``; its ``{imports}`` line becomes the imports."""
    text = environment(backend).get_template(template).render(imports="{imports}", **context)
    text = re.sub(r"\n{4,}", "\n\n\n", text)
    return text.replace("{imports}", runtime_import(text, backend, candidates), 1)


#: Runtime names an energy or chain module may use.
RUNTIME_NAMES = ("EnergySystem", "FFEBM", "_as_array", "_batch_mean", "_columns", "_concat",
                 "_dot", "_eye", "_fit", "_matvec", "_outer", "_outer_contrast", "_outer_mean",
                 "_swap", "_vecmat", "_zeros_batch", *NAMES)


# -- printing the primitives -----------------------------------------------------------------


class _Printer:
    """Prints the primitives of one energy for one backend."""

    def __init__(self, model: EnergyModel, backend: str):
        self.model = model
        symbols = [layer.symbol for layer in model.layers + model.input_layers
                   + model.target_layers] + list(model.params) + list(model.directions)
        self.names = {s: (f"{s.name}_" if s.name in RESERVED else s.name) for s in symbols}
        self.scalar = printer(backend, {s: n for s, n in self.names.items()
                                         if isinstance(s, sp.Symbol)})
        batched = {layer.symbol for layer in model.layers + model.input_layers
                   + model.target_layers} | set(model.directions)
        self.matrix = MatrixPrinter(self.names, batched, self.scalar)
        self.arrays = {
            "z": model.layers, "x": model.input_layers, "y": model.target_layers,
            "v": tuple(type(layer)(d, d.name, layer.size, layer.offset)
                       for d, layer in zip(model.directions, model.layers)),
        }

    def _unpack(self, used: set, args: str) -> list[str]:
        sliced = [a for a in args.split(", ") if a != "theta"]
        widths = tuple(sum(layer.size for layer in self.arrays[a]) for a in sliced)
        sliced = ", ".join(sliced)
        lines = [f'ref = _columns("{sliced}", {widths}, {sliced})'] if args[0] == "z" else []
        for array in args.split(", "):
            if array == "theta":
                lines += [f'{self.names[p]} = theta["{p.name}"]' for p in self.model.params
                          if p in used]
                continue
            for layer in self.arrays.get(array, ()):
                if layer.symbol not in used:
                    continue
                index = (f"{layer.offset}:{layer.offset + layer.size}" if self.model.layered
                         else f"{layer.offset}")
                lines.append(f"{self.names[layer.symbol]} = {array}[..., {index}]")
        return lines

    def function(self, name, args, doc, exprs, combine) -> dict:
        """``combine(codes) -> (body lines, return expression)``; ``exprs`` are scalars or
        matrix forms, a zero prints as ``None``."""
        exprs = [sp.sympify(e) for e in exprs]
        used = set().union(*(e.atoms(sp.MatrixSymbol) | e.free_symbols for e in exprs))
        lines = self._unpack(used, args)
        if self.model.layered:
            codes = [None if e == 0 else self.matrix(e)[0] for e in exprs]
        else:
            common, reduced = printed_common(self.scalar, exprs)
            lines += common
            codes = [None if e == 0 else self.scalar.doprint(e) for e in reduced]
        body, returns = combine(codes)
        lines = [wrap_code(line, 4) for line in lines + body]
        return {"name": name, "args": args, "doc": doc, "lines": lines,
                "returns": wrap_code(f"return {returns}", 4)}


class _MeanPrinter(MatrixPrinter):
    """Prints the batch mean of a product whose only batched factors form one outer product
    a bᵀ: the contraction Σ_b a bᵀ / B (kind ``mean``), never the per-sample (B, m, n) array.
    With ``rename`` (code at s → code at s₀) it prints the mean of a bᵀ − a₀b₀ᵀ instead."""

    def __init__(self, p: _Printer, rename=None):
        super().__init__(p.matrix.names, p.matrix.batched, p.scalar)
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


def _batch_mean(p: _Printer, expr, code, shape: tuple, rename=None) -> str:
    """The batch mean of ``expr`` (a parameter's per-sample form of ``shape``, printed ``code``),
    or with ``rename`` of its difference between the states s and s₀: term by term, outer
    products as contractions (:class:`_MeanPrinter`), other terms averaged per sample."""
    def per_sample(code):
        code = f"_fit({code}, ref, {shape!r})"
        return f"_batch_mean({code}{f' - {rename(code)}' if rename else ''}, ref)"

    expr = sp.sympify(expr)
    if code is None:
        return f"_batch_mean(_fit(0.0, ref, {shape!r}), ref)"
    if not p.model.layered:
        return per_sample(code)
    parts, reduced = [], _MeanPrinter(p, rename)
    for term in expr.doit().args if isinstance(expr.doit(), sp.MatAdd) else [expr]:
        try:
            code, kind = (None, None) if term.has(Operator) else reduced(term)
        except (CodegenError, KeyError):
            kind = None
        parts.append(code if kind == "mean" else per_sample(p.matrix(term)[0]))
    return " + ".join(parts).replace("+ -", "- ")


def _contrast(p: _Printer) -> dict:
    """The printed ``energy_dtheta_contrast``: the batch mean of ∂E/∂θ(s) − ∂E/∂θ(s₀)."""
    doc = ("The batch mean of ∂E/∂θ(z) − ∂E/∂θ(z0) (contractions; no cancellation when z ≈ "
           "z0).")
    model = p.model
    names = [p.names[layer.symbol] for layer in model.layers]
    pattern = re.compile(rf"\b({'|'.join(map(re.escape, names))}|_t\d+)\b")  # and CSE temporaries

    def rename(code):
        return pattern.sub(r"\1_0", code)

    function = p.function("energy_dtheta_contrast", "z, theta, x", doc, model.dtheta, lambda c: (
        [], "{" + ", ".join(f'"{q.name}": {_batch_mean(p, e, code, _shape(q), rename)}'
                            for q, e, code in zip(model.params, model.dtheta, c)) + "}"))
    lines = []
    for line in function["lines"]:
        other = rename(line).replace("= z[", "= z0[")
        lines += [line, other] if other != line and not line.startswith("ref =") else [line]
    return {**function, "args": "z, z0, theta, x", "lines": lines}


def _join(codes, layers, layered, chosen=False):
    parts = []
    for i, (code, layer) in enumerate(zip(codes, layers)):
        part = (f"_zeros_batch(ref, {layer.size})" if code is None
                else f"_fit({code}, ref, ({layer.size},))" if layered
                else f"_fit({code}, ref, ())[..., None]")
        zero = f"_zeros_batch(ref, {layer.size})"
        parts.append(f"({part} if layers is None or {i} in layers else {zero})"
                     if chosen and code is not None else part)
    return [], f"_concat([{', '.join(parts)}])" if parts else "_zeros_batch(ref, 0)"


def _scalar(codes):
    return [], f"_fit({codes[0] or '0.0'}, ref, ())"


def _shape(symbol) -> tuple:
    if isinstance(symbol, sp.Symbol):
        return ()
    rows, cols = (int(d) for d in symbol.shape)
    return (rows,) if cols == 1 else (rows, cols)


def _functions(model: EnergyModel, backend: str) -> list[dict]:
    p = _Printer(model, backend)
    layered = model.layered
    blocks = sorted(model.hessian.items())

    def hessian(codes):
        body = [f"_out = _zeros_batch(ref, {model.n}, {model.n})"]
        for ((i, j), _), code in zip(blocks, codes):
            a, b = model.layers[i], model.layers[j]
            rows = f"{a.offset}:{a.offset + a.size}" if layered else f"{a.offset}"
            cols = f"{b.offset}:{b.offset + b.size}" if layered else f"{b.offset}"
            body.append(f"_out[..., {rows}, {cols}] = {code}")
        return body, "_out"

    def params_dict(codes):
        items = [f'"{q.name}": _fit({c or "0.0"}, ref, {_shape(q)!r})'
                 for q, c in zip(model.params, codes)]
        return [], "{" + ", ".join(items) + "}"

    def mean(codes):
        return [], "{" + ", ".join(f'"{q.name}": {_batch_mean(p, e, c, _shape(q))}'
                                   for q, e, c in zip(model.params, model.dtheta_jvp, codes)) + "}"

    def curvature(codes):
        parts = [f"_fit({c}, _as_array(0.0, theta_ref), ({layer.size},))"
                 for c, layer in zip(codes, model.layers)]
        return [], f"_concat([{', '.join(parts)}])"

    hvp = [[e * model.directions[j] for (i, j), e in blocks if i == row]
           for row in range(len(model.layers))]
    hvp = [sum(terms[1:], terms[0]) if terms else 0 for terms in hvp]
    out = [
        p.function("energy", "z, theta, x",
                   "The energy E(s, θ, x) of states ``z`` (last axis: STATES).",
                   [model.energy], _scalar),
        p.function("energy_gradient", "z, theta, x", "∂E/∂s, last axis: STATES (of the layers "
                   "``layers`` only, indices; None: all).",
                   model.gradient, lambda c: _join(c, model.layers, layered, chosen=True)),
        p.function("energy_hessian", "z, theta, x", "∂²E/∂s², shape (..., N, N).",
                   [e for _, e in blocks], hessian),
        p.function("energy_hvp", "z, v, theta, x", "∂²E/∂s² v, last axis: STATES.", hvp,
                   lambda c: _join(c, model.layers, layered)),
        p.function("energy_dtheta", "z, theta, x",
                   "∂E/∂θ per sample: a dict by parameter name.", model.dtheta, params_dict),
        _contrast(p),
        p.function("energy_dtheta_jvp", "z, v, theta, x",
                   "vᵀ ∂²E/∂s∂θ per sample (implicit differentiation contracts with it).",
                   model.dtheta_jvp, params_dict),
        p.function("energy_dtheta_jvp_mean", "z, v, theta, x",
                   "vᵀ ∂²E/∂s∂θ averaged over the batch (contractions, no per-sample arrays).",
                   model.dtheta_jvp, mean),
        p.function("energy_dx", "z, theta, x",
                   "∂E/∂x, last axis: INPUTS (the input gradient of ff-EBM).",
                   model.dx, lambda c: _join(c, model.input_layers, layered)),
        p.function("cost", "z, y", "The cost C(s, y).", [model.cost], _scalar),
        p.function("cost_gradient", "z, y", "∂C/∂s, last axis: STATES.", model.cost_gradient,
                   lambda c: _join(c, model.layers, layered)),
    ]
    out[1]["args"] += ", layers=None"
    if model.curvature is not None:
        function = p.function(
            "layer_curvature", "theta",
            "a_l of the Hessian blocks a_l·I, per unit (exact block updates divide by it).",
            [sp.sympify(a) for a in model.curvature], curvature)
        function["lines"].insert(0, "theta_ref = next(iter(theta.values()), None)")
        out.append(function)
    else:
        message = f"block updates are not exact for this energy: {model.block_reason}"
        out.append({"name": "layer_curvature", "args": "theta", "lines": [],
                    "doc": "Not available: block updates are not exact for this energy "
                           "(see BLOCK_REASON).",
                    "returns": f"raise ValueError{_parenthesized(literal(message, 4))}"})
    return out


def _parenthesized(code: str) -> str:
    return code if code.startswith("(") else f"({code})"


def _rows(rows) -> list:
    return [[float(v) for v in r] for r in rows]


def constants(problem: EnergyProblem) -> dict:
    """The energy module's constants, name → value (printed by :func:`literal`)."""
    model = problem.model
    output_units = [u for i in model.outputs for u in range(
        model.layers[i].offset, model.layers[i].offset + model.layers[i].size)]
    shapes = {q.name: _shape(q) for q in model.params}
    cost_curvature = None
    if model.cost_curvature is not None:
        cost_curvature = [float(a) for a, layer in zip(model.cost_curvature, model.layers)
                          for _ in range(layer.size)]
    return {
        "STATES": tuple(layer.name for layer in model.layers),
        "SIZES": tuple(layer.size for layer in model.layers),
        "INPUTS": tuple(layer.name for layer in model.input_layers),
        "INPUT_SIZES": tuple(layer.size for layer in model.input_layers),
        "TARGET_SIZES": tuple(layer.size for layer in model.target_layers),
        "TARGETS": tuple(layer.name for layer in model.target_layers),
        "PARAMS": tuple(q.name for q in model.params),
        "SHAPES": shapes,
        "PARAM_VALUES": dict(problem.param_values),
        "DEFAULT_INPUTS": _rows(problem.input_values),
        "DEFAULT_TARGETS": _rows(problem.target_values),
        "N": model.n,
        "BOX": model.box,
        "OUTPUT_UNITS": output_units,
        "RELAXATION": problem.relaxation,
        "STEP": problem.step,
        "MAX_ITERATIONS": problem.max_iterations,
        "SEED": problem.seed,
        "BLOCK_EXACT": model.curvature is not None,
        "BLOCK_REASON": model.block_reason,
        "RULES": availability(problem),
        "_PARITY": [c for c, layer in zip(model.colours, model.layers) for _ in range(layer.size)],
        "_COST_CURVATURE": cost_curvature,
        "_FAN_IN": {k: (v[1] if len(v) == 2 else 1) for k, v in shapes.items()},
        **binary.constants(problem.energy, model),
    }


def energy_text(energy) -> str:
    return sp.sstr(energy.matrix_expr if energy.matrix_expr is not None else energy.expr)


def header(backend: str, source: str, command: str | None) -> dict:
    return {"backend": backend, "backend_title": backend_module(backend).TITLE,
            "source": source, "command": command or f"glep emit {source}"}


def context(problem: EnergyProblem, backend: str, source: str, command: str | None) -> dict:
    model = problem.model
    described = (f"Energy ({'layered' if model.layered else 'scalar'}): "
                 f"E = {energy_text(problem.energy)}\nCost: C = "
                 + (sp.sstr(problem.cost.expr) if problem.cost is not None else "none"))
    return {
        **header(backend, source, command),
        "title": problem.name,
        "described": "\n".join(textwrap.fill(line, 92, break_on_hyphens=False)
                               for line in described.splitlines()),
        "constants": [(None, k, literal(v)) for k, v in constants(problem).items()],
        "functions": _functions(model, backend),
    }


def render_energy(problem: EnergyProblem, backend: str, source: str,
                  command: str | None = None) -> str:
    """The generated module's source text for an energy problem."""
    return render("energy.py.jinja", backend, context(problem, backend, source, command),
                  RUNTIME_NAMES)
