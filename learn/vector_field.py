"""Training of the vector-field networks of :mod:`glep.derive.vector_field`: the relaxation
of the field with distinct forward and backward weights, the centered EP-like update
(``VF-EP``), the true gradient by backpropagation through the free sweeps (``BPTT``) and,
per layer, the angle between the two.

:class:`Network` holds the parameters (float64 tensors) of a generated vector-field module:
``relax`` runs sweeps ``s_l ← clip(W_l s_{l−1} + B_l s_{l+1} + b_l, 0, 1)`` (odd layers,
then even layers; the output under a nudge β: ``clip((a_L + β y)/(1 + β))``), ``field`` is
the vector field ``F(s)``, ``ep_update`` the VF-EP update (a descent direction: the
estimate of −∇C), ``bptt`` the loss and its gradient by autograd through the free sweeps.
Costs and updates are means over the batch; the targets are the one-hot labels scaled to
[OFF, ON] = [0.1, 0.9] (inside the box, as for the energies of :mod:`glep.learn.classify`).

:func:`train` runs one rule on a classification set with SGD (momentum): VF-EP steps
``−ΔW + λW`` on every weight (λ: the declared ``feedback_decay``), BPTT steps its gradient.
After every epoch it logs, on a probe batch of the test set, the angle (degrees) between
VF-EP's update and −∇C of each layer's (W_l, b_l) (``angle``; and ``angle_tied``, against
the gradient along the direction where B_{l−1} moves as W_lᵀ, which VF-EP's shared update
follows), the mismatch ‖B_l − W_{l+1}ᵀ‖ / ‖W_{l+1}‖ and the residual of the free phase,
max |s − clip(a(s))| (0 at a fixed point).
``glep train FILE --data digits --rule VF-EP --compare BPTT`` writes
``<name>-<rule>.jsonl`` (loss, test accuracy, angles, mismatch per epoch), the parameters,
``<name>-accuracy.md``, ``<name>-accuracy.png`` and ``<name>-<rule>-angle.png``.

>>> import glep
>>> from glep.learn.catalog import load
>>> net = glep.load_problem("systems/vector_field_digits.py")
>>> result = train(net, load("digits").head(64, 64), rule="VF-EP", epochs=1, progress=False)
>>> len(result.diagnostics[-1]["angle"]), len(result.diagnostics[-1]["mismatch"])
(2, 1)
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from dataclasses import dataclass, field

import numpy as np

from glep.codegen.emit import load_module
from glep.derive.errors import DataError, RuleError

from . import checkpoint as ck
from .catalog import Classification
from .options import given, rule_list, run_dir
from .options import integer as _integer
from .options import number as _number
from .progress import Progress

RULES = ("VF-EP", "BPTT")
#: The targets of the wrong classes and of the right one.
OFF, ON = 0.1, 0.9
DEFAULTS = {"rule": "VF-EP", "epochs": 10, "batch": 32, "lr": 0.01, "momentum": 0.9,
            "seed": 0, "beta": None}


def _torch():
    import torch

    return torch


def angle(u, g) -> float:
    """The angle in degrees between two tensors read as flat vectors."""
    u, g = u.flatten().double(), g.flatten().double()
    norm = float(u.norm() * g.norm())
    if norm == 0.0:
        raise ValueError("angle: one of the vectors is zero, its direction is undefined")
    return math.degrees(math.acos(max(-1.0, min(1.0, float(u @ g) / norm))))


class Network:
    """A generated vector-field module's network in Torch (float64 by default)."""

    def __init__(self, module, seed: int | None = None, dtype=None):
        torch = _torch()
        self.sizes, self.depth = tuple(module.LAYERS), len(module.LAYERS) - 1
        self.beta, self.decay = module.BETA, module.FEEDBACK_DECAY
        self.free_steps, self.nudged_steps = module.FREE_STEPS, module.NUDGED_STEPS
        self.dtype = dtype or torch.float64
        generator = torch.Generator().manual_seed(module.SEED if seed is None else seed)
        self.theta = {}
        for name, shape in module.PARAMS.items():
            bound = 1.0 / math.sqrt(shape[-1]) if len(shape) == 2 else 0.0
            value = (2 * torch.rand(shape, generator=generator, dtype=self.dtype) - 1) * bound
            self.theta[name] = value.requires_grad_()

    def drive(self, k: int, states: list, theta=None):
        """a_k: W_k s_{k−1} + B_k s_{k+1} + b_k (``states`` = [x, s_1, …, s_L])."""
        p = self.theta if theta is None else theta
        a = states[k - 1] @ p[f"W{k}"].T + p[f"b{k}"]
        return a + states[k + 1] @ p[f"B{k}"].T if k < self.depth else a

    def field(self, states: list, y=None, beta: float = 0.0, theta=None) -> list:
        """F_l(s) = −s_l + a_l(s) − β ∂C/∂s_l for l = 1 … L (without the box)."""
        out = [-states[k] + self.drive(k, states, theta) for k in range(1, self.depth + 1)]
        if beta:
            out[-1] = out[-1] + beta * (y - states[-1])
        return out

    def relax(self, x, steps: int, y=None, beta: float = 0.0, start=None, theta=None) -> list:
        """``steps`` sweeps from ``start`` (default: rest, all states 0): [x, s_1 … s_L]."""
        torch = _torch()
        states = [x, *(start[1:] if start is not None else
                       [torch.zeros(len(x), n, dtype=x.dtype) for n in self.sizes[1:]])]
        for _ in range(steps):
            for parity in (1, 0):
                for k in range(2 - parity, self.depth + 1, 2):
                    a = self.drive(k, states, theta)
                    if k == self.depth and beta:
                        a = (a + beta * y) / (1 + beta)
                    states[k] = a.clamp(0.0, 1.0)
        return states

    @staticmethod
    def cost(states: list, y):
        """C per example: ½‖s_L − y‖²."""
        return 0.5 * ((states[-1] - y) ** 2).sum(-1)

    def ep_update(self, x, y, beta: float | None = None, free=None) -> dict:
        """VF-EP's centered update (descent direction, batch mean), without the decay."""
        beta = self.beta if beta is None else beta
        with _torch().no_grad():
            free = free or self.relax(x, self.free_steps)
            plus, minus = (self.relax(x, self.nudged_steps, y, b, start=free)
                           for b in (beta, -beta))
            scale = 1.0 / (2 * beta * len(x))
            out = {}
            for k in range(1, self.depth + 1):
                out[f"W{k}"] = scale * (plus[k].T @ plus[k - 1] - minus[k].T @ minus[k - 1])
                out[f"b{k}"] = scale * (plus[k] - minus[k]).sum(0)
                if k < self.depth:
                    out[f"B{k}"] = scale * (plus[k].T @ plus[k + 1] - minus[k].T @ minus[k + 1])
        return out

    def bptt(self, x, y) -> tuple[float, dict]:
        """The mean cost after the free sweeps and its gradient by backpropagation through
        them."""
        torch = _torch()
        loss = self.cost(self.relax(x, self.free_steps), y).mean()
        grads = torch.autograd.grad(loss, list(self.theta.values()))
        return float(loss.detach()), dict(zip(self.theta, grads))

    def residual(self, states: list) -> float:
        """max |s_l − clip(a_l(s), 0, 1)| over the layers: 0 at a fixed point of the free
        relaxation."""
        with _torch().no_grad():
            return max(float((states[k] - self.drive(k, states).clamp(0.0, 1.0)).abs().max())
                       for k in range(1, self.depth + 1))

    def mismatch(self) -> list[float]:
        """‖B_l − W_{l+1}ᵀ‖ / ‖W_{l+1}‖ per backward weight."""
        p = {k: v.detach() for k, v in self.theta.items()}
        return [float((p[f"B{k}"] - p[f"W{k + 1}"].T).norm() / p[f"W{k + 1}"].norm())
                for k in range(1, self.depth)]

    def diagnostics(self, x, y) -> dict:
        """Per layer, the angle (degrees) between VF-EP's update of (W_l, b_l) and −∇C of the
        vector field (``angle``), and with −∇C along the tied direction, where B_{l−1} moves
        as W_lᵀ (``angle_tied``: ∂C/∂W_l + (∂C/∂B_{l−1})ᵀ, the energy's gradient when
        B = Wᵀ); the feedback mismatch; and the residual of the free phase."""
        torch = _torch()
        with torch.no_grad():
            free = self.relax(x, self.free_steps)
        update = self.ep_update(x, y, free=free)
        _, grad = self.bptt(x, y)

        def flat(k, g):
            return torch.cat([g[f"W{k}"].flatten(), g[f"b{k}"]])

        tied = {**grad, **{f"W{k}": grad[f"W{k}"] + grad[f"B{k - 1}"].T
                           for k in range(2, self.depth + 1)}}
        layers = range(1, self.depth + 1)
        return {"angle": [angle(flat(k, update), -flat(k, grad)) for k in layers],
                "angle_tied": [angle(flat(k, update), -flat(k, tied)) for k in layers],
                "mismatch": self.mismatch(), "residual": self.residual(free)}


