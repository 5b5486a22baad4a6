"""The numerical-check section of a report: ``glep check``'s result (its JSON schema,
:mod:`glep.verify.common`) as a table, the error of each rule against β on log–log axes,
and the dynamics the rules run on — the forward run and its echo for HEL and RHEL, the
relaxation of an energy."""

from __future__ import annotations

from glep.codegen.kinds import kind_of
from glep.derive.errors import DerivationError

from . import dynamics, figures
from .page import Section, esc, paragraph, table, verdict


def _number(value) -> str:
    return "—" if value is None else esc(f"{value:.2e}") if isinstance(value, float) else esc(
        value)


def _rows(report: dict) -> list[list[str]]:
    rows = []
    for name, e in report["rules"].items():
        if not e.get("available", True):
            rows.append([esc(name), esc("no"), "", "", "", "", esc(e.get("reason", "")),
                         verdict(None)])
            continue
        slope = e.get("bias_slope")
        rows.append([esc(name), esc("yes"), esc(e.get("reference", "")),
                     _number(e.get("rel_err")), esc(e.get("gradient", e.get("bias_order", ""))),
                     "—" if slope is None else esc(f"{slope:.2f}"), esc(e.get("verdict", "")),
                     verdict(e.get("ok"))])
    return rows


def _references(report: dict) -> str:
    rows = []
    for name, ref in report.get("reference", {}).items():
        notes = [f"{k} {v:.1e}" if isinstance(v, float) else f"{k} {v}"
                 for k, v in ref.items() if k not in ("grad", "z0", "directions", "derivative")]
        rows.append([esc(name), esc("; ".join(notes) or "—")])
    return table(["reference", "method and accuracy"], rows) if rows else ""


def _dynamics(problem, steps) -> str:
    kind = kind_of(problem).name
    if kind == "continuous":
        run = dynamics.continuous_echo(problem, steps)
        reversible = problem.time_reversal().reversible
        note = ("" if reversible else paragraph(
            "This system is not time-reversal invariant: the echo departs from the forward "
            "run, which is why HEL does not apply as such (see the properties)."))
        return "<h3>Forward run and echo</h3>" + note + figures.echo(
            run["times"], run["forward"], run["echo"], run["retrace"], run["names"])
    if kind in ("hru", "hssm"):
        unit = problem.unit if kind == "hssm" else problem
        run = dynamics.hru_echo(unit, steps)
        return "<h3>Forward run and echo (one sequence)</h3>" + figures.echo(
            run["times"], run["forward"], run["echo"], run["retrace"], run["names"])
    if kind == "energy":
        energies, fixed = dynamics.energy_relaxation(problem)
        return "<h3>Relaxation</h3>" + figures.relaxation(energies, fixed)
    return ""


def _plotted(problem, steps) -> str:
    try:
        return _dynamics(problem, steps)
    except (DerivationError, ArithmeticError, RuntimeError, ValueError) as error:
        return paragraph(f"The dynamics could not be run for a plot: {error}")


def section(problem, report: dict, steps: int | None = None) -> Section:
    """The check ``report`` of ``problem`` (what ``glep check --json`` prints; with an
    ``error`` instead of rules when the check stopped)."""
    if "error" in report:
        return Section("check", "Numerical check", paragraph(
            f"glep check stopped: {report['error']}") + _plotted(problem, steps))
    passed = all(e.get("ok", True) for e in report["rules"].values())
    head = (f"Loss {report['loss']:.6g}; β = {report['beta']:g}"
            + (f"; {report['steps']} steps" if report.get("steps") else "")
            + (f"; {report['seconds']:.1f} s" if report.get("seconds") else "")
            + f". Every available rule matches its reference: {'yes' if passed else 'NO'}.")
    body = [paragraph(head), _references(report),
            table(["rule", "available", "reference", "relative error", "gradient",
                   "fitted slope", "verdict", "ok"], _rows(report),
                  "Each rule's gradient against its reference")]
    plot = figures.error_vs_beta(report["rules"])
    if plot:
        body.append("<h3>Error against β</h3>" + plot)
    body.append(_plotted(problem, steps))
    return Section("check", "Numerical check", "".join(body))
