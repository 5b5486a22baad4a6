"""The HRU layers' β and precision: gradient error of RHEL against float64 BPTT.

**β sweep (linear unit, float32).** The linear HRU's echo is exact at every β, so β only
trades two round-off errors: the free trajectory's round-off, divided by β in the centered
difference (falls as 1/β), against the round-off of ``∂H/∂A = ½φ²`` evaluated at states of
size β (grows as β) — and the echo's retrace error (its health) grows with β too. For three
settings and two sequence lengths, the float32 layer's worst norm-wise relative gradient
error (over A, B, u and the initial state) against autograd BPTT through the same leapfrog
in float64, for each β. The default: among the β whose worst error over the six cases is
within 1.25× of the least, the one whose largest health (retrace error) is smallest — health
grows with β and K, and above HEALTH_TOLERANCE (float32: 2e-2) the layer warns.

========  ==========================================================================
setting   n units, m inputs, batch, dt, initial state, loss
========  ==========================================================================
bench     64, 8, 8, 0.1, zero, ``½ Σ_k ‖φ_k − y_k‖²`` (bench/rhel_vs_bptt.py)
hssm      32, 32, 4, 0.5, 0.5·N(0, 1), ``½ Σ_k ‖R φ_k − y_k‖²`` (learn/hssm.py's sizes)
check     5, 3, 2, 0.3, 0.5·N(0, 1), ``½ Σ_k ‖R φ_k − y_k‖²`` (glep check's setting)
========  ==========================================================================

Inputs and targets N(0, 1), R N(0, 1/n), parameters from the layer's initialization (seed 0).

**Precision (float16, bfloat16).** Computing natively in half precision (the runtime's
``simulate``/``echo`` on half tensors, and autograd through half leapfrog steps) against the
layer (half storage, float32 computation), both against float64 BPTT at the same rounded
parameters and inputs, loss ``½ mean ‖R φ_k − y_k‖²``, linear (hssm sizes) and nonlinear
(n = 32, m = 8, batch 4, dt = 0.1) units at their default β.

Run from the repository root (one thread; 10 minutes on an idle core, about 30 shared)::

    .venv/bin/python bench/hru_beta.py > bench/results/hru_beta.txt
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings

import torch

from glep.generated import linear_hru_torch, nonlinear_hru_torch

F64 = torch.float64
SETTINGS = {  # n, m, batch, dt, initial state scale, readout R (else identity)
    "bench": (64, 8, 8, 0.1, 0.0, False),
    "hssm": (32, 32, 4, 0.5, 0.5, True),
    "check": (5, 3, 2, 0.3, 0.5, True),
}
BETAS = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1e3, 3e3, 1e4)


def problem(cls, setting, steps, seed=0):
    """A float64 layer, inputs, initial state, readout and targets."""
    n, m, batch, dt, scale, readout = setting
    torch.manual_seed(seed)
    layer = cls(n, m, dt=dt, dtype=F64)
    u = torch.randn(batch, steps, m, dtype=F64)
    state = scale * torch.randn(batch, 2 * n, dtype=F64)
    R = torch.randn(n, n, dtype=F64) / n**0.5 if readout else torch.eye(n, dtype=F64)
    y = torch.randn(batch, steps, n, dtype=F64)
    return layer, u, state, R, y


def gradients(layer, u, state, R, y, *, rule, beta=None, mean=False):
    """Gradients of the loss (computed in float64 from the layer's output) for A, B, …, u
    and the initial state, as float64."""
    layer.rule, layer.beta = rule, beta
    u, state = u.clone().requires_grad_(), state.clone().requires_grad_()
    layer.zero_grad()
    residual = layer(u, state).double() @ R.T - y
    (0.5 * (residual**2).mean() if mean else 0.5 * (residual**2).sum()).backward()
    out = {k: v.grad.double() for k, v in layer.named_parameters()}
    return {**out, "u": u.grad.double(), "state": state.grad.double()}


def worst(estimate, reference) -> float:
    """The largest norm-wise relative error over the tensors (inf when not finite)."""
    errors = [float((estimate[k] - v).norm() / v.norm()) for k, v in reference.items()]
    return max(e if e == e else float("inf") for e in errors)


def sweep(steps_list, betas):
    """{(setting, K): {β: (error, health)}} and the float64 errors at β = 1 and β = 100."""
    table, f64 = {}, {}
    for name, setting in SETTINGS.items():
        for steps in steps_list:
            start = time.perf_counter()
            layer, u, state, R, y = problem(linear_hru_torch.LinearHRU, setting, steps)
            reference = gradients(layer, u, state, R, y, rule="bptt")
            f64[name, steps] = {b: worst(gradients(layer, u, state, R, y, rule="rhel", beta=b),
                                         reference) for b in (1.0, 100.0)}
            layer32 = type(layer)(*setting[:2], dt=setting[3])
            layer32.load_state_dict({k: v.float() for k, v in layer.state_dict().items()})
            row = {}
            for beta in betas:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)  # health is reported
                    g = gradients(layer32, u.float(), state.float(), R, y, rule="rhel",
                                  beta=beta)
                row[beta] = (worst(g, reference), layer32.health)
            bptt32 = worst(gradients(layer32, u.float(), state.float(), R, y, rule="bptt"),
                           reference)
            table[name, steps] = row, bptt32
            print(f"# {name}, K = {steps}: {time.perf_counter() - start:.0f} s",
                  file=sys.stderr, flush=True)
    return table, f64


def native(module, layer, u, state, R, y, dtype):
    """Native half-precision RHEL and BPTT through the runtime's functions."""
    params = tuple(p.detach().to(dtype) for p in layer.parameters())
    u, state = u.to(dtype), state.to(dtype)
    beta = module.DEFAULT_BETA["float32"]
    with torch.no_grad():
        out, end = module.simulate(u, state, layer.dt, params)
    phi = out.double().requires_grad_()
    (0.5 * ((phi @ R.T - y) ** 2).mean()).backward()
    with torch.no_grad():
        rhel, _ = module.echo(u, end, phi.grad.to(dtype), layer.dt, beta, params)
    leaves = [p.clone().requires_grad_() for p in params]
    u_leaf, s_leaf = u.clone().requires_grad_(), state.clone().requires_grad_()
    n, outputs = layer.n_units, []
    phi, pi = s_leaf[:, :n], s_leaf[:, n:]
    for k in range(u.shape[1]):
        phi, pi = module.leapfrog_step(phi, pi, u_leaf[:, k], layer.dt, tuple(leaves))
        outputs.append(phi)
    residual = torch.stack(outputs, 1).double() @ R.T - y
    (0.5 * (residual**2).mean()).backward()
    bptt = {name: p.grad for name, p in zip(module.PARAMS, leaves)}
    bptt.update(u=u_leaf.grad, state=s_leaf.grad)
    return ({k: v.double() for k, v in rhel.items()}, {k: v.double() for k, v in bptt.items()})


def precision(steps_list):
    rows = []
    units = {"linear": (linear_hru_torch, "LinearHRU", SETTINGS["hssm"]),
             "nonlinear": (nonlinear_hru_torch, "NonlinearHRU", (32, 8, 4, 0.1, 0.5, True))}
    for unit, (module, cls_name, setting) in units.items():
        for steps in steps_list:
            layer, u, state, R, y = problem(getattr(module, cls_name), setting, steps)
            for dtype in (torch.float16, torch.bfloat16):
                with torch.no_grad():  # the half layer's values, exactly, in float64
                    for p in layer.parameters():
                        p.copy_(p.to(dtype))
                uh, sh = u.to(dtype).double(), state.to(dtype).double()
                reference = gradients(layer, uh, sh, R, y, rule="bptt", mean=True)
                half = type(layer)(*setting[:2], dt=setting[3], dtype=dtype)
                half.load_state_dict({k: v.to(dtype) for k, v in layer.state_dict().items()})
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    nat_rhel, nat_bptt = native(module, layer, uh, sh, R, y, dtype)
                    lay = {rule: gradients(half, uh.to(dtype), sh.to(dtype), R, y, rule=rule,
                                           mean=True) for rule in ("rhel", "bptt")}
                rows.append((unit, steps, str(dtype).removeprefix("torch."),
                             worst(nat_rhel, reference), worst(nat_bptt, reference),
                             worst(lay["rhel"], reference), worst(lay["bptt"], reference),
                             half.health))
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", nargs="+", type=int, default=[200, 20_000])
    p.add_argument("--precision-steps", nargs="+", type=int, default=[100, 1000])
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    table, f64 = sweep(args.steps, BETAS)
    print("Linear HRU, float32 layer: worst relative gradient error vs float64 BPTT "
          "(health in brackets)")
    cases = list(table)
    print(f"{'beta':>7} " + " ".join(f"{f'{s} K={k}':>21}" for s, k in cases)
          + f" {'worst':>9} {'[health]':>10}")
    worst_error, worst_health = {}, {}
    for beta in BETAS:
        cells = [table[c][0][beta] for c in cases]
        worst_error[beta] = max(e for e, _ in cells)
        worst_health[beta] = max(h for _, h in cells)
        print(f"{beta:>7g} " + " ".join(f"{e:>9.1e} [{h:>8.1e}] " for e, h in cells)
              + f" {worst_error[beta]:>9.1e} [{worst_health[beta]:>8.1e}]")
    print(f"{'BPTT32':>7} " + " ".join(f"{table[c][1]:>9.1e}            " for c in cases))
    least = min(worst_error.values())
    near = [b for b in BETAS if worst_error[b] <= 1.25 * least]
    pick = min(near, key=worst_health.get)
    print(f"least worst-case error {least:.1e}; within 1.25x: beta in {near}; smallest health "
          f"among them: beta = {pick:g} (worst error {worst_error[pick]:.1e}, health "
          f"{worst_health[pick]:.1e}); beta = 1: worst error {worst_error[1.0]:.1e}")
    print(f"layer default (DEFAULT_BETA['float32']): "
          f"{linear_hru_torch.DEFAULT_BETA['float32']:g}")
    print("float64 layer (RHEL vs float64 BPTT), beta = 1 / 100: "
          + "; ".join(f"{s} K={k} {v[1.0]:.1e} / {v[100.0]:.1e}" for (s, k), v in f64.items()))
    print()
    print("Half precision, mean loss: worst relative gradient error vs float64 BPTT at the "
          "same rounded values")
    print(f"{'unit':<10} {'K':>5} {'dtype':<9} {'native RHEL':>11} {'native BPTT':>11} "
          f"{'layer RHEL':>11} {'layer BPTT':>11} {'health':>9}")
    for unit, steps, dtype, *errors, health in precision(args.precision_steps):
        print(f"{unit:<10} {steps:>5} {dtype:<9} " + " ".join(f"{e:>11.1e}" for e in errors)
              + f" {health:>9.1e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
