"""What ``glep derive`` and ``glep rules`` print: each kind's derivation and learning rules in
words and formulas (plain text or LaTeX; no code).

>>> from pathlib import Path
>>> from glep.derive.systemfile import load_problem
>>> problem = load_problem(Path(__file__).parents[1] / "systems" / "pendulum.py")
>>> print(continuous(problem).splitlines()[0])
pendulum: Lagrangian with 1 coordinate(s), 2 parameter(s), 1 input(s)
"""

from __future__ import annotations

import functools

import sympy as sp

from . import constraints
from .chain import chain_rules
from .energy import size_of
from .equilibrium import ENERGY_RULES, equilibrium_rules
from .errors import DerivationError
from .hru import HALF_POSITION, NEW_MOMENTUM
from .rules import derive_rules
from .system import Hamiltonian
from .variational import variational_form


def yes(flag) -> str:
    return "yes" if flag else "no"


def _bias(p) -> str:
    """The bias column: the order k of O(β^k), 0 if exact, "none" if not a gradient."""
    return "none" if p.bias_order is None else str(p.bias_order)


def practicality_table(rules, *, width: int, memory: int, bvp: bool) -> list[str]:
    """The practicality rows of ``glep rules``: one per rule, columns of ``Practicality``
    (``memory`` characters of the memory column, cut when ``bvp`` is shown; the bias
    column is the order k of an O(β^k) bias, 0 for exact, "none" for a rule that does not
    estimate the gradient)."""
    out = [f"  {'rule':<{width}} {'avail':<6} {'fwd-only':<9} {'same-sys':<9} {'passes':<7} "
           f"{'memory':<{memory}} {'jacobian':<9} " + (f"{'bvp':<5} " if bvp else "")
           + f"{'local':<6} {'bias':<5} practical"]
    for rule in rules.values():
        p = rule.practicality
        mem = p.memory[:memory] if bvp else p.memory
        out.append(f"  {rule.name:<{width}} {yes(p.available):<6} {yes(p.forward_only):<9} "
                   f"{yes(p.same_system):<9} {p.passes:<7} {mem:<{memory}} "
                   f"{yes(p.needs_jacobian):<9} " + (f"{yes(p.needs_bvp):<5} " if bvp else "")
                   + f"{yes(p.local):<6} {_bias(p):<5} {yes(p.practical)}")
    return out


# -- continuous systems ----------------------------------------------------------------------


#: Expressions with more operations than this are shown as derived, not shortened.
READABLE_OPS = 5000


def readable(expr):
    """An equal, shorter form for display: the common factors of each term pulled out and
    signs normalized (``(2*q1 - 2*q2)/(2*C1)`` → ``(q1 - q2)/C1``). Term by term, so the
    time grows with the size of the expression only (no general ``simplify``); matrices
    entry by entry; an expression of more than :data:`READABLE_OPS` operations is kept.

    >>> import sympy as sp
    >>> q1, q2, C1 = sp.symbols("q1 q2 C1")
    >>> readable((2*q1 - 2*q2)/(2*C1)), readable(-(-q1 + q2)**2/2)
    ((q1 - q2)/C1, -(q1 - q2)**2/2)
    """
    if isinstance(expr, sp.MatrixBase):
        return expr.applyfunc(readable)
    if not isinstance(expr, sp.Expr) or expr.is_Atom:
        return expr
    ops = sp.count_ops(expr)
    if ops > READABLE_OPS:
        return expr
    terms = expr.args if isinstance(expr, sp.Add) else (expr,)
    short = sp.signsimp(sp.Add(*[sp.factor_terms(term) for term in terms]))
    return short if sp.count_ops(short) <= ops else expr


def _show(expr, latex: bool, plain_of) -> str:
    expr = readable(sp.sympify(expr))
    return sp.latex(expr) if latex else sp.sstr(plain_of(expr))


def _display(system):
    """Functions of time as the plain names derivation uses: ``q``, ``q_dot``, ``q_ddot``,
    and ``p_dot`` for the rate of a declared momentum ``p``."""
    rates = {p.diff(system.time): sp.Symbol(f"{p.func.__name__}_dot")
             for p in getattr(system, "momenta", ())}
    return lambda expr: system.plain(sp.sympify(expr).xreplace(rates))


def _mass_matrix(mass, latex: bool, show) -> list[str]:
    if latex:
        return [f"  {sp.latex(readable(mass))}"]
    if mass.is_diagonal():
        return [f"  diag({', '.join(show(mass[i, i]) for i in range(mass.rows))})"]
    return [f"  [{', '.join(show(e) for e in mass.row(i))}]" for i in range(mass.rows)]


