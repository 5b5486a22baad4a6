"""How far EqSpike's spike-based update is from C-EP's at the spike settings of
``bench/eqspike.py`` (dt = 0.1, phases of 10) and at the defaults (dt = 0.05, phases of 20).

The energy is ``systems/hopfield_digits.py`` with ``n_in=784`` (784-32-10) at its seed-0
initialization, β = 0.2, targets 0.1 / 0.9, integrate-and-fire neurons, τ = 1; on the first
``--batches`` mnist5k mini-batches of 32 (spikes seeded by the batch index), the norm-wise
relative error ‖ĝ_spike − ĝ_C-EP‖/‖ĝ_C-EP‖ of the whole update.

    .venv/bin/python bench/eqspike_gap.py      # → bench/results/train/eqspike_gap.md (≈ 1 min)
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "results" / "train" / "eqspike_gap.md"
SETTINGS = {"bench/eqspike.py": (0.1, 10.0), "defaults": (0.05, 20.0)}


def main() -> None:
    import torch

    import glep
    from glep.codegen.emit import load_module
    from glep.learn import spiking
    from glep.learn.catalog import load

    torch.set_num_threads(1)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=3)
    args = parser.parse_args()
    module = load_module(glep.load_problem(ROOT / "systems" / "hopfield_digits.py",
                                           {"n_in": 784}), "numpy")
    data = load("mnist5k", seed=0)
    theta = module.initial_params(0)

    def flat(g):
        return np.concatenate([np.ravel(g[k]) for k in module.PARAMS])

    rows = {name: [] for name in SETTINGS}
    seconds = {name: 0.0 for name in SETTINGS}
    for b in range(args.batches):
        part = slice(32 * b, 32 * (b + 1))
        x, y = data.x[part], 0.1 + 0.8 * data.one_hot(data.y[part])
        ref = flat(module.gradient(theta, x, y, beta=0.2, rule="C-EP", check=False)["grad"])
        for name, (dt, duration) in SETTINGS.items():
            started = time.perf_counter()
            out = spiking.gradient(module, theta, x, y, beta=0.2, seed=[0, b], dt=dt,
                                   duration=duration)
            seconds[name] += time.perf_counter() - started
            rows[name].append(np.linalg.norm(flat(out["grad"]) - ref) / np.linalg.norm(ref))
    lines = ["# EqSpike's update against C-EP's on mnist5k batches (784-32-10, initialization)",
             "", f"Command: `python bench/eqspike_gap.py --batches {args.batches}`", "",
             "| spike settings | dt | phase duration | relative error per batch | mean | "
             "seconds per batch |", "|---|---|---|---|---|---|"]
    for name, (dt, duration) in SETTINGS.items():
        err = np.array(rows[name])
        lines.append(f"| {name} | {dt} | {duration:g} | {', '.join(f'{e:.3f}' for e in err)} "
                     f"| {err.mean():.3f} | {seconds[name] / args.batches:.1f} |")
    text = "\n".join(lines) + "\n"
    OUT.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
