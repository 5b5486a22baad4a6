"""Hamiltonian state-space models (HSSMs) declared by a :class:`glep.HSSMProblem`, and their
training on sequence classification sets, crash-safely.

The model: a linear encoder, then ``blocks`` × (LayerNorm → HRU layer → readout ``Cφ + D⊙x``
→ GELU → GLU → dropout → residual), then the mean over time and a linear classifier. The HRU
layers come from the unit's generated Torch module (rendered on first use); each runs with
``rule="rhel"`` (its backward pass is the discrete echo, nudged by the gradient of whatever
follows it) or ``rule="bptt"``; the ordinary torch layers in between backpropagate.

Training (:func:`train`): Adam on the cross-entropy of the logits, mini-batches in a seeded
order, the declared bounds on the unit's parameters after every step, the test accuracy after
every epoch. A run's initialization and batch order depend on the seed only, not on the
rule: RHEL and BPTT runs with the same seed are paired. Checkpoints are atomic (every
``checkpoint_every`` batches, at the end, on SIGINT/SIGTERM) and a resumed run continues
where the checkpoint stopped, as if never interrupted. From the command line::

    glep train systems/hssm_linear.py --data BasicMotions --compare RHEL,BPTT --seed 0,1,2

Sequences are (cases, length, channels); vector data sets (cases, features) are read as
sequences of one channel.

>>> import glep
>>> from glep.learn.catalog import load
>>> problem = glep.load_problem("systems/hssm_linear.py", {"hidden": 8, "units": 8})
>>> result = train(problem, load("BasicMotions").head(8, 8), epochs=1, progress=False)
>>> 0.0 <= result.accuracies[-1] <= 1.0
True
"""

from __future__ import annotations

import contextlib
import json
import math
import signal
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from glep.codegen.emit import load_module
from glep.derive.errors import CodegenError, DataError, RuleError
from glep.derive.hssm import HSSMProblem

from . import checkpoint as ck
from .catalog import Classification
from .classify import output_paths, write_params
from .distributed import World, torch_device
from .options import integer as _integer
from .options import number as _number
from .progress import Progress

RULES = ("RHEL", "BPTT")
DEFAULTS = {"rule": "RHEL", "epochs": 60, "batch": 8, "lr": 3e-3, "seed": 0, "threads": 1,
            "checkpoint_every": 50}
#: The warning an HRU layer gives when its echo misses; a run reports the worst once instead.
_ECHO_WARNING = ".*the echo missed the initial state"


def layer_class(module) -> type:
    """The HRU layer class of a generated Torch module: its one subclass of ``HRULayer``."""
    base = getattr(module, "HRULayer", None)
    found = [v for v in vars(module).values()
             if isinstance(v, type) and base is not None and issubclass(v, base) and v is not base]
    if len(found) != 1:
        raise CodegenError(f"{module.__name__} defines {len(found)} HRU layer classes "
                           f"(subclasses of HRULayer): expected one")
    return found[0]


class Block(nn.Module):
    """LayerNorm → HRU → readout ``Cφ + D ⊙ x`` → GELU → GLU → dropout, plus the residual."""

    def __init__(self, hidden, units, *, unit, dt, rule, beta, dtype, dropout):
        super().__init__()
        self.norm = nn.LayerNorm(hidden, dtype=dtype)
        self.hru = unit(units, hidden, dt=dt, beta=beta, rule=rule, dtype=dtype)
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
    """Encoder → ``blocks`` HRU blocks → mean over time → classifier (logits).

    ``unit``: an HRU layer class (:func:`layer_class`); ``bounds``: parameter name →
    ``(low, high)`` that :meth:`constrain` keeps (``None``: unbounded on that side).
    """

    def __init__(self, n_inputs, n_classes, *, unit, hidden=32, units=32, blocks=2, dt=0.5,
                 rule="rhel", beta=None, dtype=torch.float32, dropout=0.0, bounds=None):
        super().__init__()
        self.dt, self.bounds = float(dt), dict(bounds or {})
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
        """Project the HRU parameters back inside their bounds (positive stiffness, a stable
        leapfrog)."""
        for hru in self.hrus:
            for name, (low, high) in self.bounds.items():
                getattr(hru, name).clamp_(min=low, max=high)

    def forward(self, u):
        x = self.encoder(u)
        for block in self.blocks:
            x = block(x)
        return self.classifier(x.mean(1))


def _rule(rule) -> str:
    canon = {r.lower(): r for r in RULES}.get(str(rule).strip().lower())
    if canon is None:
        raise RuleError(f"--rule {rule!r}: an HSSM's HRU layers learn by {' or '.join(RULES)}")
    return canon


