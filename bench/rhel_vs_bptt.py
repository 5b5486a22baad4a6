"""RHEL versus BPTT on one HRU layer: gradient time, peak memory, accuracy, retrace error.

Setting: n = 64 units, m = 8 inputs, batch 8, dt = 0.1, float32 layers at their
class defaults (β per dtype), inputs N(0, 1), loss ``½ Σ_k ‖φ_k − y_k‖²`` (the incoming
gradient is ``φ − y``). For each K and rule, a fresh subprocess

1. allocates ``u``, runs a graph-free forward pass to get the output and the incoming
   gradient, and records its peak resident memory (``ru_maxrss``) — the baseline;
2. runs forward + backward with the rule (RHEL: the autograd.Function with two batched
   echoes; BPTT: plain autograd through the same leapfrog, a list of steps stacked once,
   no O(K²) indexing), timed, and records the peak again.

The memory increment is the peak difference. The error is the norm-wise relative error of
every gradient (parameters and ``u``, the worst one printed) against float64 BPTT through
the same leapfrog (for K = 10^5 against float64 RHEL of the linear unit, exact at any β,
when ``--reference-rhel`` is given, to keep the reference's memory down). The retrace
error is the echo's own health value. Ratios RHEL/BPTT are printed side by side.

Targets: RHEL's memory increment ≤ 0.33× BPTT's at K = 10^5 and flat in K; RHEL's time
≤ 1.5× BPTT's at K = 10^4.

Run from the repository root (one thread; 2 cores are shared)::

    .venv/bin/python bench/rhel_vs_bptt.py --steps 1000 10000
    .venv/bin/python bench/rhel_vs_bptt.py --steps 100000 --units linear
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

WORKER = r"""
import json, resource, sys, time, warnings
import torch
sys.path.insert(0, {root!r})
from glep.generated import linear_hru_torch, nonlinear_hru_torch
torch.set_num_threads(1)
unit, rule, K, reference = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
module = linear_hru_torch if unit == "linear" else nonlinear_hru_torch
cls = module.LinearHRU if unit == "linear" else module.NonlinearHRU
n, m, batch, dt = 64, 8, 8, 0.1
# float32 data and parameters; the float64 reference (another process) upcasts the same
# values, so nothing float64 inflates this process's high-water mark before the baseline
torch.manual_seed(0)
layer = cls(n, m, dt=dt)
u = torch.randn(batch, K, m)
y = torch.randn(batch, K, n)

def rss():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

def gradients(layer, u, y, rule):
    layer.rule = rule
    u = u.clone().requires_grad_()
    layer.zero_grad()
    phi = layer(u)
    phi.backward(phi.detach() - y)
    out = {{k: v.grad for k, v in layer.named_parameters()}}
    out["u"] = u.grad
    return out

if rule == "reference":
    layer64 = cls(n, m, dt=dt, dtype=torch.float64)
    layer64.load_state_dict({{k: v.double() for k, v in layer.state_dict().items()}})
    g = gradients(layer64, u.double(), y.double(), "rhel" if reference == "rhel" else "bptt")
    torch.save({{k: v.double() for k, v in g.items()}}, sys.argv[5])
    sys.exit(0)
with torch.no_grad():
    out, _ = module.simulate(u, u.new_zeros(batch, 2 * n), dt, tuple(layer.parameters()))
    incoming = out - y
base = rss()  # high-water mark while holding u, the output and the incoming gradient
del out, incoming  # the measured call allocates its own output and gradient in their place
start = time.perf_counter()
with warnings.catch_warnings():
    warnings.simplefilter("ignore", RuntimeWarning)
    g = gradients(layer, u, y, rule)
seconds = time.perf_counter() - start
peak = rss() - base
ref = torch.load(sys.argv[5])
error = max(float((g[k].double() - ref[k]).norm() / ref[k].norm()) for k in ref)
print(json.dumps({{"seconds": seconds, "memory": peak, "error": error,
                   "health": layer.health if rule == "rhel" else None}}))
"""


def run(unit, rule, steps, reference, path) -> dict:
    code = WORKER.format(root=str(ROOT))
    result = subprocess.run([sys.executable, "-c", code, unit, rule, str(steps), reference,
                             str(path)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-2000:])
    return json.loads(result.stdout.strip().splitlines()[-1]) if rule != "reference" else {}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", nargs="+", type=int, default=[1000, 10_000, 100_000])
    p.add_argument("--units", nargs="+", default=["linear", "nonlinear"])
    p.add_argument("--nonlinear-max", type=int, default=10_000,
                   help="longest K for the nonlinear unit (its echo stops retracing beyond)")
    p.add_argument("--reference-rhel", action="store_true",
                   help="linear unit only: float64 RHEL (exact) as the reference")
    args = p.parse_args(argv)
    tmp = Path("/tmp") / "glep_rhel_vs_bptt_reference.pt"
    print(f"{'unit':<10} {'K':>7} | {'RHEL s':>8} {'BPTT s':>8} {'ratio':>6} | "
          f"{'RHEL MB':>8} {'BPTT MB':>8} {'ratio':>6} | {'RHEL err':>9} {'BPTT err':>9} "
          f"| {'retrace':>8}")
    for unit in args.units:
        for steps in args.steps:
            if unit == "nonlinear" and steps > args.nonlinear_max:
                continue
            reference = "rhel" if args.reference_rhel and unit == "linear" else "bptt"
            run(unit, "reference", steps, reference, tmp)
            rhel = run(unit, "rhel", steps, reference, tmp)
            bptt = run(unit, "bptt", steps, reference, tmp)
            mb = 2**20
            print(f"{unit:<10} {steps:>7} | {rhel['seconds']:>8.2f} {bptt['seconds']:>8.2f} "
                  f"{rhel['seconds'] / bptt['seconds']:>6.2f} | {rhel['memory'] / mb:>8.1f} "
                  f"{bptt['memory'] / mb:>8.1f} "
                  f"{rhel['memory'] / max(bptt['memory'], 1):>6.2f} | {rhel['error']:>9.1e} "
                  f"{bptt['error']:>9.1e} | {rhel['health']:>8.1e}", flush=True)
    tmp.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
