"""Static energies: emitted NumPy/Torch modules, numerical checks and ``glep`` handlers.

The derived :class:`~derive.energy.EnergyModel` is printed into straight-line primitives
(energy, its gradient and Hessian, ``∂E/∂θ`` and its contraction ``vᵀ∂²E/∂s∂θ``, the cost);
the template ``energy.py.jinja`` lays out relaxation (gradient flow, synchronous and
asynchronous block updates), every EP-family estimator and the implicit-differentiation
reference on top of them. Scalar energies print element-wise with CSE; layered energies
print matrix expressions for batched row vectors (a column ``h`` is an array ``(..., n)``).

>>> from glep.derive.systemfile import load_problem
>>> from pathlib import Path
>>> problem = load_problem(Path(__file__).parent.parent / "systems" / "hopfield_smooth.py")
>>> from glep.codegen.emit import load_module
>>> module = load_module(problem, "numpy")
>>> g = module.gradient(module.initial_params(), rule="C-EP", beta=1e-4)
>>> sorted(g["grad"]) == sorted(module.PARAMS)
True
"""

from __future__ import annotations

import json

import sympy as sp
from sympy.matrices.expressions.matexpr import MatrixExpr

from glep.derive.energy import EnergyModel, EnergyProblem
from glep.derive.equilibrium import availability
from glep.derive.errors import CodegenError

from .backends import backend as backend_module
from .printers import eliminate_common
from .templating import environment, literal, printer

#: continual EP in ``glep check``: η = CONTINUAL_ETA·β over CONTINUAL_STEPS nudged steps
#: (its distance to EP is O(ηK/β), THEORY.md §7).
CONTINUAL_ETA, CONTINUAL_STEPS = 1e-4, 200
RESERVED = frozenset({"z", "theta", "x", "y", "v", "np", "torch", "beta", "ref", "out"})


class _MatrixPrinter:
    """Matrix expressions over layers → batched array code.

    Kinds: ``col`` (a column vector as ``(..., n)``), ``row`` (its transpose, same array),
    ``mat`` (an unbatched parameter matrix), ``bmat`` (a batched matrix ``(..., n, m)``),
    ``scalar`` (``(...)``).
    """

    def __init__(self, names: dict, batched: set, scalar_printer):
        self.names = names
        self.batched = batched
        self.scalar_printer = scalar_printer

    def __call__(self, expr) -> tuple[str, str]:
        expr = expr.doit() if isinstance(expr, MatrixExpr) else expr
        return self._print(expr)

    def _print(self, e) -> tuple[str, str]:
        if not isinstance(e, MatrixExpr) and not e.has(sp.MatrixSymbol):
            return self.scalar_printer.doprint(e), "scalar"
        if isinstance(e, sp.MatrixSymbol):
            name = self.names.get(e, e.name)
            if e.shape[1] == 1:
                return name, "col"
            return name, "bmat" if e in self.batched else "mat"
        if isinstance(e, sp.Transpose):
            code, kind = self._print(e.arg)
            return {
                "col": (code, "row"), "row": (code, "col"), "mat": (f"{code}.T", "mat"),
                "bmat": (f"_swap({code})", "bmat"),
            }[kind]
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
            scalars = [a for a in e.args if not isinstance(a, MatrixExpr)]
            matrices = [a for a in e.args if isinstance(a, MatrixExpr)]
            code, kind = self._print(matrices[0])
            for factor in matrices[1:]:
                code, kind = self._product((code, kind), self._print(factor))
            coefficient = sp.Mul(*scalars)
            if coefficient == 1:
                return code, kind
            if coefficient == -1:
                return f"-{code}", kind
            scale = self.scalar_printer.doprint(coefficient)
            if kind == "scalar" or not coefficient.free_symbols:
                return f"{scale}*{code}", kind
            raise CodegenError(f"cannot print a state-dependent coefficient in {e}")
        if isinstance(e, sp.ZeroMatrix):
            raise CodegenError(f"unexpected zero matrix {e}")
        raise CodegenError(
            f"glep cannot print {type(e).__name__} ({e}) in a layered energy: use sums, "
            f"products and transposes of layers and weights"
        )

    @staticmethod
    def _product(a, b) -> tuple[str, str]:
        (ca, ka), (cb, kb) = a, b
        table = {
            ("mat", "mat"): (f"({ca} @ {cb})", "mat"),
            ("mat", "col"): (f"({cb} @ {ca}.T)", "col"),
            ("row", "mat"): (f"({ca} @ {cb})", "row"),
            ("row", "col"): (f"_dot({ca}, {cb})", "scalar"),
            ("col", "row"): (f"_outer({ca}, {cb})", "bmat"),
            ("mat", "bmat"): (f"({ca} @ {cb})", "bmat"),
            ("bmat", "mat"): (f"({ca} @ {cb})", "bmat"),
            ("bmat", "bmat"): (f"({ca} @ {cb})", "bmat"),
            ("bmat", "col"): (f"_matvec({ca}, {cb})", "col"),
            ("row", "bmat"): (f"_vecmat({ca}, {cb})", "row"),
            ("scalar", "row"): (f"({ca})[..., None]*{cb}", "row"),
            ("scalar", "col"): (f"({ca})[..., None]*{cb}", "col"),
            ("col", "scalar"): (f"{ca}*({cb})[..., None]", "col"),
            ("row", "scalar"): (f"{ca}*({cb})[..., None]", "row"),
            ("scalar", "scalar"): (f"{ca}*{cb}", "scalar"),
        }
        if (ka, kb) not in table:
            raise CodegenError(f"cannot multiply a {ka} by a {kb} ({ca} · {cb})")
        return table[(ka, kb)]


