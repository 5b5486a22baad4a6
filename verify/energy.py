"""Static energies: every EP-family rule against implicit differentiation and finite
differences of the relaxed loss."""

from __future__ import annotations

import math

import numpy as np

from glep.codegen.emit import load_module
from glep.derive.energy import EnergyProblem
from glep.derive.equilibrium import ENERGY_RULES, availability, equilibrium_rules
from glep.derive.errors import RelaxationError, RuleError

from .common import as_json, dict_differences, dict_error, judge

#: continual EP in ``glep check``: η = β² over CONTINUAL_STEPS nudged steps (its distance
#: to P-EP is O(ηK/β), THEORY.md §7: with η = β² it is O(β), the order of P-EP's own bias).
CONTINUAL_STEPS = 200


def relaxation_error(error: Exception) -> RelaxationError:
    return RelaxationError(f"{error} (fix the energy: it must be bounded below and strictly "
                           f"convex at its minimum, or give a smaller step)")


def finite_difference(module, theta, x, y, epsilon=1e-6, method=None) -> dict:
    """Central finite differences of the mean cost at the free fixed point."""
    y = np.atleast_2d(np.asarray(y, dtype=float))

    def loss(shifted):
        return float(np.mean(module.cost(module.relax(shifted, x, y, method=method), y)))

    return dict_differences(loss, theta, step=epsilon)


def check(problem: EnergyProblem, rules=None, beta: float = 1e-4,
                 max_fd_params: int = 3000) -> dict:
    """Every rule's gradient against implicit differentiation and finite differences."""
    if not (math.isfinite(beta) and beta > 0):
        raise RuleError(f"β = {beta}: give a positive nudging strength")
    reasons = availability(problem)
    names = list(rules) if rules else list(ENERGY_RULES)
    for name in names:
        if name not in ENERGY_RULES:
            raise RuleError(f"unknown rule {name!r} for an energy: choose from {ENERGY_RULES}")
        if rules and reasons[name] is not None:
            raise RuleError(f"{name} does not apply to {problem.name}: {reasons[name]}")
    if problem.cost is None:
        raise RuleError("the problem declares no cost: add cost=EnergyCost(...)")
    module = load_module(problem, "numpy")
    theta = module.initial_params()
    x, y = module.DEFAULT_INPUTS, module.DEFAULT_TARGETS
    try:
        z = module.relax(theta, x, y)
        implicit = module.implicit_gradient(theta, x, y, z=z)
    except (ArithmeticError, RuntimeError, ValueError) as error:
        raise relaxation_error(error) from None
    reference = {"implicit_differentiation": {"grad": as_json(implicit["grad"]),
                                              "method": "Hessian solve at the fixed point"}}
    count = sum(np.size(v) for v in theta.values())
    if count <= max_fd_params:
        fd = finite_difference(module, theta, x, y)
        reference["finite_difference"] = {
            "grad": as_json(fd), "rel_err_vs_implicit": dict_error(fd, implicit["grad"])}
    report = {"system": problem.name, "loss": float(implicit["loss"]), "beta": beta,
              "saturated_units": int(implicit["saturated"]), "reference": reference,
              "rules": {}}
    for name in names:
        if reasons[name] is not None:
            report["rules"][name] = {"available": False, "reason": reasons[name],
                                     "practical": False}
            continue
        practicality = equilibrium_rules(problem)[name].practicality
        betas = [beta, beta / 2, beta / 4]
        grads = [_estimate(module, name, theta, x, y, b) for b in betas]
        errors = [dict_error(g, implicit["grad"]) for g in grads]
        problems = _basins(module, theta, x, y, z, beta) if name in _NUDGED else []
        entry = {"available": True, "grad": as_json(grads[0]), "reference":
                 "implicit_differentiation", "rel_err": errors[0],
                 "practical": practicality.practical, "bias_order": practicality.bias_order,
                 **judge(practicality, betas, errors, problems=problems)}
        if name == "continual-EP":
            entry.update(eta=beta**2, steps=CONTINUAL_STEPS)
        report["rules"][name] = entry
    return report




def report_text(report: dict) -> str:
    """The check as ``glep check`` prints it."""
    out = [f"{report['system']}: loss {report['loss']:.12g}; β = {report['beta']:g}; "
           f"{report['saturated_units']} saturated unit(s)"]
    fd = report["reference"].get("finite_difference")
    if fd:
        out.append(f"implicit differentiation vs finite differences: "
                   f"{fd['rel_err_vs_implicit']:.1e}")
    out.append(f"\n  {'rule':<13} {'rel_err':>9} {'slope':>6}  {'practical':<9}  verdict")
    for name, entry in report["rules"].items():
        if not entry["available"]:
            out.append(f"  {name:<13} {'—':>9} {'':>6}  {'no':<9}  {entry['reason']}")
            continue
        slope = "" if entry["bias_slope"] is None else f"{entry['bias_slope']:.2f}"
        out.append(f"  {name:<13} {entry['rel_err']:>9.1e} {slope:>6}  "
                   f"{'yes' if entry['practical'] else 'no':<9}  {entry['verdict']}")
    return "\n".join(out)


#: Rules whose nudged phases relax from the free state under ±βC.
_NUDGED = ("P-EP", "N-EP", "C-EP", "continual-EP")


def _estimate(module, name, theta, x, y, beta) -> dict:
    try:
        if name == "continual-EP":
            eta = beta**2
            _, update = module.continual_ep(theta, x, y, beta=beta, eta=eta,
                                            steps=CONTINUAL_STEPS)
            return {k: -np.asarray(v) / eta for k, v in update.items()}
        rule = "C-EP" if name == "ff-EBM" else name
        return module.gradient(theta, x, y, rule=rule, beta=beta)["grad"]
    except (ArithmeticError, RuntimeError) as error:
        raise relaxation_error(error) from None


def _basins(module, theta, x, y, free, beta) -> list[str]:
    """The nudged phases (±β) whose state, released (β = 0), does not relax back to the
    free state: the nudge pushed it into another basin of the energy."""
    out = []
    scale = 1e-6 * (1.0 + float(np.max(np.abs(free))))
    for sign in (1, -1):
        nudged = module.relax(theta, x, y, beta=sign * beta, z0=free)
        released = module.relax(theta, x, y, z0=nudged)
        moved = float(np.max(np.abs(released - free)))
        if moved > scale:
            out.append(f"the {'+' if sign > 0 else '−'}β nudged phase left the free phase's "
                       f"basin (released, it relaxes {moved:.2g} away from the free state): "
                       f"lower β")
    return out
