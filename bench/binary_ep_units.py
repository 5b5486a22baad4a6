"""Dead output units and silent hidden units of binary EP, per flip threshold of the output
weights.

An output unit of the hard-sigmoid network whose drive α_W2·W2·h + b2 falls below −β·y on
every input sits at the box's floor 0 in the free and in both nudged phases: EP's contrast
of its row of W2 and of its bias is zero, so it never comes back, and its class is read out
by the other K − 1 units alone. A binary weight flip moves an output unit's drive by
2·α_W2·h_j at once, and the momentum of the flip rule (γ = 1e-3: a memory of ~1,000
batches) keeps flipping the weights of a unit after the estimate that pushed it down has
stopped. This script trains ``bench/binary_ep.py``'s binary-weight variant (continuous
neurons) on mnist5k for a few epochs with given flip thresholds τ_W = (τ/α)·α_W and reports
the test accuracy per epoch and, after training, the recall per class, the output units at
0 on every test case and the hidden units that never exceed ½ on the test set. Writes
bench/results/train/binary_ep_units.md. Reproduce::

    .venv/bin/python bench/binary_ep_units.py --seed 1 --epochs 2
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

import glep
from glep.learn.catalog import load
from glep.learn.classify import readout, train

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "results" / "train" / "binary_ep_units.md"
#: (τ/α of W1, τ/α of W2): one threshold ratio for both layers, then a ten times higher one
#: for W2 (``bench/binary_ep.py``'s binary-weight setting).
SETTINGS = [(5e-5, 5e-5), (5e-5, 5e-4)]


def units(data, hidden, per_class, epochs, seed, ratios):
    """Train binary-weight EP; per-epoch accuracy, recall per class, dead outputs, silent h."""
    settings = {"hidden": hidden, "n_in": data.features, "n_out": 10 * per_class}
    problem = glep.load_problem(ROOT / "systems" / "binary_hopfield_digits.py", settings)
    module = glep.load_module(problem, "numpy")
    theta = module.initial_params(seed)
    tau = ",".join(f"{w}={r * float(theta[f'alpha_{w}']):.3g}" for w, r in zip(("W1", "W2"),
                                                                               ratios))
    result = train(problem, data, rule="C-EP", epochs=epochs, batch=32, seed=seed,
                   random_sign=True, output_per_class=per_class, progress=False,
                   optimizer="flip", beta=0.2, lr="0.005,alpha_W1=1e-12,alpha_W2=1e-12",
                   gamma="1e-3", tau=tau)
    z = module.relax(result.theta, data.test_x, np.zeros((len(data.test_x), 10 * per_class)))
    h, o = z[:, :hidden], z[:, hidden:]
    predicted = readout(o, per_class)
    recall = [float((predicted[data.test_y == c] == c).mean()) for c in range(10)]
    dead = [int(k) for k in np.flatnonzero((o <= 1e-12).all(0))]
    return result.accuracies, recall, dead, float(np.mean((h <= 0.5).all(0)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--per-class", type=int, default=4)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    data = load("mnist5k", seed=0)
    command = "python bench/binary_ep_units.py " + " ".join(
        argv if argv is not None else sys.argv[1:])
    lines = ["# Binary EP: dead output units and silent hidden units", "",
             f"Command: `{command.strip()}`", "",
             f"mnist5k, 784-{args.hidden}-(10×{args.per_class}), C-EP with a random sign of β "
             f"= 0.2, batch 32, flip rule γ = 1e-3, α fixed, seed {args.seed}, "
             f"{args.epochs} epochs. Output unit k belongs to class k // {args.per_class}.", "",
             "| τ/α W1 | τ/α W2 | test accuracy per epoch (%) | recall per class (%) | "
             "output units at 0 on every test case | hidden units never above ½ (%) |",
             "|---|---|---|---|---|---|"]
    for ratios in SETTINGS:
        acc, recall, dead, silent = units(data, args.hidden, args.per_class, args.epochs,
                                          args.seed, ratios)
        lines.append(f"| {ratios[0]:g} | {ratios[1]:g} | "
                     f"{', '.join(f'{100 * a:.1f}' for a in acc)} | "
                     f"{', '.join(f'{100 * r:.0f}' for r in recall)} | "
                     f"{', '.join(map(str, dead)) or 'none'} | {100 * silent:.1f} |")
        print(lines[-1], flush=True)
    OUT.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
