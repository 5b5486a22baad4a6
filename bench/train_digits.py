"""Train a layered hard-sigmoid Hopfield network on scikit-learn's digits with every
EP-family algorithm and with backpropagation through the relaxation (THEORY.md §7).

The network is ``systems/hopfield_digits.py`` (64-32-10, E = ½‖h‖² + ½‖o‖² − hᵀW1x − oᵀW2h
− b1ᵀh − b2ᵀo, states in [0, 1], C = ½‖o − y‖²), relaxed by the emitted NumPy module
(``generated/hopfield_digits_numpy.py``: exact asynchronous block updates, vectorized over
the mini-batch). Backpropagation unrolls the same asynchronous relaxation in the emitted
Torch module (``generated/hopfield_digits_torch.py``) and differentiates through it (BPTT).
Every algorithm uses the same initialization, mini-batches and optimizer (SGD with
momentum); only the gradient estimate differs. Targets are 0.1 / 0.9 (not 0 / 1): inside the
box, so that the outputs that should be off are not driven onto the bound 0, where a clipped
unit has no gradient and, early in training, can stay dead for every input (it did, with
one-hot targets and a larger step, for BPTT and C-EP alike).

Reproduce the committed table (bench/results/digits.md and digits.json)::

    .venv/bin/python bench/train_digits.py --seeds 0 1 2 --epochs 20

``--quick`` is a smoke run (C-EP, one seed, two epochs, no files written unless --out).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
GENERATED = ROOT / "generated"
RESULTS = ROOT / "bench" / "results"
ALGORITHMS = ("P-EP", "N-EP", "C-EP", "CL", "P-CpL", "N-CpL", "C-CpL", "BPTT")
#: nudging strength of each algorithm (CL clamps the output to the target: β = 1)
BETA = {"P-EP": 0.2, "N-EP": 0.2, "C-EP": 0.2, "CL": 1.0, "P-CpL": 0.2, "N-CpL": 0.2,
        "C-CpL": 0.2}
TOL = 1e-6
#: target of the off / on outputs (inside the [0, 1] box of the hard sigmoid)
OFF, ON = 0.1, 0.9
LR, MOMENTUM, BATCH = 0.005, 0.9, 32


def _module(name):
    spec = importlib.util.spec_from_file_location(name, GENERATED / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_digits_split(seed: int = 0, test_fraction: float = 0.2):
    """scikit-learn's 8×8 digits (shipped with the package), pixels scaled to [0, 1],
    targets ``OFF`` except ``ON`` at the label; a stratified train/test split (fixed by
    ``seed``)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    x = data.data / 16.0
    y = OFF + (ON - OFF) * np.eye(10)[data.target]
    return train_test_split(x, y, test_size=test_fraction, random_state=seed,
                            stratify=data.target)


def accuracy(module, theta, x, y) -> float:
    z = module.relax(theta, x, y, method="async", tol=TOL)
    o = z[..., module.OUTPUT_UNITS]
    return float((o.argmax(-1) == y.argmax(-1)).mean())


def _bptt_gradient(torch_module, theta, x, y, budget=200):
    """Backpropagation through the unrolled asynchronous relaxation (from rest to tol)."""
    import torch

    params = {k: torch.tensor(v, requires_grad=True) for k, v in theta.items()}
    xt, yt = torch.as_tensor(x), torch.as_tensor(y)
    z = torch.zeros((x.shape[0], torch_module.N), dtype=torch.float64)
    for _ in range(budget):
        new = torch_module.iterate(z, params, xt, yt, method="async")
        change = float((new - z).detach().abs().max())
        z = new
        if change <= TOL:
            break
    loss = torch_module.cost(z, yt).mean()
    grads = torch.autograd.grad(loss, list(params.values()))
    return {k: g.numpy() for k, g in zip(params, grads)}


