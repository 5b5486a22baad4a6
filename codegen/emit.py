"""Render a problem's model into NumPy and Torch modules, deterministically.

Render → ``compile`` (catches syntax errors) → write atomically (temporary file, then
rename). The header names the source system and the command that regenerates the file;
there are no timestamps, so emitting twice gives byte-identical files.

>>> from codegen.systemfile import load_problem
>>> from pathlib import Path
>>> problem = load_problem(Path(__file__).parent.parent / "systems" / "harmonic_oscillator.py")
>>> source = render(problem, "numpy", "systems/harmonic_oscillator.py")
>>> "def vector_field(t, z, theta, x):" in source
True
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import textwrap
import types
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
import sympy as sp

from derive.errors import CodegenError
from derive.model import Model
from derive.problem import Problem

from .printers import PRINTERS, eliminate_common

BACKENDS = ("numpy", "torch")

#: Names generated functions use themselves; a declared symbol with one of these names is
#: printed with a trailing underscore (``x`` → ``x_``).
RESERVED = frozenset(
    {"t", "z", "theta", "x", "np", "torch", "nn", "warnings", "float", "abs", "max", "min"}
)


@dataclass
class Function:
    """A straight-line generated function: unpack arguments, temporaries, outputs."""

    name: str
    signature: str
    doc: str
    ref: str
    prologue: list[str] = field(default_factory=list)
    assignments: list[tuple[str, str]] = field(default_factory=list)
    outputs: list = field(default_factory=list)
    matrix: tuple[int, int] | None = None
    scalar: bool = False


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("codegen", "templates"),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )


class _Writer:
    """Prints straight-line functions of one model with one backend's printer."""

    def __init__(self, model: Model, backend: str):
        self.model = model
        self.backend = backend
        names = {
            s: f"{s.name}_"
            for s in (*model.state, *model.params, *model.inputs)
            if s.name in RESERVED
        }
        clash = {v for v in names.values()} & {s.name for s in (*model.state, *model.params)}
        if clash:
            raise CodegenError(f"the names {sorted(clash)} clash in generated code: rename one")
        self.printer = PRINTERS[backend]({**names, model.time: "t"})

    def sources(self, state: str | None, state_symbols=None, inputs=True):
        """Where each symbol comes from: ``name = array[..., i]``."""
        model = self.model
        out = {}
        if state is not None:
            for i, s in enumerate(state_symbols if state_symbols is not None else model.state):
                out[s] = f"{state}[..., {i}]"
        for i, s in enumerate(model.params):
            out[s] = f"theta[..., {i}]"
        if inputs:
            for i, s in enumerate(model.inputs):
                out[s] = f"x[..., {i}]"
        return out

    def function(self, name, signature, doc, exprs, sources, ref, matrix=None, ref_array=None,
                 scalar=False):
        entries = None
        if matrix is not None:
            entries = [(i, j) for i, j, _ in exprs]
            exprs = [e for _, _, e in exprs]
        exprs = [sp.sympify(e) for e in exprs]
        used = set().union(*(e.free_symbols for e in exprs)) if exprs else set()
        unknown = used - set(sources) - {self.model.time}
        if unknown:
            raise CodegenError(f"{name} uses {sorted(map(str, unknown))}, not among its arguments")
        prologue = [f"{self.printer.doprint(s)} = {src}" for s, src in sources.items() if s in used]
        if self.model.time in used and self.backend == "torch":
            prologue.insert(0, f"t = _time(t, {ref_array or ref.split('[')[0]})")
        assignments, reduced = eliminate_common(exprs)
        printed = [(self.printer.doprint(s), self.printer.doprint(e)) for s, e in assignments]
        outputs = [self.printer.doprint(e) for e in reduced]
        if entries is not None:
            outputs = [(i, j, o) for (i, j), o in zip(entries, outputs)]
        return Function(name, signature, doc, ref, prologue, printed, outputs, matrix, scalar)