def build(problem: HSSMProblem, n_inputs: int, n_classes: int, *, rule="RHEL") -> HSSM:
    """The model ``problem`` declares, for ``n_inputs`` channels and ``n_classes`` classes;
    parameters drawn from torch's global generator, then constrained to the bounds."""
    if not isinstance(problem, HSSMProblem):
        raise DataError(f"an HSSM is declared by glep.HSSMProblem, not a "
                        f"{type(problem).__name__}")
    model = HSSM(n_inputs, n_classes, unit=layer_class(load_module(problem.unit, "torch")),
                 hidden=problem.hidden, units=problem.units, blocks=problem.blocks,
                 dt=problem.dt, rule=_rule(rule).lower(), beta=problem.beta,
                 dtype=getattr(torch, problem.dtype), dropout=problem.dropout,
                 bounds=problem.bounds)
    model.constrain()
    return model


def sequences(data: Classification, dtype) -> tuple[torch.Tensor, ...]:
    """``(x, y, test_x, test_y)`` as tensors, x (cases, length, channels)."""
    if len(data.x) == 0 or len(data.test_x) == 0:
        raise DataError(f"--data {data.name}: {len(data.x)} training and {len(data.test_x)} "
                        f"test cases: an HSSM needs both")
    if data.x.ndim not in (2, 3):
        raise DataError(f"--data {data.name}: cases of shape {data.x.shape[1:]}: give "
                        f"sequences (length, channels) or vectors (features)")

    def cases(x):
        x = torch.as_tensor(np.asarray(x), dtype=dtype)
        return x[..., None] if x.ndim == 2 else x

    return (cases(data.x), torch.as_tensor(data.y), cases(data.test_x),
            torch.as_tensor(data.test_y))


@torch.no_grad()
def accuracy(model, x, y, batch=128) -> float:
    """The fraction of ``x`` classified as ``y`` (evaluation mode: no dropout)."""
    was = model.training
    model.eval()
    correct = sum(int((model(x[i:i + batch]).argmax(-1) == y[i:i + batch]).sum())
                  for i in range(0, len(x), batch))
    model.train(was)
    return correct / len(x)


@dataclass
class Result:
    """What one training run produced."""

    rule: str
    seed: int = 0
    losses: list[float] = field(default_factory=list)  # mean train loss per epoch
    accuracies: list[float] = field(default_factory=list)  # test accuracy after each epoch
    initial_accuracy: float = 0.0
    train_accuracy: float | None = None  # after the last epoch
    health: float | None = None  # RHEL: the largest echo health of any step
    theta: dict | None = None  # the model's state_dict as arrays
    seconds: float = 0.0
    step: int = 0
    interrupted: bool = False


@contextlib.contextmanager
def _threads(count):
    previous = torch.get_num_threads()
    if count is not None:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _restore(model, opt, resume, rule, seed, dtype):
    found = (resume.get("format"), resume.get("rule"), resume.get("seed"))
    if found != (ck.CHECKPOINT_FORMAT, rule, seed):
        raise ck.RunDirError(f"the checkpoint is {found[0]!r} for rule {found[1]!r}, seed "
                             f"{found[2]!r}: resume {rule} seed {seed} from its own checkpoint")
    try:
        model.load_state_dict({k: torch.tensor(v, dtype=dtype)
                               for k, v in resume["params"].items()})
        opt.load_state_dict(ck.decode(resume["optimizer"]))
    except (RuntimeError, ValueError, KeyError) as error:
        raise ck.RunDirError(f"the checkpoint does not fit this model ({str(error)[:200]}): "
                             f"resume with the system file and settings of the run") from None
    ck.set_generator_state(torch.default_generator, resume["generator"])