def _lifted(system, show) -> list[str]:
    if not system.lifted:
        return []
    out = ["\nKnown functions of time, lifted to input signals (replayed reversed in an echo, "
           "like declared inputs)"]
    return out + [f"  {f.func.__name__}(t) = {show(value)}" for f, value in system.lifted.items()]


def continuous(problem, latex: bool = False) -> str:
    """What ``glep derive`` prints: equations of motion, Hamiltonian/Lagrangian, properties."""
    system = problem.system
    plain_of = _display(system)

    def show(expr):
        return _show(expr, latex, plain_of)

    out = []
    kind = system.kind.capitalize()
    declared = len(system.inputs) - len(system.lifted)
    lifted = f", {len(system.lifted)} lifted signal(s)" if system.lifted else ""
    out.append(
        f"{problem.name}: {kind} with {len(system.coords)} coordinate(s), "
        f"{len(problem.params)} parameter(s), {declared} input(s){lifted}"
    )
    if isinstance(system, Hamiltonian):
        out.append(f"\nHamiltonian\n  H = {show(system.expr)}")
        out += _lifted(system, show)
        out.append("\nHamilton's equations")
        out += [f"  {show(e.lhs)} = {show(e.rhs)}" for e in system.hamilton_equations()]
        separable = system.is_separable()
        lagrangian = None
        try:
            lagrangian = system.to_lagrangian()
            out.append(f"\nLagrangian (inverse Legendre transform)\n  L = {show(lagrangian.expr)}")
        except DerivationError as error:
            out.append(f"\nLagrangian: none ({error})")
    else:
        out.append(f"\nLagrangian\n  L = {show(system.expr)}")
        if system.dissipation is not None:
            out.append(f"  Rayleigh dissipation F = {show(system.dissipation)}")
        out += _lifted(system, show)
        out.append("\nEuler–Lagrange equations")
        out += [f"  0 = {show(e.lhs)}" for e in system.euler_lagrange()]
        mass = system.mass_matrix()
        constant = not (system.plain_mass_matrix.free_symbols & set(system.q))
        structure = "diagonal" if mass.is_diagonal() else "full, row by row"
        out.append(f"\nMass matrix ∂²L/∂q̇² ({'constant' if constant else 'state-dependent'}, "
                   f"{structure})")
        out += _mass_matrix(mass, latex, show)
        out.append("\nAccelerations")
        out += [
            f"  {show(q.diff(system.time, 2))} = {show(a)}"
            for q, a in zip(system.coords, system.accelerations())
        ]
        separable = None
        try:
            hamiltonian = system.to_hamiltonian()
            h = _show(hamiltonian.expr, latex, hamiltonian.plain)
            out.append(f"\nHamiltonian (Legendre transform)\n  H = {h}")
            separable = hamiltonian.is_separable()
        except DerivationError as error:
            out.append(f"\nHamiltonian: none ({error})")
    if system.constraints is not None:
        out += constraints.describe(system, show)
    reversal = problem.time_reversal()
    out.append("\nProperties")
    if reversal.reversible:
        out.append("  time-reversal invariant: yes (an echo can replace backward integration)")
    else:
        out.append("  time-reversal invariant: no — " + "; ".join(reversal.reasons))
    if separable is not None:
        out.append(f"  separable H = T(p) + V(q): {'yes' if separable else 'no'}")
    out.append(f"  dissipative: {'yes' if system.dissipation is not None else 'no'}")
    if problem.cost is not None:
        out.append(
            f"\nCost\n  running c = {show(problem.running_cost)}"
            f"\n  terminal ψ = {show(problem.terminal_cost)}"
        )
    return "\n".join(out)


def _show_object(value, latex: bool) -> str:
    if isinstance(value, sp.MatrixBase) and max(value.shape) > 4 and not latex:
        nonzero = sum(1 for e in value if e != 0)
        return f"{value.shape[0]}×{value.shape[1]} matrix, {nonzero} non-zero entries (--latex)"
    if isinstance(value, sp.Basic):
        value = readable(value)
        return sp.latex(value) if latex else sp.sstr(value)
    return str(value)


def _update_lines(param, update, bulk_name: str, show) -> list[str]:
    """One parameter's complete update: its non-zero terms, then what it reads."""
    terms = [(bulk_name.replace("θ", str(param)), update.bulk),
             (f"∂c/∂{param}", update.running), (f"∂ψ/∂{param}", update.terminal)]
    shown = [f"{name} = {show(e)}" for name, e in terms if e != 0] or [f"{terms[0][0]} = 0"]
    reads = f"[reads {', '.join(update.reads) or 'nothing'}]"
    if len(shown) == 1:
        return [f"  {param}: {shown[0]}   {reads}"]
    pad = " " * (len(str(param)) + 4)
    return [f"  {param}: {shown[0]}", *(f"{pad}{line}" for line in shown[1:]), f"{pad}{reads}"]


