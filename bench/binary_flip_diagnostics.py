"""Why the flip rule of binary-weight EP stalls: per epoch, the flips of each layer, the
momentum |m| against the threshold τ, and the silent hidden units, for several (γ, τ/α).

The network and training are ``bench/binary_ep.py``'s binary-weight variant on mnist5k
(n_in-H-10, C-EP with a random sign of β = 0.2, batch 32, α fixed, biases by SGD with
momentum, lr 0.005), one seed; each setting gives the flip rule's momentum rate γ and the
thresholds τ_W = (τ/α)·α_W per layer. Per epoch and layer: the test accuracy, the weights
flipped, mean |m|/τ over the epoch's steps, and the hidden units that never exceed ½ on the
test set, nor leave the box's floor 0 ("silent": EP's contrast of a unit stuck at the box
edge is zero, so its incoming weights never get a signal again). Writes
bench/results/train/binary_flip_diagnostics.md. Reproduce::

    .venv/bin/python bench/binary_flip_diagnostics.py --epochs 6 --hidden 64
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

import glep
from glep.learn import optimizers
from glep.learn.catalog import load
from glep.learn.classify import train

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "results" / "train" / "binary_flip_diagnostics.md"
#: (γ, τ/α of W1, τ/α of W2): the bench's former setting, then the ones that stop the stall.
SETTINGS = [(1e-2, 1.5e-3, 1.5e-3), (1e-2, 1.5e-4, 1.5e-4), (1e-3, 5e-5, 5e-5),
            (1e-3, 5e-5, 5e-4)]


class _Recorded(optimizers.BinaryFlip):
    """The flip rule, recording per step and layer the flips and mean |m|/τ."""

    rows: ClassVar[list] = []

    def step(self, closure=None):
        loss = super().step(closure)
        self.rows.append([(self.state[p]["flips"], float(self.state[p]["momentum"].abs().mean())
                           / max(g["tau"], 1e-300)) for g in self.param_groups
                          for p in g["params"]])
        return loss


def diagnose(data, hidden, epochs, gamma, ratios, seed=0):
    problem = glep.load_problem(ROOT / "systems" / "binary_hopfield_digits.py",
                                {"hidden": hidden, "n_in": data.features, "n_out": 10})
    module = glep.load_module(problem, "numpy")
    theta = module.initial_params(seed)
    tau = ",".join(f"{w}={r * float(theta[f'alpha_{w}']):.3g}" for w, r in zip(("W1", "W2"),
                                                                               ratios))
    _Recorded.rows = []
    optimizers.BinaryFlip = _Recorded  # what train() builds for --optimizer flip
    try:
        result = train(problem, data, rule="C-EP", epochs=epochs, batch=32, seed=seed,
                       random_sign=True, progress=False, optimizer="flip", beta=0.2,
                       lr="0.005,alpha_W1=1e-12,alpha_W2=1e-12", gamma=str(gamma), tau=tau)
    finally:
        optimizers.BinaryFlip = _Recorded.__mro__[1]
    z = module.relax(result.theta, data.test_x, np.zeros((len(data.test_x), 10)))[:, :hidden]
    silent = float(np.mean((z <= 0.5).all(0))), float(np.mean((z <= 1e-12).all(0)))
    per = len(_Recorded.rows) // epochs
    steps = np.array(_Recorded.rows).reshape(epochs, per, 2, 2)
    return result, steps, silent


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--hidden", type=int, default=64)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    data = load("mnist5k", seed=0)
    command = "python bench/binary_flip_diagnostics.py " + " ".join(
        argv if argv is not None else sys.argv[1:])
    lines = ["# The flip rule of binary-weight EP: flips, momentum and silent units", "",
             f"Command: `{command.strip()}`", "",
             f"mnist5k, 784-{args.hidden}-10, seed 0. Per epoch: test accuracy; weights flipped "
             "in W1 / W2; mean |m|/τ over the epoch's steps for W1 / W2. After training: the "
             "hidden units that never exceed ½ on the test set, and those stuck at 0 on every "
             "test case (silent: no EP signal reaches their weights again).", ""]
    for gamma, *ratios in SETTINGS:
        result, steps, silent = diagnose(data, args.hidden, args.epochs, gamma, ratios)
        lines += [f"## γ = {gamma:g}, τ/α = {ratios[0]:g} (W1), {ratios[1]:g} (W2)", "",
                  "| epoch | test accuracy (%) | flips W1 | flips W2 | mean abs(m)/τ W1 | "
                  "mean abs(m)/τ W2 |", "|---|---|---|---|---|---|"]
        for e in range(args.epochs):
            flips, ratio = steps[e, :, :, 0].sum(0), steps[e, :, :, 1].mean(0)
            lines.append(f"| {e + 1} | {100 * result.accuracies[e]:.2f} | {flips[0]:.0f} | "
                         f"{flips[1]:.0f} | {ratio[0]:.3g} | {ratio[1]:.3g} |")
        lines += ["", f"Hidden units never above ½: {100 * silent[0]:.1f} %; at 0 on every "
                  f"test case: {100 * silent[1]:.1f} %.", ""]
        print("\n".join(lines[-args.epochs - 5:]), flush=True)
    OUT.write_text("\n".join(lines), encoding="utf-8")


if __name__ == "__main__":
    main()
