"""Continual learning of a binarized network (Laborieux et al. 2021): tasks trained one after
another with no task boundary given to the optimizer, accuracy on every task so far.

The network (:class:`BNN`) is the paper's fully connected BNN: hidden weights ``W_h`` whose
signs the forward pass uses (a straight-through estimator passes the gradient to ``W_h``),
batch normalisation, and sign activations whose straight-through gradient is clipped at
|x| > 1; the last layer's batch-normalised outputs are the logits (cross-entropy). With
``binary=False`` the same architecture has float weights and ReLU activations (the
full-precision reference). Steps come from any ``torch.optim`` optimizer;
:class:`glep.Metaplastic` makes it metaplastic.

>>> import torch
>>> net = BNN([4, 8, 3])
>>> net(torch.zeros(5, 4)).shape
torch.Size([5, 3])
"""

from __future__ import annotations

import itertools
import time

import torch

from glep.derive.errors import DataError

from . import catalog


class _Sign(torch.autograd.Function):
    """sign(x) (±1, +1 at 0), gradient passed straight through where |x| ≤ 1 (``clip``)."""

    @staticmethod
    def forward(ctx, x, clip):
        ctx.save_for_backward(x)
        ctx.clip = clip
        return torch.where(x >= 0, 1.0, -1.0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return (grad * (x.abs() <= 1) if ctx.clip else grad), None


class BNN(torch.nn.Module):
    """A fully connected binarized network ``sizes[0]-...-sizes[-1]`` (see the module)."""

    def __init__(self, sizes, binary: bool = True, init: float = 0.1, seed: int = 0):
        super().__init__()
        if len(sizes) < 2 or any(int(s) < 1 for s in sizes):
            raise DataError(f"sizes={sizes!r}: give at least two layer sizes ≥ 1")
        generator = torch.Generator().manual_seed(seed)
        self.binary = binary
        self.weights = torch.nn.ParameterList()
        self.norms = torch.nn.ModuleList()
        for fan_in, fan_out in itertools.pairwise(sizes):
            bound = init if binary else fan_in**-0.5
            w = (torch.rand(fan_out, fan_in, generator=generator) * 2 - 1) * bound
            self.weights.append(torch.nn.Parameter(w))
            self.norms.append(torch.nn.BatchNorm1d(fan_out, affine=False))

    def forward(self, x):
        for k, (w, norm) in enumerate(zip(self.weights, self.norms)):
            weight = _Sign.apply(w, False) if self.binary else w
            x = norm(x @ weight.T)
            if k < len(self.weights) - 1:
                x = _Sign.apply(x, True) if self.binary else torch.relu(x)
        return x


def permuted(data, count: int, seed: int = 0):
    """``count`` tasks from one classification data set (:func:`glep.learn.catalog.permuted`)
    as tuples ``(name, x, y, test_x, test_y)``."""
    return [(t.name, t.x, t.y, t.test_x, t.test_y) for t in catalog.permuted(data, count, seed)]


def accuracy(model, x, y) -> float:
    model.eval()
    with torch.no_grad():
        out = model(torch.as_tensor(x, dtype=torch.float32)).argmax(-1).numpy()
    model.train()
    return float((out == y).mean())


def train_sequence(model, optimizer, tasks, epochs: int, batch: int = 100, seed: int = 0):
    """Train on ``tasks`` one after another (``epochs`` each; the optimizer is never told
    that the task changed). Returns the history: one row per epoch with the task being
    trained, the epoch count so far, the seconds and the test accuracy on every task so far."""
    generator = torch.Generator().manual_seed(seed)
    history, start, done = [], time.perf_counter(), 0
    loss = torch.nn.CrossEntropyLoss()
    for k, (_, x, y, _, _) in enumerate(tasks):
        x, y = torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y)
        for _ in range(epochs):
            for index in torch.randperm(len(x), generator=generator).split(batch):
                if len(index) < 2:
                    continue  # batch normalisation needs two cases
                optimizer.zero_grad()
                loss(model(x[index]), y[index]).backward()
                optimizer.step()
            done += 1
            history.append({"task": k, "epoch": done,
                            "seconds": round(time.perf_counter() - start, 2),
                            "accuracy": [accuracy(model, t[3], t[4]) for t in tasks[:k + 1]]})
    return history
