"""The learning-rules section of a report: every rule ``glep rules`` derives, typeset — its
phases, estimator, boundary terms, each parameter's update and what it reads — with the
practicality row of each rule side by side."""

from __future__ import annotations

import sympy as sp

from glep.codegen.kinds import kind_of

from .math import equation, formula, inline
from .page import Section, esc, paragraph, table

#: The practicality columns, as ``glep rules`` prints them.
COLUMNS = ("rule", "available", "forward only", "same system", "passes", "memory",
           "Jacobian", "BVP", "local", "bias", "practical")


def _yes(flag) -> str:
    return "yes" if flag else "no"


def practicality_rows(rules: dict) -> list[list[str]]:
    rows = []
    for name, rule in rules.items():
        p = rule.practicality
        bias = "none" if p.bias_order is None else str(p.bias_order)
        cells = [name, _yes(p.available), _yes(p.forward_only), _yes(p.same_system),
                 str(p.passes), p.memory, _yes(p.needs_jacobian), _yes(p.needs_bvp),
                 _yes(p.local), bias, _yes(p.practical)]
        rows.append([esc(c) for c in cells])
    return rows


def _phases(rule) -> str:
    fields = ("trajectory", "direction", "boundary", "nudging", "signals")
    rows = [[esc(i), *(esc(getattr(ph, f, "")) for f in fields)]
            for i, ph in enumerate(getattr(rule, "phases", ()), 1)]
    return table(["#", "trajectory", "direction", "from", "nudging", "signals"], rows)


def _estimator(rule) -> str:
    estimator = getattr(rule, "estimator", None)
    if not estimator:
        return ""
    if isinstance(estimator, dict):
        return "".join(paragraph(f"Estimator ({form}): {text}") for form, text in
                       estimator.items())
    return paragraph(f"Estimator: {estimator}")


def _shown(value, to_time) -> str:
    """A boundary term: typeset, a large matrix by its shape, text as it is."""
    if isinstance(value, sp.MatrixBase):
        if max(value.shape) > 6:
            nonzero = sum(1 for e in value if e != 0)
            return paragraph(f"{value.shape[0]}×{value.shape[1]} matrix, {nonzero} non-zero "
                             f"entries")
        return formula(value.applyfunc(to_time))
    if isinstance(value, sp.Basic):
        return formula(to_time(value))
    return paragraph(str(value))


def _updates(problem, rule) -> str:
    """Each parameter's update: the contrast integrand, ∂c/∂θ and ∂ψ/∂θ, and what it reads."""
    to_time = problem.system.to_time
    rows = []
    for param, update in rule.updates.items():
        terms = [(rule.bulk_name.replace("θ", str(param)), update.bulk),
                 (f"∂c/∂{param}", update.running), (f"∂ψ/∂{param}", update.terminal)]
        cells = "".join(equation(sp.Symbol(name), to_time(e)) for name, e in terms if e != 0)
        rows.append([inline(param), cells or esc("0"), esc(", ".join(update.reads) or "nothing")])
    return table(["θ", "update terms", "reads"], rows)


def _rule_body(problem, kind, name, rule) -> str:
    status = "available" if rule.practicality.available else (
        f"unavailable — {rule.practicality.reason}")
    title = getattr(rule, "title", "")
    out = [f"<h3 id=\"rule-{esc(name)}\">{esc(name)}: {esc(title)}</h3>",
           paragraph(status), _phases(rule), _estimator(rule)]
    if kind == "continuous" and rule.residual:
        out.append(paragraph("Boundary terms R"))
        out += [paragraph(name) + _shown(value, problem.system.to_time)
                for name, value in rule.residual.items()]
    if getattr(rule, "first", None):
        out.append(paragraph(f"A = {rule.first[0]} (β_A = {rule.first[1]}), "
                             f"B = {rule.second[0]} (β_B = {rule.second[1]})"))
    if kind in ("hru", "hssm") and getattr(rule, "bulk", None):
        reads = rule.practicality.reads
        rows = [[inline(k), inline(v), esc(", ".join(reads.get(str(k), [])))]
                for k, v in rule.bulk.items()]
        out.append(table(["θ", "per-step integrand ∂H½/∂θ", "reads"], rows))
    for name, text in (getattr(rule, "initial_state_gradient", None) or {}).items():
        out.append(paragraph(f"initial-state gradient {name} = {text}"))
    if rule.practicality.reason and rule.practicality.available:
        out.append(paragraph(f"Practicality: {rule.practicality.reason}"))
    return "".join(out)


def section(problem) -> Section:
    """Every rule of ``problem`` with its practicality row."""
    kind = kind_of(problem)
    rules = kind.rules(problem)
    body = [table(COLUMNS, practicality_rows(rules), "Practicality of each rule")]
    bulk_rule = next((r for r in rules.values() if getattr(r, "updates", None)), None)
    if bulk_rule is not None:
        body.append(paragraph(
            f"Update of each parameter (the same in every GLEP rule): {bulk_rule.bulk_name} "
            "contrasted between the nudged runs, + ∂c/∂θ integrated along the free run and "
            "∂ψ/∂θ at the final time, + the rule's boundary terms R."))
        body.append(_updates(problem, bulk_rule))
    if kind.name in ("energy", "chain"):
        body.append(paragraph("Δθ = −η [∂θE(B) − ∂θE(A)] / (β_B − β_A)"))
    body += [_rule_body(problem, kind.name, name, rule) for name, rule in rules.items()]
    return Section("rules", "Learning rules", "".join(body))
