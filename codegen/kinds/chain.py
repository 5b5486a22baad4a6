"""ff-EBM chains (:class:`~glep.derive.chain.EnergyChain`): energy blocks joined by maps."""

from __future__ import annotations

import sympy as sp

from glep.derive.chain import EnergyChain, chain_rules
from glep.derive.energy import size_of
from glep.derive.equilibrium import ENERGY_RULES

from ..ffebm import map_text, render_chain
from .kind import Kind


def describe(chain: EnergyChain, latex: bool = False) -> str:
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
            out.append(f"  map {k + 2}: {map_text(chain, k)}")
    out.append(f"\nCost\n  C = {show(chain.cost.expr)}")
    return "\n".join(out)


def rules_text(chain: EnergyChain, latex: bool = False) -> str:
    """What ``glep rules`` prints: the ff-EBM rule and its practicality."""
    rules = chain_rules(chain)
    rule = rules["ff-EBM"]
    out = [f"{chain.name}: ff-EBM chain of {len(chain.blocks)} energy blocks (THEORY.md §7)",
           f"\n== ff-EBM: {rule.title} (available)"]
    for i, phase in enumerate(rule.phases, 1):
        out.append(f"    {i}. {phase.trajectory:<12} {phase.direction} {phase.boundary}; "
                   f"{phase.nudging}")
    out.append(f"  estimator: {rule.estimator}")
    p = rule.practicality
    out.append(f"  passes {p.passes}, local {'yes' if p.local else 'no'}, bias O(β²), "
               f"practical {'yes' if p.practical else 'no'} ({p.reason})")
    reason = rules["C-EP"].practicality.reason
    out.append(f"\nunavailable: {', '.join(ENERGY_RULES[:-1])} — {reason}")
    return "\n".join(out)


KIND = Kind("chain", EnergyChain, "ff-EBM chain", render_chain, describe, chain_rules, rules_text)
