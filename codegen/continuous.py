"""Continuous systems: the simulator and GLEP-rule kernels of a module, printed.

Every straight-line function is a :class:`~glep.codegen.kernel.Kernel` of plain SymPy data
(:mod:`glep.derive.model`, :mod:`glep.derive.rules`), printed by
:func:`~glep.codegen.kernel.print_kernels`. The module holds the kernels and constants; its
public functions come from the shared runtime (``templates/runtime_continuous.py.jinja``,
emitted once per backend as ``generated/_runtime_<backend>.py``), bound to them.

>>> from glep.derive.systemfile import load_problem
>>> from pathlib import Path
>>> problem = load_problem(Path(__file__).parent.parent / "systems" / "harmonic_oscillator.py")
>>> source = render_continuous(problem, "numpy", "systems/harmonic_oscillator.py")
>>> "def _vector_field(t, z, c, x):" in source and 'vector_field = _API["vector_field"]' in source
True
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import sympy as sp

from glep.derive.errors import CodegenError
from glep.derive.model import Model
from glep.derive.problem import Problem
from glep.derive.rules import NUDGING, Learning

from .backends import backend as backend_module
from .constrained import queue_constrained
from .hoist import PREFIX
from .kernel import LINE_LIMIT, Kernel, print_kernels
from .templating import BACKENDS, environment, literal, runtime_imports

#: Names generated functions use themselves; a declared symbol with one of these names is
#: printed with a trailing underscore (``x`` → ``x_``).
RESERVED = frozenset(
    {"t", "z", "c", "theta", "x", "y", "np", "torch", "nn", "jnp", "warnings", "float", "abs",
     "max"}
)


class _Kernels(list):
    """The kernels of one module, in the order they are printed."""

    def add(self, *args, **kwargs):
        self.append(Kernel.of(*args, **kwargs))


def _description(problem: Problem, model: Model) -> str:
    system = problem.system
    lines = [f"{system.kind.capitalize()}: {sp.sstr(system.expr)}"]
    if system.dissipation is not None:
        lines.append(f"Rayleigh dissipation: {sp.sstr(system.dissipation)}")
    if system.constraints is not None:
        constraints = ", ".join(map(sp.sstr, system.constraints.expressions))
        lines.append(f"Constraints (each = 0): {constraints}.")
    if model.time_reversible:
        lines.append("Time-reversal invariant: yes.")
    else:
        reasons = "; ".join(model.time_reversal_reasons)
        lines.append(f"Time-reversal invariant: no ({reasons}).")
    wrapped = []
    for line in lines:
        wrapped.extend(textwrap.wrap(line, 88, break_long_words=True, break_on_hyphens=False))
    return "\n".join(wrapped)


def _signals(model, symbols, signals, time) -> tuple[list, list]:
    """``default_<name>(t)``: the problem's own signals, expressions or sampled."""
    exprs, sampled = [], []
    for symbol, signal in zip(symbols, signals):
        if signal.expression is not None:
            exprs.append(signal.expression.xreplace({time: model.time}))
        else:
            exprs.append(sp.Symbol(f"{PREFIX}_sampled_{symbol.name}"))
            sampled.append((symbol.name, [float(v) for v in signal.samples]))
    return exprs, sampled


def _queue_simulation(w: _Kernels, model: Model):
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


