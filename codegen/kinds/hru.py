"""Hamiltonian recurrent units (:class:`~glep.derive.hru.HRUProblem`): discrete RHEL."""

from __future__ import annotations

import functools

import sympy as sp

from glep.derive.hru import HALF_POSITION, NEW_MOMENTUM, HRUProblem

from ..hru import render_hru
from .kind import Kind


def _show(expr, latex):
    return sp.latex(expr) if latex else sp.sstr(expr)


def describe(problem: HRUProblem, latex: bool = False) -> str:
    """What ``glep derive`` prints: the per-unit Hamiltonian and its leapfrog step."""
    h, step = problem.hamiltonian, problem.leapfrog
    show = functools.partial(_show, latex=latex)
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


def rules_text(problem: HRUProblem, latex: bool = False) -> str:
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
        out += [f"    {k}: {_show(v, latex)}   [reads {', '.join(p.reads.get(str(k), []))}]"
                for k, v in rule.bulk.items()]
        out.append(f"  practical: {'yes' if p.practical else 'no'}; passes {p.passes}; memory "
                   f"{p.memory}; {p.gradient}{'; ' + p.reason if p.reason else ''}")
    return "\n".join(out)


KIND = Kind("hru", HRUProblem, "Hamiltonian recurrent unit",
            render_hru, describe, lambda problem: problem.rules, rules_text)
