"""Static energies: emitted NumPy/Torch modules, numerical checks and ``glep`` handlers.

The derived :class:`~glep.derive.energy.EnergyModel` is lowered to kernels, its primitives
(energy, its gradient and Hessian, ``∂E/∂θ`` and its contraction ``vᵀ∂²E/∂s∂θ``, the cost):
element-wise for scalar energies, ``layered`` (matrix expressions of batched row vectors, a
column ``h`` an array ``(..., n)``) otherwise. Relaxation (gradient flow, block updates),
every EP-family estimator and the implicit-differentiation reference are the runtime's
``EnergySystem`` (``runtime_energy.py.jinja``), which the module binds to its primitives.

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
from glep.derive.energy import EnergyModel, EnergyProblem
from glep.derive.equilibrium import availability

from .backends import backend as backend_module
from .convolution import NAMES
from .kernel import Kernel, Mean, print_kernels
from .templating import environment, literal, runtime_imports

RESERVED = frozenset({"z", "theta", "x", "y", "v", "np", "torch", "jnp", "beta", "ref", "out"})


# -- layout shared by the energy, chain and HRU modules ---------------------------------------


def render(template: str, backend: str, context: dict, candidates) -> str:
    """Render ``template`` with ``context``; its ``{imports}`` line becomes the imports."""
    text = environment(backend).get_template(template).render(imports="{imports}", **context)
    text = re.sub(r"\n{4,}", "\n\n\n", text)
    return text.replace("{imports}", runtime_imports(text, backend, candidates), 1)


#: Runtime names an energy or chain module may use.
RUNTIME_NAMES = ("EnergySystem", "FFEBM", "_as_array", "_batch_mean", "_columns", "_concat",
                 "_dot", "_eye", "_fit", "_matvec", "_outer", "_outer_contrast", "_outer_mean",
                 "_swap", "_vecmat", "_zeros", "_zeros_batch", *NAMES)


# -- the primitives, lowered to kernels ------------------------------------------------------


def _fit(k, e, shape, mean=False) -> str:
    """The item of output ``k`` (``e``) fitted to ``shape`` per sample, or its batch mean."""
    if e == 0:
        return f"_batch_mean(_fit(0.0, ref, {shape!r}), ref)" if mean else (
            f"_fit(0.0, ref, {shape!r})")
    return f"{{{k}}}" if mean else f"_fit({{{k}}}, ref, {shape!r})"


def _join(exprs, layers, layered, chosen=False) -> list[str]:
    """Items of ``_concat``: each layer's block, zeros where it is 0 (or, ``chosen``, where
    the layer is not among ``layers``)."""
    items = []
    for k, (e, layer) in enumerate(zip(exprs, layers)):
        zero = f"_zeros_batch(ref, {layer.size})"
        part = _fit(k, e, (layer.size,)) if layered else f"{_fit(k, e, ())}[..., None]"
        items.append(zero if e == 0 else f"({part} if layers is None or {k} in layers else "
                     f"{zero})" if chosen else part)
    return items


def _at_rest(symbol):
    """``symbol`` at the other state z0 of a contrast (``h`` → ``h_0``)."""
    if isinstance(symbol, sp.Symbol):
        return sp.Symbol(f"{symbol.name}_0", **symbol.assumptions0)
    return sp.MatrixSymbol(f"{symbol.name}_0", *symbol.shape)


def kernels(model: EnergyModel) -> list[Kernel]:
    """The energy's primitives as kernels: energy, gradient, Hessian (blocks), its product
    with directions ``v``, ∂E/∂θ per sample, its batch mean contrast between two states, its
    contraction with ``v`` (per sample and averaged), ∂E/∂x, the cost and its gradient, and
    the exact block curvatures when there are."""
    layered = model.layered
    arrays = {"z": model.layers, "x": model.input_layers, "y": model.target_layers,
              "v": tuple(type(layer)(d, d.name, layer.size, layer.offset)
                         for d, layer in zip(model.directions, model.layers))}

    def unpacked(array, layers, symbols=None):
        return (array, symbols or [layer.symbol for layer in layers],
                [f"..., {a.offset}:{a.offset + a.size}" if layered else f"..., {a.offset}"
                 for a in layers])

    def kernel(name, signature, doc, exprs, items, kind="vector", extra=(), **layout):
        names = [a for a in signature.split(", ") if a in arrays]
        widths = tuple(sum(layer.size for layer in arrays[a]) for a in names)
        columns = ", ".join(names)
        args = [("theta", model.params, [f'"{q.name}"' for q in model.params])
                if a == "theta" else unpacked(a, arrays[a]) for a in signature.split(", ")
                if a in arrays or a == "theta"]
        if not items and kind != "matrix":
            kind, items, layout["form"] = "scalar", ["_zeros_batch(ref, 0)"], ("", "")
        return Kernel.of(name, signature, doc, exprs, [*args, *extra], kind,
                         items=tuple(items), ref="ref", layered=layered, **{
                             "form": ("_concat([", "])"),
                             "prelude": (f'ref = _columns("{columns}", {widths}, {columns})',),
                             **layout})

    def params(exprs, mean=False, pairs=()):
        exprs = [Mean(e, _shape(q), pairs) if mean and e != 0 else e
                 for q, e in zip(model.params, exprs)]
        items = [f'"{q.name}": {_fit(k, e, _shape(q), mean)}'
                 for k, (q, e) in enumerate(zip(model.params, exprs))]
        return exprs, items, ("{", "}")

    def dictionary(name, signature, doc, exprs, mean=False, pairs=(), extra=()):
        exprs, items, form = params(exprs, mean, pairs)
        return kernel(name, signature, doc, exprs, items, form=form, extra=extra)

    blocks = sorted(model.hessian.items())
    hvp = [[e * model.directions[j] for (i, j), e in blocks if i == row]
           for row in range(len(model.layers))]
    hvp = [sum(terms[1:], terms[0]) if terms else 0 for terms in hvp]
    scalar = {"kind": "scalar", "form": ("", "")}
    rest = {layer.symbol: _at_rest(layer.symbol) for layer in model.layers}
    span = [f"{a.offset}:{a.offset + a.size}" if layered else f"{a.offset}" for a in model.layers]
    out = [
        kernel("energy", "z, theta, x",
               "The energy E(s, θ, x) of states ``z`` (last axis: STATES).",
               [model.energy], [_fit(0, model.energy, ())], **scalar),
        kernel("energy_gradient", "z, theta, x, layers=None", "∂E/∂s, last axis: STATES (of "
               "the layers ``layers`` only, indices; None: all).", model.gradient,
               _join(model.gradient, model.layers, layered, chosen=True)),
        kernel("energy_hessian", "z, theta, x", "∂²E/∂s², shape (..., N, N).",
               [(span[i], span[j], e) for (i, j), e in blocks], (), kind="matrix",
               shape=(model.n, model.n), form=None),
        kernel("energy_hvp", "z, v, theta, x", "∂²E/∂s² v, last axis: STATES.", hvp,
               _join(hvp, model.layers, layered)),
        dictionary("energy_dtheta", "z, theta, x",
                   "∂E/∂θ per sample: a dict by parameter name.", model.dtheta),
        dictionary("energy_dtheta_contrast", "z, z0, theta, x", "The batch mean of ∂E/∂θ(z) − "
                   "∂E/∂θ(z0) (contractions; no cancellation when z ≈ z0).", model.dtheta,
                   True, tuple(rest.items()), [unpacked("z0", model.layers, rest.values())]),
        dictionary("energy_dtheta_jvp", "z, v, theta, x",
                   "vᵀ ∂²E/∂s∂θ per sample (implicit differentiation contracts with it).",
                   model.dtheta_jvp),
        dictionary("energy_dtheta_jvp_mean", "z, v, theta, x", "vᵀ ∂²E/∂s∂θ averaged over "
                   "the batch (contractions, no per-sample arrays).", model.dtheta_jvp, True),
        kernel("energy_dx", "z, theta, x",
               "∂E/∂x, last axis: INPUTS (the input gradient of ff-EBM).", model.dx,
               _join(model.dx, model.input_layers, layered)),
        kernel("cost", "z, y", "The cost C(s, y).", [model.cost], [_fit(0, model.cost, ())],
               **scalar),
        kernel("cost_gradient", "z, y", "∂C/∂s, last axis: STATES.", model.cost_gradient,
               _join(model.cost_gradient, model.layers, layered)),
    ]
    if model.curvature is not None:
        out.append(kernel(
            "layer_curvature", "theta",
            "a_l of the Hessian blocks a_l·I, per unit (exact block updates divide by it).",
            model.curvature, [f"_fit({{{k}}}, _as_array(0.0, theta_ref), ({layer.size},))"
                              for k, layer in enumerate(model.layers)],
            prelude=("theta_ref = next(iter(theta.values()), None)",)))
    return out


def functions(model: EnergyModel, backend: str) -> list:
    """The printed primitives of ``model`` for ``backend``."""
    symbols = [layer.symbol for layer in model.layers + model.input_layers
               + model.target_layers] + list(model.params) + list(model.directions)
    names = {s: f"{s.name}_" for s in symbols if s.name in RESERVED}
    return print_kernels(kernels(model), backend, names=names)[1]


def _shape(symbol) -> tuple:
    if isinstance(symbol, sp.Symbol):
        return ()
    rows, cols = (int(d) for d in symbol.shape)
    return (rows,) if cols == 1 else (rows, cols)


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
        "functions": functions(model, backend),
        "block_exact": model.curvature is not None,
    }


def render_energy(problem: EnergyProblem, backend: str, source: str,
                  command: str | None = None) -> str:
    """The generated module's source text for an energy problem."""
    return render("energy.py.jinja", backend, context(problem, backend, source, command),
                  RUNTIME_NAMES)
