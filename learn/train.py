"""Fit a system's parameters to data with a learning rule.

A generated module computes the gradient of the batch-mean loss with the chosen rule
(``HEL``, ``PFVP``, ``adjoint``: the NumPy module, faster on small batches; ``BPTT``:
autograd through the Torch module's RK4) and a ``torch.optim`` optimizer steps the
parameters. Every step is logged (JSON lines: step, epoch, loss, gradient norm, wall
time) and flushed, so an interrupted run keeps its log and its last parameters.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from glep.codegen.emit import load_module
from glep.derive.errors import DataError, RuleError

from .datasets import Trajectories

TRAINING_RULES = ("HEL", "PFVP", "adjoint", "BPTT")
OPTIMIZERS = ("adam", "sgd", "lbfgs")


@dataclass
class Run:
    """What a training run produced."""

    rule: str
    losses: list[float] = field(default_factory=list)
    gradient_norms: list[float] = field(default_factory=list)
    test_losses: list[float] = field(default_factory=list)  # after each epoch
    initial_test_loss: float | None = None
    theta: np.ndarray | None = None
    seconds: float = 0.0
    interrupted: bool = False


class Progress:
    """A one-line progress bar on stderr (no dependency)."""

    def __init__(self, total: int, label: str, enabled: bool = True):
        self.total, self.label, self.enabled = total, label, enabled and sys.stderr.isatty()
        self.start = time.perf_counter()

    def update(self, done: int, loss: float):
        if not self.enabled:
            return
        width = 30
        filled = int(width * done / max(self.total, 1))
        elapsed = time.perf_counter() - self.start
        sys.stderr.write(
            f"\r{self.label} [{'#' * filled}{'.' * (width - filled)}] {done}/{self.total} "
            f"loss {loss:.3e} {elapsed:.0f}s"
        )
        sys.stderr.flush()

    def close(self):
        if self.enabled:
            sys.stderr.write("\n")


def _batches(order, size):
    for start in range(0, len(order), size):
        yield order[start : start + size]


def train(problem, data: Trajectories, *, rule="HEL", epochs=10, batch=16, lr=1e-2,
          lr_decay=1.0, optimizer="adam", seed=0, beta=1e-4, steps=None, log_path=None,
          params_path=None, progress=True) -> Run:
    """Train ``problem``'s parameters on ``data`` and return the :class:`Run`."""
    import torch

    if rule not in TRAINING_RULES:
        raise RuleError(f"unknown training rule {rule!r}: choose one of {TRAINING_RULES}")
    if optimizer not in OPTIMIZERS:
        raise RuleError(f"unknown optimizer {optimizer!r}: choose one of {OPTIMIZERS}")
    if batch <= 0 or epochs <= 0 or not lr > 0:
        raise DataError("--batch and --epochs must be positive integers and --lr positive")
    module = load_module(problem, "torch" if rule == "BPTT" else "numpy")
    if rule in module.RULES and module.RULES[rule] is not None:
        raise RuleError(f"{rule} is not available for {problem.name}: {module.RULES[rule]}")
    steps = problem.steps if steps is None else steps
    convert = torch.as_tensor if rule == "BPTT" else np.asarray
    inputs, targets, z0 = convert(data.inputs), convert(data.targets), convert(data.z0)
    theta = torch.nn.Parameter(torch.tensor(module.PARAM_VALUES, dtype=torch.float64))
    if optimizer == "lbfgs":  # full-batch quasi-Newton: a few dozen gradients for sysid
        opt = torch.optim.LBFGS([theta], lr=lr, max_iter=20, history_size=20,
                                line_search_fn="strong_wolfe")
    else:
        opt = (torch.optim.Adam if optimizer == "adam" else torch.optim.SGD)([theta], lr=lr)
    schedule = torch.optim.lr_scheduler.ExponentialLR(opt, lr_decay)
    generator = torch.Generator().manual_seed(seed)
    run = Run(rule)
    log = open(log_path, "w", encoding="utf-8") if log_path else None
    per_epoch = -(-data.size // batch)
    total = epochs * per_epoch * (20 if optimizer == "lbfgs" else 1)
    bar = Progress(total, f"{problem.name} {rule}", progress)
    if data.test is not None:
        run.initial_test_loss = evaluate(module, theta.detach(), data.test, steps)
    start = time.perf_counter()
    step = 0
    try:
        for epoch in range(epochs):
            order = torch.randperm(data.size, generator=generator).numpy()
            for index in _batches(order, batch):

                def closure(index=index, epoch=epoch):
                    """One gradient by the rule; logged as one step."""
                    nonlocal step
                    opt.zero_grad()
                    result = module.gradient(
                        z0[index], convert(theta.detach()), rule=rule, beta=beta, steps=steps,
                        inputs=inputs[index], targets=targets[index],
                    )
                    loss = float(result["loss"])
                    grad = torch.as_tensor(result["theta"], dtype=torch.float64)
                    norm = float(torch.linalg.norm(grad))
                    if not np.isfinite(loss):
                        raise DataError(
                            f"the loss became {loss} at step {step}: lower the learning rate"
                        )
                    theta.grad = grad.detach().clone()
                    run.losses.append(loss)
                    run.gradient_norms.append(norm)
                    step += 1
                    if log:
                        log.write(json.dumps({"step": step, "epoch": epoch, "loss": loss,
                                              "grad_norm": norm,
                                              "time": time.perf_counter() - start}) + "\n")
                        log.flush()
                    bar.update(step, loss)
                    return torch.tensor(loss)

                if optimizer == "lbfgs":
                    opt.step(closure)
                else:
                    closure()
                    opt.step()
                    schedule.step()
            if data.test is not None:
                run.test_losses.append(evaluate(module, theta.detach(), data.test, steps))
    except KeyboardInterrupt:
        run.interrupted = True
    finally:
        bar.close()
        run.theta = theta.detach().numpy().copy()
        run.seconds = time.perf_counter() - start
        if log:
            log.close()
        if params_path:
            write_params(params_path, module.PARAMS, run.theta)
    return run


def evaluate(module, theta, split, steps) -> float:
    """Mean loss of ``theta`` on a held-out ``(inputs, targets, z0)`` split."""
    inputs, targets, z0 = split
    theta = np.asarray(theta)
    return float(np.mean(np.asarray(
        module.loss(z0, theta, steps=steps, inputs=inputs, targets=targets)
    )))


def write_params(path, names, values) -> None:
    """Trained parameters as JSON ``{name: value}`` (written atomically)."""
    from glep.codegen.emit import write_atomically

    write_atomically(Path(path), json.dumps(dict(zip(names, map(float, values))), indent=2)
                     + "\n")


def plot_losses(runs, path, title) -> None:
    """Loss curves of several runs in one figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 4))
    for run in runs:
        axis.semilogy(np.arange(1, len(run.losses) + 1), run.losses, label=run.rule)
    axis.set_xlabel("step")
    axis.set_ylabel("batch loss")
    axis.set_title(title)
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