def train(algorithm: str, seed: int, epochs: int, batch: int = BATCH, lr: float = LR,
          momentum: float = MOMENTUM, data=None, progress=None) -> dict:
    """One training run; returns test accuracy per epoch and the wall time."""
    module = _module("hopfield_digits_numpy")
    torch_module = _module("hopfield_digits_torch") if algorithm == "BPTT" else None
    x_train, x_test, y_train, y_test = data if data is not None else load_digits_split()
    theta = module.initial_params(seed)
    velocity = {k: np.zeros_like(v) for k, v in theta.items()}
    rng = np.random.default_rng(seed)
    history = []
    start = time.perf_counter()
    for _ in range(epochs):
        order = rng.permutation(len(x_train))
        for first in range(0, len(order), batch):
            index = order[first:first + batch]
            xb, yb = x_train[index], y_train[index]
            if algorithm == "BPTT":
                grad = _bptt_gradient(torch_module, theta, xb, yb)
            else:
                grad = module.gradient(theta, xb, yb, rule=algorithm, beta=BETA[algorithm],
                                       method="async", tol=TOL, check=False)["grad"]
            for k in theta:
                velocity[k] = momentum * velocity[k] - lr * np.asarray(grad[k])
                theta[k] = theta[k] + velocity[k]
            if progress is not None:
                progress.update(1)
        history.append(accuracy(module, theta, x_test, y_test))
    return {"algorithm": algorithm, "seed": seed, "epochs": epochs,
            "test_accuracy": history[-1], "history": history,
            "train_accuracy": accuracy(module, theta, x_train, y_train),
            "seconds": time.perf_counter() - start}


def table(runs: list[dict], command: str) -> str:
    lines = ["# Digits: layered Hopfield network (64-32-10, hard sigmoid), EP family vs BPTT", "",
             f"Command: `{command}`", "",
             f"Machine: {platform.machine()}, {platform.python_version()}; float64; batch "
             f"{BATCH}, SGD lr {LR:g} momentum {MOMENTUM:g}; targets {OFF:g} / {ON:g}; β = 0.2 "
             f"(CL: clamped to y); asynchronous exact block relaxation to tol {TOL:g}. "
             f"Test set: 360 images (20 %, stratified).", "",
             "| algorithm | β | seeds | test accuracy (%) mean ± std | per seed | "
             "wall time per run (s) |", "|---|---|---|---|---|---|"]
    for algorithm in ALGORITHMS:
        mine = [r for r in runs if r["algorithm"] == algorithm]
        if not mine:
            continue
        acc = np.array([100 * r["test_accuracy"] for r in mine])
        secs = np.array([r["seconds"] for r in mine])
        beta = BETA.get(algorithm, "—")
        lines.append(f"| {algorithm} | {beta} | {len(mine)} | {acc.mean():.2f} ± {acc.std():.2f}"
                     f" | {', '.join(f'{a:.1f}' for a in acc)} | {secs.mean():.0f} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--algorithms", nargs="+", default=list(ALGORITHMS),
                        choices=ALGORITHMS)
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: C-EP, seed 0, 2 epochs, no files unless --out")
    parser.add_argument("--out", type=Path, default=None,
                        help="results stem (default bench/results/digits)")
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.epochs, args.algorithms = [0], 2, ["C-EP"]
    from tqdm import tqdm

    data = load_digits_split()
    steps = -(-len(data[0]) // BATCH) * args.epochs
    runs = []
    for algorithm in args.algorithms:
        for seed in args.seeds:
            with tqdm(total=steps, desc=f"{algorithm:>6} seed {seed}", file=sys.stderr,
                      leave=False) as bar:
                run = train(algorithm, seed, args.epochs, data=data, progress=bar)
            runs.append(run)
            print(f"{algorithm:>6} seed {seed}: test {100 * run['test_accuracy']:.2f} % "
                  f"(train {100 * run['train_accuracy']:.2f} %), {run['seconds']:.0f} s",
                  flush=True)
    argv_text = " ".join(argv if argv is not None else sys.argv[1:])
    command = f".venv/bin/python bench/train_digits.py {argv_text}".strip()
    text = table(runs, command)
    print(text)
    stem = args.out or (None if args.quick else RESULTS / "digits")
    if stem is not None:
        stem.parent.mkdir(parents=True, exist_ok=True)
        stem.with_suffix(".md").write_text(text, encoding="utf-8")
        stem.with_suffix(".json").write_text(
            json.dumps({"command": command, "runs": runs}, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {stem.with_suffix('.md')} and {stem.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
