"""The gradient-alignment check of EP (Ernoult et al. 2019, "Updates of Equilibrium Prop
match gradients of backprop through time in an RNN with static input"): the per-step
updates of the nudged phase against the per-step gradients of backpropagation through time.

The relaxation is the (projected) gradient flow of the energy, one Euler step of size ε:
``s_{t+1} = Π(s_t − ε ∂E/∂s(s_t, θ))`` (Π: the box, if the energy declares one), i.e. the
discrete-time dynamics ``s_{t+1} = ∂Φ/∂s`` with Φ = ½‖s‖² − εE. From the free fixed point
s*:

- EP: the nudged phase ``s^β_{t+1} = Π(s^β_t − ε(∂E/∂s + β ∂C/∂s)(s^β_t))``, ``s^β_0 = s*``,
  and its per-step update (a descent direction)
  ``ΔEP_t = −(1/β)(∂E/∂θ(s^β_t) − ∂E/∂θ(s^β_{t−1}))``, t = 1 … K;
- BPTT: K steps of the free dynamics from s* with a separate copy θ_k of the parameters at
  each step k, the loss L = C(s_K), and ``∇BPTT_t = ∂L/∂θ_{K−t}`` by autograd.

The GDU theorem: ``ΔEP_t → −∇BPTT_t`` as β → 0 for every t (with error O(β)); summed over
t, both are the gradient of the loss at the fixed point. Per step and parameter the check
reports the relative RMSE ‖ΔEP_t + ∇BPTT_t‖ / ‖∇BPTT_t‖ and the sign agreement (the share
of the entries where ∇BPTT_t ≠ 0 whose signs agree), and the same of all parameters
together (row ``(all)``); a step where ∇BPTT_t vanishes (the parameter has not yet reached
the output) shows ‖ΔEP_t‖ instead. Costs and updates are
means over the batch (the system file's inputs and targets).
"""

from __future__ import annotations

import math

from glep.codegen.emit import load_module
from glep.derive.energy import EnergyProblem
from glep.derive.errors import KindError, RuleError

#: The check passes when every defined relative RMSE is at most this.
TOLERANCE = 0.05
#: The row of all parameters together.
ALL = "(all)"


def _torch():
    import torch

    return torch


def gdu(problem: EnergyProblem, *, beta: float = 1e-4, steps: int = 20,
        step: float | None = None, theta=None, x=None, y=None) -> dict:
    """The per-step EP updates against the per-step BPTT gradients of ``problem`` (an energy)
    over ``steps`` Euler steps of size ``step`` (default: the module's STEP)."""
    torch = _torch()
    if not isinstance(problem, EnergyProblem):
        raise KindError(f"glep check --gdu compares EP with BPTT on an energy; "
                        f"{problem.name} is not one: declare an EnergyProblem")
    if not (isinstance(beta, int | float) and math.isfinite(beta) and beta > 0):
        raise RuleError(f"--beta {beta!r}: give a positive, finite nudging strength")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise RuleError(f"--gdu-steps {steps!r}: give a whole number of steps >= 1")
    if problem.cost is None:
        raise RuleError("the problem declares no cost: add cost=EnergyCost(...)")
    m = load_module(problem, "torch")
    eps = float(m.STEP if step is None else step)
    if not (math.isfinite(eps) and eps > 0):
        raise RuleError(f"step {step!r}: give a positive, finite Euler step")
    as64 = lambda v: torch.as_tensor(v, dtype=torch.float64)  # noqa: E731
    theta = {k: as64(v) for k, v in (theta or m.initial_params()).items()}
    x = torch.atleast_2d(as64(m.DEFAULT_INPUTS if x is None else x))
    y = torch.atleast_2d(as64(m.DEFAULT_TARGETS if y is None else y))
    box = (lambda s: s.clamp(*m.BOX)) if m.BOX is not None else (lambda s: s)

    def euler(s, p, b=0.0):
        g = m.energy_gradient(s, p, x)
        return box(s - eps * (g + b * m.cost_gradient(s, y) if b else g))

    def dtheta(s):
        return {k: v.mean(0) for k, v in m.energy_dtheta(s, theta, x).items()}

    free = as64(m.relax(theta, x, y))
    for _ in range(10000):  # the fixed point of this Euler map, to the float floor
        nxt = euler(free, theta)
        done = float((nxt - free).abs().max()) <= 1e-15 * (1 + float(free.abs().max()))
        free = nxt
        if done:
            break
    states, ep = [free], []
    for _ in range(steps):
        states.append(euler(states[-1], theta, beta))
        new, old = dtheta(states[-1]), dtheta(states[-2])
        ep.append({k: -(new[k] - old[k]) / beta for k in theta})
    copies = [{k: v.clone().requires_grad_() for k, v in theta.items()} for _ in range(steps)]
    s = free
    for p in copies:
        s = euler(s, p)
    loss = m.cost(s, y).mean()
    leaves = [v for p in copies for v in p.values()]
    flat = iter(torch.autograd.grad(loss, leaves, allow_unused=True))
    grads = [{k: next(flat) for k in p} for p in copies]
    rows = {k: [] for k in (*theta, ALL)}
    for t in range(1, steps + 1):
        bptt = grads[steps - t]
        pairs = {k: (ep[t - 1][k].flatten(), -(torch.zeros_like(ep[t - 1][k]) if bptt[k] is None
                                                else bptt[k]).flatten()) for k in theta}
        pairs[ALL] = tuple(torch.cat(side) for side in zip(*pairs.values()))
        for k, (a, b) in pairs.items():
            rows[k].append(_row(t, a, b))
    worst = max((r["rel_rmse"] for v in rows.values() for r in v if r["rel_rmse"] is not None),
                default=0.0)
    return {"system": problem.name, "beta": beta, "step": eps, "steps": steps,
            "loss": float(loss.detach()), "rows": rows, "max_rel_rmse": worst,
            "ok": worst <= TOLERANCE, "ep": [{k: v.tolist() for k, v in e.items()} for e in ep],
            "bptt": [{k: (-g).tolist() for k, g in grads[steps - t].items() if g is not None}
                     for t in range(1, steps + 1)]}