def update_json(rule) -> dict:
    """The terms of each parameter's update as text (``glep rules --json``): ``bulk`` (the
    contrast integrand, named by ``bulk_name``), ``running`` ∂c/∂θ, ``terminal`` ∂ψ/∂θ,
    ``reads``."""
    return {str(param): {"bulk": sp.sstr(readable(u.bulk)), "running": sp.sstr(readable(u.running)),
                         "terminal": sp.sstr(readable(u.terminal)), "reads": list(u.reads)}
            for param, u in rule.updates.items()}


def rule_json(rule) -> dict:
    """One rule of ``glep rules --json``: its practicality report and, for a continuous
    system's GLEP rule, ``bulk_name`` and the terms of every parameter's ``update``."""
    out = rule.practicality.as_json()
    if getattr(rule, "updates", None):
        out["bulk_name"] = rule.bulk_name
        out["update"] = update_json(rule)
    return out


def continuous_rules(problem, latex: bool = False) -> str:
    """What ``glep rules`` prints: every GLEP rule, its phases, estimator and practicality."""
    rules = derive_rules(problem)
    plain_of = _display(problem.system)

    def show(value):
        if latex and isinstance(value, sp.Basic):
            value = problem.system.to_time(value)  # q_dot → dq/dt reads better in LaTeX
        return _show_object(value, latex)

    def show_term(expr):
        return _show(problem.system.to_time(expr), latex, plain_of)

    out = [f"{problem.name}: learning rules (GLEP, THEORY.md §2–§4)"]
    bulk_rule = next((r for r in rules.values() if r.updates), None)
    if bulk_rule is not None:
        name = bulk_rule.bulk_name
        out.append(f"\nupdate of each parameter (the same in every GLEP rule): {name} contrasted "
                   f"between the nudged\nruns, + ∂c/∂θ integrated along the free run and ∂ψ/∂θ "
                   f"at q(T) (the cost's own terms),\n+ the rule's boundary terms R; in brackets, "
                   f"every signal the update reads")
        weight = variational_form(problem.system).weight
        if weight != 1:
            out.append(f"  (L̃ = {show_term(weight)}·L: the Lagrangian whose stationary paths are "
                       f"the damped dynamics, THEORY.md §6)")
        for param, update in bulk_rule.updates.items():
            out += _update_lines(param, update, name, show_term)
    for rule in rules.values():
        status = "available" if rule.available else f"unavailable — {rule.practicality.reason}"
        out.append(f"\n== {rule.name}: {rule.title} ({status})")
        out.append("  phases:")
        for i, phase in enumerate(rule.phases, 1):
            out.append(
                f"    {i}. {phase.trajectory:<10} {phase.direction:<15} from {phase.boundary}; "
                f"nudging {phase.nudging}; signals {phase.signals}"
            )
        out.append("  estimator:")
        out += [f"    {form}: {formula}" for form, formula in rule.estimator.items()]
        if rule.residual:
            out.append("  boundary terms:")
            out += [f"    {k}: {show(v)}" for k, v in rule.residual.items()]
        out.append("  initial-state gradient:")
        out += [f"    {k} = {v}" for k, v in rule.initial_state_gradient.items()]
    out.append("\npracticality")
    out += practicality_table(rules, width=8, memory=22, bvp=True)
    impractical = [r for r in rules.values() if r.available and not r.practicality.practical]
    for rule in impractical:
        out.append(f"  {rule.name}: {rule.practicality.reason}")
    return "\n".join(out)


# -- static energies ------------------------------------------------------------------------


def energy(problem, latex: bool = False) -> str:
    """What ``glep derive`` prints: the energy, relaxation and ∂E/∂θ."""
    model = problem.model
    energy = problem.energy

    def show(expr):
        return sp.latex(expr) if latex else sp.sstr(expr)

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
    return "\n".join(out)


def energy_rules(problem, latex: bool = False) -> str:
    """What ``glep rules`` prints: the EP-family rules and their practicality."""
    rules = equilibrium_rules(problem)
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
    out += practicality_table(rules, width=13, memory=7, bvp=False)
    return "\n".join(out)


# -- ff-EBM chains --------------------------------------------------------------------------


