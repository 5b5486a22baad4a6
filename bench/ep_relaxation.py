"""Asynchronous (even/odd) versus synchronous block relaxation of layered Hopfield energies.

Young's theorem on a bipartite (layered) energy: ρ_GS = ρ_J², so red–black updates need
about half the iterations of synchronous (Jacobi) ones, and synchronous updates can
oscillate where asynchronous ones converge (THEORY.md §7).

    .venv/bin/python bench/ep_relaxation.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from glep.codegen.emit import load_module
from glep.derive.systemfile import load_problem

SYSTEM = Path(__file__).resolve().parent.parent / "systems" / "hopfield_digits.py"


def iterations(module, theta, method, budget=20_000):
    _, info = module.relax(theta, method=method, info=True, strict=False, max_iterations=budget)
    return info["iterations"] if info["converged"] else None


def main():
    print("named net: systems/hopfield_digits.py "
          "(64-32-10, hard sigmoid, 4 synthetic images)")
    print(f"{'weight scale':>12} {'sync':>8} {'async':>8} {'ratio':>7}")
    module = load_module(load_problem(SYSTEM), "numpy")
    base = module.initial_params()
    for scale in (1.0, 2.0, 3.0, 4.0, 6.0):
        theta = {k: v * scale if k.startswith("W") else v for k, v in base.items()}
        sync, fast = iterations(module, theta, "sync"), iterations(module, theta, "async")
        ratio = f"{sync / fast:.2f}" if sync and fast else "—"
        print(f"{scale:>12} {sync or 'no conv.':>8} {fast or 'no conv.':>8} {ratio:>7}")
    print("\nnets where the synchronous relaxation oscillates "
          "(strong output coupling W2 ~ N(0, 0.6²))")
    problem = load_problem(SYSTEM, {"n_in": 8, "hidden": 6, "n_out": 4})
    small = load_module(problem, "numpy")
    rng = np.random.default_rng(0)
    found = 0
    for trial in range(200):
        theta = small.initial_params(seed=trial)
        theta["W2"] = rng.normal(0, 0.6, theta["W2"].shape)
        sync = iterations(small, theta, "sync", 2000)
        fast = iterations(small, theta, "async", 2000)
        if sync is None and fast is not None:
            _, info = small.relax(theta, method="sync", info=True, strict=False,
                                  max_iterations=2000)
            print(f"  seed {trial}: sync did not converge (residual {info['residual']:.2g}), "
                  f"async converged in {fast} iterations")
            found += 1
            if found == 3:
                break
    if not found:
        print("  none found among 200 random nets")


if __name__ == "__main__":
    main()