def _queue_learning(w: _Kernels, learning) -> dict:
    """The rules' functions in rule coordinates (H̃'s for GLEP), the adjoint's in state's."""
    lm = learning.learning_model
    model = lm.model
    n, d = model.n, len(model.params)
    q, p = lm.coordinates[:n], lm.coordinates[n:]
    qp, y, glep = lm.coordinates, lm.targets, bool(lm.field)
    canonical = [("z", qp), ("x", model.inputs)]
    costed = [("z", qp), ("y", y)]
    if lm.rule_kernels == "weighted":
        w.add("_rule_field", "t, z, c, x", "Hamilton's equations of the weighted H̃.",
              lm.field, canonical)
        w.add("_rule_jacobian", "t, z, c, x", "∂field/∂(q, p) of H̃.", lm.field_jacobian,
              canonical, kind="matrix", shape=(2 * n, 2 * n))
    if glep:
        w.add("_dH_dtheta", "t, z, c, x", "∂H̃/∂θ, the contrast integrand (−∂L/∂θ).",
              lm.dH_dtheta, canonical)
        w.add("_field_dtheta", "t, z, c, x", "∂field/∂θ (forward sensitivities).",
              lm.field_dtheta, canonical, kind="matrix", shape=(2 * n, d))
    w.add("_running_cost", "t, z, c, y", "The running cost c.", [lm.running_cost], costed,
          kind="scalar")
    if glep:
        w.add("_nudge", "t, z, c, y", "(−∂c/∂p, ∂c/∂q): the nudge of (q̇, ṗ) per unit β.",
              lm.nudge, costed)
        w.add("_nudged_field", "t, z, c, x, y, b",
              "Hamilton's equations of H̃ − βc (β = b[..., 0]).", lm.nudged_field,
              [*canonical, ("y", y), ("b", (NUDGING,))])
    w.add("_cost_dtheta", "t, z, c, y", "∂c/∂θ (direct dependence of the cost).",
          lm.cost_dtheta, costed)
    final = [("z", qp)]
    w.add("_terminal_cost", "t, z, c", "ψ at a final state z.", [lm.terminal_cost], final,
          kind="scalar")
    if glep:
        w.add("_terminal_gradient", "t, z, c", "(∂ψ/∂q, ∂ψ/∂p).", lm.terminal_gradient, final)
    w.add("_terminal_dtheta", "t, z, c", "∂ψ/∂θ.", lm.terminal_dtheta, final)
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
    w.add("_state_terminal_gradient", "t, z, c", "∇_z ψ in state coordinates (adjoint).",
          lm.state_terminal_gradient, [("z", model.state)])
    if lm.state_cost is not None:  # a cost on velocities or momenta
        c, dc, psi, dpsi = lm.state_cost
        end = [("z", model.state)]
        w.add("_state_running_cost", "t, z, c, y", "c.", [c], state_costed, kind="scalar")
        w.add("_state_cost_dtheta", "t, z, c, y", "∂c/∂θ.", dc, state_costed)
        w.add("_state_terminal_cost", "t, z, c", "ψ.", [psi], end, kind="scalar")
        w.add("_state_terminal_dtheta", "t, z, c", "∂ψ/∂θ.", dpsi, end)
    if lm.echo is not None:  # gain, or a cost on momenta
        field, dH_dtheta, flip = lm.echo
        w.add("_echo_field", "t, z, c, x, y, b", "The nudged echo at physical time t.", field,
              [*canonical, ("y", y), ("b", (NUDGING,))])
        w.add("_echo_dH_dtheta", "t, z, c, x", "∂H̃/∂θ at an echo state.", dH_dtheta,
              canonical)
        w.add("_echo_state", "t, z, c", "The echo state of a canonical state of H̃.", flip,
              [("z", qp)])
    rule = {"canonical": ("_canonical_field", "_canonical_jacobian"),
            "state": ("_vector_field", "_state_jacobian")}.get(lm.rule_kernels, ())
    costs = ("_running_cost", "_cost_dtheta", "_terminal_cost", "_terminal_dtheta")
    return {
        "rules": lm.available,
        "aliases": [*zip(("_rule_field", "_rule_jacobian"), rule),
                    *((f"_state{n}", n) for n in costs if lm.state_cost is None)],
        "velocity_state": lm.momentum is not None,
        "leapfrog_rule": lm.kinetic_dtheta is not None and "leapfrog" in model.methods
        and not lm.momentum_cost,
        "cost_params": any(e != 0 for e in lm.cost_dtheta),
    }


def _constants(problem, model, learn) -> list[str]:
    """The module's constants, each a line or a few."""
    values = {
        "PARAMS": tuple(p.name for p in model.params),
        "PARAM_VALUES": model.param_values,
        "STATE": tuple(s.name for s in model.state),
        "STATE_KINDS": model.state_kinds,
        "INPUTS": tuple(x.name for x in model.inputs),
        "TARGETS": tuple(s.name for s in problem.y),
        "INITIAL_STATE": model.initial_state,
    }
    lines = [f"{name} = {literal(tuple(value), 0, LINE_LIMIT - len(name) - 3)}"
             for name, value in values.items()]
    canonical = model.canonical
    lines += [
        f"HORIZON = {model.horizon!r}",
        f"STEPS = {model.steps!r}",
        f"TIME_REVERSIBLE = {model.time_reversible!r}",
        f"METHODS = {literal(model.methods)}",
        f"_N = {model.n}",
        f"_D = {len(model.params)}",
        f"_MOMENTUM_OF_STATE = {canonical is not None and canonical.momentum_of_state is not None}",
    ]
    hessian = canonical.kinetic_hessian if canonical else ()
    lines += ["_MASS_VARIES = True  # the mass matrix depends on the positions"] * any(
        e.free_symbols & set(canonical.coords) for *_, e in hessian)
    if problem.cost_params:  # not parameters of the dynamics (VectorField leaves them out)
        names = tuple(p.name for p in problem.cost_params)
        lines.append(f"_COST_ONLY = {literal(names, 0, LINE_LIMIT - 14)}")
    if learn:
        lines += [
            f"_VELOCITY_STATE = {learn['velocity_state']}",
            f"_LEAPFROG_RULE = {learn['leapfrog_rule']}",
            f"_COST_PARAMS = {learn['cost_params']}",
            "#: Rule → None when available, else the reason it is not.",
            f"RULES = {literal(learn['rules'], 0, LINE_LIMIT - 8)}",
        ]
    return lines


