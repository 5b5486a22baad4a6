"""Continuous systems: the simulator and GLEP-rule kernels of a module, printed.

Every straight-line function is printed from plain SymPy data (:mod:`glep.derive.model`,
:mod:`glep.derive.rules`): its parameter-only subexpressions are hoisted into
``prepare(theta)`` (:mod:`glep.codegen.hoist`), the rest is reduced by CSE and printed by
the backend's printer.

>>> from glep.derive.systemfile import load_problem
>>> from pathlib import Path
>>> problem = load_problem(Path(__file__).parent.parent / "systems" / "harmonic_oscillator.py")
>>> source = render_continuous(problem, "numpy", "systems/harmonic_oscillator.py")
>>> "def vector_field(t, z, theta, x):" in source
True
"""

from __future__ import annotations

import functools
import json
import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import sympy as sp

from glep.derive.errors import CodegenError
from glep.derive.model import Model
from glep.derive.problem import Problem
from glep.derive.rules import Learning

from .backends import backend as backend_module
from .hoist import PREFIX, hoist
from .printers import eliminate_common
from .templating import BACKENDS, environment, literal, printer

#: The nudging strength β inside a generated nudged vector field.
_NUDGING = sp.Symbol("_beta")
#: Names generated functions use themselves; a declared symbol with one of these names is
#: printed with a trailing underscore (``x`` → ``x_``).
RESERVED = frozenset(
    {"t", "z", "c", "theta", "x", "y", "np", "torch", "nn", "warnings", "float", "abs", "max"}
)


@dataclass
class Function:
    """A straight-line generated function: unpack arguments, temporaries, outputs."""

    name: str
    signature: str
    doc: str
    kind: str  # "vector", "matrix", "scalar" or "tuple"
    ref: str
    unpack: list[str] = field(default_factory=list)
    assignments: list[tuple[str, str]] = field(default_factory=list)
    outputs: list = field(default_factory=list)
    shape: tuple[int, int] | None = None


@dataclass
class _Spec:
    name: str
    signature: str
    doc: str
    exprs: list
    arrays: list  # [(argument name, symbols)]
    kind: str = "vector"
    shape: tuple[int, int] | None = None
    entries: list | None = None


class _Writer:
    """Collects the functions of one module, hoists invariants, prints them."""

    def __init__(self, model: Model, backend: str, invariants):
        self.model = model
        self.backend = backend
        self.invariants = tuple(invariants)
        self.specs: list[_Spec] = []
        names = {
            s: f"{s.name}_"
            for s in (*model.state, *model.params, *model.inputs)
            if s.name in RESERVED
        }
        self.names = {**names, model.time: "t"}

    def add(self, name, signature, doc, exprs, arrays, kind="vector", shape=None):
        """Queue a function; ``exprs`` is a list, or sparse ``(i, j, e)`` for a matrix."""
        entries = None
        if kind == "matrix":
            entries = [(i, j) for i, j, _ in exprs]
            exprs = [e for _, _, e in exprs]
        exprs = [sp.sympify(e) for e in exprs]
        self.specs.append(_Spec(name, signature, doc, exprs, arrays, kind, shape, entries))

    def _printer(self, constants):
        names = dict(self.names)
        names.update({s: f"c[{i}]" for i, (s, _) in enumerate(constants)})
        return printer(self.backend, names)

    def _unpack(self, printer, arrays, used) -> list[str]:
        lines = []
        for array, symbols in arrays:
            if not set(symbols) & used:
                continue
            names = [printer.doprint(s) if s in used else "_" for s in symbols]
            target = names[0] + "," if len(names) == 1 else ", ".join(names)
            lines.append(f"{target} = _unstack({array})")
        return lines

    def _print(self, spec: _Spec, exprs, printer) -> Function:
        used = set().union(*(e.free_symbols for e in exprs)) if exprs else set()
        known = {s for _, symbols in spec.arrays for s in symbols} | {self.model.time}
        unknown = {s for s in used - known if not s.name.startswith(PREFIX)}
        if unknown:
            raise CodegenError(
                f"{spec.name} uses {sorted(map(str, unknown))}, not among its arguments"
            )
        unpack = self._unpack(printer, spec.arrays, used)
        if self.model.time in used and self.backend == "torch":
            reference = spec.arrays[0][0] if spec.arrays else "None"
            unpack.insert(0, f"t = _time(t, {reference})")
        assignments, reduced = eliminate_common(exprs)
        printed = [(printer.doprint(s), printer.doprint(e)) for s, e in assignments]
        outputs = [printer.doprint(e) for e in reduced]
        if spec.entries is not None:
            outputs = [(i, j, o) for (i, j), o in zip(spec.entries, outputs)]
        ref = f"{spec.arrays[0][0]}[..., 0]" if spec.arrays else "t"
        return Function(spec.name, spec.signature, spec.doc, spec.kind, ref, unpack, printed,
                        outputs, spec.shape)

    def finish(self) -> tuple[Function, list[Function]]:
        """``prepare(theta)`` and every queued function, printed."""
        definitions, bodies = _hoisted(
            tuple(tuple(s.exprs) for s in self.specs), self.invariants
        )
        printer = self._printer(definitions)
        functions = [self._print(s, b, printer) for s, b in zip(self.specs, bodies)]
        prepare = _Spec(
            "prepare",
            "theta",
            "Parameter-only subexpressions of every function, computed once per run.",
            [e for _, e in definitions],
            [("theta", self.invariants)],
            kind="tuple",
        )
        return self._print(prepare, prepare.exprs, self._printer([])), functions