def _row(t: int, a, b) -> dict:
    norm = float(b.norm())
    scale = max(float(a.abs().max()), float(b.abs().max()), 1e-300)
    if norm <= 1e-12 * scale or norm == 0.0:
        return {"t": t, "rel_rmse": None, "sign": None, "ep_norm": float(a.norm())}
    live = b.abs() > 1e-12 * float(b.abs().max())
    agree = float((a[live].sign() == b[live].sign()).double().mean())
    return {"t": t, "rel_rmse": float((a - b).norm()) / norm, "sign": agree,
            "ep_norm": float(a.norm())}


def report_text(report: dict) -> str:
    """The check as ``glep check --gdu`` prints it: one row per parameter, its worst step."""
    out = [f"{report['system']}: GDU check, {report['steps']} Euler steps of ε = "
           f"{report['step']:g} from the free fixed point; β = {report['beta']:g}; loss "
           f"{report['loss']:.12g}",
           f"\n  {'parameter':<13} {'rel_rmse':>9} {'at t':>5} {'sign':>6}  verdict"]
    for name, rows in report["rows"].items():
        live = [r for r in rows if r["rel_rmse"] is not None]
        if not live:
            out.append(f"  {name:<13} {'—':>9} {'':>5} {'—':>6}  ∇BPTT is 0 at every step")
            continue
        worst = max(live, key=lambda r: r["rel_rmse"])
        sign = min(r["sign"] for r in live)
        verdict = "matches" if worst["rel_rmse"] <= TOLERANCE else "differs (lower β?)"
        out.append(f"  {name:<13} {worst['rel_rmse']:>9.1e} {worst['t']:>5} {sign:>6.3f}  "
                   f"{verdict}")
    out.append(f"\n  rel_rmse: the worst step's ‖ΔEP_t + ∇BPTT_t‖/‖∇BPTT_t‖; sign: the lowest "
               f"per-step sign agreement; matches when rel_rmse ≤ {TOLERANCE:g}")
    return "\n".join(out)


def plot(report: dict, path, entries: int = 2) -> None:
    """Left: ``entries`` entries of each parameter, ΔEP_t (solid) and −∇BPTT_t (dashed)
    against t; right: the relative RMSE per step and parameter."""
    import matplotlib
    import numpy as np

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    t = np.arange(1, report["steps"] + 1)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for n, name in enumerate(k for k in report["rows"] if k != ALL):
        ep = np.array([np.ravel(e[name]) for e in report["ep"]])
        bp = np.array([np.ravel(e[name]) if name in e else np.zeros(ep.shape[1])
                       for e in report["bptt"]])
        pick = np.argsort(-np.abs(bp).sum(0))[:entries]
        colour = colours[n % len(colours)]
        for j, i in enumerate(pick):
            left.plot(t, ep[:, i], color=colour, label=f"{name} ΔEP" if j == 0 else None)
            left.plot(t, bp[:, i], "--", color=colour, label=f"{name} −∇BPTT" if j == 0 else None)
        rel = [r["rel_rmse"] if r["rel_rmse"] is not None else np.nan for r in report["rows"][name]]
        right.plot(t, rel, marker="o", color=colour, label=name)
    left.set(xlabel="step t", ylabel="update", title="per-step updates (largest entries)")
    right.set(xlabel="step t", ylabel="‖ΔEP_t + ∇BPTT_t‖ / ‖∇BPTT_t‖", yscale="log",
              title=f"relative RMSE, β = {report['beta']:g}")
    left.legend(fontsize=7)
    right.legend(fontsize=7)
    fig.suptitle(f"{report['system']}: GDU check")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
