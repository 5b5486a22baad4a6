"""Emit Hamiltonian recurrent unit layers (RHEL / BPTT) and the ``glep`` commands for them.

The per-unit expressions derived in :mod:`derive.hru` are element-wise kernels (they
broadcast over the batch and unit axes), printed by :func:`~glep.codegen.kernel.print_kernels`;
the leapfrog, the batched ±β echo and the layer logic are the runtime's ``HRUSystem`` /
``HRULayer`` (``runtime_hru.py.jinja``), with one matrix product per input drive. Nothing
here depends on the number of units.

>>> from glep.derive.systemfile import load_problem
>>> from pathlib import Path
>>> problem = load_problem(Path(__file__).parent.parent / "systems" / "linear_hru.py")
>>> source = render_hru(problem, "torch", "systems/linear_hru.py")
>>> "class LinearHRU(HRULayer):" in source
True
"""

from __future__ import annotations

import textwrap

import sympy as sp

from glep.derive.errors import CodegenError
from glep.derive.hru import HALF_POSITION, NEW_MOMENTUM, RESERVED, HRUProblem

from .energy import header, literal, render
from .kernel import Kernel, print_kernels
from .templating import BACKENDS

#: Runtime names an HRU module may use.
RUNTIME_NAMES = ("HRULayer", "HRUSystem", "_full", "_Module", "_hru_api", "_hru_layer")


def class_name(name: str) -> str:
    """``linear_hru`` → ``LinearHRU``; ``nonlinear_hru`` → ``NonlinearHRU``."""
    parts = name.split("_")
    return "".join(p.upper() if p.lower() in ("hru", "hssm") else p.capitalize() for p in parts)


def _kernel(name, args, doc, exprs, kind="scalar") -> Kernel:
    """A kernel over its arguments' symbols (its parameters), element-wise; a constant
    output is filled to the shape of the first argument."""
    ref = args[0].name
    items = [f"_full({float(e)!r}, {ref})" if sp.sympify(e).is_number else f"{{{k}}}"
             for k, e in enumerate(exprs)]
    return Kernel.of(name, ", ".join(a.name for a in args), doc, exprs, [(None, args)], kind,
                     items=tuple(items), ref=ref, form=None if kind == "tuple" else ("", ""))


def context(problem: HRUProblem, backend: str, source: str, command: str | None = None) -> dict:
    if backend not in BACKENDS:
        raise CodegenError(f"unknown target {backend!r}: choose from {BACKENDS}")
    h = problem.hamiltonian
    clash = sorted({p.name for p in h.params} | {d.name for d in h.drives})
    clash = [c for c in clash if c in RESERVED or c.startswith("_")]
    if clash:
        raise CodegenError(f"parameter or drive names {clash} clash with the generated "
                           f"layer's own names: rename them")
    vector, drives = list(h.vector_params), list(h.drives)
    phi, pi = h.position, h.momentum
    kernels = [
        _kernel("_velocity", [pi, *vector], "∂T/∂π per unit (the drift).",
                [h.velocity]),
        _kernel("_force", [phi, *drives, *vector], "−∂V/∂φ per unit (the kick).",
                [h.force]),
        _kernel("_energy_density", [phi, pi, *drives, *vector],
                "The energy of each unit, h(φ_i, π_i, θ_i, (Bu)_i); H is its sum.", [h.expr]),
        _kernel("_half_step_gradient",
                [HALF_POSITION, pi, NEW_MOMENTUM, *drives, *vector],
                "∂H½/∂θ per unit at a step's interior sub-states (∂V/∂(Bu)_i for a matrix).",
                list(problem.half_step_gradient.values()), kind="tuple"),
        _kernel("_post_step_gradient", [phi, pi, *drives, *vector],
                "∂H/∂θ per unit at a step's end state (approximate; tests only).",
                list(problem.post_step_gradient.values()), kind="tuple"),
    ]
    names = [p.name for p in h.params]
    matrices = [p.name for p in h.matrices]
    exact = problem.rules["RHEL"].practicality.bias_order == 0
    description = textwrap.fill(
        f"Per-unit Hamiltonian, summed over units i: h = {sp.sstr(h.expr)}, with "
        + ", ".join(f"{m.drive} = (B u)_i for {m.name}" if m.name == "B"
                    else f"{m.drive} = ({m.name} u)_i" for m in h.matrices)
        + ".", 88, break_on_hyphens=False)
    constants = [
        (None, "PARAMS", tuple(names)),
        ("Shapes in terms of n = n_units and m = n_inputs.", "PARAM_SHAPES",
         {n: ("n", "m") if n in matrices else ("n",) for n in names}),
        ("Vector parameters that must stay positive (a model may reparametrize them).",
         "POSITIVE", tuple(p.name for p in problem.positive)),
        ("Uniform initialization range of each vector parameter (matrices: N(0, 1/m)).",
         "INIT", {p.name: problem.init[p] for p in vector}),
        ("Order in β of RHEL's bias (0: exact at every β, the Hamiltonian is quadratic).",
         "BIAS_ORDER", problem.rules["RHEL"].practicality.bias_order),
        ("Default β per dtype: the total nudge, in units of the normalized gradient sequence.",
         "DEFAULT_BETA", dict(problem.default_beta)),
        ("Health (relative to max(1, ‖Φ_0‖)) above this, or NaN, warns; per compute dtype.",
         "HEALTH_TOLERANCE", {"float32": 0.02, "float64": 0.001}),
    ]
    return {
        **header(backend, source, command),
        "title": problem.name,
        "class_name": class_name(problem.name),
        "description": description,
        "exactness": (
            "The Hamiltonian is quadratic: RHEL equals BPTT through the same leapfrog at every β."
            if exact else
            "The Hamiltonian is not quadratic: RHEL's bias is O(β²) (centered echoes)."),
        "params_doc": ", ".join(
            f"``{n}`` {'(n, m)' if n in matrices else '(n,)'}" for n in names),
        "constants": [(c, k, literal(v)) for c, k, v in constants],
        "functions": print_kernels(kernels, backend)[1],
    }


def render_hru(problem: HRUProblem, backend: str, source: str, command: str | None = None):
    """The generated layer module's source text."""
    return render("hru.py.jinja", backend, context(problem, backend, source, command),
                  RUNTIME_NAMES)


