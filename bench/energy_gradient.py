"""Time and memory of one EP-family gradient of a large layered energy, against the per-sample
implementation it replaced (rebuilt here, side by side in the same run).

The network is ``systems/hopfield_deep.py`` at 64-1024-512-10 (``--set hidden1=1024
hidden2=512``), batch 32, random inputs and one-hot targets, float64, NumPy module: one C-EP
gradient (two nudged phases from the given free state, the contrast) with the
positive-definiteness check off (as in training) and on, one asynchronous sweep, and ∂E/∂θ.
"before" rebuilds the previous implementation from the same module: asynchronous sweeps that
compute the full ∂E/∂s for both half-sweeps, the contrast as the batch mean of per-sample
∂E/∂θ(s^+β) − ∂E/∂θ(s^−β) (B × |θ| arrays) and, with ``--dense-check``, the check as
``eigvalsh`` of the dense (B, N, N) restricted Hessian. Memory is the peak of the allocations
during the call (tracemalloc) above what was allocated before it. Run with one BLAS thread
(the machine's two cores are shared; with more threads the timings are dominated by
contention):

    OPENBLAS_NUM_THREADS=1 .venv/bin/python bench/energy_gradient.py [--sizes 64 1024 512 10]
        [--batch 32] [--repeats 3] [--dense-check] [--out bench/results/energy_gradient.txt]
"""

from __future__ import annotations

import argparse
import contextlib
import time
import tracemalloc
from pathlib import Path

import numpy as np

from glep.codegen.emit import load_module
from glep.derive.systemfile import load_problem

#: main before the batched contractions, measured with ``.venv/bin/python
#: bench/energy_gradient.py --repeats 1`` (two BLAS threads, a lightly loaded machine).
MAIN_BEFORE = {"C-EP gradient, check=False": (1.725, 424.5),
               "C-EP gradient, check=True": (10.5, 1842.0),
               "energy_dtheta at one state": (0.049, 145.7)}
#: The issue's figure for the same gradient before the relaxation's residual stop (9.6 s).
ISSUE_BASELINE = 9.6


def measure(function, repeats=3):
    best, peak = float("inf"), 0
    for _ in range(repeats):
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
        peak = max(peak, tracemalloc.get_traced_memory()[1] - before)
        tracemalloc.stop()
    return best, peak / 2**20


@contextlib.contextmanager
def full_gradients(module):
    """The module's sweeps as before: every half-sweep computes ∂E/∂s of all layers."""
    namespace = module._SYSTEM._namespace
    blocks = namespace["energy_gradient"]
    namespace["energy_gradient"] = lambda z, theta, x, layers=None: blocks(z, theta, x)
    try:
        yield
    finally:
        namespace["energy_gradient"] = blocks


def gradient_before(module, theta, x, y, z, beta, check):
    """C-EP as before: full-gradient sweeps, per-sample contrast, dense Hessian check."""
    with full_gradients(module):
        if check:
            h, _ = module.restricted_hessian(z, theta, x)
            assert np.linalg.eigvalsh(h).min() > 1e-10
        minus, plus = (module.relax(theta, x, y, beta=s * beta, z0=z, tol=1e-13) for s in (-1, 1))
    a, b = module.energy_dtheta(minus, theta, x), module.energy_dtheta(plus, theta, x)
    return {k: (b[k] - a[k]).mean(0) / (2 * beta) for k in a}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs=4, default=[64, 1024, 512, 10])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dense-check", action="store_true",
                        help="also time the dense eigvalsh check of before (slow, ~1.8 GB)")
    parser.add_argument("--out", type=Path, default=None, help="also write the table here")
    args = parser.parse_args(argv)
    n_in, h1, h2, n_out = args.sizes
    problem = load_problem("systems/hopfield_deep.py",
                           {"n_in": n_in, "hidden1": h1, "hidden2": h2, "n_out": n_out})
    module = load_module(problem, "numpy")
    rng = np.random.default_rng(0)
    theta = module.initial_params(0)
    x = rng.random((args.batch, n_in))
    y = 0.1 + 0.8 * np.eye(n_out)[rng.integers(0, n_out, args.batch)]
    z = module.relax(theta, x, y)
    beta = 0.2

    def new(check):
        return lambda: module.gradient(theta, x, y, rule="C-EP", beta=beta, check=check,
                                       z_free=z)["grad"]

    new_grad, old_grad = new(False)(), gradient_before(module, theta, x, y, z, beta, False)
    agreement = max(np.linalg.norm(new_grad[k] - old_grad[k]) / np.linalg.norm(old_grad[k])
                    for k in new_grad)

    def sweep_before():
        with full_gradients(module):
            module.iterate(z, theta, x, y, beta=beta, method="async")

    rows = [("C-EP gradient, check=False", new(False),
             lambda: gradient_before(module, theta, x, y, z, beta, False)),
            ("C-EP gradient, check=True", new(True),
             (lambda: gradient_before(module, theta, x, y, z, beta, True))
             if args.dense_check else None),
            ("one async sweep", lambda: module.iterate(z, theta, x, y, beta=beta,
                                                       method="async"), sweep_before),
            ("∂E/∂θ contrast / energy_dtheta", lambda: module.energy_dtheta_contrast(
                z, z, theta, x), lambda: module.energy_dtheta(z, theta, x))]
    lines = [f"hopfield_deep {n_in}-{h1}-{h2}-{n_out}, batch {args.batch}, float64, NumPy, "
             f"best of {args.repeats} (short calls: of {10 * args.repeats}); memory: peak "
             f"above the start (tracemalloc)",
             f"{'':<32}{'after':>18}{'before (same run)':>24}{'speed-up':>10}"
             f"{'main before (recorded)':>26}"]
    for label, after, before in rows:
        repeats = args.repeats * (1 if label.startswith("C-EP") else 10)  # the short calls
        seconds, megabytes = measure(after, repeats)
        old = measure(before, repeats) if before is not None else None
        recorded = MAIN_BEFORE.get(label if label != "∂E/∂θ contrast / energy_dtheta"
                                   else "energy_dtheta at one state")
        lines.append(
            f"  {label:<30}{seconds:8.3f} s {megabytes:7.1f} MB"
            + (f"{old[0]:12.3f} s {old[1]:7.1f} MB{old[0] / seconds:9.1f}×" if old
               else f"{'(--dense-check)':>24}{'':>10}")
            + (f"{recorded[0]:14.3f} s {recorded[1]:7.1f} MB" if recorded else ""))
    lines += [f"C-EP gradients after vs before: max relative difference {agreement:.1e}",
              f"Target: one C-EP gradient (check=False) ≤ {ISSUE_BASELINE / 20:.2f} s (20× the "
              f"issue's {ISSUE_BASELINE} s) and ≤ 50 MB above the start."]
    text = "\n".join(lines)
    print(text)
    if args.out is not None:
        args.out.write_text(f"$ OPENBLAS_NUM_THREADS=1 .venv/bin/python bench/energy_gradient.py "
                            f"--repeats {args.repeats}{' --dense-check' * args.dense_check} "
                            f"--out {args.out}\n{text}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
