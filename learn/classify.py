"""Train a static energy (an ``EnergyProblem``) or an ff-EBM chain on a classification data
set, with an EP-family rule or backpropagation through the relaxation, crash-safely.

The targets are the one-hot labels scaled to ``[off, on]`` (default 0.1 / 0.9 when the output
units are boxed in [0, 1], else 0 / 1); the prediction is the arg-max of the output units at
the free fixed point. The rule's gradient (``P-EP``, ``N-EP``, ``C-EP``, ``CL``, ``P-CpL``,
``N-CpL``, ``C-CpL`` from the NumPy module; ``continual-EP``, read from the parameters'
total move during a continual nudged phase; ``EP`` for a chain, its centered block-wise
estimate; ``EP+DTP`` for a chain, the same with difference target propagation through the
feedforward maps, whose feedback maps learn by L-DRL (:mod:`glep.learn.chain_dtp`);
``BPTT``: autograd through the Torch module's relaxation from rest) is written into the
parameters' ``.grad`` and a ``torch.optim`` optimizer steps them: SGD with momentum or
Adam, a learning rate per parameter (``--lr 0.05,W1=0.1``), weight decay, a constant or
cosine schedule. With ``--random-sign`` the sign of β is drawn per batch (a one-sided rule
then alternates between its positive and negative form, as in the reference EP codes).

Binary synapses (:mod:`glep.learn.optimizers`): ``--optimizer flip`` steps the binary
weights of an energy declared with ``binary=[...]`` by the flip rule (``--gamma``, ``--tau``,
per weight like ``--lr``) and the other parameters (biases, scales α) by SGD with their
``--lr``; ``--optimizer metaplastic`` is Adam with metaplastic attenuation ``--meta`` (per
parameter), on hidden weights whose signs the energy's binary weights read (float weights of
other energies are its hidden weights directly). The optimizers' state is checkpointed.

The run directory holds, per rule: ``<name>-<rule>.jsonl`` (one line per epoch: step, epoch,
train loss, test accuracy, seconds), ``<name>-<rule>-params.json``, an atomic checkpoint
``<name>-<rule>-checkpoint.json`` (every ``--checkpoint-every`` batches, at the end and on
SIGINT/SIGTERM), ``run.json`` (the options) and a lock; ``<name>-accuracy.md`` (the test
accuracy table of every rule run) and ``<name>-accuracy.png`` (learning curves).

>>> import glep
>>> from glep.learn.catalog import load
>>> problem = glep.load_problem("systems/hopfield_digits.py")
>>> result = train(problem, load("digits").head(64, 64), rule="C-EP", epochs=1, progress=False)
>>> 0.0 <= result.accuracies[-1] <= 1.0
True
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from glep.codegen.emit import load_module
from glep.derive.errors import DataError, RelaxationError, RuleError

from . import chain_dtp, spiking
from . import checkpoint as ck
from .catalog import Classification
from .distributed import World, torch_device
from .options import integer as _integer
from .options import number as _number
from .options import run_dir
from .progress import Progress

ENERGY_RULES = ("P-EP", "N-EP", "C-EP", "CL", "P-CpL", "N-CpL", "C-CpL", "continual-EP",
                "EqSpike", "BPTT")
#: Continual EP's own rate η and nudged steps: its total update is −η ĝ_P + O(η²K/β), read
#: as the estimate ĝ = −total/η that the optimizer then steps with.
CONTINUAL_ETA, CONTINUAL_STEPS = 1e-4, 40
CHAIN_RULES = ("EP", "EP+DTP", "BPTT")
#: Options of EP+DTP only (its feedback maps' L-DRL training).
FEEDBACK = ("sigma", "feedback_iterations", "feedback_lr")
#: A one-sided rule and its mirror (``--random-sign``).
MIRROR = {"P-EP": "N-EP", "N-EP": "P-EP", "P-CpL": "N-CpL", "N-CpL": "P-CpL"}
DEFAULTS = {"rule": "C-EP", "epochs": 10, "batch": 32, "lr": "0.005", "optimizer": "sgd",
            "momentum": 0.9, "weight_decay": 0.0, "schedule": "constant", "seed": 0,
            "beta": 0.2, "random_sign": False, "method": None, "tol": 1e-6,
            "max_iterations": None, "checkpoint_every": 50, "targets": None,
            "spike_dt": spiking.DEFAULTS["dt"], "spike_time": spiking.DEFAULTS["duration"],
            "spike_tau": spiking.DEFAULTS["tau"], "neuron": spiking.DEFAULTS["neuron"],
            "gamma": "1e-2", "tau": "1e-4", "meta": "1.35",
            "precision": None, "sigma": None, "feedback_iterations": None,
            "feedback_lr": None, "output_per_class": 1}
OPTIMIZERS = ("sgd", "adam", "flip", "metaplastic")
#: ``--precision``: the float type of the relaxations (Torch); the parameters the optimizer
#: steps stay float32 under the 16-bit types (float64 by default, with the NumPy module).
PRECISIONS = ("float64", "float32", "float16", "bfloat16")


@dataclass
class Result:
    """What one training run produced."""

    rule: str
    losses: list[float] = field(default_factory=list)  # mean train loss per epoch
    accuracies: list[float] = field(default_factory=list)  # test accuracy after each epoch
    initial_accuracy: float = 0.0
    theta: dict | None = None
    seconds: float = 0.0
    step: int = 0
    interrupted: bool = False
    #: EqSpike: spikes and synaptic events per example, in training and in inference
    cost: dict = field(default_factory=dict)
    #: EP+DTP: the feedback maps' Jacobian distances and the blocks' angles, per epoch
    diagnostics: list[dict] = field(default_factory=list)
    #: test accuracy on each of ``train(also=...)``'s data sets, after training
    also: list[float] = field(default_factory=list)
    #: what ``train(start=...)`` continues from: the parameters the optimizers step and
    #: their states
    state: dict | None = None


def learning_rates(text, names, option="lr", zero=False) -> dict[str, float]:
    """``"0.05"`` or ``"0.05,W1=0.1"``: a default and per-parameter values, all > 0 (≥ 0 with
    ``zero``); ``option`` names the flag (``lr``, ``gamma``, ``tau``, ``meta``).

    >>> learning_rates("0.01,W1=0.1", ["W1", "b1"])
    {'W1': 0.1, 'b1': 0.01}
    """
    default, given = None, {}
    for part in str(text).split(","):
        name, _, value = part.rpartition("=")
        name = name.strip()
        if name and name not in names:
            raise DataError(f"--{option} names {name!r}, not a parameter it applies to: choose "
                            f"from {list(names)}")
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not (math.isfinite(number) and (number >= 0 if zero else number > 0)):
            raise DataError(f"--{option} {part.strip()!r}: give a finite number "
                            f"{'≥' if zero else '>'} 0 (e.g. --{option} 0.05 or "
                            f"--{option} 0.05,{names[0] if names else 'W1'}=0.1)")
        if name:
            given[name] = number
        else:
            default = number
    missing = [n for n in names if n not in given]
    if missing and default is None:
        word = "rate" if option == "lr" else "value"
        raise DataError(f"--{option} gives no {word} for {missing}: add a default (e.g. "
                        f"--{option} 0.05,...)")
    return {n: given.get(n, default) for n in names}


def _optimizers(kind, theta, names, binary, rates, options):
    """``(main, flip)``: the optimizer of the parameters other than the flipped binary weights
    (all of them unless ``kind`` is ``flip``), and the flip rule's (None unless ``flip``)."""
    import torch

    from .optimizers import BinaryFlip, Metaplastic

    flipped = binary if kind == "flip" else []
    if kind == "flip" and not binary:
        raise DataError("--optimizer flip steps binary weights, and this energy has none: "
                        "declare them with Energy(..., binary=[W1, ...]) or choose sgd, adam "
                        "or metaplastic")
    groups = [{"params": [theta[k]], "lr": rates[k]} for k in names if k not in flipped]
    momentum, decay = options["momentum"], options["weight_decay"]
    if kind in ("sgd", "flip"):
        main = torch.optim.SGD(groups, momentum=momentum, weight_decay=decay)
    elif kind == "adam":
        main = torch.optim.Adam(groups, weight_decay=decay)
    elif kind == "metaplastic":
        meta = learning_rates(options["meta"], names, "meta", zero=True)
        for group, k in zip(groups, names):
            group["meta"] = meta[k]
        main = Metaplastic(groups, weight_decay=decay)
    else:
        raise DataError(f"--optimizer {kind!r}: choose one of {', '.join(OPTIMIZERS)}")
    if not flipped:
        return main, None
    gamma = learning_rates(options["gamma"], flipped, "gamma")
    tau = learning_rates(options["tau"], flipped, "tau", zero=True)
    if max(gamma.values()) > 1:
        raise DataError(f"--gamma {options['gamma']!r}: the flip rule's momentum rate must be "
                        f"in (0, 1]")
    return main, BinaryFlip([{"params": [theta[k]], "gamma": gamma[k], "tau": tau[k]}
                             for k in flipped])


