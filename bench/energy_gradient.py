"""Time and memory of one EP-family gradient of a large layered energy.

The network is ``systems/hopfield_deep.py`` at 64-1024-512-10 (``--set hidden1=1024
hidden2=512``), batch 32, random inputs and one-hot targets, float64, NumPy module: one
C-EP gradient (free phase, two nudged phases, the contrast) with the positive-definiteness
check off (as in training) and on, and the implicit-differentiation reference for scale.
Memory is the peak of NumPy's allocations during the call (tracemalloc) above what was
allocated before it.

    .venv/bin/python bench/energy_gradient.py [--sizes 64 1024 512 10] [--batch 32]
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

import numpy as np

from glep.codegen.emit import load_module
from glep.derive.systemfile import load_problem


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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs=4, default=[64, 1024, 512, 10])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
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
    print(f"hopfield_deep {n_in}-{h1}-{h2}-{n_out}, batch {args.batch}, float64, best of "
          f"{args.repeats}")
    rows = [("C-EP gradient, check=False", lambda: module.gradient(
                theta, x, y, rule="C-EP", beta=0.2, check=False, z_free=z)),
            ("C-EP gradient, check=True", lambda: module.gradient(
                theta, x, y, rule="C-EP", beta=0.2, check=True, z_free=z)),
            ("energy_dtheta at one state", lambda: module.energy_dtheta(z, theta, x))]
    for label, function in rows:
        seconds, megabytes = measure(function, args.repeats)
        print(f"  {label:<30} {seconds:8.3f} s  {megabytes:8.1f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
