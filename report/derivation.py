"""The declaration and derivation sections of a report, typeset: what the system file
declares and what ``glep derive`` derives from it (equations of motion, Hamilton's
equations, relaxation dynamics, properties), read from the derived objects themselves."""

from __future__ import annotations

import numpy as np
import sympy as sp

from glep.codegen.kinds import kind_of
from glep.derive import constraints
from glep.derive.describe import readable
from glep.derive.errors import DerivationError
from glep.derive.system import Hamiltonian

from .math import equation, formula, inline
from .page import Section, details, esc, paragraph, pre, table


def _value(value) -> str:
    """A parameter's value in a table cell: a number, or the shape and range of an array."""
    array = np.asarray(value, dtype=float)
    if array.ndim == 0:
        return esc(f"{float(array):g}")
    if array.size <= 12:
        rows = array.reshape(-1, array.shape[-1])
        return esc("; ".join(", ".join(f"{v:g}" for v in row) for row in rows))
    return esc(f"{'×'.join(map(str, array.shape))} array in [{array.min():g}, {array.max():g}]")


def _signal(signal) -> str:
    if signal.expression is not None:
        return inline(signal.expression)
    if signal.samples is not None:
        return esc(f"{len(signal.samples)} samples")
    return esc("zero unless given")


def _derive_text(problem) -> str:
    return details("As glep derive prints it", pre(kind_of(problem).describe(problem)))


def continuous(problem) -> list[Section]:
    """Declaration, equations of motion (or Hamilton's equations) and properties."""
    system = problem.system
    t = system.time
    hamiltonian = isinstance(system, Hamiltonian)
    declared = [equation(sp.Symbol("H" if hamiltonian else "L"), readable(system.expr))]
    if getattr(system, "dissipation", None) is not None:
        declared.append(paragraph("Rayleigh dissipation")
                        + equation(sp.Symbol("F"), readable(system.dissipation)))
    for f, value in system.lifted.items():
        declared.append(equation(f, value))
    params = [[inline(p), _value(v)] for p, v in zip(problem.params, problem.param_values)]
    signals = [[esc(what), esc(s.name), _signal(s)]
               for what, group in (("input", problem.inputs), ("target", problem.targets))
               for s in group]
    state = ", ".join(f"{v:g}" for v in problem.initial_state)
    run = (f"Horizon T = {problem.horizon:g} in {problem.steps} steps; initial state "
           f"({problem.state_kind}) = ({state}).")
    cost = []
    if problem.cost is not None:
        cost = [paragraph("Cost: running c and terminal ψ"),
                equation(sp.Symbol("c"), readable(problem.running_cost)),
                equation(sp.Symbol("psi"), readable(problem.terminal_cost))]
    declaration = Section("declaration", "Declaration", "".join(
        [paragraph(f"{system.kind.capitalize()} with {len(system.coords)} coordinate(s)."),
         *declared, table(["parameter", "value"], params),
         table(["signal", "name", "value"], signals) if signals else "", paragraph(run),
         *cost]))
    body, separable = [], None
    if hamiltonian:
        body.append(paragraph("Hamilton's equations"))
        body += [equation(e.lhs, readable(e.rhs)) for e in system.hamilton_equations()]
        separable = system.is_separable()
    else:
        body.append(paragraph("Euler–Lagrange equations"))
        body += [equation(0, readable(e.lhs)) for e in system.euler_lagrange()]
        body.append(paragraph("Mass matrix ∂²L/∂q̇²") + formula(readable(system.mass_matrix())))
        body.append(paragraph("Accelerations"))
        body += [equation(q.diff(t, 2), readable(a))
                 for q, a in zip(system.coords, system.accelerations())]
        try:
            legendre = system.to_hamiltonian()
            body.append(paragraph("Hamiltonian (Legendre transform)")
                        + equation(sp.Symbol("H"), readable(legendre.expr)))
            separable = legendre.is_separable()
        except DerivationError as error:
            body.append(paragraph(f"Hamiltonian: none ({error})"))
    if system.constraints is not None:
        body.append(pre("\n".join(constraints.describe(system, sp.sstr))))
    reversal = problem.time_reversal()
    rows = [["time-reversal invariant", "yes — an echo can replace backward integration"
             if reversal.reversible else "no — " + "; ".join(reversal.reasons)],
            ["separable H = T(p) + V(q)", "n/a" if separable is None else
             "yes" if separable else "no"],
            ["dissipative", "yes" if getattr(system, "dissipation", None) is not None else "no"],
            ["holonomic constraints", "yes" if system.constraints is not None else "no"]]
    body.append(table(["property", "value"], [[esc(a), esc(b)] for a, b in rows]))
    body.append(_derive_text(problem))
    title = "Hamilton's equations" if hamiltonian else "Equations of motion"
    return [declaration, Section("dynamics", f"{title} and properties", "".join(body))]