@dataclass
class Result:
    """What one training run produced."""

    rule: str
    losses: list[float] = field(default_factory=list)  # mean train loss per epoch
    accuracies: list[float] = field(default_factory=list)  # test accuracy after each epoch
    diagnostics: list[dict] = field(default_factory=list)  # angle, mismatch per epoch
    initial_accuracy: float = 0.0
    theta: dict | None = None
    seconds: float = 0.0


def _tensors(network, data: Classification):
    torch = _torch()
    if data.x.ndim != 2 or data.features != network.sizes[0]:
        raise DataError(f"--data {data.name}: cases of shape {data.x.shape[1:]} do not fit the "
                        f"network's {network.sizes[0]} inputs: change layers in the system "
                        f"file or choose another data set")
    if len(data.classes) != network.sizes[-1]:
        raise DataError(f"--data {data.name}: {len(data.classes)} classes, but the network "
                        f"has {network.sizes[-1]} outputs: one per class")
    as_x = lambda a: torch.as_tensor(np.asarray(a, dtype=np.float64))  # noqa: E731
    return (as_x(data.x), _targets(torch.as_tensor(data.y), network.sizes[-1]), as_x(data.test_x),
            torch.as_tensor(np.asarray(data.test_y)))


def train(problem, data: Classification, *, rule="VF-EP", epochs=10, batch=32, lr=0.01,
          momentum=0.9, seed=0, beta=None, progress=True, log_path=None) -> Result:
    """Train the vector-field network ``problem`` on ``data`` with ``rule`` (VF-EP or BPTT);
    the angle to the true gradient is logged after every epoch under both rules."""
    torch = _torch()
    if rule not in RULES:
        raise RuleError(f"--rule {rule!r}: a vector-field network learns by "
                        f"{' or '.join(RULES)}")
    net = Network(load_module(problem, "torch"), seed=seed)
    if beta is not None:
        net.beta = _number("beta", beta, low=0)
    x, y, test_x, test_y = _tensors(net, data)
    opt = torch.optim.SGD(list(net.theta.values()), lr=lr, momentum=momentum)
    probe = slice(0, min(256, len(test_x)))

    def accuracy():
        with torch.no_grad():
            return float((net.relax(test_x, net.free_steps)[-1].argmax(-1) == test_y)
                         .double().mean())

    result = Result(rule, initial_accuracy=accuracy())
    per_epoch = -(-len(x) // batch)
    bar = Progress(epochs * per_epoch, f"{problem.name} {rule}", progress)
    log = open(log_path, "w", encoding="utf-8") if log_path else contextlib.nullcontext()
    started = time.perf_counter()
    with bar, log:
        for epoch in range(epochs):
            order = np.random.default_rng([seed, epoch]).permutation(len(x))
            total = 0.0
            for k in range(per_epoch):
                index = torch.as_tensor(order[k * batch:(k + 1) * batch])
                xb, yb = x[index], y[index]
                if rule == "BPTT":
                    loss, grads = net.bptt(xb, yb)
                else:
                    with torch.no_grad():
                        free = net.relax(xb, net.free_steps)
                        loss = float(net.cost(free, yb).mean())
                    update = net.ep_update(xb, yb, free=free)
                    grads = {name: -g + (net.decay * net.theta[name].detach()
                                         if name[0] in "WB" else 0.0)
                             for name, g in update.items()}
                if not (math.isfinite(loss) and all(bool(torch.isfinite(g).all())
                                                    for g in grads.values())):
                    raise DataError(f"{rule}: the loss or update became non-finite at epoch "
                                    f"{epoch + 1}: lower --lr or --beta")
                for name, g in grads.items():
                    net.theta[name].grad = g
                opt.step()
                total += loss * len(index)
                bar.update(epoch * per_epoch + k + 1, loss)
            result.losses.append(total / len(x))
            result.accuracies.append(accuracy())
            result.diagnostics.append(net.diagnostics(test_x[probe], _targets(test_y[probe],
                                                                                net.sizes[-1])))
            result.seconds = time.perf_counter() - started
            if log_path:
                log.write(json.dumps({"epoch": epoch + 1, "loss": result.losses[-1],
                                      "test_accuracy": result.accuracies[-1],
                                      **result.diagnostics[-1],
                                      "seconds": round(result.seconds, 3)}) + "\n")
                log.flush()
    result.theta = {k: v.detach().numpy() for k, v in net.theta.items()}
    return result


def _targets(labels, classes: int):
    """The one-hot labels scaled to [OFF, ON]."""
    one_hot = _torch().nn.functional.one_hot(labels.long(), classes).double()
    return OFF + (ON - OFF) * one_hot


def plot_angles(results: list[Result], path, title: str) -> None:
    """The angle between VF-EP's update and the true gradient, per layer and epoch (mean and
    range over the runs given)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    angles = np.array([[d["angle"] for d in r.diagnostics] for r in results])  # run, ep, layer
    epochs = np.arange(1, angles.shape[1] + 1)
    tied = np.array([[d["angle_tied"] for d in r.diagnostics] for r in results])
    for k in range(angles.shape[2]):
        line, = ax.plot(epochs, angles[:, :, k].mean(0), marker="o", label=f"layer {k + 1}")
        ax.fill_between(epochs, angles[:, :, k].min(0), angles[:, :, k].max(0), alpha=0.2,
                        color=line.get_color())
        if k:  # layer 1 has no tied feedback weight: both angles agree
            ax.plot(epochs, tied[:, :, k].mean(0), "--", color=line.get_color(),
                    label=f"layer {k + 1}, tied direction")
    ax.set(xlabel="epoch", ylabel="angle to the true gradient (degrees)", title=title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def train_command(args, problem, name: str) -> int:
    """``glep train FILE --data SET --rule VF-EP [--compare BPTT]``: every rule × seed, the
    accuracy table and figure, and the angle figure of each rule."""
    from .catalog import load
    from .classify import report_accuracies, write_params

    if getattr(args, "resume", None):
        raise DataError("--resume: vector-field runs are not checkpointed: run them again")
    options = given(args, DEFAULTS)
    rules = rule_list(options["rule"], getattr(args, "compare", None), RULES,
                      "a vector-field network")
    seeds = [_integer("seed", s, 0) for s in str(options["seed"]).split(",")]
    kw = {"epochs": _integer("epochs", options["epochs"], 1),
          "batch": _integer("batch", options["batch"], 1),
          "lr": _number("lr", options["lr"], low=0),
          "momentum": _number("momentum", options["momentum"], low=0, high=1, low_open=False),
          "beta": None if options["beta"] is None else _number("beta", options["beta"], low=0)}
    if args.data is None:
        raise DataError("--data is required: digits, mnist5k or a .npz classification file")
    data = load(args.data, seed=seeds[0])
    out_dir = run_dir(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ck.atomic_write(out_dir / ck.METADATA_NAME, ck.dumps(
        {"system": str(args.file), "data": str(args.data), "kind": "vector_field",
         "settings": list(getattr(args, "set", None) or []), "rules": rules, "seeds": seeds,
         "options": kw}, indent=1))
    results = []
    for rule in rules:
        mine = []
        for seed in seeds:
            label = rule if len(seeds) == 1 else f"{rule}-seed{seed}"
            result = train(problem, data, rule=rule, seed=seed,
                           progress=not getattr(args, "quiet", False),
                           log_path=out_dir / f"{name}-{label}.jsonl", **kw)
            mine.append(result)
            write_params(out_dir / f"{name}-{label}-params.json", result.theta)
            last = result.diagnostics[-1]
            print(f"{label}: test accuracy {100 * result.accuracies[-1]:.2f} % after "
                  f"{len(result.accuracies)} epochs, {result.seconds:.1f} s; angle of VF-EP "
                  f"to the true gradient " + ", ".join(f"{a:.1f}°" for a in last["angle"]),
                  flush=True)
        plot_angles(mine, out_dir / f"{name}-{rule}-angle.png", f"{name} {rule} on {data.name}")
        results += mine
    print(report_accuracies(results, data, args, out_dir, name))
    return 0