def _fits(module, data: Classification, chain: bool, per_class: int = 1):
    last = module.BLOCKS[-1] if chain else module
    first = module.BLOCKS[0] if chain else module
    inputs, outputs = sum(first.INPUT_SIZES), len(last.OUTPUT_UNITS)
    if data.x.ndim != 2 or data.features != inputs:
        raise DataError(f"--data {data.name}: cases of shape {data.x.shape[1:]} do not fit the "
                        f"system's {inputs} inputs (set its input size with --set, or choose "
                        f"another data set)")
    if len(data.classes) * per_class != outputs:
        hint = f" (--output-per-class {outputs // len(data.classes)}?)" \
            if outputs % len(data.classes) == 0 and outputs > len(data.classes) else ""
        raise DataError(f"--data {data.name}: {len(data.classes)} classes × --output-per-class "
                        f"{per_class}, but the system has {outputs} output units{hint}")
    return last


def _encode(data: Classification, block, targets, per_class: int = 1):
    """Labels → targets: the one-hot code scaled to [off, on], each class's entry repeated over
    its ``per_class`` output units (units ``c·K … c·K + K − 1`` belong to class c)."""
    off, on = targets if targets else ((0.1, 0.9) if block.BOX == (0.0, 1.0) else (0.0, 1.0))
    return lambda labels: off + (on - off) * np.repeat(data.one_hot(labels), per_class, axis=-1)


