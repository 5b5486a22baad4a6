"""Numerical proof that the emitted learning rules compute the gradient.

Every rule of a problem runs through its generated NumPy module and is compared with
independent references: the continuous adjoint of torchdiffeq (``odeint_adjoint``,
dopri5, rtol = atol = 1e-10; for dissipative systems autograd through ``odeint``, whose
backward pass is stable) and central finite differences of the loss. Health numbers say
whether a rule's estimate can be trusted: the β = 0 echo's retrace error next to the
integrator's own global error, the bias (change between β and β/2) and a suggested β.
"""

from __future__ import annotations

import math

import numpy as np

from glep.codegen.emit import load_module
from glep.derive.errors import RuleError
from glep.derive.problem import Problem
from glep.derive.rules import RULES, Learning

from .common import central_differences, judge, relative_error


def torchdiffeq_reference(torch_module, problem: Problem, steps: int) -> dict:
    """Loss and gradients from torchdiffeq on the generated Torch vector field."""
    import torch
    from torchdiffeq import odeint, odeint_adjoint

    m = torch_module

    class Augmented(torch.nn.Module):
        """dz/dt and the running cost, so the loss is integrated by the same solver."""

        def __init__(self):
            super().__init__()
            self.theta = torch.nn.Parameter(torch.tensor(m.PARAM_VALUES, dtype=torch.float64))

        def forward(self, t, state):
            c = m.prepare(self.theta)
            z = state[..., :-1]
            dz = m._vector_field(t, z, c, m.default_inputs(t))
            dc = m._state_running_cost(t, z, c, m.default_targets(t))
            return torch.cat([dz, dc[..., None]], dim=-1)

    func = Augmented()
    z0 = torch.tensor(m.INITIAL_STATE, dtype=torch.float64, requires_grad=True)
    start = torch.cat([z0, torch.zeros(1, dtype=torch.float64)])
    times = torch.tensor([0.0, problem.horizon], dtype=torch.float64)
    options = {"rtol": 1e-10, "atol": 1e-10, "method": "dopri5"}
    dissipative = problem.system.dissipation is not None
    if dissipative:  # the adjoint is unstable backward in time for contracting dynamics
        end = odeint(func, start, times, **options)[-1]
    else:
        end = odeint_adjoint(func, start, times, adjoint_params=(func.theta,), **options)[-1]
    c = m.prepare(func.theta)
    loss = end[-1] + m._state_terminal_cost(problem.horizon, end[:-1], c)
    grad_theta, grad_z0 = torch.autograd.grad(loss, [func.theta, z0])
    return {
        "loss": float(loss.detach()),
        "grad": grad_theta.numpy(),
        "z0": grad_z0.numpy(),
        "method": "autograd through odeint (dopri5, tol 1e-10)"
        if dissipative
        else "odeint_adjoint (dopri5, tol 1e-10)",
    }


def finite_difference(loss, theta, z0, relative_step=1e-5) -> dict:
    """Central differences of ``loss(z0, theta)`` (batched: one call per argument)."""
    theta, z0 = np.asarray(theta, float), np.asarray(z0, float)
    return {
        "grad": central_differences(lambda thetas: loss(z0, thetas), theta,
                                    relative_step=relative_step, batched=True),
        "z0": central_differences(lambda states: loss(states, theta), z0,
                                  relative_step=relative_step, batched=True),
    }


def _health(module, rule, z0, theta, beta, steps, gradient, half) -> dict:
    health = dict(gradient["health"])
    change = relative_error(gradient["theta"], half)
    bias = 4.0 / 3.0 * change  # centered: bias(β) ≈ Kβ², so g(β) − g(β/2) ≈ ¾ Kβ²
    health["bias"] = bias
    roundoff = 1e-15 * math.sqrt(steps)
    curvature = max(bias / beta**2, 1e-300)
    health["suggested_beta"] = (roundoff / (2 * curvature)) ** (1 / 3)
    if rule == "HEL":
        health["retrace_error"] = module.echo_retrace(z0, theta, steps=steps)
        fine = module.simulate(z0, theta, steps=2 * steps)[-1]
        coarse = module.simulate(z0, theta, steps=steps)[-1]
        health["integrator_error"] = 16 / 15 * relative_error(coarse, fine)
    return health


def _reference(torch_module, problem, steps):
    """torchdiffeq's gradient, or the reason it could not be computed."""
    try:
        adjoint = torchdiffeq_reference(torch_module, problem, steps)
    except (AssertionError, RuntimeError, ValueError, OverflowError) as error:
        return None, f"torchdiffeq failed: {type(error).__name__}: {error}"
    finite = all(np.all(np.isfinite(adjoint[k])) for k in ("grad", "z0"))
    return (adjoint, None) if finite else (None, "torchdiffeq returned non-finite numbers")


