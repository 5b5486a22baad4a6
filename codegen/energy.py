"""Static energies: emitted NumPy/Torch modules, numerical checks and ``glep`` handlers.

The derived :class:`~derive.energy.EnergyModel` is printed into straight-line primitives
(energy, its gradient and Hessian, ``∂E/∂θ`` and its contraction ``vᵀ∂²E/∂s∂θ``, the cost);
the template ``energy.py.jinja`` lays out relaxation (gradient flow, synchronous and
asynchronous block updates), every EP-family estimator and the implicit-differentiation
reference on top of them. Scalar energies print element-wise with CSE; layered energies
print matrix expressions for batched row vectors (a column ``h`` is an array ``(..., n)``).

>>> from codegen.systemfile import load_problem
>>> from pathlib import Path
>>> problem = load_problem(Path(__file__).parent.parent / "systems" / "hopfield_smooth.py")
>>> module = load_energy_module(problem, "numpy")
>>> g = module.gradient(module.initial_params(), rule="C-EP", beta=1e-4)
>>> sorted(g["grad"]) == sorted(module.PARAMS)
True
"""

from __future__ import annotations

import json
import math
import types

import sympy as sp
from sympy.matrices.expressions.matexpr import MatrixExpr

from derive.energy import EnergyModel, EnergyProblem
from derive.equilibrium import CONTRASTIVE, ENERGY_RULES, availability, equilibrium_rules
from derive.errors import CodegenError, DerivationError, RelaxationError, RuleError

from . import cli
from .emit import RENDERERS, _environment
from .printers import PRINTERS, eliminate_common

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
        self.scalar = PRINTERS[backend]({s: n for s, n in self.names.items()
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


def _literal(values) -> str:
    items = [json.dumps(v) if isinstance(v, str) else repr(v) for v in values]
    return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"


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
        "backend_title": {"numpy": "NumPy", "torch": "PyTorch"}[backend],
        "source": source,
        "command": command or f"glep emit {source}",
        "energy_text": energy_text,
        "cost_text": sp.sstr(problem.cost.expr) if problem.cost is not None else "none",
        "form": "layered" if model.layered else "scalar",
        "states": _literal(tuple(layer.name for layer in model.layers)),
        "sizes": _literal(tuple(_sizes(model.layers))),
        "inputs": _literal(tuple(layer.name for layer in model.input_layers)),
        "input_sizes": _literal(tuple(_sizes(model.input_layers))),
        "targets": _literal(tuple(layer.name for layer in model.target_layers)),
        "params": _literal(tuple(q.name for q in model.params)),
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
    template = _environment().get_template("energy.py.jinja")
    return template.render(**context(problem, backend, source, command))


RENDERERS[EnergyProblem] = render_energy


def load_energy_module(problem: EnergyProblem, backend: str = "numpy",
                       source: str = "<memory>"):
    """Render and import a generated energy module without writing it to disk."""
    cache = problem.__dict__.setdefault("_modules", {})
    if backend not in cache:
        text = render_energy(problem, backend, source)
        module = types.ModuleType(f"{problem.name}_{backend}")
        exec(compile(text, module.__name__, "exec"), module.__dict__)
        cache[backend] = module
    return cache[backend]


# -- numerical checks ------------------------------------------------------------------------


def _relaxation_error(error: Exception) -> RelaxationError:
    return RelaxationError(f"{error} (fix the energy: it must be bounded below and strictly "
                           f"convex at its minimum, or give a smaller step)")


def _flat(grad: dict) -> list[float]:
    import numpy as np

    return [float(v) for k in sorted(grad) for v in np.ravel(grad[k])]


def _norm_error(estimate: dict, reference: dict) -> float:
    import numpy as np

    a, b = np.array(_flat(estimate)), np.array(_flat(reference))
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300))


def _as_json(grad: dict) -> dict:
    import numpy as np

    return {k: (float(v) if np.ndim(v) == 0 else np.asarray(v).tolist())
            for k, v in grad.items()}


