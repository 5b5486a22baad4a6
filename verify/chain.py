"""ff-EBM chains: the ff-EBM rule against autograd through the relaxed chain (implicit
differentiation per block) and finite differences of the chain's loss."""

from __future__ import annotations

import math

import numpy as np

from glep.codegen.emit import load_module
from glep.derive.chain import EnergyChain, chain_rules
from glep.derive.equilibrium import ENERGY_RULES
from glep.derive.errors import RuleError

from .common import as_json, dict_differences, dict_error, judge
from .energy import relaxation_error


def finite_difference(module, theta, x=None, y=None, epsilon=1e-6, names=None) -> dict:
    """Central finite differences of the chain's mean cost (``names``: those parameters)."""
    return dict_differences(lambda shifted: module.loss(shifted, x, y), theta, step=epsilon,
                            names=names)


def per_parameter_cosine(estimate: dict, reference: dict) -> dict:
    out = {}
    for name, ref in reference.items():
        a = np.ravel(np.asarray(estimate[name], dtype=float))
        b = np.ravel(np.asarray(ref, dtype=float))
        denominator = np.linalg.norm(a) * np.linalg.norm(b)
        out[name] = float(a @ b / denominator) if denominator > 0 else float(
            np.allclose(a, b, atol=1e-15))
    return out


def check(chain: EnergyChain, rules=None, beta: float = 1e-3,
                max_fd_params: int = 3000) -> dict:
    """ff-EBM against autograd through the relaxed chain (implicit) and finite differences."""
    if not (math.isfinite(beta) and beta > 0):
        raise RuleError(f"β = {beta}: give a positive nudging strength")
    rules_found = chain_rules(chain)
    for name in rules or ():
        if name not in ENERGY_RULES:
            raise RuleError(f"unknown rule {name!r} for an energy: choose from {ENERGY_RULES}")
        if not rules_found[name].available:
            raise RuleError(f"{name} does not apply to {chain.name}: "
                            f"{rules_found[name].practicality.reason}")
    numpy_module = load_module(chain, "numpy")
    torch_module = load_module(chain, "torch")
    theta = numpy_module.initial_params()
    try:
        implicit = torch_module.implicit_gradient(theta)
    except (ArithmeticError, RuntimeError, ValueError) as error:
        raise relaxation_error(error) from None
    reference = {k: v.detach().numpy() for k, v in implicit["grad"].items()}
    report = {"system": chain.name, "loss": implicit["loss"], "beta": beta,
              "blocks": len(chain.blocks),
              "reference": {"implicit_differentiation": {
                  "grad": as_json(reference),
                  "method": "autograd through the relaxed chain, Hessian solve per block"}},
              "rules": {}}
    if sum(np.size(v) for v in theta.values()) <= max_fd_params:
        fd = finite_difference(numpy_module, theta)
        report["reference"]["finite_difference"] = {
            "grad": as_json(fd), "rel_err_vs_implicit": dict_error(fd, reference)}
    for name in (rules or ENERGY_RULES):
        rule = rules_found[name]
        if not rule.available:
            report["rules"][name] = {"available": False, "reason": rule.practicality.reason,
                                     "practical": False}
            continue
        betas = [beta, beta / 2, beta / 4]
        try:
            grads = [numpy_module.gradient(theta, beta=b)["grad"] for b in betas]
        except (ArithmeticError, RuntimeError) as error:
            raise relaxation_error(error) from None
        errors = [dict_error(g, reference) for g in grads]
        cosine = per_parameter_cosine(grads[0], reference)
        report["rules"][name] = {
            "available": True, "grad": as_json(grads[0]), "reference": "implicit_differentiation",
            "rel_err": errors[0], "cosine": cosine, "min_cosine": min(cosine.values()),
            "practical": rule.practicality.practical,
            "bias_order": rule.practicality.bias_order,
            **judge(rule.practicality, betas, errors)}
    return report




def report_text(report: dict) -> str:
    """The check as ``glep check`` prints it."""
    out = [f"{report['system']}: {report['blocks']} blocks; loss {report['loss']:.12g}; "
           f"β = {report['beta']:g}"]
    fd = report["reference"].get("finite_difference")
    if fd:
        out.append(f"implicit differentiation vs finite differences: "
                   f"{fd['rel_err_vs_implicit']:.1e}")
    for name, entry in report["rules"].items():
        if entry["available"]:
            out.append(f"  {name:<8} rel_err {entry['rel_err']:.1e}, min per-parameter cosine "
                       f"{entry['min_cosine']:.8f}; {entry['verdict']}")
    return "\n".join(out)