def _description(problem: Problem, model: Model) -> str:
    system = problem.system
    lines = [f"{system.kind.capitalize()}: {sp.sstr(system.expr)}"]
    if system.dissipation is not None:
        lines.append(f"Rayleigh dissipation: {sp.sstr(system.dissipation)}")
    if model.time_reversible:
        lines.append("Time-reversal invariant: yes.")
    else:
        reasons = "; ".join(model.time_reversal_reasons)
        lines.append(f"Time-reversal invariant: no ({reasons}).")
    wrapped = []
    for line in lines:
        wrapped.extend(textwrap.wrap(line, 88, break_long_words=True, break_on_hyphens=False))
    return "\n".join(wrapped)


def _literal(values) -> str:
    """A tuple literal with double-quoted strings, as a formatter would write it."""
    items = [json.dumps(v) if isinstance(v, str) else repr(v) for v in values]
    return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"


def context(problem: Problem, backend: str, source: str, command: str | None = None) -> dict:
    """Everything the template needs, printed."""
    if backend not in BACKENDS:
        raise CodegenError(f"unknown target {backend!r}: choose from {BACKENDS}")
    name = problem.name or Path(source).stem
    model = Model.from_problem(problem, name)
    w = _Writer(model, backend)
    n = model.n
    z_doc = "z: state, last axis ordered as STATE"
    functions = {}

    input_symbols, input_exprs, input_sources = [], [], {}
    sampled_defaults = []
    for symbol, signal in zip(model.inputs, model.input_signals):
        if signal.expression is not None:
            input_exprs.append(signal.expression.xreplace({problem.system.time: model.time}))
        else:
            placeholder = sp.Symbol(f"{symbol.name}_sampled")
            input_sources[placeholder] = f"_DEFAULT_{symbol.name}(t)[..., 0]"
            input_exprs.append(placeholder)
            sampled_defaults.append((symbol.name, repr(signal.samples)))
        input_symbols.append(symbol)
    functions["default_inputs"] = w.function(
        "default_inputs",
        "t",
        "The problem's own inputs at time ``t``, last axis ordered as INPUTS.",
        input_exprs,
        input_sources,
        "t",
        ref_array="None",
    )
    functions["vector_field"] = w.function(
        "vector_field",
        "t, z, theta, x",
        f"dz/dt at time ``t``. {z_doc}; theta: parameters; x: inputs at ``t``.",
        model.vector_field,
        w.sources("z"),
        "z[..., 0]",
    )
    canonical = model.canonical
    separable = "leapfrog" in model.methods
    if canonical is not None:
        qp = canonical.coords + canonical.momenta
        functions["hamiltonian"] = w.function(
            "hamiltonian",
            "t, z, theta, x",
            "The Hamiltonian (energy) at a canonical state ``z = (q, p)``.",
            [canonical.hamiltonian],
            w.sources("z", qp),
            "z[..., 0]",
            scalar=True,
        )
        functions["canonical_field"] = w.function(
            "canonical_field",
            "t, z, theta, x",
            "Hamilton's equations ``(dq/dt, dp/dt)`` at a canonical state ``z = (q, p)``.",
            canonical.dq + canonical.dp,
            w.sources("z", qp),
            "z[..., 0]",
        )
        functions["canonical_jacobian"] = w.function(
            "canonical_jacobian",
            "t, z, theta, x",
            "Jacobian of :func:`canonical_field` with respect to ``z = (q, p)``.",
            canonical.jacobian,
            w.sources("z", qp),
            "z[..., 0]",
            matrix=(2 * n, 2 * n),
        )
        if canonical.momentum_of_state is not None:
            functions["momentum_of_state"] = w.function(
                "momentum_of_state",
                "z, theta",
                "Canonical momenta ``p = ∂L/∂q̇`` at a state ``z = (q, q̇)``.",
                canonical.momentum_of_state,
                w.sources("z", inputs=False),
                "z[..., 0]",
            )
            functions["velocity_of_momentum"] = w.function(
                "velocity_of_momentum",
                "z, theta",
                "Velocities ``q̇ = ∂H/∂p`` at a canonical state ``z = (q, p)``.",
                canonical.velocity_of_momentum,
                w.sources("z", qp, inputs=False),
                "z[..., 0]",
            )
        if separable:
            functions["drift_velocity"] = w.function(
                "drift_velocity",
                "_p, theta",
                "Drift velocity ``∂T/∂p`` of a separable Hamiltonian at momenta ``_p``.",
                canonical.dq,
                w.sources("_p", canonical.momenta, inputs=False),
                "_p[..., 0]",
            )
            functions["kick_force"] = w.function(
                "kick_force",
                "t, _q, theta, x",
                "Kick force ``−∂V/∂q`` of a separable Hamiltonian at positions ``_q``.",
                canonical.dp,
                w.sources("_q", canonical.coords),
                "_q[..., 0]",
            )
            functions["kinetic_hessian"] = w.function(
                "kinetic_hessian",
                "z, theta",
                "``∂²H/∂p²`` at a canonical state ``z = (q, p)``.",
                canonical.kinetic_hessian,
                w.sources("z", qp, inputs=False),
                "z[..., 0]",
                matrix=(n, n),
            )
            functions["potential_hessian"] = w.function(
                "potential_hessian",
                "t, z, theta, x",
                "``∂²H/∂q²`` at a canonical state ``z = (q, p)``.",
                canonical.potential_hessian,
                w.sources("z", qp),
                "z[..., 0]",
                matrix=(n, n),
            )

    regenerate = command or f"glep emit {source}"
    return {
        "title": name,
        "backend": backend,
        "backend_title": {"numpy": "NumPy", "torch": "PyTorch"}[backend],
        "source": source,
        "command": regenerate,
        "description": _description(problem, model),
        "state": [s.name for s in model.state],
        "state_doc": ", ".join(f"{s.name} ({k})" for s, k in zip(model.state, model.state_kinds)),
        "params": [p.name for p in model.params],
        "params_doc": ", ".join(p.name for p in model.params) or "none",
        "inputs_doc": ", ".join(x.name for x in model.inputs) or "none",
        "params_tuple": _literal(tuple(p.name for p in model.params)),
        "param_values": repr(model.param_values),
        "state_tuple": _literal(tuple(s.name for s in model.state)),
        "state_kinds": _literal(model.state_kinds),
        "inputs_tuple": _literal(tuple(x.name for x in model.inputs)),
        "initial_state": repr(model.initial_state),
        "horizon": repr(model.horizon),
        "steps": repr(model.steps),
        "time_reversible": repr(model.time_reversible),
        "methods": _literal(model.methods),
        "sampled_defaults": sampled_defaults,
        "canonical": canonical is not None,
        "separable": separable,
        "momentum_of_state": canonical is not None and canonical.momentum_of_state is not None,
        "n": n,
        "class_name": "VectorField",
        **functions,
    }


def render(problem: Problem, backend: str, source: str, command: str | None = None) -> str:
    """The generated module's source text."""
    template = _environment().get_template("simulator.py.jinja")
    text = template.render(**context(problem, backend, source, command))
    text = re.sub(r"\n{4,}", "\n\n\n", text)
    compile(text, f"<glep {backend} module for {source}>", "exec")
    return text


def module_name(problem: Problem, source: str, backend: str) -> str:
    return f"{problem.name or Path(source).stem}_{backend}"


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_module(problem: Problem, backend: str = "numpy", source: str = "<memory>"):
    """Render and import a generated module without writing it to disk.

    >>> from codegen.systemfile import load_problem
    >>> from pathlib import Path
    >>> problem = load_problem(Path(__file__).parent.parent / "systems" / "pendulum.py")
    >>> module = load_module(problem, "numpy")
    >>> module.simulate(steps=10).shape
    (11, 2)
    """
    text = render(problem, backend, source)
    module = types.ModuleType(module_name(problem, source, backend))
    exec(compile(text, module.__name__, "exec"), module.__dict__)
    return module