def finite_difference(module, theta, x, y, epsilon=1e-6, method=None) -> dict:
    """Central finite differences of the mean cost at the free fixed point."""
    import numpy as np

    out = {}
    y = np.atleast_2d(np.asarray(y, dtype=float))
    for name, value in theta.items():
        value = np.asarray(value, dtype=float)
        grad = np.zeros_like(value)
        for index in np.ndindex(value.shape):
            losses = []
            for sign in (1, -1):
                shifted = dict(theta)
                moved = value.copy()
                moved[index] += sign * epsilon
                shifted[name] = moved
                z = module.relax(shifted, x, y, method=method)
                losses.append(float(np.mean(module.cost(z, y))))
            grad[index] = (losses[0] - losses[1]) / (2 * epsilon)
        out[name] = grad
    return out


def check_energy(problem: EnergyProblem, rules=None, beta: float = 1e-4,
                 max_fd_params: int = 3000) -> dict:
    """Every rule's gradient against implicit differentiation and finite differences."""
    import numpy as np

    if not (math.isfinite(beta) and beta > 0):
        raise RuleError(f"β = {beta}: give a positive nudging strength")
    reasons = availability(problem)
    names = list(rules) if rules else list(ENERGY_RULES)
    for name in names:
        if name not in ENERGY_RULES:
            raise RuleError(f"unknown rule {name!r} for an energy: choose from {ENERGY_RULES}")
        if rules and reasons[name] is not None:
            raise RuleError(f"{name} does not apply to {problem.name}: {reasons[name]}")
    if problem.cost is None:
        raise RuleError("the problem declares no cost: add cost=EnergyCost(...)")
    module = load_energy_module(problem, "numpy")
    theta = module.initial_params()
    x, y = module.DEFAULT_INPUTS, module.DEFAULT_TARGETS
    try:
        z = module.relax(theta, x, y)
        implicit = module.implicit_gradient(theta, x, y, z=z)
    except (ArithmeticError, RuntimeError, ValueError) as error:
        raise _relaxation_error(error) from None
    reference = {"implicit_differentiation": {"grad": _as_json(implicit["grad"]),
                                              "method": "Hessian solve at the fixed point"}}
    count = sum(np.size(v) for v in theta.values())
    if count <= max_fd_params:
        fd = finite_difference(module, theta, x, y)
        reference["finite_difference"] = {
            "grad": _as_json(fd), "rel_err_vs_implicit": _norm_error(fd, implicit["grad"])}
    report = {"system": problem.name, "loss": float(implicit["loss"]), "beta": beta,
              "saturated_units": int(implicit["saturated"]), "reference": reference,
              "rules": {}}
    for name in names:
        if reasons[name] is not None:
            report["rules"][name] = {"available": False, "reason": reasons[name],
                                     "practical": False}
            continue
        practicality = equilibrium_rules(problem)[name].practicality
        try:
            if name == "continual-EP":
                eta, steps = CONTINUAL_ETA * beta, CONTINUAL_STEPS
                _, update = module.continual_ep(theta, x, y, beta=beta, eta=eta, steps=steps)
                grad = {k: -np.asarray(v) / eta for k, v in update.items()}
            elif name == "ff-EBM":
                grad = module.gradient(theta, x, y, rule="C-EP", beta=beta)["grad"]
            else:
                grad = module.gradient(theta, x, y, rule=name, beta=beta)["grad"]
        except (ArithmeticError, RuntimeError) as error:
            raise _relaxation_error(error) from None
        err = _norm_error(grad, implicit["grad"])
        order = practicality.bias_order
        tolerance = max(1e-6, 100 * beta**order) if order else math.inf
        entry = {"available": True, "grad": _as_json(grad), "reference":
                 "implicit_differentiation", "rel_err": err, "practical": practicality.practical,
                 "ok": err <= tolerance, "bias_order": order}
        if name == "continual-EP":
            entry.update(eta=CONTINUAL_ETA * beta, steps=CONTINUAL_STEPS)
        report["rules"][name] = entry
    return report


# -- glep handlers ----------------------------------------------------------------------------


