"""The vector-field network with distinct forward and backward weights
(systems/vector_field_digits.py: 64-64-10, states in [0, 1], B1 drawn independently of W2ᵀ)
trained on scikit-learn's digits by VF-EP (centered EP-like update, forward and backward
weights with the same update and decay: Kolen–Pollack) and by backpropagation through the
free relaxation (BPTT, the true gradient of the same dynamics), three seeds each; and, after
every epoch of the VF-EP runs, the angle between VF-EP's update and the true gradient per
layer (on 256 test cases), against −∂C/∂(W_l, b_l) and along the tied direction (B_{l−1}
moving as W_lᵀ), and the feedback mismatch ‖B1 − W2ᵀ‖/‖W2‖.

Every run is ``glep.learn.vector_field.train`` (what ``glep train FILE --rule VF-EP
--compare BPTT`` runs): SGD lr 0.01, momentum 0.9, batch 32, β = 0.2, 30 free and 10
nudged sweeps, λ = 0.02; one Torch thread, ``--workers`` runs at a time.

Reproduce the committed table (bench/results/train/vector_field.md) and the figure
(docs/figures/vector_field_angle.png)::

    OMP_NUM_THREADS=1 .venv/bin/python bench/vector_field.py --epochs 20 --seeds 0 1 2 --workers 2
"""

from __future__ import annotations

import argparse
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
SYSTEM = ROOT / "systems" / "vector_field_digits.py"
TABLE = ROOT / "bench" / "results" / "train" / "vector_field.md"
FIGURE = ROOT / "docs" / "figures" / "vector_field_angle.png"
LR = 0.01


def run(rule: str, seed: int, epochs: int):
    torch.set_num_threads(1)
    from glep import load_problem
    from glep.learn.catalog import load
    from glep.learn.vector_field import train

    return train(load_problem(SYSTEM), load("digits", seed=0), rule=rule, seed=seed,
                 epochs=epochs, lr=LR, progress=False)


def table(results: dict, epochs: int, command: str) -> str:
    acc = {rule: np.array([100 * r.accuracies[-1] for r in runs])
           for rule, runs in results.items()}
    secs = {rule: np.mean([r.seconds for r in runs]) for rule, runs in results.items()}
    base = acc["BPTT"].mean()
    lines = ["# Vector field with distinct forward and backward weights: digits", "",
             f"Command: `{command}`", "",
             f"systems/vector_field_digits.py (64-64-10, states in [0, 1]); {epochs} epochs, "
             f"SGD lr {LR:g} momentum 0.9, batch 32, β = 0.2, 30 free / 10 nudged sweeps, "
             f"λ = 0.02; digits 1,437 / 360 (seeded split 0); seeds "
             f"{', '.join(str(s) for s in range(len(acc['BPTT'])))}.", "",
             "| rule | test accuracy (%) | per seed | − BPTT (points) | seconds per run |",
             "|---|---|---|---|---|"]
    for rule, a in acc.items():
        lines.append(f"| {rule} | {a.mean():.2f} ± {a.std():.2f} | "
                     f"{', '.join(f'{v:.1f}' for v in a)} | {a.mean() - base:+.2f} | "
                     f"{secs[rule]:.1f} |")
    gap = base - acc["VF-EP"].mean()
    lines += ["", f"Target: VF-EP within 2 points of BPTT: {'met' if gap <= 2 else 'missed'} "
              f"(gap {gap:+.2f} points).", "",
              "## Angle between VF-EP's update and the true gradient (degrees, VF-EP runs)", "",
              "Mean ± std over the seeds, on 256 test cases after the epoch. *true*: against "
              "−∂C/∂(W_l, b_l) of the vector field (BPTT through the 30 free sweeps); *tied*: "
              "against the gradient along the direction where B1 moves as W2ᵀ (the shared "
              "update's direction; equal to *true* for layer 1); mismatch ‖B1 − W2ᵀ‖/‖W2‖; "
              "residual: max |s − clip(a(s))| after the 30 free sweeps (0 at the fixed "
              "point).", "",
              "| epoch | layer 1 | layer 2 (true) | layer 2 (tied) | mismatch | residual |",
              "|---|---|---|---|---|---|"]
    diag = results["VF-EP"]
    marks = sorted({1, 2, 5, *range(10, epochs + 1, 5), epochs} & set(range(1, epochs + 1)))

    def stat(e, key, k):
        v = np.array([r.diagnostics[e - 1][key][k] for r in diag])
        digits = 3 if key == "mismatch" else 1
        return f"{v.mean():.{digits}f} ± {v.std():.{digits}f}"

    def largest(e):
        return f"{max(r.diagnostics[e - 1]['residual'] for r in diag):.1e}"

    for e in marks:
        lines.append(f"| {e} | {stat(e, 'angle', 0)} | {stat(e, 'angle', 1)} | "
                     f"{stat(e, 'angle_tied', 1)} | {stat(e, 'mismatch', 0)} | "
                     f"{largest(e)} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    from glep.learn.vector_field import plot_angles

    jobs = [(rule, seed) for rule in ("VF-EP", "BPTT") for seed in args.seeds]
    with ProcessPoolExecutor(args.workers) as pool:
        futures = [pool.submit(run, rule, seed, args.epochs) for rule, seed in jobs]
        done = [f.result() for f in futures]
    results = {"VF-EP": done[:len(args.seeds)], "BPTT": done[len(args.seeds):]}
    command = ("OMP_NUM_THREADS=1 .venv/bin/python bench/vector_field.py "
               + " ".join(argv if argv is not None else __import__("sys").argv[1:])).strip()
    text = table(results, args.epochs, command)
    print(text)
    if not args.no_write:
        TABLE.write_text(text, encoding="utf-8")
        plot_angles(results["VF-EP"], FIGURE,
                    f"VF-EP on digits (64-64-10): angle to the true gradient, "
                    f"{len(args.seeds)} seeds")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
