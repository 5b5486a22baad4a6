"""Hamiltonian recurrent units: RHEL against autograd BPTT through the same leapfrog."""

from __future__ import annotations

from glep.codegen.emit import load_module
from glep.codegen.hru import class_name
from glep.derive.hru import HRUProblem

from .common import judge


def check(problem: HRUProblem, *, beta: float, steps: int | None = None) -> dict:
    """RHEL vs autograd BPTT through the same leapfrog on the problem's reference setting
    (float64; loss ``½ Σ_k ‖R φ_k − y_k‖²`` with R, y, u, Φ_0 drawn with seed 0)."""
    import torch

    module = load_module(problem, "torch", f"systems/{problem.name}.py")
    s = dict(problem.settings, **({"steps": steps} if steps else {}))
    n, m, K, batch = s["n_units"], s["n_inputs"], s["steps"], s["batch"]
    torch.manual_seed(0)
    layer = getattr(module, class_name(problem.name))(n, m, dt=s["dt"], beta=beta,
                                                      dtype=torch.float64)
    u = torch.randn(batch, K, m, dtype=torch.float64)
    state = 0.5 * torch.randn(batch, 2 * n, dtype=torch.float64)
    R, y = torch.randn(n, n, dtype=torch.float64), torch.randn(batch, K, n, dtype=torch.float64)

    def run(rule, beta_value):
        layer.rule, layer.beta = rule, beta_value
        layer.zero_grad()
        ui, si = u.clone().requires_grad_(), state.clone().requires_grad_()
        loss = 0.5 * ((layer(ui, si) @ R.T - y) ** 2).sum()
        loss.backward()
        grads = {k: v.grad.clone() for k, v in layer.named_parameters()}
        grads.update(u=ui.grad, state=si.grad)
        return float(loss.detach()), grads, layer.health

    loss, reference, _ = run("bptt", beta)
    practicality = problem.rules["RHEL"].practicality
    betas = [beta] if practicality.bias_order == 0 else [beta, beta / 2, beta / 4]
    runs = [run("rhel", b) for b in betas]
    _, estimate, health = runs[0]
    per_tensor = [{k: float((g[k] - v).norm() / v.norm()) for k, v in reference.items()}
                  for _, g, _ in runs]
    errors = [max(e.values()) for e in per_tensor]
    floor = 1e-9 if practicality.bias_order == 0 else 1e-6
    return {
        "system": problem.name, "loss": loss, "beta": beta, "steps": K,
        "reference": {"bptt": {"grad": {k: v.tolist() for k, v in reference.items()}}},
        "rules": {"RHEL": {
            "available": True, "grad": {k: v.tolist() for k, v in estimate.items()},
            "reference": "bptt", "rel_err": errors[0], "rel_err_per_tensor": per_tensor[0],
            "practical": practicality.practical, "health": {"retrace": health},
            "bias_order": practicality.bias_order,
            **judge(practicality, betas, errors, floor=floor),
        }},
    }


def report_text(report: dict) -> str:
    """The check as ``glep check`` prints it."""
    entry = report["rules"]["RHEL"]
    out = [f"{report['system']}: loss {report['loss']:.12g}; β = {report['beta']:g}; "
           f"K = {report['steps']} leapfrog steps; reference: autograd BPTT (float64)"]
    for name, err in entry["rel_err_per_tensor"].items():
        out.append(f"  RHEL d/d{name:<6} rel_err {err:.1e}")
    out.append(f"  echo health {entry['health']['retrace']:.1e}; {entry['verdict']}")
    return "\n".join(out)