@functools.lru_cache(maxsize=8)
def _hoisted(functions: tuple, invariants: tuple):
    """Hoisting is the same for every backend: done once per set of functions."""
    return hoist(functions, invariants)


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


def _signals(writer, name, symbols, signals, time) -> tuple[list, list]:
    """``default_<name>(t)``: the problem's own signals, expressions or sampled."""
    exprs, sampled = [], []
    for symbol, signal in zip(symbols, signals):
        if signal.expression is not None:
            exprs.append(signal.expression.xreplace({time: writer.model.time}))
        else:
            exprs.append(sp.Symbol(f"{PREFIX}_sampled_{symbol.name}"))
            sampled.append((symbol.name, repr(signal.samples)))
    return exprs, sampled


def _queue_simulation(w: _Writer, model: Model):
    n = model.n
    state = [("z", model.state), ("x", model.inputs)]
    w.add("_vector_field", "t, z, c, x", "dz/dt (see vector_field).", model.vector_field, state)
    canonical = model.canonical
    if canonical is None:
        return
    qp = canonical.coords + canonical.momenta
    canonical_args = [("z", qp), ("x", model.inputs)]
    w.add("_hamiltonian", "t, z, c, x", "H at a canonical state.", [canonical.hamiltonian],
          canonical_args, kind="scalar")
    w.add("_canonical_field", "t, z, c, x", "Hamilton's equations (see canonical_field).",
          canonical.dq + canonical.dp, canonical_args)
    w.add("_canonical_jacobian", "t, z, c, x", "∂(q̇, ṗ)/∂(q, p).", canonical.jacobian,
          canonical_args, kind="matrix", shape=(2 * n, 2 * n))
    if canonical.momentum_of_state is not None:
        w.add("_momentum_of_state", "z, c", "p = ∂L/∂q̇ at a state (q, q̇).",
              canonical.momentum_of_state, [("z", model.state)])
        w.add("_velocity_of_momentum", "z, c", "q̇ = ∂H/∂p at a canonical state (q, p).",
              canonical.velocity_of_momentum, [("z", qp)])
    if "leapfrog" in model.methods:
        w.add("_drift_velocity", "z, c", "∂T/∂p at momenta z.", canonical.dq,
              [("z", canonical.momenta)])
        w.add("_kick_force", "t, z, c, x", "−∂V/∂q at positions z.", canonical.dp,
              [("z", canonical.coords), ("x", model.inputs)])
        w.add("_kinetic_hessian", "z, c", "∂²H/∂p² at a canonical state.",
              canonical.kinetic_hessian, [("z", qp)], kind="matrix", shape=(n, n))
        w.add("_potential_hessian", "t, z, c, x", "∂²H/∂q² at a canonical state.",
              canonical.potential_hessian, canonical_args, kind="matrix", shape=(n, n))