def _api(model, learn, backend) -> list[str]:
    names = ["vector_field"]
    if model.canonical is not None:
        names += ["hamiltonian", "canonical_field", "canonical_jacobian", "to_canonical",
                  "from_canonical"]
    names += ["sampled", "simulate"] + ["tangent"] * (model.manifold is not None)
    if "leapfrog" in model.methods:
        names.append("leapfrog_frequency")
    if learn:
        names += ["gradient", "echo_retrace", "loss"]
        if backend == "numpy":
            names.append("boundary_value_loss")
    if backend == "torch":
        names.append("VectorField")
    return [n for n in names if n != "tangent"] if backend == "jax" else names


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
    kernels = _Kernels()
    _queue_simulation(kernels, model)
    queue_constrained(kernels, model)
    learn = _queue_learning(kernels, learning) if rules and problem.cost is not None else {}
    names = {s: f"{s.name}_" for s in (*model.state, *model.params, *model.inputs)
             if s.name in RESERVED}
    prepare, functions = print_kernels(kernels, backend, invariants=model.params, names=names,
                                       time=model.time)

    time = problem.system.time
    input_exprs, sampled = _signals(model, model.inputs, model.input_signals, time)
    target_exprs, sampled_targets = _signals(model, problem.y, problem.targets, time)
    names.update({sp.Symbol(f"{PREFIX}_sampled_{n}"): f"_DEFAULT_{n}(t)[..., 0]"
                  for n, _ in sampled + sampled_targets})
    signals = _Kernels()
    signals.add("default_inputs", "t", "The problem's own inputs at time ``t`` (last axis: "
                "INPUTS).", input_exprs)
    signals.add("default_targets", "t", "The problem's own targets at time ``t`` (last axis: "
                "TARGETS).", target_exprs)
    _, signal_functions = print_kernels(signals, backend, names=names, time=model.time)

    state_doc = ", ".join(f"{s.name} ({k})" for s, k in zip(model.state, model.state_kinds))
    api_doc = "\n".join(textwrap.fill(line, 92, break_on_hyphens=False) for line in (
        f"State ``z`` (last axis, in this order): {state_doc}.",
        "Parameters ``theta`` (last axis, or a mapping by name): "
        f"{', '.join(p.name for p in model.params) or 'none'}.",
        f"Inputs ``x`` (last axis): {', '.join(x.name for x in model.inputs) or 'none'}."))
    return {
        "title": name,
        "backend": backend,
        "backend_title": backend_module(backend).TITLE,
        "source": source,
        "command": command or f"glep emit {source}",
        "description": _description(problem, model),
        "api_doc": api_doc,
        "state": [s.name for s in model.state],
        "constants": _constants(problem, model, learn),
        "sampled_defaults": [
            (n, f"_spline(_as_array({literal(samples, 0, 69 - len(n))})[:, None], HORIZON)")
            for n, samples in sampled + sampled_targets],
        "prepare": prepare,
        "functions": functions,
        "f": {f.name: f for f in signal_functions},
        "learn": learn,
        "api": _api(model, learn, backend),
    }


#: What a module may import from the runtime, besides the public-API factory.
RUNTIME_NAMES = ("IntegrationError", "_Module", "_as_array", "_continuous_api", "_resolve",
                 "_scalar", "_spline", "_stack", "_time", "_unstack", "_zeros")


def render_continuous(problem: Problem, backend: str, source: str, command: str | None = None,
                      rules: bool = True) -> str:
    """The generated module's source text (``rules=False``: the simulator only)."""
    template = environment(backend).get_template("module.py.jinja")
    text = template.render(imports="{imports}",
                           **context(problem, backend, source, command, rules))
    text = re.sub(r"\n{4,}", "\n\n\n", text)
    return text.replace("{imports}", runtime_imports(text, backend, RUNTIME_NAMES,
                                                     ("_resolve", "IntegrationError")), 1)
