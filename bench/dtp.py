"""Difference target propagation with L-DRL feedback against backpropagation on mnist5k, the
same network (``systems/dtp_digits.py --set side=28``: 784-128-128-10, tanh, cross-entropy),
the same initialization, batches and optimizer (SGD, momentum 0.9), three seeds.

Reproduce the committed table (bench/results/train/dtp.md) and figure
(docs/figures/dtp_mnist5k.png)::

    .venv/bin/python bench/dtp.py

``--quick``: one seed, two epochs, no files written. Acceptance: DTP's mean test accuracy
within 1.5 points of backprop's.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from glep import load_problem  # noqa: E402
from glep.learn.catalog import load  # noqa: E402
from glep.learn.dtp import train  # noqa: E402

#: The options every run shares (the L-DRL ones are the system file's unless given here).
OPTIONS = {"epochs": 10, "batch": 32, "lr": 0.02, "momentum": 0.9, "feedback_lr": 0.02}
TOLERANCE = 1.5  # points of test accuracy


def table(results, seconds, command) -> str:
    acc = {r: np.array([100 * x.accuracies[-1] for x in results[r]]) for r in results}
    lines = ["# DTP (L-DRL) vs backpropagation on mnist5k", "", f"Command: `{command}`", "",
             "Network: systems/dtp_digits.py --set side=28 (784-128-128-10, tanh, "
             "cross-entropy), " + ", ".join(f"{k} {v}" for k, v in OPTIONS.items())
             + "; DTP: β = 0.7, σ = 0.1 per feedback layer, 20 feedback iterations per batch.",
             "", "| rule | seeds | test accuracy (%) | per seed | seconds per run | time vs BP |",
             "|---|---|---|---|---|---|"]
    base = np.mean([x.seconds for x in results["BP"]])
    for rule, runs in results.items():
        mean_s = np.mean([x.seconds for x in runs])
        lines.append(f"| {rule} | {len(runs)} | {acc[rule].mean():.2f} ± {acc[rule].std():.2f} | "
                     f"{', '.join(f'{a:.1f}' for a in acc[rule])} | {mean_s:.1f} | "
                     f"{mean_s / base:.0f}× |")
    gap = acc["BP"].mean() - acc["DTP"].mean()
    last = [x.diagnostics[-1] for x in results["DTP"]]
    distance = np.mean([d["distance"] for d in last], axis=0)
    angle = np.mean([d["angle"] for d in last], axis=0)
    verdict = "within" if gap <= TOLERANCE else "NOT within"
    lines += ["", f"Gap BP − DTP: {gap:.2f} points ({verdict} the {TOLERANCE} points "
              f"targeted).", "",
              "DTP after the last epoch (mean over seeds, 64 test images): "
              + "; ".join(f"‖J_G{n} − J_F{n}ᵀ‖/‖J_F{n}‖ = {d:.3f}"
                          for n, d in enumerate(distance, start=2))
              + "; angle to the backprop gradient " + ", ".join(
                  f"layer {n} {a:.1f}°" for n, a in enumerate(angle, start=1)) + ".",
              "", f"Total wall time {seconds / 60:.1f} min (2 shared CPU cores, 1 thread per run)."]
    return "\n".join(lines) + "\n"


def figure(results, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    for rule, runs in results.items():
        curves = np.array([[r.initial_accuracy, *r.accuracies] for r in runs]) * 100
        axes[0].plot(curves.mean(0), marker="o", label=rule)
    axes[0].set(xlabel="epoch", ylabel="test accuracy (%)", title="mnist5k, mean of 3 seeds")
    axes[0].legend()
    dtp = results["DTP"]
    epochs = np.arange(1, len(dtp[0].diagnostics) + 1)
    distance = np.mean([[d["distance"] for d in r.diagnostics] for r in dtp], axis=0)
    angle = np.mean([[d["angle"] for d in r.diagnostics] for r in dtp], axis=0)
    for n in range(distance.shape[1]):
        axes[1].plot(epochs, distance[:, n], marker="o", label=f"G{n + 2}")
    for n in range(angle.shape[1]):
        axes[2].plot(epochs, angle[:, n], marker="o", label=f"layer {n + 1}")
    axes[1].set(xlabel="epoch", ylabel="‖J_G − J_Fᵀ‖ / ‖J_F‖", title="Jacobian matching")
    axes[2].set(xlabel="epoch", ylabel="degrees", title="angle of DTP update to backprop")
    for ax in axes[1:]:
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    problem = load_problem(ROOT / "systems" / "dtp_digits.py", {"side": 28})
    data = load("mnist5k")
    seeds = [0] if args.quick else [0, 1, 2]
    options = {**OPTIONS, "epochs": 2} if args.quick else OPTIONS
    results = {"DTP": [], "BP": []}
    start = time.perf_counter()
    for rule in results:
        for seed in seeds:
            r = train(problem, data, rule=rule, seed=seed, progress=False, **options)
            results[rule].append(r)
            print(f"{rule} seed {seed}: {100 * r.accuracies[-1]:.2f} % in {r.seconds:.0f} s",
                  flush=True)
    text = table(results, time.perf_counter() - start, "python bench/dtp.py"
                 + (" --quick" if args.quick else ""))
    print(text)
    if not args.quick:
        (ROOT / "bench" / "results" / "train" / "dtp.md").write_text(text, encoding="utf-8")
        figure(results, ROOT / "docs" / "figures" / "dtp_mnist5k.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
