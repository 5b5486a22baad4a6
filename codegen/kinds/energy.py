"""Static energies (:class:`~glep.derive.energy.EnergyProblem`): the EP family."""

from __future__ import annotations

import sympy as sp

from glep.derive.energy import EnergyProblem
from glep.derive.equilibrium import equilibrium_rules

from ..energy import render_energy
from .kind import Kind, practicality_table


def describe(problem: EnergyProblem, latex: bool = False) -> str:
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


def rules_text(problem: EnergyProblem, latex: bool = False) -> str:
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


KIND = Kind("energy", EnergyProblem, "static energy",
            render_energy, describe, equilibrium_rules, rules_text)