def ff_ebm(chain, latex: bool = False) -> str:
    """What ``glep derive`` prints: each block's energy, ∂E/∂θ, ∂E/∂x and the maps."""
    show = sp.latex if latex else sp.sstr
    out = [f"{chain.name}: ff-EBM chain of {len(chain.blocks)} energy block(s)"]
    for k, (problem, (x, o)) in enumerate(zip(chain.block_problems(), chain.ports)):
        energy = problem.energy
        out.append(f"\nBlock {k + 1} (input {x.name}, output {o.name}, "
                   f"{size_of(o)} output unit(s))")
        out.append(f"  E_{k + 1} = {show(energy.matrix_expr or energy.expr)}")
        for q, d in zip(problem.model.params, problem.model.dtheta):
            out.append(f"  ∂E/∂{q.name} = {show(d)}")
        for xi, d in zip(energy.inputs, problem.model.dx):
            out.append(f"  ∂E/∂{xi.name} = {show(d)}")
        if k + 1 < len(chain.blocks):
            out.append(f"  map {k + 2}: {chain.map_text(k)}")
    out.append(f"\nCost\n  C = {show(chain.cost.expr)}")
    return "\n".join(out)


def ff_ebm_rules(chain, latex: bool = False) -> str:
    """What ``glep rules`` prints: the ff-EBM rule and its practicality."""
    rules = chain_rules(chain)
    out = [f"{chain.name}: ff-EBM chain of {len(chain.blocks)} energy blocks (THEORY.md §7)"]
    for name in ("ff-EBM", "EP+DTP"):
        rule = rules[name]
        out.append(f"\n== {name}: {rule.title} (available)")
        for i, phase in enumerate(rule.phases, 1):
            out.append(f"    {i}. {phase.trajectory:<12} {phase.direction} {phase.boundary}; "
                       f"{phase.nudging}")
        out.append(f"  estimator: {rule.estimator}")
        p = rule.practicality
        out.append(f"  passes {p.passes}, local {'yes' if p.local else 'no'}, {p.gradient}, "
                   f"practical {'yes' if p.practical else 'no'} ({p.reason})")
    reason = rules["C-EP"].practicality.reason
    out.append(f"\nunavailable: {', '.join(ENERGY_RULES[:-1])} — {reason}")
    return "\n".join(out)


# -- Hamiltonian recurrent units ------------------------------------------------------------


def _formula(expr, latex):
    return sp.latex(expr) if latex else sp.sstr(expr)


def hru(problem, latex: bool = False) -> str:
    """What ``glep derive`` prints: the per-unit Hamiltonian and its leapfrog step."""
    h, step = problem.hamiltonian, problem.leapfrog
    show = functools.partial(_formula, latex=latex)
    out = [
        f"{problem.name}: Hamiltonian recurrent unit, vector parameters "
        f"{[p.name for p in h.vector_params]}, input matrices {[m.name for m in h.matrices]}",
        "\nper-unit Hamiltonian (H = Σ_i h over units; "
        + ", ".join(f"{m.drive} = ({m.name} u)_i" for m in h.matrices) + ")",
        f"  h = {show(h.expr)}",
        f"  T = {show(h.kinetic)}    V = {show(h.potential)}",
        "\nHamilton's equations (per unit)",
        f"  dφ/dt = ∂T/∂π = {show(h.velocity)}",
        f"  dπ/dt = −∂V/∂φ = {show(h.force)}",
        "\nleapfrog step (drift–kick–drift, time step dt, input u_k)",
        f"  phi_half = {show(step.half_position)}",
        f"  pi_new = pi + dt * ({show(h.force.xreplace({h.position: HALF_POSITION}))})",
        f"  phi_new = phi_half + dt/2 * {show(h.velocity.xreplace({h.momentum: NEW_MOMENTUM}))}",
        "\nproperties",
        "  separable H = T(π) + V(φ, u): yes; time-reversal invariant: yes (T even in π)",
        "  quadratic: "
        + ("yes (RHEL exact at every β)" if h.is_quadratic else "no (RHEL bias O(β²))"),
    ]
    return "\n".join(out)


def hru_rules(problem, latex: bool = False) -> str:
    """What ``glep rules`` prints: RHEL and BPTT with their practicality."""
    rules = problem.rules
    out = [f"{problem.name}: learning rules of a Hamiltonian recurrent unit (THEORY.md §5)"]
    for rule in rules.values():
        p = rule.practicality
        out.append(f"\n== {rule.name}: {rule.title}")
        for i, phase in enumerate(rule.phases, 1):
            out.append(f"  {i}. {phase.trajectory:<9} {phase.direction:<19} from "
                       f"{phase.boundary}; nudging {phase.nudging}; inputs {phase.signals}")
        out += [f"  {k}: {v}" for k, v in rule.estimator.items()]
        out += [f"  {k} = {v}" for k, v in rule.initial_state_gradient.items()]
        out.append("  per-step integrand ∂H½/∂θ:")
        out += [f"    {k}: {_formula(v, latex)}   [reads {', '.join(p.reads.get(str(k), []))}]"
                for k, v in rule.bulk.items()]
        out.append(f"  practical: {'yes' if p.practical else 'no'}; passes {p.passes}; memory "
                   f"{p.memory}; {p.gradient}{'; ' + p.reason if p.reason else ''}")
    return "\n".join(out)