class _Printer:
    """Prints the functions of one energy module for one backend."""

    def __init__(self, model: EnergyModel, backend: str):
        self.model = model
        self.backend = backend
        symbols = [layer.symbol for layer in model.layers + model.input_layers
                   + model.target_layers] + list(model.params) + list(model.directions)
        self.names = {s: (f"{s.name}_" if s.name in RESERVED else s.name) for s in symbols}
        self.scalar = printer(backend, {s: n for s, n in self.names.items()
                                         if isinstance(s, sp.Symbol)})
        batched = {layer.symbol for layer in model.layers + model.input_layers
                   + model.target_layers} | set(model.directions)
        self.matrix = _MatrixPrinter(self.names, batched, self.scalar)
        self.arrays = {
            "z": model.layers, "x": model.input_layers, "y": model.target_layers,
            "v": tuple(type(layer)(d, d.name, layer.size, layer.offset)
                       for d, layer in zip(model.directions, model.layers)),
        }

    def _unpack(self, used: set, args: str) -> list[str]:
        lines = []
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

    @staticmethod
    def _used(exprs) -> set:
        used = set()
        for e in exprs:
            e = sp.sympify(e)
            used |= set(e.atoms(sp.MatrixSymbol)) | {
                s for s in e.free_symbols if isinstance(s, sp.Symbol)}
        return used

    def function(self, name, args, doc, exprs, combine):
        """``combine(codes) -> return expression``; ``exprs`` are scalars or matrix forms."""
        exprs = [sp.sympify(e) for e in exprs]
        lines = self._unpack(self._used(exprs), args)
        if self.model.layered:
            codes = [None if e == 0 else self.matrix(e)[0] for e in exprs]
        else:
            live = [e for e in exprs if e != 0]
            assignments, reduced = eliminate_common(live) if live else ([], [])
            lines += [f"{self.scalar.doprint(s)} = {self.scalar.doprint(v)}"
                      for s, v in assignments]
            printed = iter(self.scalar.doprint(e) for e in reduced)
            codes = [None if e == 0 else next(printed) for e in exprs]
        return {"name": name, "args": args, "doc": doc, "lines": lines,
                "returns": combine(codes), "raw": False}


def _sizes(layers) -> list[int]:
    return [layer.size for layer in layers]


def _join(codes, layers, layered) -> str:
    parts = []
    for code, layer in zip(codes, layers):
        parts.append(f"_zeros_batch(ref, {layer.size})" if code is None
                     else f"_fit({code}, ref, ({layer.size},))" if layered
                     else f"_fit({code}, ref, ())[..., None]")
    return f"_concat([{', '.join(parts)}])" if parts else "_zeros_batch(ref, 0)"


def _functions(model: EnergyModel, backend: str) -> list[dict]:
    p = _Printer(model, backend)
    layered = model.layered
    out = []
    out.append(p.function(
        "energy", "z, theta, x", "The energy E(s, θ, x) of states ``z`` (last axis: STATES).",
        [model.energy], lambda c: f"_fit({c[0] or '0.0'}, ref, ())"))
    out.append(p.function(
        "energy_gradient", "z, theta, x", "∂E/∂s, last axis: STATES.",
        model.gradient, lambda c: _join(c, model.layers, layered)))
    blocks = sorted(model.hessian.items())
    def hessian(codes):
        body = [f"_out = _zeros_batch(ref, {model.n}, {model.n})"]
        for ((i, j), _), code in zip(blocks, codes):
            a, b = model.layers[i], model.layers[j]
            rows = f"{a.offset}:{a.offset + a.size}" if layered else f"{a.offset}"
            cols = f"{b.offset}:{b.offset + b.size}" if layered else f"{b.offset}"
            body.append(f"_out[..., {rows}, {cols}] = {code}")
        return "\n    ".join(body) + "\n    return _out"
    out.append(p.function(
        "energy_hessian", "z, theta, x", "∂²E/∂s², shape (..., N, N).",
        [e for _, e in blocks], lambda c: hessian(c)))
    out[-1]["raw"] = True
    names = [q.name for q in model.params]
    shapes = [tuple(int(d) for d in q.shape) if isinstance(q, sp.MatrixSymbol) else ()
              for q in model.params]
    shapes = [(s[0],) if len(s) == 2 and s[1] == 1 else s for s in shapes]

    def params_dict(codes):
        items = [f'        "{n}": _fit({c or "0.0"}, ref, {s!r}),\n'
                 for n, c, s in zip(names, codes, shapes)]
        return "{\n" + "".join(items) + "    }"
    out.append(p.function(
        "energy_dtheta", "z, theta, x", "∂E/∂θ per sample: a dict by parameter name.",
        model.dtheta, params_dict))
    out.append(p.function(
        "energy_dtheta_jvp", "z, v, theta, x",
        "vᵀ ∂²E/∂s∂θ per sample (implicit differentiation contracts with it).",
        model.dtheta_jvp, params_dict))
    out.append(p.function(
        "energy_dx", "z, theta, x", "∂E/∂x, last axis: INPUTS (the input gradient of ff-EBM).",
        model.dx, lambda c: _join(c, model.input_layers, layered)))
    out.append(p.function(
        "cost", "z, y", "The cost C(s, y).", [model.cost],
        lambda c: f"_fit({c[0] or '0.0'}, ref, ())"))
    out.append(p.function(
        "cost_gradient", "z, y", "∂C/∂s, last axis: STATES.", model.cost_gradient,
        lambda c: _join(c, model.layers, layered)))
    if model.curvature is not None:
        def curvature(codes):
            parts = [f"_fit({c}, _as(0.0, theta_ref), ({layer.size},))"
                     for c, layer in zip(codes, model.layers)]
            return f"_concat([{', '.join(parts)}])"
        function = p.function(
            "layer_curvature", "theta",
            "a_l of the Hessian blocks a_l·I, per unit (exact block updates divide by it).",
            [sp.sympify(a) for a in model.curvature], curvature)
        function["lines"].insert(0, "theta_ref = next(iter(theta.values()), None)")
        out.append(function)
    return out