def readout(out, per_class: int = 1) -> np.ndarray:
    """The predicted classes: the arg-max over classes of each class's mean output unit.

    >>> readout(np.array([[0.9, 0.1, 0.5, 0.6]]), per_class=2)
    array([1])
    """
    out = np.asarray(out)
    return out.reshape(*out.shape[:-1], -1, per_class).mean(-1).argmax(-1)


def train(problem, data: Classification, *, rule="C-EP", epochs=10, batch=32, lr="0.005",
          optimizer="sgd", momentum=0.9, weight_decay=0.0, schedule="constant", seed=0,
          beta=0.2, random_sign=False, method=None, tol=1e-6, max_iterations=None,
          targets=None, spike_dt=spiking.DEFAULTS["dt"],
          spike_time=spiking.DEFAULTS["duration"], spike_tau=spiking.DEFAULTS["tau"],
          neuron=spiking.DEFAULTS["neuron"], gamma="1e-2", tau="1e-4", meta="1.35",
          precision=None, sigma=None, feedback_iterations=None, feedback_lr=None,
          output_per_class=1, progress=True, checkpoint_path=None, checkpoint_every=50,
          log_path=None, resume=None, stop=None, start=None, also=(), device="cpu") -> Result:
    """Train ``problem`` (an energy or an ff-EBM chain) on ``data``; returns a :class:`Result`.

    ``resume``: a checkpoint written by an earlier call with the same options (it then
    continues at the same batch with the same optimizer state and batch order, the log cut
    back to what it held at the checkpoint).
    ``gamma``, ``tau``: the flip rule's (``optimizer="flip"``); ``meta``: the metaplasticity
    (``optimizer="metaplastic"``); each a number or per-parameter values like ``lr``.
    ``sigma``, ``feedback_iterations``, ``feedback_lr``: EP+DTP's L-DRL
    (:data:`glep.learn.chain_dtp.DEFAULTS` when None).
    ``device``: where the parameters, the optimizer and the Torch batches live (NumPy modules
    read copies on the CPU).
    ``output_per_class``: K output units per class (the paper's widened output layer of
    binary EP): each is trained toward its class's target, the prediction averages them.
    ``start``: an earlier result's ``state`` to continue from (the next task of a sequence:
    parameters and optimizer states carried over, nothing else told); ``also``: data sets
    whose test accuracy is measured after training (``Result.also``).
    """
    import torch

    device = torch_device(device)
    world = World.current()
    if batch < world.size:
        raise DataError(f"--batch {batch} is smaller than the {world.size} ranks: every rank "
                        f"needs a shard of each batch")
    chain = hasattr(load_module(problem, "numpy"), "BLOCKS")
    rules = CHAIN_RULES if chain else ENERGY_RULES
    if rule not in rules:
        raise RuleError(f"--rule {rule!r}: choose one of {', '.join(rules)}")
    if precision is not None and (chain or precision not in PRECISIONS):
        raise DataError(f"--precision {precision!r}: choose one of {', '.join(PRECISIONS)} "
                        f"(for an energy; a chain relaxes in float64)")
    if precision is not None and rule == "EqSpike":
        raise DataError(f"--precision {precision}: EqSpike runs in float64 (NumPy): drop it")
    low = None if precision is None else getattr(torch, precision)
    module = load_module(problem, "numpy" if low is None else "torch")
    spikes = {"dt": spike_dt, "duration": spike_time, "tau": spike_tau, "neuron": neuron}
    if rule == "EqSpike":
        spiking.check_energy(module)
        spiking.check_options(spike_dt, spike_time, spike_tau)
        spiking.check_inputs(module, data.x)
        spiking.check_inputs(module, data.test_x)
    feedback = None
    if rule == "EP+DTP":
        if world.size > 1:
            raise DataError("--rule EP+DTP trains its feedback maps in one process: run it "
                            "without torchrun")
        feedback = chain_dtp.MapFeedback(module, seed, sigma, feedback_iterations, feedback_lr)
    torch_module = load_module(problem, "torch") if rule == "BPTT" or low is not None else None
    failed = tuple({m.RelaxationFailed for m in (module, torch_module) if m is not None})
    result = Result(rule)
    output_per_class = _integer("output_per_class", output_per_class, 1)
    last = _fits(module, data, chain, output_per_class)
    encode = _encode(data, last, targets, output_per_class)
    names = list(module.PARAMS)
    rates = learning_rates(lr, names)
    master = torch.float64 if low is None else torch.promote_types(low, torch.float32)
    initial = load_module(problem, "numpy").initial_params(seed)
    theta = {k: torch.nn.Parameter(torch.as_tensor(np.array(v, dtype=np.float64)).to(
                 device, master)) for k, v in initial.items()}
    binary = list(getattr(module, "_BINARY_SCALES", {}))
    hidden = binary if optimizer == "metaplastic" else []  # the network reads their signs
    with torch.no_grad():
        for k in hidden:
            theta[k].mul_(float(theta[f"alpha_{k}"]))
    opt, flip = _optimizers(optimizer, theta, names, binary, rates, {
        "momentum": momentum, "weight_decay": weight_decay, "gamma": gamma, "tau": tau,
        "meta": meta})
    per_epoch = -(-len(data.x) // batch)
    total = epochs * per_epoch
    if schedule not in ("constant", "cosine"):
        raise DataError(f"--schedule {schedule!r}: choose constant or cosine")
    factor = (lambda k: 0.5 * (1 + math.cos(math.pi * min(k, total) / total))) \
        if schedule == "cosine" else (lambda k: 1.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
    options = {"method": method, "tol": tol}
    if max_iterations is not None:
        options["max_iterations"] = max_iterations

    def weights():  # what the network reads: the signs of hidden weights
        return {k: v.detach().sign() if k in hidden else v.detach() for k, v in theta.items()}

    def params():
        return {k: v.cpu().numpy() if low is None else v.to(low) for k, v in weights().items()}

    def arrays(*values):  # the module's arrays: NumPy, or Torch tensors of the precision
        return values if low is None else [torch.as_tensor(v).to(device, low) for v in values]

    def accuracy(x, labels):  # the free phase: the targets do not enter
        try:
            out = free_outputs(x, labels)
        except failed as error:
            raise _relaxation_failed(error, f"testing after step {result.step}") from None
        return float((readout(_tensor(out).numpy(), output_per_class) == labels).mean())

    def free_outputs(x, labels):
        if rule == "EqSpike":
            free = spiking.free_rates(module, params(), x, seed=seed, **spikes)
            tally(free, len(x), "inference")
            return free["potentials"][..., last.OUTPUT_UNITS]  # rates could tie
        if chain:
            states, _ = module.forward(params(), x, encode(labels), **options)
            return states[-1][..., last.OUTPUT_UNITS]
        return module.relax(params(), *arrays(x, encode(labels)), **options)[..., last.OUTPUT_UNITS]

    def tally(out, examples, stage):
        total = result.cost.setdefault(stage, [0.0, 0.0, 0])
        total[0] += out["spikes"] * examples
        total[1] += out["events"] * examples
        total[2] += examples

    def gradient(batch_index, signs):
        index = world.shard(batch_index)
        share = len(index) / len(batch_index)
        try:
            loss, grads = local_gradient(index, signs)
        except failed as error:  # a relaxation ran out or did not end at a minimum
            raise _relaxation_failed(error, f"step {result.step + 1}") from None
        grads = {k: g.to(device) for k, g in grads.items()}
        world.mean(list(grads.values()), share)
        return world.mean_scalar(loss, share), grads

    def local_gradient(index, signs):
        x, y = arrays(data.x[index], encode(data.y[index]))
        if rule == "BPTT":
            leaves = {k: torch.as_tensor(v, device=device).clone().requires_grad_()
                      for k, v in params().items()}
            xt, yt = torch.as_tensor(x, device=device), torch.as_tensor(y, device=device)
            if chain:
                states, _ = torch_module.forward(leaves, xt, yt, **options)
                loss = torch_module.BLOCKS[-1].cost(states[-1], yt).mean()
            else:
                z = torch_module.relax(leaves, xt, yt, **options)
                loss = torch_module.cost(z, yt).mean()
            grads = torch.autograd.grad(loss, list(leaves.values()))
            return loss.item(), {k: g.clone() for k, g in zip(leaves, grads)}
        if rule == "EqSpike":
            out = spiking.gradient(module, params(), x, y, beta=beta, seed=[seed, result.step],
                                   **spikes)
            tally(out, len(x), "training")
            return out["loss"], {k: torch.as_tensor(np.array(g, dtype=np.float64))
                                 for k, g in out["grad"].items()}
        chosen = MIRROR.get(rule, rule) if signs.random() < 0.5 and random_sign else rule
        if chosen == "continual-EP":
            free = module.relax(params(), x, y, **options)
            _, total = module.continual_ep(params(), x, y, beta=beta, eta=CONTINUAL_ETA,
                                           steps=options.get("max_iterations", CONTINUAL_STEPS),
                                           method=method)
            return float(module.cost(free, y).mean()), {
                k: -_tensor(v) / CONTINUAL_ETA for k, v in total.items()}
        kw = {"beta": 1.0 if chosen == "CL" else beta, "check": False, **options}
        if not chain:
            kw["rule"] = chosen
        elif feedback is not None:
            kw["maps"] = feedback.backward(beta)
        out = module.gradient(params(), x, y, **kw)
        return float(out["loss"]), {k: _tensor(g) for k, g in out["grad"].items()}

    epoch, position, order = 0, 0, None
    signs = np.random.default_rng([seed, 1])
    if start is not None:
        with torch.no_grad():
            for k, v in start["params"].items():
                theta[k].copy_(v)
        opt.load_state_dict(start["optimizer"])
        if flip is not None:
            flip.load_state_dict(start["flip"])
    if resume is not None:
        with torch.no_grad():
            for k, v in resume["params"].items():
                theta[k].copy_(torch.as_tensor(np.array(v, dtype=np.float64)))
        opt.load_state_dict(ck.decode(resume["optimizer"]))
        if flip is not None:
            flip.load_state_dict(ck.decode(resume["flip"]))
        sched.load_state_dict(ck.decode(resume["scheduler"]))
        epoch, position, result.step = resume["epoch"], resume["batch"], resume["step"]
        order = None if resume["order"] is None else np.asarray(resume["order"])
        signs.bit_generator.state = resume["signs"]
        result.losses, result.accuracies = resume["losses"], resume["accuracies"]
        result.initial_accuracy, result.seconds = resume["initial_accuracy"], resume["seconds"]
        result.cost = {k: list(v) for k, v in resume.get("cost", {}).items()}
        if feedback is not None:
            feedback.load_state_dict(resume["feedback"])
            result.diagnostics = resume["diagnostics"]
    else:
        result.initial_accuracy = accuracy(data.test_x, data.test_y)
    sums = list(resume["sums"]) if resume is not None else [0.0, 0]

    def save(status):
        if checkpoint_path and world.main:
            ck.atomic_write(checkpoint_path, ck.dumps({
                "format": ck.CHECKPOINT_FORMAT, "system": problem.name, "rule": rule,
                "status": status, "step": result.step, "epoch": epoch, "batch": position,
                "order": None if order is None else [int(i) for i in order],
                "params": {k: _tensor(v).tolist() for k, v in theta.items()},
                "optimizer": ck.encode(opt.state_dict()),
                **({"flip": ck.encode(flip.state_dict())} if flip is not None else {}),
                "scheduler": ck.encode(sched.state_dict()), "signs": signs.bit_generator.state,
                "losses": result.losses, "accuracies": result.accuracies, "sums": sums,
                "initial_accuracy": result.initial_accuracy, "seconds": result.seconds,
                "cost": result.cost,
                "log_size": None if log is None else os.fstat(log.fileno()).st_size,
                **({} if feedback is None else {
                    "feedback": feedback.state_dict(), "diagnostics": result.diagnostics})}))

    stop = ck.Stop() if stop is None else stop
    bar = Progress(total, f"{problem.name} {rule}", progress and world.main, start=result.step)
    log = None
    if log_path and world.main:
        log = open(log_path, "a" if resume or start else "w", encoding="utf-8")
        if resume is not None and resume.get("log_size") is not None:
            log.truncate(resume["log_size"])  # the lines of steps after the checkpoint go
    started = time.perf_counter() - result.seconds
    try:
        with stop, bar:
            while epoch < epochs and not stop.requested:
                if order is None:
                    order = np.random.default_rng([seed, epoch]).permutation(len(data.x))
                while position < per_epoch and not stop.requested:
                    index = order[position * batch:(position + 1) * batch]
                    loss, grads = gradient(index, signs)
                    if not (math.isfinite(loss) and all(bool(torch.isfinite(g).all())
                                                        for g in grads.values())):
                        raise DataError(f"{rule}: the loss or gradient became non-finite at "
                                        f"step {result.step + 1}: lower --lr or --beta")
                    for k, g in grads.items():
                        theta[k].grad = g.to(theta[k].dtype).reshape(theta[k].shape)
                    opt.step()
                    if flip is not None:
                        flip.step()
                    sched.step()
                    sums[0], sums[1] = sums[0] + loss, sums[1] + 1
                    position, result.step = position + 1, result.step + 1
                    result.seconds = time.perf_counter() - started
                    bar.update(result.step, loss)
                    if result.step % checkpoint_every == 0:
                        save("running")
                if position == per_epoch:
                    result.losses.append(sums[0] / max(sums[1], 1))
                    result.accuracies.append(accuracy(data.test_x, data.test_y))
                    sums[:] = [0.0, 0]
                    epoch, position, order = epoch + 1, 0, None
                    if feedback is not None:
                        probe = slice(0, min(64, len(data.test_x)))
                        result.diagnostics.append(feedback.diagnostics(
                            params(), data.test_x[probe], encode(data.test_y[probe]), beta,
                            **options))
                    if log:
                        log.write(json.dumps({"step": result.step, "epoch": epoch,
                                              "loss": result.losses[-1],
                                              "test_accuracy": result.accuracies[-1],
                                              **({"flips": sum(st["total_flips"] for st in
                                                               flip.state.values())}
                                                 if flip is not None else {}),
                                              **(result.diagnostics[-1] if feedback else {}),
                                              "seconds": round(result.seconds, 3)}) + "\n")
                        log.flush()
            result.interrupted = stop.requested
            save("interrupted" if stop.requested else "complete")
    finally:
        if log:
            log.close()
    result.theta = {k: _tensor(v).numpy() for k, v in weights().items()}
    result.also = [accuracy(d.test_x, d.test_y) for d in also]
    result.state = copy.deepcopy({"params": {k: v.detach() for k, v in theta.items()},
                                  "optimizer": opt.state_dict(),
                                  "flip": None if flip is None else flip.state_dict()})
    return result


def _relaxation_failed(error: Exception, where: str) -> RelaxationError:
    return RelaxationError(f"{where}: {error} (give a larger --max-iterations or --tol, or a "
                           f"lower --lr or --beta; the last checkpoint is kept)")


def _tensor(value):
    """A NumPy array or a tensor of any float type as a detached float64 tensor on the CPU."""
    import torch

    if torch.is_tensor(value):
        return value.detach().double().cpu()
    return torch.as_tensor(np.asarray(value, dtype=np.float64))


def accuracy_table(results: list[Result], data: Classification, command: str) -> str:
    """Markdown: test accuracy and time per rule (mean ± std over the seeds given)."""
    lines = [f"# {data.name}: test accuracy by rule", "", f"Command: `{command}`", "",
             "| rule | runs | test accuracy (%) | per run | seconds per run |",
             "|---|---|---|---|---|"]
    for rule in dict.fromkeys(r.rule for r in results):
        mine = [r for r in results if r.rule == rule]
        acc = np.array([100 * r.accuracies[-1] for r in mine if r.accuracies])
        if acc.size == 0:
            continue
        lines.append(f"| {rule} | {len(acc)} | {acc.mean():.2f} ± {acc.std():.2f} | "
                     f"{', '.join(f'{a:.1f}' for a in acc)} | "
                     f"{np.mean([r.seconds for r in mine]):.1f} |")
    return "\n".join(lines) + "\n"


def train_tasks(problem, sequence, *, log_path=None, checkpoint_path=None, resume=False,
                **options):
    """Train on the tasks of ``sequence`` one after another (each for ``epochs``; parameters
    and optimizer states carried over, no task boundary given to the optimizer). After each
    task, the test accuracy on every task so far is appended to the log as
    ``{"task", "name", "accuracy": {task: accuracy}}``. Returns the last task's result and the
    rows of accuracies (row k: after task k + 1, on tasks 1 … k + 1).

    Each task has its own checkpoint (``…-task<k>-checkpoint.json`` next to
    ``checkpoint_path``). ``resume=True`` continues an interrupted sequence: the tasks
    finished before the last checkpointed one give back their final state and accuracies
    from their checkpoints, the last one resumes from its checkpoint (the log cut back to
    it), the rest start from it; the result is the uninterrupted run's."""
    stem = None if checkpoint_path is None else Path(checkpoint_path)
    paths = [None if stem is None else stem.with_name(
        stem.name.replace("-checkpoint", f"-task{k + 1}-checkpoint")) for k in range(len(sequence))]
    saved = [ck.loads(p.read_text(encoding="utf-8"), p) if resume and p and p.is_file() else None
             for p in paths]
    last = max((k for k, s in enumerate(saved) if s is not None), default=-1)
    result, rows = None, []
    for k, task in enumerate(sequence):
        done = k < last  # finished, its summary logged: only its final state is needed
        result = train(problem, task, start=None if result is None else result.state,
                       also=sequence[:k + 1], resume=saved[k], **options,
                       log_path=None if done else log_path,
                       checkpoint_path=None if done else paths[k])
        if result.interrupted:
            break
        rows.append(result.also)
        if log_path and not done and World.current().main:
            with open(log_path, "a", encoding="utf-8") as log:
                log.write(json.dumps({"task": k + 1, "name": task.name, "accuracy": {
                    t.name: a for t, a in zip(sequence, result.also)}}) + "\n")
    return result, rows


def tasks_table(runs: dict, sequence, command: str) -> str:
    """Markdown: per run, the test accuracy (%) on each task after each task, and the mean
    over the tasks seen so far."""
    lines = [f"# {' → '.join(t.name for t in sequence)}: accuracy on every task so far", "",
             f"Command: `{command}`", ""]
    for label, rows in runs.items():
        lines += [f"## {label}", "", "| after | " + " | ".join(t.name for t in sequence)
                  + " | mean |", "|---" * (len(sequence) + 2) + "|"]
        for k, row in enumerate(rows):
            cells = [f"{100 * a:.1f}" for a in row] + [""] * (len(sequence) - len(row))
            lines.append(f"| {sequence[k].name} | " + " | ".join(cells)
                         + f" | {100 * np.mean(row):.1f} |")
        lines.append("")
    return "\n".join(lines)


def plot_accuracies(results: list[Result], path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for r in results:
        ax.plot(range(len(r.accuracies) + 1), [100 * a for a in (r.initial_accuracy,
                                                                  *r.accuracies)],
                marker="o", label=r.rule)
    ax.set_xlabel("epoch")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def command_line(args) -> str:
    """The ``glep train`` command line that gave ``args``, for a table's header."""
    return " ".join(["glep train", *getattr(args, "argv", [])])


def report_accuracies(results: list[Result], data: Classification, args, out_dir: Path,
                      name: str) -> str:
    """Write ``NAME-accuracy.md`` and ``NAME-accuracy.png`` in ``out_dir`` and return the
    table; its command line is the one ``glep train`` was given."""
    table = accuracy_table(results, data, command_line(args))
    ck.atomic_write(out_dir / f"{name}-accuracy.md", table)
    plot_accuracies(results, out_dir / f"{name}-accuracy.png", f"{name} on {data.name}")
    return table


def output_paths(out_dir: Path, name: str, rule: str) -> dict[str, Path]:
    stem = out_dir / f"{name}-{rule}"
    return {"log": stem.with_suffix(".jsonl"), "params": Path(f"{stem}-params.json"),
            "checkpoint": Path(f"{stem}-checkpoint.json")}


def write_params(path, theta: dict) -> None:
    ck.atomic_write(path, ck.dumps({k: np.asarray(v).tolist() for k, v in theta.items()},
                                   indent=1))


# -- the command ---------------------------------------------------------------------------


def _parse(options: dict) -> dict:
    """The classification options of ``glep train``, checked (strings from the command line);
    a missing option gets :data:`DEFAULTS`. ``seed`` may list several seeds (``0,1,2``)."""
    out = {**DEFAULTS, **{k: v for k, v in options.items() if v is not None}}
    known = {r.lower(): r for r in (*ENERGY_RULES, *CHAIN_RULES)}  # any case: --rule c-ep
    out["rules"] = [known.get(r.strip().lower(), r.strip())
                    for r in str(out.get("compare") or out["rule"]).split(",")]
    out["seeds"] = [_integer("seed", s, 0) for s in str(out["seed"]).split(",")]
    for name, low in (("epochs", 1), ("batch", 1), ("checkpoint_every", 1),
                      ("output_per_class", 1)):
        out[name] = _integer(name, out[name], low)
    if out["max_iterations"] is not None:
        out["max_iterations"] = _integer("max_iterations", out["max_iterations"], 1)
    out["beta"] = _number("beta", out["beta"], low=0)
    out["tol"] = _number("tol", out["tol"], low=0)
    for name in ("spike_dt", "spike_time", "spike_tau"):
        out[name] = _number(name, out[name], low=0)
    if out["spike_dt"] > 1 or out["spike_tau"] < out["spike_dt"] or \
            out["spike_time"] < 4 * out["spike_dt"]:
        raise DataError(f"--spike-dt {out['spike_dt']:g}, --spike-tau {out['spike_tau']:g}, "
                        f"--spike-time {out['spike_time']:g}: need dt <= 1, tau >= dt and a "
                        f"phase of at least 4 steps (e.g. 0.05, 1, 20)")
    if out["neuron"] not in spiking.NEURONS:
        raise DataError(f"--neuron {out['neuron']!r}: choose {' or '.join(spiking.NEURONS)}")
    out["momentum"] = _number("momentum", out["momentum"], low=0, high=1, low_open=False)
    out["weight_decay"] = _number("weight_decay", out["weight_decay"], low=0, low_open=False)
    if out["optimizer"] not in OPTIMIZERS:
        raise DataError(f"--optimizer {out['optimizer']!r}: choose one of "
                        f"{', '.join(OPTIMIZERS)}")
    if out["schedule"] not in ("constant", "cosine"):
        raise DataError(f"--schedule {out['schedule']!r}: choose constant or cosine")
    for rule in out["rules"]:
        if rule not in (*ENERGY_RULES, *CHAIN_RULES):
            raise RuleError(f"--rule {rule!r}: choose one of {', '.join(ENERGY_RULES)} "
                            f"(energies) or {', '.join(CHAIN_RULES)} (ff-EBM chains)")
    given = [f"--{k.replace('_', '-')}" for k in FEEDBACK if out[k] is not None]
    if given and "EP+DTP" not in out["rules"]:
        raise DataError(f"{', '.join(given)}: options of EP+DTP (the feedback maps of a chain): "
                        f"add --rule EP+DTP or drop them")
    if len(set(out["rules"])) < len(out["rules"]):
        raise RuleError(f"--compare names a rule twice: {','.join(out['rules'])}")
    if out["precision"] not in (None, *PRECISIONS):
        raise DataError(f"--precision {out['precision']!r}: choose one of {', '.join(PRECISIONS)}")
    if out["method"] not in (None, "async", "sync", "gradient"):
        raise DataError(f"--method {out['method']!r}: choose async, sync or gradient")
    if out["targets"] is not None and not isinstance(out["targets"], list | tuple):
        parts = str(out["targets"]).split(",")
        if len(parts) != 2:
            raise DataError(f"--targets {out['targets']!r}: give OFF,ON, e.g. 0.1,0.9")
        out["targets"] = [_number("targets", v) for v in parts]
        if not out["targets"][0] < out["targets"][1]:
            raise DataError(f"--targets {options['targets']!r}: OFF must be below ON, "
                            f"e.g. 0.1,0.9")
    return out


def train_command(args, problem, name: str) -> int:
    """``glep train FILE --data SET`` for an energy or a chain: every rule × seed, the table,
    the figure; crash-safe and resumable (``--resume`` continues unfinished runs)."""
    from .catalog import tasks
    from .dtp import plot_diagnostics

    options = _parse({k: getattr(args, k, None) for k in
                      (*DEFAULTS, "compare")})
    out_dir = run_dir(args.out_dir)
    learning_rates(options["lr"], list(load_module(problem, "numpy").PARAMS))
    if args.data is None:
        raise DataError("--data is required for this system: a data set name (digits, "
                        "mnist5k, mnist1d, an aeon set) or a .npz classification file")
    sequence = tasks(args.data, seed=options["seeds"][0])
    data = sequence[0]
    world = World.current(getattr(args, "device", "cpu"))
    results, runs = [], {}
    with ck.RunLock(out_dir) if world.main else contextlib.nullcontext():
        if world.main:
            ck.atomic_write(out_dir / ck.METADATA_NAME, ck.dumps(
                {"system": str(args.file), "data": str(args.data), "kind": "classification",
             "settings": list(getattr(args, "set", None) or []),
                 "options": {k: v for k, v in options.items() if k != "rules"}}, indent=1))
        for rule in options["rules"]:
            for seed in options["seeds"]:
                label = rule if len(options["seeds"]) == 1 else f"{rule}-seed{seed}"
                paths = output_paths(out_dir, name, label)
                resume = None
                if getattr(args, "resume", None) and paths["checkpoint"].is_file():
                    resume = ck.loads(paths["checkpoint"].read_text(encoding="utf-8"),
                                      paths["checkpoint"])
                kw = {k: options[k] for k in DEFAULTS if k not in ("rule", "seed",
                                                                   "checkpoint_every")}
                stop = ck.Stop()
                common = {**kw, "rule": rule, "seed": seed, "stop": stop,
                          "progress": not getattr(args, "quiet", False),
                          "checkpoint_path": paths["checkpoint"], "log_path": paths["log"],
                          "checkpoint_every": options["checkpoint_every"],
                          "device": getattr(args, "device", "cpu")}
                if len(sequence) > 1:
                    result, runs[label] = train_tasks(
                        problem, sequence, resume=bool(getattr(args, "resume", None)), **common)
                else:
                    result = train(problem, data, resume=resume, **common)
                results.append(result)
                if world.main and result.accuracies:
                    write_params(paths["params"], result.theta)
                    print(f"{label}: test accuracy {100 * result.accuracies[-1]:.2f} % after "
                          f"{len(result.accuracies)} epochs, {result.seconds:.1f} s",
                          flush=True)
                    if result.diagnostics:
                        last = result.diagnostics[-1]
                        print(f"{label}: ‖J_G − J_Fᵀ‖/‖J_F‖ " + ", ".join(
                            f"{d:.3f}" for d in last["distance"]) + "; angle to EP "
                            + ", ".join(f"{a:.1f}°" for a in last["angle"]), flush=True)
                        plot_diagnostics(result, out_dir / f"{name}-{label}-diagnostics.png",
                                         f"{name} {label} on {data.name}", unit="block")
                    for stage, (spikes, events, n) in result.cost.items():
                        print(f"{label}: {stage}: {spikes / n:,.0f} spikes, {events / n:,.0f} "
                              f"synaptic events per example", flush=True)
                if result.interrupted:
                    return 128 + (stop.signum or 2)
        if world.main:
            table = report_accuracies(results, sequence[-1], args, out_dir, name)
            if runs:
                table = tasks_table(runs, sequence, command_line(args))
                ck.atomic_write(out_dir / f"{name}-tasks.md", table)
            print(table)
    return 0
