"""Continual learning on permuted mnist5k: a metaplastic BNN (m ∈ {0, 0.5, 1.0, 1.35}) against
a full-precision network of the same architecture (Laborieux et al. 2021).

Four tasks (mnist5k, then three seeded pixel permutations of it) are trained one after
another, the same number of epochs each, with no task boundary given to the optimizer. The
BNN (``glep.learn.continual.BNN``: 784-H-10, sign weights read from hidden weights, batch
normalisation without affine parameters, sign activations with a clipped straight-through
gradient) is trained by backpropagation and :class:`glep.Metaplastic` (Adam, lr 0.005); m = 0
is the plain BNN. The full-precision net (float weights, ReLU) is trained by Adam. After
every epoch the test accuracy on every task seen so far is recorded; the table gives the
accuracies after the last task and their mean, the figure accuracy per task against
training epochs, one panel per network. Reproduce the committed table and figure::

    .venv/bin/python bench/continual.py

(writes bench/results/train/continual.md and docs/figures/continual.png).

``--data`` trains another task sequence (``glep train``'s syntax, learn/catalog.py), e.g. the
pair digits ↔ mnist5k in the digits' 8×8 format, in both orders::

    .venv/bin/python bench/continual.py --data digits,mnist5k-8x8 --out continual_pair
    .venv/bin/python bench/continual.py --data mnist5k-8x8,digits --out continual_pair_reverse

(writes bench/results/train/<out>.md and docs/figures/<out>.png).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from glep.learn.catalog import tasks as task_sequence
from glep.learn.continual import BNN, train_sequence
from glep.learn.optimizers import Metaplastic

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "results" / "train" / "continual.md"
FIGURE = ROOT / "docs" / "figures" / "continual.png"


def plot(histories, path, tasks):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(histories), figsize=(3.2 * len(histories), 3.2),
                             sharey=True)
    for ax, (label, history) in zip(axes, histories.items()):
        for k in range(tasks):
            rows = [r for r in history if len(r["accuracy"]) > k]
            ax.plot([r["epoch"] for r in rows], [100 * r["accuracy"][k] for r in rows],
                    label=f"task {k + 1}")
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("epochs trained")
    axes[0].set_ylabel("test accuracy (%)")
    axes[-1].legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=20, help="epochs per task")
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--metas", type=float, nargs="+", default=[0.0, 0.5, 1.0, 1.35])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", default=None,
                        help="a task sequence (default permuted-mnist5k:TASKS)")
    parser.add_argument("--out", default="continual",
                        help="name of the table and figure (default continual)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    data = args.data or f"permuted-mnist5k:{args.tasks}"
    tasks = [(t.name, t.x, t.y, t.test_x, t.test_y)
             for t in task_sequence(data, seed=args.seed)]
    args.tasks = len(tasks)
    sizes = [tasks[0][1].shape[1], args.hidden, 10]
    histories = {}
    for meta in [*args.metas, None]:
        torch.manual_seed(args.seed)
        net = BNN(sizes, binary=meta is not None, seed=args.seed)
        opt = (Metaplastic(net.parameters(), lr=0.005, meta=meta) if meta is not None
               else torch.optim.Adam(net.parameters(), lr=0.005))
        label = f"BNN m = {meta:g}" if meta is not None else "full precision"
        histories[label] = train_sequence(net, opt, tasks, args.epochs, args.batch, args.seed)
        print(label, json.dumps(histories[label][-1]), flush=True)
    command = "python bench/continual.py " + " ".join(argv if argv is not None
                                                      else sys.argv[1:])
    what = (f"{args.tasks} tasks (mnist5k and {args.tasks - 1} pixel permutations)"
            if args.data is None else f"{args.tasks} tasks ({', '.join(t[0] for t in tasks)})")
    lines = [f"# Continual learning: {'permuted mnist5k' if args.data is None else data}, "
             f"metaplastic BNN vs full precision", "",
             f"Command: `{command.strip()}`", "",
             f"{what}, {args.epochs} epochs each, batch {args.batch}, network "
             f"{sizes[0]}-{args.hidden}-10, seed {args.seed}; test accuracy (%) on each task "
             f"after training on the last.",
             "", "| network | " + " | ".join(f"task {k + 1}" for k in range(args.tasks))
             + " | mean | seconds |", "|---" * (args.tasks + 3) + "|"]
    means = {}
    for label, history in histories.items():
        final = history[-1]
        means[label] = 100 * float(np.mean(final["accuracy"]))
        lines.append(f"| {label} | " + " | ".join(f"{100 * a:.1f}" for a in final["accuracy"])
                     + f" | {means[label]:.1f} | {final['seconds']:.0f} |")
    gap = means["BNN m = 1.35"] - means["BNN m = 0"] if "BNN m = 1.35" in means else None
    if gap is not None and args.data is None:
        lines += ["", f"Mean accuracy after the last task, m = 1.35 minus m = 0: {gap:+.1f} "
                  f"points (criterion ≥ +15: {'met' if gap >= 15 else 'not met'})."]
    elif gap is not None:
        lines += ["", f"Mean accuracy after the last task, m = 1.35 minus m = 0: {gap:+.1f} "
                  f"points."]
    out, figure = OUT.with_name(f"{args.out}.md"), FIGURE.with_name(f"{args.out}.png")
    lines += ["", f"Figure: `{figure.relative_to(ROOT)}` (accuracy on each task vs epochs "
              f"trained, one panel per network)."]
    text = "\n".join(lines) + "\n"
    print(text)
    out.write_text(text, encoding="utf-8")
    plot(histories, figure, args.tasks)


if __name__ == "__main__":
    main()