def train(problem: HSSMProblem, data: Classification, *, rule="RHEL", seed=0, epochs=60,
          batch=8, lr=3e-3, threads=None, progress=True, checkpoint_path=None, log_path=None,
          checkpoint_every=50, resume=None, stop=None, device="cpu") -> Result:
    """Train the HSSM ``problem`` declares on ``data`` by ``rule`` (``"RHEL"`` or
    ``"BPTT"``); returns a :class:`Result`.

    ``threads``: torch threads while training (``None``: as set); ``resume``: a checkpoint
    (the parsed JSON) written by an earlier call with the same options: the run continues at
    the same batch with the same parameters, optimizer state and random state. Torch's global
    random state is restored on return. ``device``: where the model and the sequences live.
    """
    if not isinstance(problem, HSSMProblem):
        raise DataError(f"an HSSM is declared by glep.HSSMProblem, not a "
                        f"{type(problem).__name__}")
    rule = _rule(rule)
    seed = _integer("seed", seed, 0)
    epochs, batch = _integer("epochs", epochs, 1), _integer("batch", batch, 1)
    checkpoint_every = _integer("checkpoint_every", checkpoint_every, 1)
    lr = _number("lr", lr, low=0)
    threads = None if threads is None else _integer("threads", threads, 1)
    world = World.current()
    if batch < world.size:
        raise DataError(f"--batch {batch} is smaller than the {world.size} ranks: every rank "
                        f"needs a shard of each batch")
    dtype, device = getattr(torch, problem.dtype), torch_device(device)
    x, y, test_x, test_y = (t.to(device) for t in sequences(data, dtype))
    per_epoch = -(-len(x) // batch)
    total = epochs * per_epoch
    result = Result(rule, seed)
    with torch.random.fork_rng(devices=[]), _threads(threads), warnings.catch_warnings():
        warnings.filterwarnings("ignore", _ECHO_WARNING, RuntimeWarning)
        torch.manual_seed(seed)
        model = build(problem, x.shape[-1], len(data.classes), rule=rule).to(device)
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        epoch, position, sums = 0, 0, [0.0, 0]
        if resume is not None:
            _restore(model, opt, resume, rule, seed, dtype)
            epoch, position, result.step = resume["epoch"], resume["batch"], resume["step"]
            sums = list(resume["sums"])
            for key in ("losses", "accuracies", "initial_accuracy", "seconds", "health"):
                setattr(result, key, resume[key])
        else:
            result.initial_accuracy = accuracy(model, test_x, test_y)

        def save(status):
            if checkpoint_path and world.main:
                ck.atomic_write(checkpoint_path, ck.dumps({
                    "format": ck.CHECKPOINT_FORMAT, "system": problem.name, "rule": rule,
                    "seed": seed, "status": status, "step": result.step, "epoch": epoch,
                    "batch": position,
                    "params": {k: v.tolist() for k, v in model.state_dict().items()},
                    "optimizer": ck.encode(opt.state_dict()),
                    "generator": ck.generator_state(torch.default_generator),
                    "losses": result.losses, "accuracies": result.accuracies, "sums": sums,
                    "initial_accuracy": result.initial_accuracy, "seconds": result.seconds,
                    "health": result.health}))

        stop = ck.Stop() if stop is None else stop
        bar = Progress(total, f"{problem.name} {rule} seed {seed}", progress and world.main,
                       start=result.step)
        log = None
        if log_path and world.main:
            log = open(log_path, "a" if resume else "w", encoding="utf-8")
        started = time.perf_counter() - result.seconds
        try:
            with stop, bar:
                while epoch < epochs and not stop.requested:
                    order = torch.as_tensor(np.random.default_rng([seed, epoch]).permutation(
                        len(x)))
                    while position < per_epoch and not stop.requested:
                        index = order[position * batch:(position + 1) * batch]
                        shard = world.shard(index)  # data-parallel: this rank's share
                        loss = nn.functional.cross_entropy(model(x[shard]), y[shard])
                        opt.zero_grad()
                        loss.backward()
                        grads = [p.grad for p in model.parameters()]
                        world.mean(grads, len(shard) / len(index))
                        loss = torch.tensor(world.mean_scalar(loss.item(),
                                                              len(shard) / len(index)))
                        if not (math.isfinite(loss.item())
                                and all(bool(torch.isfinite(g).all()) for g in grads)):
                            raise DataError(f"{rule}: the loss or gradient became non-finite "
                                            f"at step {result.step + 1}: lower --lr")
                        opt.step()
                        model.constrain()
                        if rule == "RHEL":
                            result.health = max(result.health or 0.0,
                                                *(h.health for h in model.hrus))
                        sums[0], sums[1] = sums[0] + loss.item(), sums[1] + 1
                        position, result.step = position + 1, result.step + 1
                        result.seconds = time.perf_counter() - started
                        bar.update(result.step, loss.item())
                        if result.step % checkpoint_every == 0:
                            save("running")
                    if position == per_epoch:
                        result.losses.append(sums[0] / max(sums[1], 1))
                        result.accuracies.append(accuracy(model, test_x, test_y))
                        sums[:] = [0.0, 0]
                        epoch, position = epoch + 1, 0
                        if log:
                            log.write(json.dumps({
                                "step": result.step, "epoch": epoch, "loss": result.losses[-1],
                                "test_accuracy": result.accuracies[-1], "health": result.health,
                                "seconds": round(result.seconds, 3)}) + "\n")
                            log.flush()
                result.interrupted = stop.requested
                save("interrupted" if stop.requested else "complete")
        finally:
            if log:
                log.close()
        if not result.interrupted:
            result.train_accuracy = accuracy(model, x, y)
        result.theta = {k: v.cpu().numpy().copy() for k, v in model.state_dict().items()}
        tolerance = model.hrus[0].system.HEALTH_TOLERANCE[problem.dtype]
    if result.health is not None and result.health > tolerance:
        warnings.warn(f"{problem.name} {rule} seed {seed}: the echo missed the initial state "
                      f"by up to {result.health:.2e} (relative; tolerance {tolerance:g}), so "
                      f"some RHEL gradients were unreliable: reduce dt or the sequence "
                      f"length, or train by BPTT", RuntimeWarning, stacklevel=2)
    return result


# -- tables, figures and the command --------------------------------------------------------


def paired_difference(results: list[Result], first="RHEL", second="BPTT"):
    """``(seeds, mean, standard error)`` of the final test accuracy of ``first`` minus
    ``second`` (points) over the seeds both ran; ``None`` without such a pair. The standard
    error is ``std(ddof=1)/√n`` (``nan`` for one seed)."""
    final = {(r.rule, r.seed): 100 * r.accuracies[-1] for r in results if r.accuracies}
    seeds = sorted(s for rule, s in final if rule == first and (second, s) in final)
    if not seeds:
        return None
    diff = np.array([final[first, s] - final[second, s] for s in seeds])
    se = float(diff.std(ddof=1) / math.sqrt(len(diff))) if len(diff) > 1 else math.nan
    return seeds, float(diff.mean()), se


def accuracy_table(results: list[Result], data: Classification, command: str) -> str:
    """Markdown: final test accuracy per rule (mean ± std over seeds, per seed), train
    accuracy, time, and the paired difference RHEL − BPTT with its standard error."""
    lines = [f"# {data.name}: test accuracy by rule", "", f"Command: `{command}`", "",
             "| rule | runs | test accuracy (%) | per seed | train accuracy (%) | "
             "seconds per run |", "|---|---|---|---|---|---|"]
    for rule in dict.fromkeys(r.rule for r in results):
        mine = [r for r in results if r.rule == rule and r.accuracies]
        if not mine:
            continue
        acc = np.array([100 * r.accuracies[-1] for r in mine])
        fit = [100 * r.train_accuracy for r in mine if r.train_accuracy is not None]
        lines.append(f"| {rule} | {len(acc)} | {acc.mean():.2f} ± {acc.std():.2f} | "
                     f"{', '.join(f'{a:.1f}' for a in acc)} | "
                     f"{f'{np.mean(fit):.1f}' if fit else '—'} | "
                     f"{np.mean([r.seconds for r in mine]):.1f} |")
    paired = paired_difference(results)
    if paired is not None:
        seeds, mean, se = paired
        lines += ["", f"Paired difference RHEL − BPTT over seeds {seeds}: {mean:+.2f} points "
                      f"(standard error {se:.2f})."]
    return "\n".join(lines) + "\n"


def plot_accuracies(results: list[Result], path, title: str) -> None:
    """Test accuracy per epoch, one line per run, one colour per rule."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    colours = {}
    for r in results:
        first = r.rule not in colours
        colour = colours.setdefault(r.rule, f"C{len(colours)}")
        ax.plot(range(len(r.accuracies) + 1),
                [100 * a for a in (r.initial_accuracy, *r.accuracies)], color=colour,
                alpha=0.8, label=r.rule if first else None)
    ax.set_xlabel("epoch")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _options(args) -> dict:
    """The options of ``glep train`` for an HSSM, checked before any data is loaded."""
    get = {k: getattr(args, k, None) for k in (*DEFAULTS, "compare")}
    options = {**DEFAULTS, **{k: v for k, v in get.items() if v is not None}}
    options["rules"] = [_rule(r) for r in str(get["compare"] or options["rule"]).split(",")]
    options["seeds"] = [_integer("seed", s, 0) for s in str(options["seed"]).split(",")]
    for key, low in (("epochs", 1), ("batch", 1), ("threads", 1), ("checkpoint_every", 1)):
        options[key] = _integer(key, options[key], low)
    options["lr"] = _number("lr", options["lr"], low=0)
    return options


def train_command(args, problem, name: str) -> int:
    """``glep train FILE --data SET`` for an HSSM: every rule × seed, then the table and the
    figure; crash-safe and resumable.

    Reads from ``args`` (strings or ``None``; ``None`` takes the default): ``data`` (required:
    a catalog name such as BasicMotions, or an ``.npz``), ``rule`` (RHEL) or ``compare``
    (several rules, e.g. ``RHEL,BPTT``), ``epochs`` (60), ``batch`` (8), ``lr`` (3e-3),
    ``seed`` (0; a list ``0,1,2`` runs each), ``threads`` (1), ``checkpoint_every`` (50
    batches), ``out_dir`` (``runs``), ``resume`` (continue every run that has a checkpoint in
    the run directory; a path here is the run directory when ``out_dir`` is not given),
    ``quiet`` (no progress bar), ``file`` (recorded in ``run.json``) and ``argv`` (optional:
    the command line, quoted in the table). The run directory holds ``<name>-<rule>[-seedS]``
    ``.jsonl`` (one line per epoch), ``-params.json`` (the state_dict, tensors as lists),
    ``-checkpoint.json``; ``run.json``; ``<name>-accuracy.md`` (with the paired difference
    RHEL − BPTT and its standard error) and ``<name>-accuracy.png``. Exit status: 0 done,
    130/143 stopped by SIGINT/SIGTERM (each run's checkpoint written).
    """
    from .catalog import load

    options = _options(args)
    if getattr(args, "data", None) is None:
        raise DataError("--data is required for an HSSM: a sequence data set (BasicMotions, "
                        "JapaneseVowels, another aeon set) or a .npz classification file")
    data = load(args.data, seed=options["seeds"][0])
    resume = getattr(args, "resume", None)
    out_dir = Path(getattr(args, "out_dir", None)
                   or (resume if isinstance(resume, str | Path) else None) or "runs")
    stop, results, main = ck.Stop(), [], World.current().main  # rank 0 writes
    try:
        with ck.RunLock(out_dir) if main else contextlib.nullcontext(), stop:
            if main:
                ck.remove_stale_temporaries(out_dir)
                ck.atomic_write(out_dir / ck.METADATA_NAME, ck.dumps(
                    {"system": str(getattr(args, "file", None)), "data": str(args.data),
                     "kind": "hssm", "options": {k: v for k, v in options.items()
                                                 if k not in ("rules", "rule", "seed")}},
                    indent=1))
            for rule in options["rules"]:
                for seed in options["seeds"]:
                    label = rule if len(options["seeds"]) == 1 else f"{rule}-seed{seed}"
                    paths = output_paths(out_dir, name, label)
                    state = None
                    if resume and paths["checkpoint"].is_file():
                        state = ck.loads(paths["checkpoint"].read_text(encoding="utf-8"),
                                         paths["checkpoint"])
                    result = train(
                        problem, data, rule=rule, seed=seed, epochs=options["epochs"],
                        batch=options["batch"], lr=options["lr"], threads=options["threads"],
                        progress=not getattr(args, "quiet", False),
                        checkpoint_path=paths["checkpoint"], log_path=paths["log"],
                        checkpoint_every=options["checkpoint_every"], resume=state, stop=stop,
                        device=getattr(args, "device", "cpu"))
                    results.append(result)
                    if main:
                        write_params(paths["params"], result.theta)
                        print(f"{label}: test accuracy {100 * result.accuracies[-1]:.2f} % "
                              f"after {len(result.accuracies)} epochs, {result.seconds:.1f} s"
                              if result.accuracies else f"{label}: stopped before one epoch",
                              flush=True)
                    if result.interrupted:
                        print(f"glep: stopped; continue with --resume {out_dir}",
                              file=sys.stderr)
                        return 130 if stop.signum == signal.SIGINT else 143
    except KeyboardInterrupt:  # a second signal: stopped at once, the last checkpoint stands
        return 130
    argv = getattr(args, "argv", None) or [
        str(getattr(args, "file", None) or name), "--data", str(args.data), "--compare",
        ",".join(options["rules"]), "--seed", ",".join(map(str, options["seeds"])),
        "--epochs", str(options["epochs"])]
    if not main:
        return 0
    table = accuracy_table(results, data, "glep train " + " ".join(argv))
    ck.atomic_write(out_dir / f"{name}-accuracy.md", table)
    plot_accuracies(results, out_dir / f"{name}-accuracy.png", f"{name} on {data.name}")
    print(table)
    return 0