def _energy_body(problem, index: str = "") -> list[str]:
    model, energy = problem.model, problem.energy
    out = [equation(sp.Symbol(f"E{index}"), energy.matrix_expr or energy.expr)]
    out.append(paragraph("Relaxation: gradient flow ṡ = −∂(E + βC)/∂s"))
    out += [equation(sp.Symbol(f"∂E/∂{layer.name}"), g)
            for layer, g in zip(model.layers, model.gradient)]
    rows = [[inline(q), inline(d), esc(", ".join(model.reads.get(q.name, ())))]
            for q, d in zip(model.params, model.dtheta)]
    out.append(table(["θ", "∂E/∂θ (contrasted between a rule's two states)", "reads"], rows))
    return out


def energy(problem) -> list[Section]:
    """An energy's declaration and relaxation dynamics."""
    model = problem.model
    layers = ", ".join(f"{layer.name} ({layer.size})" for layer in model.layers)
    declared = [paragraph(f"{'Layered' if model.layered else 'Scalar'} energy; layers {layers}; "
                          f"box {model.box or 'none'}; outputs "
                          f"{', '.join(model.layers[i].name for i in model.outputs)}."),
                table(["parameter", "value"],
                      [[esc(k), _value(v)] for k, v in problem.param_values.items()])]
    signals = [[esc(what), _value(values)] for what, values in
               (("inputs x (one row per sample)", problem.input_values),
                ("targets y (one row per sample)", problem.target_values)) if values]
    if signals:
        declared.append(table(["signal", "value"], signals))
    if problem.cost is not None:
        declared.append(equation(sp.Symbol("C"), problem.cost.expr))
    if model.curvature is not None:
        update = "exact block-coordinate updates (asynchronous: even layers, then odd)"
    else:
        update = f"block-coordinate updates not exact ({model.block_reason})"
    return [Section("declaration", "Declaration", "".join(declared)),
            Section("dynamics", "Relaxation dynamics",
                    "".join(_energy_body(problem)) + paragraph(f"Updates: {update}.")
                    + _derive_text(problem))]


def chain(chain) -> list[Section]:
    """An ff-EBM chain: each block's energy and its map to the next block."""
    body = []
    for k, (problem, (x, o)) in enumerate(zip(chain.block_problems(), chain.ports)):
        body.append(f"<h3>Block {k + 1}: input {esc(x.name)}, output {esc(o.name)}</h3>")
        body += _energy_body(problem, str(k + 1))
        if k + 1 < len(chain.blocks):
            body.append(paragraph(f"map {k + 2}: {chain.map_text(k)}"))
    values = [[esc(name), _value(v)] for problem in chain.block_problems()
              for name, v in problem.param_values.items()]
    values += [[esc(name), _value(v)] for name, v in chain.map_values.items()]
    declaration = "".join([
        paragraph(f"ff-EBM chain of {len(chain.blocks)} energy blocks, each fed by a map of "
                  f"the previous block's output."),
        table(["parameter", "value"], values), paragraph("Cost"),
        equation(sp.Symbol("C"), chain.cost.expr)])
    return [Section("declaration", "Declaration", declaration),
            Section("dynamics", "Blocks and relaxation", "".join(body) + _derive_text(chain))]


def hru(problem, outer=None) -> list[Section]:
    """A Hamiltonian recurrent unit (or the unit of an HSSM, ``outer``)."""
    h = problem.hamiltonian
    drives = ", ".join(f"{m.drive} = ({m.name} u)_i" for m in h.matrices)
    body = [paragraph(f"Per-unit Hamiltonian (H = Σ_i h over units; {drives})."),
            equation(sp.Symbol("h"), h.expr), equation(sp.Symbol("T"), h.kinetic),
            equation(sp.Symbol("V"), h.potential), paragraph("Hamilton's equations (per unit)"),
            equation(sp.Symbol("dφ/dt"), h.velocity), equation(sp.Symbol("dπ/dt"), h.force)]
    rows = [["separable H = T(π) + V(φ, u)", "yes"],
            ["time-reversal invariant", "yes (T even in π): the leapfrog step is reversible"],
            ["quadratic", "yes: RHEL exact at every β" if h.is_quadratic
             else "no: RHEL biased O(β²)"]]
    body.append(table(["property", "value"], [[esc(a), esc(b)] for a, b in rows]))
    settings = table(["setting", "value"], [[esc(k), esc(v)] for k, v in problem.settings.items()])
    declared = [settings]
    if outer is not None:
        declared.insert(0, pre(outer.architecture()))
    body.append(_derive_text(outer or problem))
    return [Section("declaration", "Declaration", "".join(declared)),
            Section("dynamics", "Hamiltonian and leapfrog", "".join(body))]


def generic(problem) -> list[Section]:
    """A kind without a typeset derivation of its own: what ``glep derive`` prints."""
    return [Section("dynamics", "Derivation", pre(kind_of(problem).describe(problem)))]


