"""Emit Hamiltonian recurrent unit layers (RHEL / BPTT) and the ``glep`` commands for them.

The per-unit expressions derived in :mod:`derive.hru` are printed element-wise (they
broadcast over the batch and unit axes); the template ``hru.py.jinja`` lays out the
leapfrog, the batched ±β echo and the layer class, with one matrix product per input
drive. Nothing here depends on the number of units.

>>> from glep.derive.systemfile import load_problem
>>> from pathlib import Path
>>> problem = load_problem(Path(__file__).parent.parent / "systems" / "linear_hru.py")
>>> source = render_hru(problem, "torch", "systems/linear_hru.py")
>>> "class LinearHRU(nn.Module):" in source
True
"""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass

import sympy as sp

from glep.derive.errors import CodegenError
from glep.derive.hru import HALF_POSITION, NEW_MOMENTUM, RESERVED, HRUProblem
from glep.derive.vectorized import InputMatrix

from .backends import backend as backend_module
from .printers import eliminate_common
from .templating import BACKENDS, environment, literal
from .templating import printer as backend_printer

#: Local names of the template that a declared parameter or drive must not shadow.
TEMPLATE_LOCALS = frozenset({
    "phi", "pi", "n", "k", "g_k", "unit", "out", "coef", "nudge", "half", "start", "grads", "batch",
    "steps", "params", "estimator", "end", "end_state", "phi_new", "u_k", "d_u", "d_u_k",
    "d_state", "layer", "shape", "shapes", "name", "like", "value", "low", "high", "energy",
    "health", "simulate", "echo", "leapfrog_step",
})


@dataclass
class Printed:
    name: str
    signature: str
    doc: str
    kind: str  # "value" or "tuple"
    assignments: list
    outputs: list


def class_name(name: str) -> str:
    """``linear_hru`` → ``LinearHRU``; ``nonlinear_hru`` → ``NonlinearHRU``."""
    parts = name.split("_")
    return "".join(p.upper() if p.lower() in ("hru", "hssm") else p.capitalize() for p in parts)


def _print(printer, name, args, doc, exprs, kind="value") -> Printed:
    exprs = [sp.sympify(e) for e in exprs]
    allowed = set(args)
    for e in exprs:
        extra = e.free_symbols - allowed
        if extra:
            raise CodegenError(f"{name} uses {sorted(map(str, extra))}, not among its arguments")
    assignments, reduced = eliminate_common(exprs)
    ref = printer.doprint(args[0])
    outputs = [f"_full({float(e)!r}, {ref})" if e.is_number else printer.doprint(e)
               for e in reduced]
    return Printed(name, ", ".join(printer.doprint(a) for a in args), doc, kind,
                   [(printer.doprint(s), printer.doprint(e)) for s, e in assignments], outputs)


