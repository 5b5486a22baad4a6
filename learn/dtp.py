"""Difference target propagation with the Local Difference Reconstruction Loss (L-DRL), and
backpropagation, for the feedforward networks of :mod:`glep.derive.feedforward`.

:class:`Network` builds a generated feedforward module's layers in Torch: ``F(n, s)`` (layer n
of the forward network), ``G(n, s)`` (its feedback layer: the transposed dense map or the
transposed convolution, plus a bias), the difference targets, the
forward update ∇_θ Σ L_n^F, the L-DRL loss and the diagnostics of Ernoult et al. (2022): the
Jacobian distance ‖J_G − J_Fᵀ‖/‖J_F‖ of each feedback layer and the angle between each
layer's DTP update and the backpropagation gradient. Sums run over the batch: with
L = Σ ℓ, matched feedback gives ∇_θ Σ L^F ≈ β ∇_θ L; the optimizer steps ∇_θ Σ L^F / (β B),
so that ``--lr`` means the same for DTP and BP.

:func:`train` runs one rule on a classification set: per batch, ``feedback_iterations``
L-DRL steps on every feedback layer (SGD with momentum 0.9 at ``feedback_lr``, fresh noise
each step) and then one forward step. ``glep train FILE --rule DTP --compare BP`` writes, in
the run directory: ``<name>-<rule>.jsonl`` (one line per epoch: loss, test accuracy, and for
DTP the distance and angle of every layer), ``<name>-<rule>-params.json``,
``<name>-accuracy.md``, ``<name>-accuracy.png``, ``<name>-DTP-diagnostics.png`` and an atomic
checkpoint ``<name>-<rule>-checkpoint.json`` (every ``--checkpoint-every`` batches, at the
end and on SIGINT/SIGTERM: forward and feedback parameters, every optimizer's state, the
noise generator's state, the epoch, the batch and the logs so far), from which
``glep train --resume RUN_DIR`` continues exactly where the run stopped.

>>> import glep
>>> from glep.learn.catalog import load
>>> net = glep.load_problem("systems/dtp_digits.py")
>>> result = train(net, load("digits").head(64, 64), rule="DTP", epochs=1,
...                feedback_iterations=2, progress=False)
>>> [len(result.diagnostics[-1][k]) for k in ("distance", "angle")]  # layers 2-3, 1-3
[2, 3]
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

RULES = ("DTP", "BP")
DEFAULTS = {"rule": "DTP", "epochs": 10, "batch": 32, "lr": 0.05, "optimizer": "sgd",
            "momentum": 0.9, "seed": 0, "beta": None, "sigma": None,
            "feedback_iterations": None, "feedback_lr": None, "checkpoint_every": 50}


def _torch():
    import torch

    return torch


def _activation(name: str):
    f = _torch().nn.functional
    return {"tanh": f.tanh, "elu": f.elu, "relu": f.relu, "sigmoid": f.sigmoid,
            "identity": lambda z: z}[name]


class Network:
    """The network of a generated feedforward ``module``: forward parameters ``theta``
    (``W_n``, ``b_n``) and feedback parameters ``omega`` (``V_n``, ``c_n``), drawn uniformly
    in ±1/√fan-in from ``seed`` (default: the module's)."""

    def __init__(self, module, seed: int | None = None, dtype=None):
        torch = _torch()
        self.module, self.dtype = module, dtype or torch.float64
        self.layers, self.shapes = module.LAYERS, [tuple(s) for s in module.SHAPES]
        self.depth = len(self.layers)
        gen = torch.Generator().manual_seed(module.SEED if seed is None else seed)

        def draw(shapes, fan):
            return {k: ((2 * torch.rand(v, generator=gen, dtype=self.dtype) - 1)
                        / math.sqrt(fan(k, v))).requires_grad_() for k, v in shapes.items()}

        self.theta = draw(module.PARAMS, lambda k, v: math.prod(
            module.PARAMS["W" + k[1:]][1:]))
        self.omega = draw(module.FEEDBACK_PARAMS, lambda k, v: math.prod(
            module.FEEDBACK_PARAMS["V" + k[1:]]) / module.FEEDBACK_PARAMS["V" + k[1:]][1])
        self._act = _activation(module.ACTIVATION)

    def act(self, n: int, z):
        """The activation of layer n (the last layer is linear)."""
        return z if n == self.depth else self._act(z)

    def F(self, n: int, s, theta=None):
        """Layer n: ``s_n = F_n(s_{n−1})`` (batched)."""
        f, theta = _torch().nn.functional, theta or self.theta
        W, b, layer = theta[f"W{n}"], theta[f"b{n}"], self.layers[n - 1]
        if layer[0] == "dense":
            return self.act(n, f.linear(s.flatten(1), W, b))
        return self.act(n, f.conv2d(s, W, b, stride=layer[3], padding=layer[4]))

    def G(self, n: int, s, omega=None):
        """Feedback layer n (n ≥ 2): ``s_n``'s space → ``s_{n−1}``'s (batched)."""
        f, omega = _torch().nn.functional, omega or self.omega
        V, c, layer = omega[f"V{n}"], omega[f"c{n}"], self.layers[n - 1]
        shape = self.shapes[n - 1]
        if layer[0] == "dense":
            return (s @ V.flatten(1)).reshape(-1, *shape) + c.reshape(-1, *[1] * (len(shape) - 1))
        _, kernel, stride, padding = layer[1:]
        extra = [shape[i + 1] - ((self.shapes[n][i + 1] - 1) * stride - 2 * padding + kernel)
                 for i in range(2)]
        return f.conv_transpose2d(s, V, c, stride=stride, padding=padding,
                                  output_padding=tuple(extra))

    def forward(self, x, theta=None) -> list:
        """The states ``[s_0, …, s_N]``, ``s_0 = x`` reshaped to the input shape."""
        states = [x.reshape(-1, *self.shapes[0])]
        for n in range(1, self.depth + 1):
            states.append(self.F(n, states[-1], theta))
        return states

    def cost(self, logits, labels):
        """ℓ per example."""
        f = _torch().nn.functional
        if self.module.COST == "cross_entropy":
            return f.cross_entropy(logits, labels, reduction="none")
        return 0.5 * ((logits - f.one_hot(labels, logits.shape[-1]).to(logits)) ** 2).sum(-1)

    def targets(self, states, labels, beta: float) -> list:
        """``[t_1, …, t_N]`` (index n − 1 holds t_n): the first target and difference targets."""
        torch = _torch()
        s_last = states[-1].detach().requires_grad_()
        (grad,) = torch.autograd.grad(self.cost(s_last, labels).sum(), s_last)
        with torch.no_grad():
            out = [s_last - beta * grad]
            for n in range(self.depth, 1, -1):
                out.insert(0, states[n - 1] + self.G(n, out[0]) - self.G(n, states[n]))
        return [t.detach() for t in out]

    def forward_update(self, states, targets) -> dict:
        """∇_θ Σ_batch L_n^F, L_n^F = ½‖F_n(s_{n−1}) − t_n‖² with s_{n−1}, t_n held."""
        torch, out = _torch(), {}
        for n in range(1, self.depth + 1):
            params = [self.theta[f"W{n}"], self.theta[f"b{n}"]]
            s = self.F(n, states[n - 1].detach())
            grads = torch.autograd.grad(0.5 * ((s - targets[n - 1]) ** 2).sum(), params)
            out.update({f"W{n}": grads[0], f"b{n}": grads[1]})
        return out

    def backprop(self, x, labels) -> tuple[float, dict]:
        """Σ_batch ℓ and its gradient by backpropagation."""
        torch = _torch()
        loss = self.cost(self.forward(x)[-1], labels).sum()
        grads = torch.autograd.grad(loss, list(self.theta.values()))
        return loss.item(), dict(zip(self.theta, grads))

    def ldrl_loss(self, n: int, s_prev, sigma: float, generator):
        """L_n^G (mean over the batch) with fresh noise ε, η ~ N(0, I)."""
        torch = _torch()
        s_prev = s_prev.detach()
        with torch.no_grad():
            s = self.F(n, s_prev)
        eps = torch.randn(s_prev.shape, generator=generator, dtype=s_prev.dtype)
        eta = torch.randn(s.shape, generator=generator, dtype=s.dtype)
        with torch.no_grad():
            moved = self.F(n, s_prev + sigma * eps)
        base = self.G(n, s)
        reconstruction = -2 * (sigma * eps * (self.G(n, moved) - base)).flatten(1).sum(1)
        spread = ((self.G(n, s + sigma * eta) - base) ** 2).flatten(1).sum(1)
        return (reconstruction + spread).mean()

    def jacobians(self, n: int, s_prev):
        """Per example: J_F of layer n at s_{n−1} and J_G of feedback n at s_n, as matrices
        (out × in and in × out, flattened states). The examples are independent, so the
        Jacobian of the batch sum holds every example's."""
        from torch.func import jacrev

        s_prev = s_prev.detach()
        s = self.F(n, s_prev).detach()
        batch = len(s_prev)
        jf = jacrev(lambda v: self.F(n, v).sum(0))(s_prev).detach()
        jg = jacrev(lambda v: self.G(n, v).sum(0))(s).detach()
        jf = jf.reshape(s[0].numel(), batch, s_prev[0].numel()).transpose(0, 1)
        return jf, jg.reshape(s_prev[0].numel(), batch, s[0].numel()).transpose(0, 1)

    def distance(self, n: int, s_prev) -> float:
        """Mean over the batch of ‖J_G − J_Fᵀ‖_F / ‖J_F‖_F for feedback layer n."""
        jf, jg = self.jacobians(n, s_prev)
        gap = (jg - jf.transpose(1, 2)).flatten(1).norm(dim=1)
        return float((gap / jf.flatten(1).norm(dim=1)).mean())

    def diagnostics(self, x, labels, beta: float) -> dict:
        """The Jacobian distance of every feedback layer (n = 2 … N) and the angle (degrees)
        between every layer's DTP update and the backprop gradient (n = 1 … N)."""
        states = self.forward(x)
        update = self.forward_update(states, self.targets(states, labels, beta))
        _, grad = self.backprop(x, labels)
        angles = []
        for n in range(1, self.depth + 1):
            u = _flat([update[f"W{n}"], update[f"b{n}"]])
            g = _flat([grad[f"W{n}"], grad[f"b{n}"]])
            cos = float(u @ g / (u.norm() * g.norm()).clamp_min(1e-300))
            angles.append(math.degrees(math.acos(max(-1.0, min(1.0, cos)))))
        return {"distance": [self.distance(n, states[n - 1])
                             for n in range(2, self.depth + 1)], "angle": angles}


def _flat(tensors):
    return _torch().cat([t.flatten() for t in tensors])


@dataclass
class Result:
    """What one training run produced."""

    rule: str
    losses: list[float] = field(default_factory=list)  # mean train loss per epoch
    accuracies: list[float] = field(default_factory=list)  # test accuracy after each epoch
    diagnostics: list[dict] = field(default_factory=list)  # DTP: distance and angle per epoch
    initial_accuracy: float = 0.0
    theta: dict | None = None
    seconds: float = 0.0
    step: int = 0
    interrupted: bool = False


def _settings(module, beta, sigma, feedback_iterations, feedback_lr) -> tuple:
    """The L-DRL settings: given ones checked, missing ones the module's declared defaults."""
    beta = module.BETA if beta is None else _number("beta", beta, low=0)
    if sigma is None:
        sigma = list(module.SIGMA)
    else:
        parts = str(sigma).split(",") if not isinstance(sigma, list | tuple) else sigma
        sigma = [_number("sigma", s, low=0) for s in parts]
        if len(sigma) == 1:
            sigma = sigma * len(module.SIGMA)
        if len(sigma) != len(module.SIGMA):
            raise DataError(f"--sigma gives {len(sigma)} values: give one, or one per feedback "
                            f"layer ({len(module.SIGMA)}, layers 2 … {len(module.LAYERS)})")
    iterations = module.FEEDBACK_ITERATIONS if feedback_iterations is None else _integer(
        "feedback_iterations", feedback_iterations, 0)
    rate = module.FEEDBACK_LR if feedback_lr is None else _number("feedback_lr", feedback_lr,
                                                                     low=0)
    return beta, sigma, iterations, rate


def _tensors(network, data: Classification):
    torch = _torch()
    shape, classes = network.shapes[0], network.layers[-1][1]
    if data.x.ndim != 2 or data.features != math.prod(shape):
        raise DataError(f"--data {data.name}: cases of shape {data.x.shape[1:]} do not fit the "
                        f"network's input {shape} (set it in the system file, e.g. --set "
                        f"side=28, or choose another data set)")
    if len(data.classes) != classes:
        raise DataError(f"--data {data.name}: {len(data.classes)} classes, but the network "
                        f"has {classes} outputs: one per class")
    return [torch.as_tensor(np.asarray(a), dtype=torch.long if k % 2 else network.dtype)
            for k, a in enumerate((data.x, data.y, data.test_x, data.test_y))]


def train(problem, data: Classification, *, rule="DTP", epochs=10, batch=32, lr=0.05,
          optimizer="sgd", momentum=0.9, seed=0, beta=None, sigma=None,
          feedback_iterations=None, feedback_lr=None, progress=True, log_path=None,
          checkpoint_path=None, checkpoint_every=50, resume=None, stop=None) -> Result:
    """Train the feedforward network ``problem`` on ``data`` with ``rule`` (DTP or BP).

    ``checkpoint_path``: where to write the checkpoint (every ``checkpoint_every`` batches, at
    the end and when ``stop`` — by default SIGINT/SIGTERM — asks); ``resume``: a checkpoint of
    an earlier call with the same options, continued at the same batch with the same
    optimizer, feedback and noise states."""
    torch = _torch()
    if rule not in RULES:
        raise RuleError(f"--rule {rule!r}: a feedforward network learns by {' or '.join(RULES)}")
    module = load_module(problem, "torch")
    beta, sigma, iterations, rate = _settings(module, beta, sigma, feedback_iterations,
                                              feedback_lr)
    net = Network(module, seed=seed)
    x, y, test_x, test_y = _tensors(net, data)
    params = list(net.theta.values())
    if optimizer == "sgd":
        opt = torch.optim.SGD(params, lr=lr, momentum=momentum)
    elif optimizer == "adam":
        opt = torch.optim.Adam(params, lr=lr)
    else:
        raise DataError(f"--optimizer {optimizer!r}: choose sgd or adam")
    feedback = [torch.optim.SGD([net.omega[f"V{n}"], net.omega[f"c{n}"]], lr=rate, momentum=0.9)
                for n in range(2, net.depth + 1)]
    noise = torch.Generator().manual_seed(seed + 1)
    probe = slice(0, min(64, len(test_x)))

    def accuracy():
        with torch.no_grad():
            return float((net.forward(test_x)[-1].argmax(-1) == test_y).double().mean())

    result = Result(rule)
    per_epoch = -(-len(x) // batch)
    epoch, position, order, total = 0, 0, None, 0.0
    if resume is not None:
        with torch.no_grad():
            for k, v in (*net.theta.items(), *net.omega.items()):
                v.copy_(torch.as_tensor(resume["params"][k], dtype=net.dtype))
        opt.load_state_dict(ck.decode(resume["optimizer"]))
        for opt_n, saved in zip(feedback, resume["feedback"]):
            opt_n.load_state_dict(ck.decode(saved))
        ck.set_generator_state(noise, resume["noise"])
        epoch, position, result.step = resume["epoch"], resume["batch"], resume["step"]
        order = None if resume["order"] is None else np.asarray(resume["order"])
        total, result.losses = resume["total"], resume["losses"]
        result.accuracies, result.diagnostics = resume["accuracies"], resume["diagnostics"]
        result.initial_accuracy, result.seconds = resume["initial_accuracy"], resume["seconds"]
    else:
        result.initial_accuracy = accuracy()

    def save(status):
        if checkpoint_path:
            ck.atomic_write(checkpoint_path, ck.dumps({
                "format": ck.CHECKPOINT_FORMAT, "system": problem.name, "rule": rule,
                "status": status, "step": result.step, "epoch": epoch, "batch": position,
                "order": None if order is None else [int(i) for i in order],
                "params": {k: v.detach().tolist() for k, v in (*net.theta.items(),
                                                                 *net.omega.items())},
                "optimizer": ck.encode(opt.state_dict()),
                "feedback": [ck.encode(o.state_dict()) for o in feedback],
                "noise": ck.generator_state(noise), "total": total, "losses": result.losses,
                "accuracies": result.accuracies, "diagnostics": result.diagnostics,
                "initial_accuracy": result.initial_accuracy, "seconds": result.seconds}))

    stop = ck.Stop() if stop is None else stop
    bar = Progress(epochs * per_epoch, f"{problem.name} {rule}", progress, start=result.step)
    log = open(log_path, "a" if resume else "w", encoding="utf-8") if log_path \
        else contextlib.nullcontext()
    started = time.perf_counter() - result.seconds
    with stop, bar, log:
        while epoch < epochs and not stop.requested:
            if order is None:
                order = np.random.default_rng([seed, epoch]).permutation(len(x))
            while position < per_epoch and not stop.requested:
                index = torch.as_tensor(order[position * batch:(position + 1) * batch])
                xb, yb = x[index], y[index]
                if rule == "BP":
                    loss, grads = net.backprop(xb, yb)
                    scale = 1.0 / len(index)
                else:
                    states = net.forward(xb)
                    for n, opt_n in zip(range(2, net.depth + 1), feedback):
                        for _ in range(iterations):
                            opt_n.zero_grad()
                            net.ldrl_loss(n, states[n - 1], sigma[n - 2], noise).backward()
                            opt_n.step()
                    states = net.forward(xb)
                    loss = float(net.cost(states[-1].detach(), yb).sum())
                    grads = net.forward_update(states, net.targets(states, yb, beta))
                    scale = 1.0 / (beta * len(index))
                if not (math.isfinite(loss) and all(bool(torch.isfinite(g).all())
                                                    for g in grads.values())):
                    raise DataError(f"{rule}: the loss or update became non-finite at epoch "
                                    f"{epoch + 1}: lower --lr or --feedback-lr")
                for name, g in grads.items():
                    net.theta[name].grad = scale * g
                opt.step()
                total += loss
                position, result.step = position + 1, result.step + 1
                result.seconds = time.perf_counter() - started
                bar.update(result.step, loss / len(index))
                if result.step % checkpoint_every == 0:
                    save("running")
            if position == per_epoch:
                result.losses.append(total / len(x))
                result.accuracies.append(accuracy())
                if rule == "DTP":
                    result.diagnostics.append(net.diagnostics(test_x[probe], test_y[probe],
                                                              beta))
                epoch, position, order, total = epoch + 1, 0, None, 0.0
                if log_path:
                    log.write(json.dumps({"epoch": epoch, "loss": result.losses[-1],
                                          "test_accuracy": result.accuracies[-1],
                                          **(result.diagnostics[-1] if rule == "DTP" else {}),
                                          "seconds": round(result.seconds, 3)}) + "\n")
                    log.flush()
        result.interrupted = stop.requested
        save("interrupted" if stop.requested else "complete")
    result.theta = {k: v.detach().numpy() for k, v in net.theta.items()}
    return result


def plot_diagnostics(result, path, title: str, unit: str = "layer") -> None:
    """The Jacobian distance of every feedback layer (or map) and the angle of every
    ``unit``'s DTP update to its backpropagated one, per epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    epochs = range(1, len(result.diagnostics) + 1)
    for n, values in enumerate(zip(*(d["distance"] for d in result.diagnostics)), start=2):
        left.plot(epochs, values, marker="o", label=f"G{n}")
    for n, values in enumerate(zip(*(d["angle"] for d in result.diagnostics)), start=1):
        right.plot(epochs, values, marker="o", label=f"{unit} {n}")
    left.set(xlabel="epoch", ylabel="‖J_G − J_Fᵀ‖ / ‖J_F‖", yscale="log", title="Jacobian "
             "matching")
    right.set(xlabel="epoch", ylabel="angle to backprop (degrees)", title="DTP update")
    for ax in (left, right):
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def train_command(args, problem, name: str) -> int:
    """``glep train FILE --data SET --rule DTP [--compare BP]``: every rule × seed, the
    accuracy table and figure, and DTP's diagnostics; crash-safe and resumable (``--resume``
    continues unfinished runs from their checkpoints)."""
    from .catalog import load

    options = given(args, DEFAULTS)
    rules = rule_list(options["rule"], getattr(args, "compare", None), RULES,
                      "a feedforward network")  # --rule DTP --compare BP: both
    seeds = [_integer("seed", s, 0) for s in str(options["seed"]).split(",")]
    kw = {"epochs": _integer("epochs", options["epochs"], 1),
          "batch": _integer("batch", options["batch"], 1),
          "lr": _number("lr", options["lr"], low=0), "optimizer": options["optimizer"],
          "momentum": _number("momentum", options["momentum"], low=0, high=1, low_open=False),
          "checkpoint_every": _integer("checkpoint_every", options["checkpoint_every"], 1)}
    _settings(load_module(problem, "torch"), options["beta"], options["sigma"],
              options["feedback_iterations"], options["feedback_lr"])
    kw.update({k: options[k] for k in ("beta", "sigma", "feedback_iterations", "feedback_lr")})
    if args.data is None:
        raise DataError("--data is required: digits, mnist5k or a .npz classification file")
    data = load(args.data, seed=seeds[0])
    out_dir = run_dir(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with ck.RunLock(out_dir):
        ck.atomic_write(out_dir / ck.METADATA_NAME, ck.dumps(
            {"system": str(args.file), "data": str(args.data), "kind": "feedforward",
             "settings": list(getattr(args, "set", None) or []),
             "options": {**kw, "rule": rules[0], "compare": ",".join(rules),
                         "seeds": seeds}}, indent=1))
        return _runs(args, problem, name, data, rules, seeds, kw, out_dir)


def _runs(args, problem, name, data, rules, seeds, kw, out_dir) -> int:
    from .classify import output_paths, report_accuracies, write_params

    results = []
    for rule in rules:
        for seed in seeds:
            label = rule if len(seeds) == 1 else f"{rule}-seed{seed}"
            paths = output_paths(out_dir, name, label)
            resume = None
            if getattr(args, "resume", None) and paths["checkpoint"].is_file():
                resume = ck.loads(paths["checkpoint"].read_text(encoding="utf-8"),
                                  paths["checkpoint"])
            stop = ck.Stop()
            result = train(problem, data, rule=rule, seed=seed,
                           progress=not getattr(args, "quiet", False), log_path=paths["log"],
                           checkpoint_path=paths["checkpoint"], resume=resume, stop=stop, **kw)
            results.append(result)
            if result.interrupted:
                return 128 + (stop.signum or 2)
            write_params(paths["params"], result.theta)
            if result.diagnostics:
                plot_diagnostics(result, out_dir / f"{name}-{label}-diagnostics.png",
                                 f"{name} {label} on {data.name}")
            last = result.diagnostics[-1] if result.diagnostics else None
            extra = "" if last is None else (
                "; ‖J_G − J_Fᵀ‖/‖J_F‖ " + ", ".join(f"{d:.3f}" for d in last["distance"])
                + "; angle to backprop " + ", ".join(f"{a:.1f}°" for a in last["angle"]))
            print(f"{label}: test accuracy {100 * result.accuracies[-1]:.2f} % after "
                  f"{len(result.accuracies)} epochs, {result.seconds:.1f} s{extra}", flush=True)
    print(report_accuracies(results, data, args, out_dir, name))
    return 0