def check(problem: Problem, *, rules=None, beta: float = 1e-4, steps: int | None = None,
          name: str | None = None) -> dict:
    """Run the requested rules (default: all) and compare them with the references."""
    if not (isinstance(beta, (int, float)) and math.isfinite(beta) and beta > 0):
        raise RuleError(f"--beta is {beta}: give a positive, finite nudging strength")
    learning = Learning(problem, name)
    derived = learning.rules()
    requested = list(RULES) if not rules else list(rules)
    for rule in requested:
        if rule not in derived:
            raise RuleError(f"unknown rule {rule!r}: choose one of {list(RULES)}")
        if rules and not derived[rule].available:
            raise RuleError(
                f"{rule} is not available for {problem.name}: {derived[rule].practicality.reason}"
            )
    steps = problem.steps if steps is None else int(steps)
    numpy_module = load_module(problem, "numpy")
    torch_module = load_module(problem, "torch")
    if not hasattr(numpy_module, "gradient"):
        raise RuleError(f"{problem.name} declares no cost: add cost=Cost(...) to check rules")
    z0 = np.asarray(numpy_module.INITIAL_STATE)
    theta = np.asarray(numpy_module.PARAM_VALUES)
    params = [p.name for p in problem.params]

    adjoint, failure = _reference(torch_module, problem, steps)
    differences = finite_difference(
        lambda z, th: numpy_module.loss(z, th, steps=steps), theta, z0
    )
    if adjoint is None and not np.all(np.isfinite(differences["grad"])):
        raise RuleError(f"{problem.name}: no reference gradient: {failure}, and finite "
                        f"differences of the loss are not finite (does the system blow up "
                        f"within the horizon? try more --steps)")
    if hasattr(numpy_module, "tangent"):  # constrained: z0 moves along the manifold only
        for ref in filter(None, (adjoint, differences)):
            ref["z0"] = numpy_module.tangent(z0, theta, ref["z0"])
    reference_name = "adjoint" if adjoint is not None else "finite_difference"
    reference = adjoint if adjoint is not None else differences
    out_rules = {}
    for rule in requested:
        practicality = derived[rule].practicality
        if not practicality.available:
            out_rules[rule] = {"available": False, "reason": practicality.reason,
                               "practical": False}
            continue
        betas = [beta] if practicality.bias_order == 0 else [beta, beta / 2, beta / 4]
        runs = [numpy_module.gradient(z0, theta, rule=rule, beta=b, steps=steps)
                for b in betas]
        gradient = runs[0]
        entry = {"available": True, "practical": practicality.practical,
                 "grad": dict(zip(params, map(float, gradient["theta"])))}
        if rule == "CBVP":
            fd = central_differences(
                lambda th, b=gradient["health"]["boundary"]: numpy_module.boundary_value_loss(
                    z0, th, steps=steps, boundary=b
                ),
                theta,
            )
            errors = [relative_error(run["theta"], fd) for run in runs]
            entry.update(reference="finite_difference", loss=float(gradient["loss"]),
                         health={"condition": gradient["health"]["condition"]})
        else:
            errors = [relative_error(run["theta"], reference["grad"]) for run in runs]
            entry.update(reference=reference_name, z0=list(map(float, gradient["z0"])),
                         z0_rel_err=relative_error(gradient["z0"], reference["z0"]))
            if rule != "adjoint":
                entry["health"] = _health(numpy_module, rule, z0, theta, beta, steps, gradient,
                                          runs[1]["theta"])
        entry.update(rel_err=errors[0], bias_order=practicality.bias_order,
                     **judge(practicality, betas, errors))
        out_rules[rule] = entry
    references = {"finite_difference": {
        "grad": dict(zip(params, map(float, differences["grad"]))),
        "z0": list(map(float, differences["z0"]))}}
    if adjoint is not None:
        references["adjoint"] = {"grad": dict(zip(params, map(float, adjoint["grad"]))),
                                 "z0": list(map(float, adjoint["z0"])),
                                 "method": adjoint["method"]}
    else:
        references["adjoint"] = {"failed": failure}
    return {
        "system": problem.name,
        "loss": adjoint["loss"] if adjoint is not None else float(
            numpy_module.loss(z0, theta, steps=steps)),
        "beta": beta,
        "steps": steps,
        "reference": references,
        "rules": out_rules,
    }


def report_text(report: dict) -> str:
    """The check as ``glep check`` prints it."""
    ref = report["reference"]["adjoint"]
    out = [f"{report['system']}: loss {report['loss']:.12g}; β = {report['beta']:g}, "
           f"{report['steps']} RK4 steps"]
    if "failed" in ref:
        out.append(f"reference: finite differences of the RK4 loss ({ref['failed']})")
    else:
        out.append(f"reference: {ref['method']}; finite differences of the RK4 loss")
        fd = np.array(list(report["reference"]["finite_difference"]["grad"].values()))
        adjoint = np.array(list(ref["grad"].values()))
        spread = np.linalg.norm(fd - adjoint) / max(np.linalg.norm(adjoint), 1e-300)
        out.append(f"adjoint vs finite differences: {spread:.1e}")
    out.append(f"\n  {'rule':<8} {'rel_err':>9} {'slope':>6} {'vs':<18} {'practical':<9}  "
               f"verdict; health")
    for name, entry in report["rules"].items():
        if not entry["available"]:
            out.append(f"  {name:<8} {'—':>9} {'':>6} {'unavailable':<18} {'no':<9}  "
                       f"{entry['reason']}")
            continue
        health = ", ".join(f"{k} {v:.2g}" for k, v in entry.get("health", {}).items()
                           if isinstance(v, float))
        slope = "" if entry["bias_slope"] is None else f"{entry['bias_slope']:.2f}"
        out.append(f"  {name:<8} {entry['rel_err']:>9.1e} {slope:>6} {entry['reference']:<18} "
                   f"{'yes' if entry['practical'] else 'no':<9}  {entry['verdict']}"
                   + (f"; {health}" if health else ""))
    return "\n".join(out)
