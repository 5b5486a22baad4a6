"""Fit a system's parameters to data with a learning rule, crash-safely.

A generated module computes the gradient of the batch-mean loss with the chosen rule
(``HEL``, ``PFVP``, ``adjoint``: the NumPy module, faster on small batches; ``BPTT``:
autograd through the Torch module's RK4) and a ``torch.optim`` optimizer steps the
parameters. Every step is logged (JSON lines: step, epoch, loss, gradient norm, wall
time) and flushed.

**The run directory** (``--out-dir``, default ``runs``) of ``glep train FILE`` holds, for a
system named ``<name>`` and each rule ``<rule>`` trained (one, or several with
``--compare``)::

    run.json                      what was run: system file, data, every option, init values,
                                  SHA-256 of the system and data files (read by --resume)
    train.lock                    held (fcntl.flock) by the running job; holds its PID
    <name>-<rule>.jsonl           the log, one JSON object per gradient (step, epoch, loss,
                                  grad_norm, time)
    <name>-<rule>-params.json     the parameters {name: value}: the trained ones, or the last
                                  finite ones if the run diverged
    <name>-<rule>-checkpoint.json parameters, optimizer state (Adam moments, step counts),
                                  learning-rate schedule, random generator, position in the
                                  epoch's batch order, held-out losses so far; ``status`` is
                                  running, interrupted, complete or diverged
    <name>-compare.png            the loss curves (``--compare`` only)
    identifiability.json          per rule: the singular values of the Gauss–Newton matrix
                                  at the trained parameters, the directions the data
                                  cannot see (continuous systems with a least-squares cost)

Every JSON file is strict (no NaN/Infinity) and replaced atomically (temporary file in the
same directory, fsync, rename), so a run killed at any moment leaves loadable files. A
checkpoint is written when the run starts, every ``checkpoint_every`` gradients (after the
optimizer step that completes them), at the end, and on SIGINT/SIGTERM: the current step is
finished, the checkpoint written, and ``glep train`` exits 130 (SIGINT) or 143 (SIGTERM).
A non-finite loss or gradient stops the run (exit 1) keeping the last parameters whose loss
and gradient were finite — except at a trial point of L-BFGS's line search, which counts as
+∞ and is backtracked from (:mod:`glep.learn.lbfgs`). ``positive`` parameters are trained in
log space (:mod:`glep.learn.positive`); every file holds θ itself. After a completed run,
``glep train`` prints the identifiability report (:mod:`glep.learn.identifiability`) and
writes it to ``identifiability.json``. ``glep train --resume RUN_DIR`` continues from the
checkpoints with the recorded options and reproduces the uninterrupted run (same parameters
to round-off: the batch order comes from the checkpointed generator, the optimizer from its
saved state).

>>> validate_options({"lr": "0.5", "epochs": "3"})["lr"]
0.5
>>> validate_options({"lr": "nan"})
Traceback (most recent call last):
...
glep.derive.errors.DataError: --lr must be a finite number > 0, got 'nan'
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from glep.codegen.emit import load_module
from glep.derive.errors import DataError, RuleError

from . import checkpoint as ck
from .datasets import Trajectories
from .distributed import World
from .identifiability import identifiability, report_text
from .lbfgs import LBFGS, NonFiniteTrial
from .options import flag as _flag
from .options import integer as _integer
from .options import number as _number
from .options import run_dir
from .positive import LogParameters, log_mask
from .positive import parse as parse_positive
from .progress import Progress

TRAINING_RULES = ("HEL", "HEL-gain", "PFVP", "adjoint", "BPTT")
OPTIMIZERS = ("adam", "sgd", "lbfgs")

#: ``glep train`` options and their defaults (``None``: the system file's own / none).
DEFAULTS = {
    "rule": "HEL", "compare": None, "epochs": 10, "batch": 16, "lr": 1e-2, "lr_decay": 1.0,
    "optimizer": "adam", "seed": 0, "beta": 1e-4, "steps": None, "out_dir": "runs",
    "checkpoint_every": 10, "init": None, "positive": None,
}
#: Options that do not change the trained parameters: a resumed run may change them.
FREE_ON_RESUME = ("checkpoint_every", "quiet")

#: The identifiability reports of a run's rules, in its directory.
IDENTIFIABILITY_NAME = "identifiability.json"

#: Exit status of ``glep train`` when a run diverges (bad input is 2, signals 128 + signum).
EXIT_DIVERGED = 1


def validate_options(options: dict) -> dict:
    """Every training option checked and converted (strings from the command line, or
    numbers); unknown keys pass through. Missing ones get :data:`DEFAULTS`. Raises
    :class:`DataError` / :class:`RuleError` with a one-line message naming the flag."""
    given = {k: v for k, v in options.items() if v is not None}
    out = {**DEFAULTS, **given}
    if out["rule"] not in TRAINING_RULES:
        raise RuleError(f"--rule {out['rule']!r} is not a training rule: choose one of "
                        f"{', '.join(TRAINING_RULES)}")
    if out["optimizer"] not in OPTIMIZERS:
        raise RuleError(f"--optimizer {out['optimizer']!r} is unknown: choose one of "
                        f"{', '.join(OPTIMIZERS)}")
    if out["compare"] is not None:
        compare = out["compare"]
        rules = [r.strip() for r in compare.split(",")] if isinstance(compare, str) else list(
            compare)
        for rule in rules:
            if rule not in TRAINING_RULES:
                raise RuleError(f"--compare: {rule!r} is not a training rule: choose from "
                                f"{', '.join(TRAINING_RULES)}")
        duplicates = sorted({r for r in rules if rules.count(r) > 1})
        if duplicates:
            raise RuleError(f"--compare names {', '.join(duplicates)} more than once")
        out["compare"] = ",".join(rules)
    out["epochs"] = _integer("epochs", out["epochs"], 1)
    out["batch"] = _integer("batch", out["batch"], 1)
    out["lr"] = _number("lr", out["lr"], low=0)
    out["lr_decay"] = _number("lr_decay", out["lr_decay"], low=0, high=1)
    out["seed"] = _integer("seed", out["seed"], 0)
    out["beta"] = _number("beta", out["beta"], low=0)
    if out["steps"] is not None:
        out["steps"] = _integer("steps", out["steps"], 1)
    out["checkpoint_every"] = _integer("checkpoint_every", out["checkpoint_every"], 1)
    out["out_dir"] = str(run_dir(out["out_dir"]))
    if out["init"] is not None and not Path(out["init"]).is_file():
        raise DataError(f"--init {out['init']}: no such file")
    out["positive"] = parse_positive(out["positive"])
    return out


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
    signal: int | None = None  # the signal that stopped the run (interrupted)
    diverged: str | None = None  # why the run stopped, if it diverged
    step: int = 0  # gradients taken (logged steps), including those before a resume
    rejected: int = 0  # L-BFGS trial points whose loss was non-finite (backtracked from)
    checkpoint: Path | None = None


class _Diverged(NonFiniteTrial):
    """The loss, gradient or parameters became non-finite (an L-BFGS line search backtracks
    from such a trial point; anywhere else the run stops)."""


def _read_log(path, last_step):
    """The log rows up to ``last_step`` (a killed run may have logged further, or left half
    a line)."""
    rows = []
    if path is None or not Path(path).is_file():
        return rows
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line, parse_constant=ck._reject_constant)
        except ValueError:
            continue
        if isinstance(row, dict) and isinstance(row.get("step"), int) and \
                row["step"] <= last_step:
            rows.append(row)
    rows.sort(key=lambda r: r["step"])
    unique = {r["step"]: r for r in rows}
    return list(unique.values())


def train(problem, data: Trajectories, *, rule="HEL", epochs=10, batch=16, lr=1e-2,
          lr_decay=1.0, optimizer="adam", seed=0, beta=1e-4, steps=None, log_path=None,
          params_path=None, progress=True, checkpoint_path=None, checkpoint_every=10,
          resume=None, init=None, stop=None, positive=None) -> Run:
    """Train ``problem``'s parameters on ``data`` and return the :class:`Run`.

    ``checkpoint_path``: where to write checkpoints (every ``checkpoint_every`` gradients,
    at the start, the end, on a signal or divergence). ``resume``: a checkpoint
    (:func:`glep.learn.checkpoint.load_checkpoint`) to continue from, with the same options.
    ``init``: initial parameters (default: the system's). ``stop``: a
    :class:`~glep.learn.checkpoint.Stop` (default: one for this call) — SIGINT/SIGTERM then
    end the run after the current step, with ``run.interrupted`` and ``run.signal`` set.
    ``positive``: parameters trained in log space (names or patterns, see
    :mod:`glep.learn.positive`; with those the system file declares positive).
    A non-finite loss or gradient raises :class:`DivergedError` (a ``DataError``) after the
    last finite parameters are written; ``error.run`` is the run.
    """
    import torch

    options = validate_options({"rule": rule, "optimizer": optimizer, "epochs": epochs,
                                "batch": batch, "lr": lr, "lr_decay": lr_decay, "seed": seed,
                                "beta": beta, "steps": steps, "positive": positive,
                                "checkpoint_every": checkpoint_every})
    epochs, batch, lr, lr_decay = (options[k] for k in ("epochs", "batch", "lr", "lr_decay"))
    beta, checkpoint_every = options["beta"], options["checkpoint_every"]
    world = World.current()
    if batch < world.size:
        raise DataError(f"--batch {batch} is smaller than the {world.size} ranks: every rank "
                        f"needs a shard of each batch")
    module = load_module(problem, "torch" if rule == "BPTT" else "numpy")
    if rule in module.RULES and module.RULES[rule] is not None:
        raise RuleError(f"{rule} is not available for {problem.name}: {module.RULES[rule]}")
    names = list(module.PARAMS)
    steps = problem.steps if steps is None else steps
    convert = torch.as_tensor if rule == "BPTT" else np.asarray
    inputs, targets, z0 = convert(data.inputs), convert(data.targets), convert(data.z0)
    start_values = module.PARAM_VALUES if init is None else init
    if len(start_values) != len(names):
        raise DataError(f"init has {len(start_values)} values; {problem.name} has "
                        f"{len(names)} parameters {names}")
    logs = LogParameters(log_mask(problem, names, options["positive"]), names)
    # the optimizer's variables: log θ for the positive parameters, θ for the others
    theta = torch.nn.Parameter(logs.variables([float(v) for v in start_values]))
    if optimizer == "lbfgs":  # full-batch quasi-Newton: a few dozen gradients for sysid
        opt = LBFGS([theta], lr=lr, max_iter=20, history_size=20,
                    line_search_fn="strong_wolfe")
    else:
        opt = (torch.optim.Adam if optimizer == "adam" else torch.optim.SGD)([theta], lr=lr)
    schedule = torch.optim.lr_scheduler.ExponentialLR(opt, lr_decay)
    generator = torch.Generator().manual_seed(seed)
    run = Run(rule, checkpoint=Path(checkpoint_path) if checkpoint_path else None)
    per_epoch = -(-data.size // batch)

    # where the run stands: fresh, or from the checkpoint
    epoch, next_batch, order, step, elapsed = 0, 0, None, 0, 0.0
    if resume is not None:
        if list(resume["params"]) != names:
            raise ck.RunDirError(f"the checkpoint's parameters {list(resume['params'])} are "
                                 f"not {problem.name}'s {names}")
        with torch.no_grad():
            theta.copy_(logs.variables(list(resume["params"].values())))
        opt.load_state_dict(ck.decode(resume["optimizer"]))
        schedule.load_state_dict(ck.decode(resume["scheduler"]))
        ck.set_generator_state(generator, resume["generator"])
        epoch, next_batch, step = resume["epoch"], resume["batch"], resume["step"]
        order = None if resume["order"] is None else np.asarray(resume["order"], dtype=np.int64)
        elapsed = float(resume.get("elapsed", 0.0))
        run.test_losses = list(resume.get("test_losses", []))
        run.initial_test_loss = resume.get("initial_test_loss")
        rows = _read_log(log_path, step)
        run.losses = [r["loss"] for r in rows]
        run.gradient_norms = [r["grad_norm"] for r in rows]
        if log_path:  # drop what a killed run logged after its checkpoint
            ck.atomic_write(log_path, "".join(json.dumps(r, allow_nan=False) + "\n"
                                              for r in rows))
    elif data.test is not None:
        run.initial_test_loss = evaluate(module, logs.parameters(theta.detach()), data.test,
                                         steps)
    total = epochs * per_epoch * (20 if optimizer == "lbfgs" else 1)
    state = {"good": logs.parameters(theta.detach()), "consistent": True, "saved": step,
             "snapshot": None}
    start = time.perf_counter() - elapsed

    def snapshot(status, **extra):
        payload = {
            "format": ck.CHECKPOINT_FORMAT, "system": problem.name, "rule": rule,
            "status": status, "step": step, "epoch": epoch, "batch": next_batch,
            "order": None if order is None else [int(i) for i in order],
            "params": dict(zip(names, map(float, logs.parameters(theta.detach()).tolist()))),
            "optimizer": ck.encode(opt.state_dict()),
            "scheduler": ck.encode(schedule.state_dict()),
            "generator": ck.generator_state(generator),
            "initial_test_loss": run.initial_test_loss, "test_losses": list(run.test_losses),
            "elapsed": time.perf_counter() - start, **extra,
        }
        return payload

    def save(payload):
        if checkpoint_path and world.main:
            ck.atomic_write(checkpoint_path, ck.dumps(payload))
        state["saved"], state["snapshot"] = payload["step"], payload

    log = None
    if log_path and world.main:
        log = open(log_path, "a" if resume is not None else "w", encoding="utf-8")
    bar = Progress(total, f"{problem.name} {rule}", progress and world.main, start=step)
    stop = ck.Stop() if stop is None else stop
    try:
        with stop:
            if resume is None:
                save(snapshot("running"))
            while epoch < epochs and not stop.requested:
                if order is None:
                    order = torch.randperm(data.size, generator=generator).numpy()
                batches = [order[i: i + batch] for i in range(0, len(order), batch)]
                while next_batch < len(batches) and not stop.requested:
                    index = batches[next_batch]

                    def closure(index=index, epoch=epoch):
                        """One gradient by the rule; logged as one step."""
                        nonlocal step
                        opt.zero_grad()
                        current = logs.parameters(theta.detach())
                        if not bool(torch.isfinite(current).all()):
                            raise _Diverged(f"the parameters became non-finite at step "
                                            f"{step + 1}: lower --lr")
                        part = world.shard(index)  # data-parallel: this rank's share
                        share, failure = len(part) / len(index), None
                        try:
                            with np.errstate(all="ignore"):
                                result = module.gradient(
                                    z0[part], convert(current.clone()), rule=rule,
                                    beta=beta, steps=steps, inputs=inputs[part],
                                    targets=targets[part],
                                )
                            loss = float(result["loss"])
                            raw = torch.as_tensor(result["theta"], dtype=torch.float64)
                        except ArithmeticError as error:  # the simulation blew up
                            loss, raw, failure = math.nan, current * math.nan, error
                        world.mean([raw], share)  # every rank sees the batch's mean
                        loss = world.mean_scalar(loss, share)
                        if failure is not None:
                            raise _Diverged(f"the loss became non-finite at step {step + 1} "
                                            f"({failure}): lower --lr")
                        grad = logs.gradient(current, raw)
                        norm = float(torch.linalg.norm(grad))
                        if not (math.isfinite(loss) and math.isfinite(norm)
                                and bool(torch.isfinite(current).all())):
                            raise _Diverged(
                                f"the {'loss' if not math.isfinite(loss) else 'gradient'} "
                                f"became non-finite at step {step + 1} (loss {loss}, "
                                f"gradient norm {norm}): lower --lr"
                            )
                        state["good"] = current.clone()
                        theta.grad = grad.detach().clone()
                        run.losses.append(loss)
                        run.gradient_norms.append(norm)
                        step += 1
                        if log:
                            log.write(json.dumps({"step": step, "epoch": epoch, "loss": loss,
                                                  "grad_norm": norm,
                                                  "time": time.perf_counter() - start},
                                                 allow_nan=False) + "\n")
                            log.flush()
                        bar.update(step, loss)
                        return torch.tensor(loss)

                    if optimizer == "lbfgs":
                        state["consistent"] = False
                        opt.step(closure)
                    else:
                        closure()
                        state["consistent"] = False
                        opt.step()
                        schedule.step()
                    next_batch += 1
                    state["consistent"] = True
                    if step - state["saved"] >= checkpoint_every:
                        try:
                            payload = snapshot("running")
                            save(payload)
                        except ValueError:  # a non-finite optimizer state: strict JSON refuses
                            raise _Diverged(f"the optimizer state became non-finite at step "
                                            f"{step}: lower --lr") from None
                if next_batch < len(batches) or stop.requested:
                    break
                if data.test is not None:
                    with np.errstate(all="ignore"):
                        run.test_losses.append(evaluate(
                            module, logs.parameters(theta.detach()), data.test, steps))
                epoch, next_batch, order = epoch + 1, 0, None
            if stop.requested:
                run.interrupted, run.signal = True, stop.signum
                save(snapshot("interrupted", signal=int(stop.signum)))
            else:
                save(snapshot("complete"))
            run.theta = logs.parameters(theta.detach()).numpy().copy()
    except _Diverged as error:
        run.diverged = str(error)
        run.theta = state["good"].numpy().copy()
        payload = None
        if state["consistent"]:  # the state of the last completed step, as it stands
            try:
                payload = snapshot("diverged", reason=str(error))
                ck.dumps(payload)  # strict: refuses a non-finite optimizer state
            except ValueError:  # the optimizer state itself is not finite
                payload = None
        if payload is None and state["snapshot"] is not None:  # the last checkpoint, marked
            payload = {**state["snapshot"], "status": "diverged", "reason": str(error)}
        if payload is not None:
            save(payload)
    except KeyboardInterrupt:
        run.interrupted, run.signal = True, stop.signum
        if state["consistent"]:
            run.theta = logs.parameters(theta.detach()).numpy().copy()
            save(snapshot("interrupted"))
        else:  # stopped inside an optimizer step: the last checkpoint stands
            run.theta = state["good"].numpy().copy()
    finally:
        bar.close()
        if run.theta is None:
            run.theta = state["good"].numpy().copy()
        run.step = step
        run.rejected = getattr(opt, "rejected", 0)
        run.seconds = time.perf_counter() - start
        if log:
            log.close()
        if params_path:
            write_params(params_path, names, run.theta)
    if run.diverged:
        raise DivergedError(run.diverged, run)
    return run


class DivergedError(DataError):
    """The loss or gradient became non-finite; ``run`` holds the last finite parameters."""

    def __init__(self, message, run):
        super().__init__(message)
        self.run = run


def evaluate(module, theta, split, steps) -> float:
    """Mean loss of ``theta`` on a held-out ``(inputs, targets, z0)`` split."""
    inputs, targets, z0 = split
    theta = np.asarray(theta)
    return float(np.mean(np.asarray(
        module.loss(z0, theta, steps=steps, inputs=inputs, targets=targets)
    )))


def write_params(path, names, values) -> None:
    """Trained parameters as strict JSON ``{name: value}`` (written atomically)."""
    ck.atomic_write(Path(path), ck.dumps(dict(zip(names, map(float, values))), indent=2))


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


# -- the ``glep train`` command ----------------------------------------------------------------


def _resolve_resume(args, given: dict) -> tuple[dict, dict]:
    """Options of the run in ``args.resume``; explicit options must agree with them."""
    run_dir = Path(args.resume)
    meta_path = run_dir / ck.METADATA_NAME
    if not run_dir.is_dir():
        raise DataError(f"--resume {run_dir}: no such directory")
    if not meta_path.is_file():
        raise DataError(f"--resume {run_dir}: no {ck.METADATA_NAME}, so not a glep train run "
                        f"directory")
    meta = ck.loads(meta_path.read_text(encoding="utf-8"), meta_path)
    recorded = meta["options"]
    for name, value in given.items():
        if name in FREE_ON_RESUME or name == "out_dir":
            continue
        if name not in recorded or recorded[name] != value:
            raise DataError(f"--resume {run_dir}: {_flag(name)} {value} conflicts with the "
                            f"recorded {_flag(name)} {recorded.get(name)} ({meta_path}); drop "
                            f"it to continue the run as it was started")
    if "out_dir" in given and Path(given["out_dir"]).resolve() != run_dir.resolve():
        raise DataError(f"--resume {run_dir}: --out-dir {given['out_dir']} conflicts with it; "
                        f"a resumed run stays in its directory")
    for flag, given_path, recorded_path in (("FILE", args.file, meta["file"]),
                                            ("--data", args.data, meta["data"])):
        if given_path is not None and Path(given_path).resolve() != Path(recorded_path):
            raise DataError(f"--resume {run_dir}: {flag} {given_path} conflicts with the "
                            f"recorded {recorded_path} ({meta_path})")
    options = {**recorded, "out_dir": str(run_dir),
               **{k: given[k] for k in FREE_ON_RESUME if k in given}}
    return options, meta


def train_command(args) -> int:
    """``glep train``: validate every flag, lock the run directory, train (or resume) each
    rule, report. Exit status: 0 done, 1 diverged, 2 bad input or a locked directory,
    130/143 stopped by SIGINT/SIGTERM (a checkpoint is written)."""
    given = {k: getattr(args, k) for k in DEFAULTS if getattr(args, k, None) is not None}
    quiet = bool(getattr(args, "quiet", False))
    if args.resume is not None:
        given = validate_options(given)  # normalized, to compare with the record
        given = {k: v for k, v in given.items()
                 if getattr(args, k, None) is not None}
        options, meta = _resolve_resume(args, given)
        options = validate_options(options)
        file, data_path, settings = Path(meta["file"]), Path(meta["data"]), meta["set"]
    else:
        if args.file is None or args.data is None:
            raise DataError("glep train needs a system FILE and --data (or --resume RUN_DIR)")
        options = validate_options(given)
        file, data_path, settings = Path(args.file), Path(args.data), list(args.set or ())
        meta = None
    if not file.is_file():
        raise DataError(f"system file {file} does not exist")
    if not data_path.is_file():
        raise DataError(f"--data {data_path}: no such file: create one with glep data ...")
    out_dir = Path(options["out_dir"])
    rules = options["compare"].split(",") if options["compare"] else [options["rule"]]

    try:
        lock = ck.RunLock(out_dir) if World.current().main else contextlib.nullcontext()
        with lock, ck.Stop() as stop:
            return _train_rules(args, options, meta, file, data_path, settings, out_dir,
                                rules, quiet, stop)
    except KeyboardInterrupt:  # a second signal: stopped at once, the last checkpoint stands
        print(f"glep: interrupted; continue with: glep train --resume {out_dir}",
              file=sys.stderr)
        return 130


def _train_rules(args, options, meta, file, data_path, settings, out_dir, rules, quiet,
                 stop) -> int:
    from glep.derive.systemfile import load_problem, parse_setting

    from .datasets import fir_baseline, load_data

    if World.current().main:
        ck.remove_stale_temporaries(out_dir)
    if meta is not None:
        for key, path in (("file_sha256", file), ("data_sha256", data_path)):
            if ck.sha256(path) != meta[key]:
                raise DataError(f"--resume {out_dir}: {path} changed since the run "
                                f"started: a resumed run needs the same files")
    overrides = dict(parse_setting(s) for s in settings)
    problem = load_problem(file, overrides)
    data = load_data(data_path, problem)
    module = load_module(problem, "numpy")
    names = list(module.PARAMS)
    for rule in rules:  # every rule must apply before the first one trains
        rule_module = module if rule != "BPTT" else load_module(problem, "torch")
        if rule in rule_module.RULES and rule_module.RULES[rule] is not None:
            raise RuleError(f"{rule} is not available for {problem.name}: "
                            f"{rule_module.RULES[rule]}")
    mask = log_mask(problem, names, options["positive"])
    if meta is None:
        init = ck.read_params(options["init"], names) if options["init"] else None
        LogParameters(mask, names).variables(module.PARAM_VALUES if init is None else init)
        meta = {"format": "glep-train-run/1", "file": str(file.resolve()),
                "set": settings, "data": str(data_path.resolve()),
                "file_sha256": ck.sha256(file), "data_sha256": ck.sha256(data_path),
                "system": problem.name, "parameters": names,
                "init": None if init is None else dict(zip(names, init)),
                "options": {k: options[k] for k in DEFAULTS}}
        stale = [p.name for p in out_dir.glob(f"{problem.name}-*-checkpoint.json")]
        if stale and World.current().main:
            print(f"note: starting a new run in {out_dir} (continue an earlier one with "
                  f"glep train --resume {out_dir})", file=sys.stderr)
            for name in stale:
                (out_dir / name).unlink()
        (out_dir / IDENTIFIABILITY_NAME).unlink(missing_ok=True)  # an earlier run's
        ck.atomic_write(out_dir / ck.METADATA_NAME, ck.dumps(meta, indent=2))
    init = None if meta["init"] is None else [meta["init"][n] for n in names]

    runs, reports = [], {}
    for rule in rules:
        stem = out_dir / f"{problem.name}-{rule}"
        checkpoint_path = Path(f"{stem}-checkpoint.json")
        resume = None
        if args.resume is not None and checkpoint_path.is_file():
            resume = ck.load_checkpoint(checkpoint_path, names)
            if resume["status"] == "diverged":
                raise DataError(
                    f"--resume {out_dir}: {rule} diverged ({resume.get('reason')}); "
                    f"start a new run with a lower --lr, e.g. from its last finite "
                    f"parameters: --init {stem}-params.json")
        try:
            run = train(
                problem, data, rule=rule, epochs=options["epochs"],
                batch=options["batch"], lr=options["lr"], lr_decay=options["lr_decay"],
                optimizer=options["optimizer"], seed=options["seed"],
                beta=options["beta"], steps=options["steps"],
                log_path=f"{stem}.jsonl", params_path=f"{stem}-params.json",
                progress=not quiet, checkpoint_path=checkpoint_path,
                checkpoint_every=options["checkpoint_every"], resume=resume,
                init=init, stop=stop, positive=options["positive"],
            )
        except DivergedError as error:
            print(f"glep: training diverged: {error}; the last finite parameters are "
                  f"in {stem}-params.json", file=sys.stderr)
            return EXIT_DIVERGED
        runs.append(run)
        if run.interrupted:
            name = {2: "SIGINT", 15: "SIGTERM"}.get(run.signal, "an interrupt")
            print(f"glep: stopped by {name} after step {run.step}: checkpoint "
                  f"{checkpoint_path}; continue with: glep train --resume {out_dir}",
                  file=sys.stderr)
            return 128 + (run.signal or 2)
        print(_summary(run, data))
        print(f"  log {stem}.jsonl, parameters {stem}-params.json")
        reports[rule] = identifiability(problem, data, run.theta, steps=options["steps"])
        print(report_text(reports[rule], rule))
    path = out_dir / IDENTIFIABILITY_NAME
    ck.atomic_write(path, ck.dumps({"format": "glep-identifiability/1", "system": problem.name,
                                    "rules": reports}, indent=2))
    print(f"  identifiability report {path}")
    if data.test is not None and data.inputs.shape[-1] == 1 and data.targets.shape[-1] == 1:
        # the loss is ∫ ½ (ŷ − y)² dt, so its time-averaged squared error is 2·loss/T
        def mse(loss):
            return 2 * loss / problem.horizon

        fir = fir_baseline(data, taps=len(problem.params))
        print(f"test mean squared error: untrained {mse(runs[0].initial_test_loss):.4e}; "
              + "; ".join(f"{r.rule} {mse(r.test_losses[-1]):.4e}" for r in runs if r.test_losses)
              + f"; least-squares FIR with {len(problem.params)} taps {fir['test_mse']:.4e}")
    if len(runs) > 1:
        figure = out_dir / f"{problem.name}-compare.png"
        plot_losses(runs, figure, f"{problem.name}: {', '.join(rules)}")
        print(f"figure {figure}")
    return 0


def _summary(run, data) -> str:
    if not run.losses:
        return f"{run.rule}: no steps logged"
    line = (f"{run.rule}: loss {run.losses[0]:.3e} → {run.losses[-1]:.3e} "
            f"({run.losses[0] / max(run.losses[-1], 1e-300):.3g}× lower) in "
            f"{len(run.losses)} steps, {run.seconds:.1f} s")
    if run.test_losses:
        line += f"; test loss {run.test_losses[-1]:.4e}"
    if run.rejected:
        line += (f"; {run.rejected} line-search trial(s) blew up (non-finite loss) and were "
                 f"backtracked from")
    if data.true_theta is not None:
        error = np.linalg.norm(run.theta - data.true_theta) / np.linalg.norm(data.true_theta)
        line += f"; parameter error {error:.2e}"
    return line
