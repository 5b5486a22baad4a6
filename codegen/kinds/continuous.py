"""Continuous systems (a Lagrangian or a Hamiltonian with a cost): the GLEP rules."""

from __future__ import annotations

import sympy as sp

from glep.derive.errors import DerivationError
from glep.derive.problem import Problem
from glep.derive.rules import derive_rules
from glep.derive.system import Hamiltonian

from ..continuous import render_continuous
from .kind import Kind, practicality_table


def _show(expr, latex: bool, plain_of) -> str:
    return sp.latex(expr) if latex else sp.sstr(plain_of(expr))


def describe(problem, latex: bool = False) -> str:
    """What ``glep derive`` prints: equations of motion, Hamiltonian/Lagrangian, properties."""
    system = problem.system
    def show(expr):
        return _show(expr, latex, system.plain)

    out = []
    kind = system.kind.capitalize()
    out.append(
        f"{problem.name}: {kind} with {len(system.coords)} coordinate(s), "
        f"{len(problem.params)} parameter(s), {len(system.inputs)} input(s)"
    )
    if isinstance(system, Hamiltonian):
        out.append(f"\nHamiltonian\n  H = {show(system.expr)}")
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
        out.append("\nEuler–Lagrange equations")
        out += [f"  0 = {show(e.lhs)}" for e in system.euler_lagrange()]
        mass = system.mass_matrix()
        constant = not (system.plain_mass_matrix.free_symbols & set(system.q))
        structure = "diagonal" if mass.is_diagonal() else "full"
        out.append(f"\nMass matrix ({'constant' if constant else 'state-dependent'}, {structure})")
        out.append(f"  M = {show(mass)}")
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
        return sp.latex(value) if latex else sp.sstr(value)
    return str(value)


def rules_text(problem, latex: bool = False) -> str:
    """What ``glep rules`` prints: every GLEP rule, its phases, estimator and practicality."""
    rules = derive_rules(problem)
    def show(value):
        if latex and isinstance(value, sp.Basic):
            value = problem.system.to_time(value)  # q_dot → dq/dt reads better in LaTeX
        return _show_object(value, latex)

    out = [f"{problem.name}: learning rules (GLEP, THEORY.md §2–§4)"]
    bulk_rule = next((r for r in rules.values() if r.bulk), None)
    if bulk_rule is not None:
        out.append("\nbulk integrand ∂L/∂θ, contrasted between nudged runs by every GLEP rule")
        out.append("(in brackets: the variables each parameter's update reads)")
        for param, expr in bulk_rule.bulk.items():
            reads = bulk_rule.practicality.reads.get(str(param), [])
            out.append(f"  ∂L/∂{param} = {show(expr)}   [{', '.join(reads)}]")
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


KIND = Kind("continuous", Problem, "continuous system",
            render_continuous, describe, derive_rules, rules_text)