def _py(value) -> str:
    """A Python literal: strings double-quoted, ``None`` as None."""
    return "None" if value is None else json.dumps(value, ensure_ascii=False)


def _rows(rows) -> str:
    return "[" + ", ".join("[" + ", ".join(repr(float(v)) for v in r) + "]" for r in rows) + "]"


def context(problem: EnergyProblem, backend: str, source: str, command: str | None) -> dict:
    model = problem.model
    name = problem.name
    reasons = availability(problem)
    output_units = [u for i in model.outputs for u in range(
        model.layers[i].offset, model.layers[i].offset + model.layers[i].size)]
    parity = [i % 2 for i, layer in enumerate(model.layers) for _ in range(layer.size)]
    shapes = {q.name: list(int(d) for d in q.shape) if isinstance(q, sp.MatrixSymbol) else []
              for q in model.params}
    shapes = {k: (v[:1] if len(v) == 2 and v[1] == 1 else v) for k, v in shapes.items()}
    fan_in = {k: (v[1] if len(v) == 2 else 1) for k, v in shapes.items()}
    cost_curvature = None
    if model.cost_curvature is not None:
        cost_curvature = [float(a) for a, layer in zip(model.cost_curvature, model.layers)
                          for _ in range(layer.size)]
    energy_text = sp.sstr(problem.energy.matrix_expr if problem.energy.matrix_expr is not None
                          else model.energy)
    return {
        "title": name,
        "backend": backend,
        "backend_title": backend_module(backend).TITLE,
        "source": source,
        "command": command or f"glep emit {source}",
        "energy_text": energy_text,
        "cost_text": sp.sstr(problem.cost.expr) if problem.cost is not None else "none",
        "form": "layered" if model.layered else "scalar",
        "states": literal(tuple(layer.name for layer in model.layers)),
        "sizes": literal(tuple(_sizes(model.layers))),
        "inputs": literal(tuple(layer.name for layer in model.input_layers)),
        "input_sizes": literal(tuple(_sizes(model.input_layers))),
        "targets": literal(tuple(layer.name for layer in model.target_layers)),
        "params": literal(tuple(q.name for q in model.params)),
        "shapes": "{" + ", ".join(f'"{k}": {tuple(v)!r}' for k, v in shapes.items()) + "}",
        "fan_in": "{" + ", ".join(f'"{k}": {v!r}' for k, v in fan_in.items()) + "}",
        "param_values": "{" + ", ".join(f'"{k}": {v!r}' for k, v in
                                         problem.param_values.items()) + "}",
        "default_inputs": _rows(problem.input_values),
        "default_targets": _rows(problem.target_values),
        "n": model.n,
        "box": repr(model.box),
        "outputs": repr(output_units),
        "parity": repr(parity),
        "relaxation": json.dumps(problem.relaxation),
        "step": repr(problem.step),
        "max_iterations": repr(problem.max_iterations),
        "seed": repr(problem.seed),
        "block": model.curvature is not None,
        "block_reason": _py(model.block_reason),
        "cost_curvature": repr(cost_curvature),
        "rules": "{\n" + "".join(f"    {json.dumps(k)}: {_py(v)},\n"
                                   for k, v in reasons.items()) + "}",
        "functions": _functions(model, backend),
    }


def render_energy(problem: EnergyProblem, backend: str, source: str,
                  command: str | None = None) -> str:
    """The generated module's source text for an energy problem."""
    template = environment(backend).get_template("energy.py.jinja")
    return template.render(**context(problem, backend, source, command))