def _queue_learning(w: _Writer, learning) -> dict:
    """The functions every learning rule needs (canonical coordinates of H̃)."""
    lm = learning.learning_model
    if not lm.field:
        return {}
    model = lm.model
    n, d = model.n, len(model.params)
    q, p = learning.system.q, learning.system.p
    qp = tuple(q) + tuple(p)
    y = lm.targets
    canonical = [("z", qp), ("x", model.inputs)]
    costed = [("z", qp), ("y", y)]
    if lm.weighted:
        w.add("_rule_field", "t, z, c, x", "Hamilton's equations of the weighted H̃.",
              lm.field, canonical)
        w.add("_rule_jacobian", "t, z, c, x", "∂field/∂(q, p) of H̃.", lm.field_jacobian,
              canonical, kind="matrix", shape=(2 * n, 2 * n))
    w.add("_dH_dtheta", "t, z, c, x", "∂H̃/∂θ, the contrast integrand (−∂L/∂θ).",
          lm.dH_dtheta, canonical)
    w.add("_field_dtheta", "t, z, c, x", "∂field/∂θ (forward sensitivities).",
          lm.field_dtheta, canonical, kind="matrix", shape=(2 * n, d))
    w.add("_running_cost", "t, z, c, y", "The running cost c.", [lm.running_cost], costed,
          kind="scalar")
    w.add("_nudge", "t, z, c, y", "∇_q c: the nudging force per unit β.", lm.cost_gradient,
          costed)
    nudged = list(lm.field[:n]) + [f + _NUDGING * g for f, g in zip(lm.field[n:],
                                                                     lm.cost_gradient)]
    w.add("_nudged_field", "t, z, c, x, y, b",
          "Hamilton's equations of H̃ with the nudge β ∇_q c on ṗ (β = b[..., 0]).", nudged,
          [*canonical, ("y", y), ("b", (_NUDGING,))])
    w.add("_cost_dtheta", "t, z, c, y", "∂c/∂θ (direct dependence of the cost).",
          lm.cost_dtheta, costed)
    final = [("z", q)]
    w.add("_terminal_cost", "z, c", "ψ at final positions z.", [lm.terminal_cost], final,
          kind="scalar")
    w.add("_terminal_gradient", "z, c", "∇_q ψ.", lm.terminal_gradient, final)
    w.add("_terminal_dtheta", "z, c", "∂ψ/∂θ.", lm.terminal_dtheta, final)
    if lm.momentum is not None:
        w.add("_momentum_jacobian", "z, c", "∂p/∂(q, q̇) at t = 0.", lm.momentum_jacobian,
              [("z", model.state)], kind="matrix", shape=(n, 2 * n))
        w.add("_momentum_dtheta", "z, c", "∂p/∂θ at fixed (q, q̇), t = 0.", lm.momentum_dtheta,
              [("z", model.state)], kind="matrix", shape=(n, d))
    if lm.kinetic_dtheta is not None:
        w.add("_kinetic_dtheta", "z, c", "∂T/∂θ at momenta z.", lm.kinetic_dtheta,
              [("z", p)])
        w.add("_potential_dtheta", "t, z, c, x", "∂V/∂θ at positions z.", lm.potential_dtheta,
              [("z", q), ("x", model.inputs)])
    state = [("z", model.state), ("x", model.inputs)]
    state_costed = [("z", model.state), ("y", y)]
    w.add("_state_jacobian", "t, z, c, x", "∂f/∂z of vector_field (adjoint).",
          lm.state_jacobian, state, kind="matrix", shape=(2 * n, 2 * n))
    w.add("_state_dtheta", "t, z, c, x", "∂f/∂θ of vector_field (adjoint).", lm.state_dtheta,
          state, kind="matrix", shape=(2 * n, d))
    w.add("_state_cost_gradient", "t, z, c, y", "∇_z c in state coordinates (adjoint).",
          lm.state_cost_gradient, state_costed)
    w.add("_state_terminal_gradient", "z, c", "∇_z ψ in state coordinates (adjoint).",
          lm.state_terminal_gradient, [("z", model.state)])
    return {
        "rules": "{\n"
        + "".join(f"    {json.dumps(k)}: {json.dumps(v) if v else None},\n"
                  for k, v in lm.available.items())
        + "}",
        "weighted": lm.weighted,
        "velocity_state": lm.momentum is not None,
        "leapfrog_rule": lm.kinetic_dtheta is not None and "leapfrog" in model.methods,
        "cost_params": any(e != 0 for e in lm.cost_dtheta),
    }


