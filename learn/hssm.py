"""Hamiltonian state-space models (HSSMs) built from generated HRU layers, and their training.

An HSSM is a linear encoder, then ``blocks`` × (LayerNorm → HRU layer → linear readout of
the positions plus a skip ``D ⊙ x`` → GELU → GLU → dropout → residual), then a mean over
time and a linear classifier. Every HRU layer runs with ``rule="rhel"`` (its backward pass
is the discrete echo, nudged by the gradient of whatever follows it) or ``rule="bptt"``;
the ordinary torch modules in between backpropagate as usual.

Train on a UEA/UCR dataset shipped inside ``aeon`` (the ``data`` extra; nothing is
downloaded), paired RHEL/BPTT runs from the same initialization and batch order::

    python -m glep.learn.hssm --dataset BasicMotions --seeds 0 1 2 --epochs 60 \\
        --out results/hssm_basicmotions.md

>>> model = HSSM(3, 4, hidden=8, units=6, blocks=2, unit="linear", dt=0.5)
>>> model(torch.randn(2, 7, 3)).shape
torch.Size([2, 4])
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from glep.generated import linear_hru_torch, nonlinear_hru_torch

from .progress import Progress

UNITS = {"linear": linear_hru_torch.LinearHRU, "nonlinear": nonlinear_hru_torch.NonlinearHRU}
MODULES = {"linear": linear_hru_torch, "nonlinear": nonlinear_hru_torch}


class Block(nn.Module):
    """LayerNorm → HRU → readout ``Cφ + D ⊙ x`` → GELU → GLU → dropout, plus the residual."""

    def __init__(self, hidden, units, *, unit, dt, rule, beta, dtype, dropout):
        super().__init__()
        self.norm = nn.LayerNorm(hidden, dtype=dtype)
        self.hru = UNITS[unit](units, hidden, dt=dt, beta=beta, rule=rule, dtype=dtype)
        self.readout = nn.Linear(units, hidden, dtype=dtype)
        self.skip = nn.Parameter(torch.randn(hidden, dtype=dtype))
        self.glu = nn.Linear(hidden, 2 * hidden, dtype=dtype)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        phi = self.hru(self.norm(x))
        y = nn.functional.gelu(self.readout(phi) + self.skip * x)
        y = self.dropout(nn.functional.glu(self.glu(y), dim=-1))
        return x + y


class HSSM(nn.Module):
    """Encoder → ``blocks`` HRU blocks → mean over time → classifier (logits)."""

    def __init__(self, n_inputs, n_classes, *, hidden=32, units=32, blocks=2, unit="linear",
                 dt=0.5, rule="rhel", beta=None, dtype=torch.float32, dropout=0.0):
        super().__init__()
        if unit not in UNITS:
            raise ValueError(f"unit {unit!r}: choose from {sorted(UNITS)}")
        self.unit, self.dt = unit, float(dt)
        self.encoder = nn.Linear(n_inputs, hidden, dtype=dtype)
        self.blocks = nn.ModuleList(
            Block(hidden, units, unit=unit, dt=dt, rule=rule, beta=beta, dtype=dtype,
                  dropout=dropout) for _ in range(blocks))
        self.classifier = nn.Linear(hidden, n_classes, dtype=dtype)

    @property
    def hrus(self):
        return [b.hru for b in self.blocks]

    def set_rule(self, rule: str):
        for hru in self.hrus:
            hru.rule = rule

    @torch.no_grad()
    def constrain(self):
        """Project the HRU parameters back where the units are well defined and the
        leapfrog is stable: positive ``A`` (POSITIVE), and δ²A < 4 for the linear unit."""
        module = MODULES[self.unit]
        for hru in self.hrus:
            for name in module.POSITIVE:
                getattr(hru, name).clamp_(min=1e-3)
            if self.unit == "linear":
                hru.A.clamp_(max=3.9 / self.dt**2)

    def forward(self, u):
        x = self.encoder(u)
        for block in self.blocks:
            x = block(x)
        return self.classifier(x.mean(1))


# -- data ----------------------------------------------------------------------------------


def load_dataset(name: str, dtype=torch.float32):
    """``(x_train, y_train, x_test, y_test, classes)`` from aeon's bundled copy of a UEA/UCR
    set; ``x`` is (cases, length, channels), standardized per channel with training
    statistics."""
    try:
        from aeon.datasets import load_classification
    except ImportError as error:  # pragma: no cover - depends on the optional extra
        raise SystemExit("the HSSM datasets need aeon: pip install 'glep[data]'") from error
    x_train, y_train = load_classification(name, split="train")
    x_test, y_test = load_classification(name, split="test")
    classes = sorted(set(y_train) | set(y_test))
    index = {c: i for i, c in enumerate(classes)}
    x_train = np.asarray(x_train, dtype=float).transpose(0, 2, 1)
    x_test = np.asarray(x_test, dtype=float).transpose(0, 2, 1)
    mean = x_train.mean(axis=(0, 1))
    std = x_train.std(axis=(0, 1)) + 1e-8

    def tensor(x):
        return torch.as_tensor((x - mean) / std, dtype=dtype)

    def labels(y):
        return torch.as_tensor([index[c] for c in y])

    return tensor(x_train), labels(y_train), tensor(x_test), labels(y_test), classes


# -- training --------------------------------------------------------------------------------


@torch.no_grad()
def accuracy(model, x, y, batch=64) -> float:
    model.eval()
    correct = sum(int((model(x[i:i + batch]).argmax(-1) == y[i:i + batch]).sum())
                  for i in range(0, len(x), batch))
    model.train()
    return correct / len(x)


def train(data, *, rule, seed, unit="linear", hidden=32, units=32, blocks=2, dt=0.5,
          beta=None, epochs=30, batch=8, lr=3e-3, progress=True, label=""):
    """One run; the initialization and the batch order depend on ``seed`` only (not on the
    rule), so RHEL and BPTT runs with the same seed are paired."""
    x_train, y_train, x_test, y_test, classes = data
    torch.manual_seed(seed)
    model = HSSM(x_train.shape[-1], len(classes), hidden=hidden, units=units, blocks=blocks,
                 unit=unit, dt=dt, rule=rule, beta=beta, dtype=x_train.dtype)
    model.constrain()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    order = torch.Generator().manual_seed(seed)
    steps = epochs * math.ceil(len(x_train) / batch)
    bar = Progress(steps, label or f"{unit} {rule} seed {seed}", progress)
    start, done, health, loss = time.perf_counter(), 0, 0.0, float("nan")
    for _ in range(epochs):
        for idx in torch.randperm(len(x_train), generator=order).split(batch):
            objective = nn.functional.cross_entropy(model(x_train[idx]), y_train[idx])
            optimizer.zero_grad()
            objective.backward()
            loss = float(objective.detach())
            optimizer.step()
            model.constrain()
            if rule == "rhel":
                health = max(health, *(h.health for h in model.hrus))
            done += 1
            bar.update(done, text=f"loss {loss:.3f}")
    bar.close()
    return {
        "rule": rule, "seed": seed, "unit": unit, "epochs": epochs,
        "train_accuracy": accuracy(model, x_train, y_train),
        "test_accuracy": accuracy(model, x_test, y_test),
        "final_loss": loss, "seconds": time.perf_counter() - start,
        "max_health": health if rule == "rhel" else None,
    }


def table(results, dataset, command) -> str:
    """Markdown: per rule mean ± std of test accuracy, and the paired difference."""
    by = {}
    for r in results:
        by.setdefault(r["rule"], {})[r["seed"]] = r
    lines = [f"### {dataset}", "", f"Command: `{command}`", "",
             "| rule | seeds | test accuracy (%) mean ± std | train accuracy (%) | s/run |",
             "|---|---|---|---|---|"]
    for rule, runs in by.items():
        test = np.array([r["test_accuracy"] for r in runs.values()]) * 100
        fit = np.array([r["train_accuracy"] for r in runs.values()]) * 100
        secs = np.mean([r["seconds"] for r in runs.values()])
        lines.append(f"| {rule.upper()} | {len(test)} | {test.mean():.1f} ± {test.std():.1f} "
                     f"| {fit.mean():.1f} | {secs:.0f} |")
    if {"rhel", "bptt"} <= set(by):
        seeds = sorted(set(by["rhel"]) & set(by["bptt"]))
        diff = np.array([by["rhel"][s]["test_accuracy"] - by["bptt"][s]["test_accuracy"]
                         for s in seeds]) * 100
        if len(diff):
            se = diff.std(ddof=1) / math.sqrt(len(diff)) if len(diff) > 1 else float("nan")
            lines += ["", f"Paired difference RHEL − BPTT over seeds {seeds}: "
                      f"{diff.mean():+.1f} points (standard error {se:.1f})."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m glep.learn.hssm",
                                description="Train HSSMs with RHEL and BPTT, paired by seed.")
    p.add_argument("--dataset", default="BasicMotions", help="aeon UEA/UCR dataset name")
    p.add_argument("--unit", choices=sorted(UNITS), default="linear")
    p.add_argument("--rules", nargs="+", choices=("rhel", "bptt"), default=["rhel", "bptt"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--hidden", type=int, default=32)
    p.add_argument("--units", type=int, default=32)
    p.add_argument("--blocks", type=int, default=2)
    p.add_argument("--dt", type=float, default=0.5)
    p.add_argument("--beta", type=float, default=None, help="default: the layer's, per dtype")
    p.add_argument("--threads", type=int, default=1, help="torch threads (2 cores are shared)")
    p.add_argument("--out", type=Path, default=Path("results/hssm.md"))
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    data = load_dataset(args.dataset)
    results = []
    jsonl = args.out.with_suffix(".jsonl")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for seed in args.seeds:
        for rule in args.rules:
            r = train(data, rule=rule, seed=seed, unit=args.unit, hidden=args.hidden,
                      units=args.units, blocks=args.blocks, dt=args.dt, beta=args.beta,
                      epochs=args.epochs, batch=args.batch, lr=args.lr,
                      progress=not args.no_progress,
                      label=f"{args.dataset} {args.unit} {rule} seed {seed}")
            r["dataset"] = args.dataset
            results.append(r)
            with jsonl.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(r) + "\n")
            print(json.dumps(r), flush=True)
    command = "python -m glep.learn.hssm " + " ".join(argv if argv is not None else sys.argv[1:])
    text = table(results, f"{args.dataset} ({args.unit} HRU)", command)
    with args.out.open("a", encoding="utf-8") as handle:
        handle.write(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