def context(problem: HRUProblem, backend: str, source: str, command: str | None = None) -> dict:
    if backend not in BACKENDS:
        raise CodegenError(f"unknown target {backend!r}: choose from {BACKENDS}")
    h = problem.hamiltonian
    clash = sorted({p.name for p in h.params} | {d.name for d in h.drives})
    clash = [c for c in clash if c in TEMPLATE_LOCALS or c in RESERVED
             or c.startswith(("d_", "h_", "weighted_", "input_", "_"))]
    if clash:
        raise CodegenError(f"parameter or drive names {clash} clash with the generated "
                           f"layer's own names: rename them")
    printer = backend_printer(backend)
    vector, drives = list(h.vector_params), list(h.drives)
    phi, pi = h.position, h.momentum
    functions = [
        _print(printer, "_velocity", [pi, *vector], "∂T/∂π per unit (the drift).",
               [h.velocity]),
        _print(printer, "_force", [phi, *drives, *vector], "−∂V/∂φ per unit (the kick).",
               [h.force]),
        _print(printer, "_energy_density", [phi, pi, *drives, *vector],
               "The energy of each unit, h(φ_i, π_i, θ_i, (Bu)_i); H is its sum.", [h.expr]),
        _print(printer, "_half_step_gradient",
               [HALF_POSITION, pi, NEW_MOMENTUM, *drives, *vector],
               "∂H½/∂θ per unit at a step's interior sub-states (∂V/∂(Bu)_i for a matrix).",
               list(problem.half_step_gradient.values()), kind="tuple"),
        _print(printer, "_post_step_gradient", [phi, pi, *drives, *vector],
               "∂H/∂θ per unit at a step's end state (approximate; tests only).",
               list(problem.post_step_gradient.values()), kind="tuple"),
    ]
    names = [p.name for p in h.params]
    matrices = [p.name for p in h.matrices]
    unit_args = ", ".join(p.name for p in vector)
    extra = f", {unit_args}" if unit_args else ""
    drive_args = ", ".join([*(d.name for d in drives), *(p.name for p in vector)])
    shapes = {p.name: ("n", "m") if isinstance(p, InputMatrix) else ("n",) for p in h.params}
    init = {p.name: problem.init[p] for p in vector}
    rule = problem.rules["RHEL"]
    exact = rule.practicality.bias_order == 0
    exactness = (
        "The Hamiltonian is quadratic: RHEL equals BPTT through the same leapfrog at every β."
        if exact else
        "The Hamiltonian is not quadratic: RHEL's bias is O(β²) (centered echoes)."
    )
    description = textwrap.fill(
        f"Per-unit Hamiltonian, summed over units i: h = {sp.sstr(h.expr)}, with "
        + ", ".join(f"{m.drive} = (B u)_i for {m.name}" if m.name == "B"
                    else f"{m.drive} = ({m.name} u)_i" for m in h.matrices)
        + ".", 88, break_on_hyphens=False)
    title = problem.name
    return {
        "title": title,
        "class_name": class_name(title),
        "backend": backend,
        "backend_title": backend_module(backend).TITLE,
        "source": source,
        "command": command or f"glep emit {source}",
        "description": description,
        "exactness": exactness,
        "params_doc": ", ".join(
            f"``{n}`` {'(n, m)' if n in matrices else '(n,)'}" for n in names),
        "params_tuple": literal(tuple(names)),
        "shapes": "{" + ", ".join(f"{json.dumps(k)}: {literal(v)}" for k, v in shapes.items())
        + "}",
        "positive_tuple": literal(tuple(p.name for p in problem.positive)),
        "init": "{" + ", ".join(f"{json.dumps(k)}: {v!r}" for k, v in init.items()) + "}",
        "bias_order": rule.practicality.bias_order,
        "default_beta": "{" + ", ".join(f"{json.dumps(k)}: {v!r}"
                                        for k, v in problem.default_beta.items()) + "}",
        "health_tolerance": '{"float32": 0.02, "float64": 0.001}',
        "functions": functions,
        "unpack": f"{', '.join(names)}{',' if len(names) == 1 else ''} = params",
        "drives": [(m.drive.name, m.name) for m in h.matrices],
        "velocity_extra": extra,
        "force_args": drive_args,
        "gradient_args": drive_args,
        "density_args": ", ".join(["phi", "pi", *(d.name for d in drives),
                                   *(p.name for p in vector)]),
        "gradient_targets": ", ".join(f"h_{n}" for n in names) + ("," if len(names) == 1
                                                                   else ""),
        "params": [{"name": n, "kind": "matrix" if n in matrices else "vector"} for n in names],
        "input_sum": " + ".join(f"input_{m}" for m in matrices) or "_zeros(u_k.shape, u_k)",
        "grads_dict": ", ".join(f'"{n}": d_{n}' for n in names)
        + ', "u": d_u, "state": d_state',
    }


def render_hru(problem: HRUProblem, backend: str, source: str, command: str | None = None):
    """The generated layer module's source text."""
    template = environment(backend).get_template("hru.py.jinja")
    return template.render(**context(problem, backend, source, command))