def context(problem: Problem, backend: str, source: str, command: str | None = None,
            rules: bool = True) -> dict:
    """Everything the template needs, printed (``rules=False``: the simulator only)."""
    if backend not in BACKENDS:
        raise CodegenError(f"unknown target {backend!r}: choose from {BACKENDS}")
    name = problem.name or Path(source).stem
    learning = problem.__dict__.get("_learning")
    if learning is None:
        learning = problem.__dict__["_learning"] = Learning(problem, name)
    model = Model.from_problem(problem, name)
    w = _Writer(model, backend, model.params)
    _queue_simulation(w, model)
    learn = _queue_learning(w, learning) if rules and problem.cost is not None else {}
    prepare, functions = w.finish()

    signals = _Writer(model, backend, ())
    input_exprs, sampled = _signals(signals, "inputs", model.inputs, model.input_signals,
                                    problem.system.time)
    target_exprs, sampled_targets = _signals(signals, "targets", problem.y, problem.targets,
                                             problem.system.time)
    sampled_sources = [(sp.Symbol(f"{PREFIX}_sampled_{n}"), f"_DEFAULT_{n}(t)[..., 0]")
                       for n, _ in sampled + sampled_targets]
    signals.names.update({s: src for s, src in sampled_sources})
    signals.add("default_inputs", "t", "The problem's own inputs at time ``t`` (last axis: "
                "INPUTS).", input_exprs, [])
    signals.add("default_targets", "t", "The problem's own targets at time ``t`` (last axis: "
                "TARGETS).", target_exprs, [])
    _, signal_functions = signals.finish()

    regenerate = command or f"glep emit {source}"
    by_name = {f.name: f for f in functions + signal_functions}
    return {
        "title": name,
        "backend": backend,
        "backend_title": backend_module(backend).TITLE,
        "source": source,
        "command": regenerate,
        "description": _description(problem, model),
        "state": [s.name for s in model.state],
        "state_doc": ", ".join(f"{s.name} ({k})" for s, k in zip(model.state, model.state_kinds)),
        "params_doc": ", ".join(p.name for p in model.params) or "none",
        "inputs_doc": ", ".join(x.name for x in model.inputs) or "none",
        "params_tuple": literal(tuple(p.name for p in model.params)),
        "param_values": repr(model.param_values),
        "state_tuple": literal(tuple(s.name for s in model.state)),
        "state_kinds": literal(model.state_kinds),
        "inputs_tuple": literal(tuple(x.name for x in model.inputs)),
        "targets_tuple": literal(tuple(s.name for s in problem.y)),
        "initial_state": repr(model.initial_state),
        "horizon": repr(model.horizon),
        "steps": repr(model.steps),
        "time_reversible": repr(model.time_reversible),
        "methods": literal(model.methods),
        "sampled_defaults": sampled + sampled_targets,
        "canonical": model.canonical is not None,
        "separable": "leapfrog" in model.methods,
        "momentum_of_state": model.canonical is not None
        and model.canonical.momentum_of_state is not None,
        "n": model.n,
        "d": len(model.params),
        "prepare": prepare,
        "functions": functions + signal_functions,
        "f": by_name,
        "learn": learn,
    }


def render_continuous(problem: Problem, backend: str, source: str, command: str | None = None,
                      rules: bool = True) -> str:
    """The generated module's source text (``rules=False``: the simulator only)."""
    template = environment(backend).get_template("module.py.jinja")
    text = template.render(**context(problem, backend, source, command, rules))
    return re.sub(r"\n{4,}", "\n\n\n", text)