def _derive(problem: EnergyProblem, args) -> int:
    model = problem.model
    energy = problem.energy

    def show(expr):
        return sp.latex(expr) if args.latex else sp.sstr(expr)

    out = [f"{problem.name}: {'layered' if model.layered else 'scalar'} energy with "
           f"{len(model.layers)} layer(s), {model.n} unit(s), {len(model.params)} parameter(s)"]
    out.append(f"\nEnergy\n  E = {show(energy.matrix_expr or energy.expr)}")
    if problem.cost is not None:
        out.append(f"Cost\n  C = {show(problem.cost.expr)}")
    out.append("\nRelaxation (gradient flow ṡ = −∂(E + βC)/∂s)")
    for layer, g in zip(model.layers, model.gradient):
        out.append(f"  ∂E/∂{layer.name} = {show(g)}")
    if model.curvature is not None:
        out.append("\nExact block-coordinate update (asynchronous: even layers, then odd)")
        clip = f"clip_{list(model.box)}" if model.box else ""
        for layer, a in zip(model.layers, model.curvature):
            out.append(f"  {layer.name} ← {clip}({layer.name} − ∂F/∂{layer.name} / {show(a)})")
    else:
        out.append(f"\nBlock-coordinate updates: not exact ({model.block_reason})")
    out.append("\n∂E/∂θ (contrasted between the two states of every rule)")
    for q, d in zip(model.params, model.dtheta):
        out.append(f"  ∂E/∂{q.name} = {show(d)}   [{', '.join(model.reads[q.name])}]")
    out.append(f"\nbox: {model.box or 'none'}; outputs: "
               f"{[model.layers[i].name for i in model.outputs]}")
    print("\n".join(out))
    return 0


def _rules(problem: EnergyProblem, args) -> int:
    rules = equilibrium_rules(problem)
    if args.json:
        payload = {"system": problem.name,
                   "rules": {k: r.practicality.as_json() for k, r in rules.items()}}
        print(json.dumps(payload, indent=2, ensure_ascii=False))
        return 0
    out = [f"{problem.name}: EP-family learning rules (THEORY.md §7)",
           "Δθ = −η [∂θE(B) − ∂θE(A)] / (β_B − β_A)"]
    for rule in rules.values():
        status = "available" if rule.available else f"unavailable — {rule.practicality.reason}"
        out.append(f"\n== {rule.name}: {rule.title} ({status})")
        for i, phase in enumerate(rule.phases, 1):
            out.append(f"    {i}. {phase.trajectory:<12} {phase.direction} {phase.boundary}; "
                       f"{phase.nudging}")
        out.append(f"  A = {rule.first[0]} (β_A = {rule.first[1]}), "
                   f"B = {rule.second[0]} (β_B = {rule.second[1]})")
        out.append(f"  estimator: {rule.estimator}")
    out.append("\npracticality")
    out.append(f"  {'rule':<13} {'avail':<6} {'fwd-only':<9} {'same-sys':<9} {'passes':<7} "
               f"{'memory':<7} {'jacobian':<9} {'local':<6} {'bias':<5} practical")

    def yes(flag):
        return "yes" if flag else "no"

    for rule in rules.values():
        p = rule.practicality
        out.append(f"  {rule.name:<13} {yes(p.available):<6} {yes(p.forward_only):<9} "
                   f"{yes(p.same_system):<9} {p.passes:<7} {p.memory:<7} "
                   f"{yes(p.needs_jacobian):<9} {yes(p.local):<6} {p.bias_order:<5} "
                   f"{yes(p.practical)}")
    print("\n".join(out))
    return 0


def _check(problem: EnergyProblem, args) -> int:
    rules = [args.rule] if args.rule else None
    report = check_energy(problem, rules=rules, beta=args.beta)
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        print(f"{report['system']}: loss {report['loss']:.12g}; β = {report['beta']:g}; "
              f"{report['saturated_units']} saturated unit(s)")
        fd = report["reference"].get("finite_difference")
        if fd:
            print(f"implicit differentiation vs finite differences: "
                  f"{fd['rel_err_vs_implicit']:.1e}")
        print(f"\n  {'rule':<13} {'rel_err':>9}  {'practical':<9}")
        for name, entry in report["rules"].items():
            if not entry["available"]:
                print(f"  {name:<13} {'—':>9}  {'no':<9}  {entry['reason']}")
                continue
            verdict = "" if entry["ok"] else "  MISMATCH"
            print(f"  {name:<13} {entry['rel_err']:>9.1e}  "
                  f"{'yes' if entry['practical'] else 'no':<9}{verdict}")
    return 0 if all(e.get("ok", True) for e in report["rules"].values()) else 1


cli.HANDLERS[EnergyProblem] = {"derive": _derive, "rules": _rules, "check": _check}

__all__ = ["CONTRASTIVE", "DerivationError", "check_energy", "load_energy_module",
           "render_energy"]