def feedforward(problem) -> list[Section]:
    """A feedforward network: its layers and feedback layers, and the equations of DTP with
    learned feedback (L-DRL) typeset."""
    layers = [[esc(f"F{n}"), esc(layer.text(shape)), esc(str(layer.weight_shape(shape)))]
              for n, (layer, shape) in enumerate(zip(problem.layers, problem.shapes), 1)]
    feedback = [[esc(name), esc(str(shape))] for name, shape in problem.feedback_params]
    settings = [["activation", problem.activation], ["cost", problem.cost],
                ["β (first target)", f"{problem.beta:g}"],
                ["σ (feedback noise, layers 2 … N)", ", ".join(f"{s:g}" for s in problem.sigma)],
                ["feedback iterations per batch", str(problem.feedback_iterations)],
                ["feedback learning rate", f"{problem.feedback_lr:g}"]]
    declared = [table(["layer", "map", "weight shape"], layers),
                table(["feedback parameter", "shape"], feedback),
                table(["setting", "value"], [[esc(a), esc(b)] for a, b in settings])]
    n, beta, sigma = sp.Symbol("n", integer=True), sp.Symbol("beta"), sp.Symbol("sigma")
    s, t = sp.IndexedBase("s"), sp.IndexedBase("t")
    F, G, loss = sp.Function("F_n"), sp.Function("G_n"), sp.Function("ℓ")
    eps, eta, top = sp.Symbol("epsilon"), sp.Symbol("eta"), sp.Symbol("N")
    body = [paragraph("Forward pass s_n = F_n(s_{n−1}); first target, then difference targets "
                      "carried down by the feedback layers G_n:"),
            equation(s[n], F(s[n - 1])),
            equation(t[top], s[top] - beta * sp.Derivative(loss(s[top]), s[top])),
            equation(t[n - 1], s[n - 1] + G(t[n]) - G(s[n])),
            paragraph("Each layer moves toward its target (gradient through θ_n only):"),
            equation(sp.Symbol("L_n^F"), (s[n] - t[n]) ** 2 / 2),
            paragraph("Feedback layers minimise the Local Difference Reconstruction Loss "
                      "(ε, η ~ N(0, I)); its minimiser has J_G = J_Fᵀ:"),
            equation(sp.Symbol("L_n^G"),
                     -2 * sigma * eps * (G(F(s[n - 1] + sigma * eps)) - G(F(s[n - 1])))
                     + (G(s[n] + sigma * eta) - G(s[n])) ** 2),
            _derive_text(problem)]
    return [Section("declaration", "Declaration", "".join(declared)),
            Section("dynamics", "Forward pass, targets and feedback training", "".join(body))]


def vector_field(problem) -> list[Section]:
    """A network with distinct forward and backward weights: its layers, settings and
    vector field typeset, and the EP-like update read from it."""
    declared = [table(["parameter", "shape"], [[esc(n), esc(str(shape))]
                                               for n, shape in problem.params]),
                table(["setting", "value"], [[esc(a), esc(b)] for a, b in (
                    ["layers", " → ".join(map(str, problem.layers))],
                    ["β (nudge)", f"{problem.beta:g}"],
                    ["free / nudged sweeps", f"{problem.free_steps} / {problem.nudged_steps}"],
                    ["feedback decay λ", f"{problem.feedback_decay:g}"])])]
    k, beta = sp.Symbol("l", integer=True), sp.Symbol("beta")
    s, W, B, b = (sp.IndexedBase(n) for n in ("s", "W", "B", "b"))
    up, down = sp.IndexedBase(sp.Symbol("s^+")), sp.IndexedBase(sp.Symbol("s^-"))
    field, cost = sp.Symbol("F_l"), sp.Symbol("C")
    body = [paragraph("Each layer reads its lower neighbour through W_l and its upper one "
                      "through a separate B_l; states stay in [0, 1] (clip):"),
            equation(field, -s[k] + W[k] * s[k - 1] + B[k] * s[k + 1] + b[k]
                     - beta * sp.Derivative(cost, s[k])),
            paragraph("Its free fixed points (β = 0) and the cost:"),
            equation(s[k], sp.Function("clip")(W[k] * s[k - 1] + B[k] * s[k + 1] + b[k], 0, 1)),
            equation(cost, (s[sp.Symbol("L")] - sp.Symbol("y")) ** 2 / 2),
            paragraph("With B_l = W_{l+1}ᵀ this is −∂E/∂s − β∂C/∂s of a layered Hopfield "
                      "energy; otherwise ∂F/∂s is not symmetric and F is the gradient of no "
                      "energy. VF-EP's centered update (and ΔB_l = ΔW_{l+1}ᵀ, both decaying "
                      "at λ):"),
            equation(sp.Symbol("ΔW_l"), (up[k] * up[k - 1] - down[k] * down[k - 1]) / (2 * beta)
                     - sp.Symbol("lambda") * W[k]),
            equation(sp.Symbol("ΔB_l"), sp.IndexedBase(sp.Symbol("ΔW^T"))[k + 1]
                     - sp.Symbol("lambda") * B[k]),
            _derive_text(problem)]
    return [Section("declaration", "Declaration", "".join(declared)),
            Section("dynamics", "Vector field and update", "".join(body))]
