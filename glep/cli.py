"""The ``glep`` command line: derive, emit (and check) generated modules.

A bad input prints one clear message (no traceback) and exits with status 2.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import json
import keyword
import math
import re
import sys
import time
from pathlib import Path

import numpy as np

from glep import systems
from glep.codegen.emit import (
    BACKENDS,
    emits,
    module_name,
    refusal,
    render,
    render_runtime,
    runtime_name,
    write_atomically,
)
from glep.codegen.kinds import kind_of
from glep.derive.describe import rule_json
from glep.derive.errors import (
    DataError,
    DerivationError,
    KindError,
    RuleError,
    StepsError,
    WriteError,
)
from glep.derive.problem import Problem
from glep.derive.rules import RULES
from glep.derive.systemfile import load_problem, parse_setting
from glep.learn.classify import DEFAULTS as CLASSIFY_DEFAULTS
from glep.learn.classify import train_command as classify_command
from glep.learn.datasets import GENERATORS
from glep.learn.dtp import train_command as dtp_command
from glep.learn.hssm import train_command as hssm_command
from glep.learn.options import integer, number
from glep.learn.progress import Progress
from glep.learn.train import DEFAULTS as TRAIN_DEFAULTS
from glep.learn.train import OPTIMIZERS, TRAINING_RULES, train_command
from glep.learn.vector_field import train_command as vector_field_command
from glep.verify import check, report_text

SYSTEMS_DIR = Path(systems.__file__).resolve().parent

#: ``glep train`` for the kinds that learn a classification data set.
CLASSIFIERS = {"energy": classify_command, "chain": classify_command,
               "hssm": hssm_command, "feedforward": dtp_command,
               "vector_field": vector_field_command}
#: Options only those kinds read.
CLASSIFY_ONLY = ("momentum", "weight_decay", "schedule", "random_sign", "method", "tol",
                 "max_iterations", "targets", "spike_dt", "spike_time", "spike_tau", "neuron",
                 "gamma", "tau", "meta", "precision", "output_per_class")
#: Options only feedforward networks read (DTP's feedback training).
DTP_ONLY = ("sigma", "feedback_iterations", "feedback_lr")

#: More integration steps than this needs ``--force`` (minutes to hours of CPU, GBs of RAM).
MAX_STEPS = 10**7


def _beta(text) -> float:
    """``--beta``: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise RuleError(f"--beta must be a positive, finite number, got {text!r}")
    return value


def _steps_value(text) -> int:
    """``--steps``: an integer ≥ 1, written as one (not ``1e4``)."""
    text = str(text).strip()
    try:
        value = int(text)
    except ValueError:
        raise StepsError(f"--steps must be an integer ≥ 1, got {text!r}") from None
    if value < 1:
        raise StepsError(f"--steps must be an integer ≥ 1, got {text!r}")
    return value


def _seed(text) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise DataError(f"--seed must be an integer ≥ 0, got {text!r}")
    return value


def _bounded(steps, force: bool, where: str = "--steps") -> None:
    """Refuse a run of more than :data:`MAX_STEPS` steps unless ``--force``."""
    if steps is not None and steps > MAX_STEPS and not force:
        raise StepsError(
            f"{where} {steps} is more than {MAX_STEPS:.0e} integration steps (hours of CPU "
            f"and gigabytes of memory): lower --steps, or add --force to run it anyway"
        )


def _only_continuous(problem, command: str) -> None:
    kind = kind_of(problem)
    if kind.name != "continuous":
        raise KindError(
            f"glep {command} does not apply to a {kind.title} ({problem.name}) yet: it needs a "
            f"continuous system (a Lagrangian or Hamiltonian Problem with a horizon)"
            + (" — to train a unit, declare an HSSMProblem around it (systems/hssm_linear.py)"
               if kind.name == "hru" and command == "train" else "")
        )


def _rule_names(problem) -> list[str]:
    kind = kind_of(problem)
    if kind.name == "continuous":
        return list(RULES)
    if kind.name in ("energy", "chain"):
        from glep.derive.equilibrium import ENERGY_RULES

        return list(ENERGY_RULES)
    return list(kind.rules(problem))


def _canonical_rule(rule: str, names, problem) -> str:
    """``hel`` → ``HEL``: rule names are case-insensitive."""
    for name in names:
        if name.lower() == rule.strip().lower():
            return name
    raise RuleError(f"--rule {rule!r} is unknown for {problem.name} "
                    f"({kind_of(problem).title}): choose one of {', '.join(names)}")


def source_name(path: Path) -> str:
    """How a generated header names its source: ``<folder>/<file>``, whatever the cwd."""
    path = Path(path).resolve()
    return f"{path.parent.name}/{path.name}"


def _load(path, settings) -> Problem:
    overrides = dict(parse_setting(s) for s in settings or ())
    return load_problem(path, overrides)


def cmd_derive(args) -> int:
    problem = _load(args.file, args.set)
    print(kind_of(problem).describe(problem, args.latex))
    return 0


def cmd_rules(args) -> int:
    problem = _load(args.file, args.set)
    kind = kind_of(problem)
    if args.json:
        rules = kind.rules(problem)
        payload = {"system": problem.name,
                   "rules": {name: rule_json(rule) for name, rule in rules.items()}}
        print(json.dumps(payload, indent=2, ensure_ascii=False))
    else:
        print(kind.rules_text(problem, args.latex))
    return 0


def cmd_check(args) -> int:
    args.beta = _beta(args.beta)
    if args.gdu or args.gdu_figure is not None:
        return _gdu_check(args)
    args.steps = None if args.steps is None else _steps_value(args.steps)
    _bounded(args.steps, args.force)
    problem = _load(args.file, args.set)
    if args.steps is None and kind_of(problem).name == "continuous":
        _bounded(problem.steps, args.force, f"{problem.name} declares steps =")
    names = _rule_names(problem)
    rules = None if args.rule is None else list(dict.fromkeys(
        _canonical_rule(r, names, problem) for r in args.rule.split(",")))
    if kind_of(problem).name == "hru" and rules is not None and len(names) > 1:
        raise RuleError(f"glep check runs every rule of a {kind_of(problem).title}: drop "
                        f"--rule {args.rule}")
    diffrax = args.diffrax
    if diffrax and kind_of(problem).name != "continuous":
        raise DataError(f"--diffrax: diffrax is a reference of continuous systems, not of a "
                        f"{kind_of(problem).title}: drop it")
    if diffrax is None:  # automatic: a continuous system with a JAX module, diffrax installed
        diffrax = (kind_of(problem).name == "continuous" and emits(problem, "jax")
                   and importlib.util.find_spec("diffrax") is not None)
    with _progress(problem, rules or names, quiet=args.json) as progress:
        report = check(problem, rules=rules, beta=args.beta, steps=args.steps,
                       progress=progress, quick=args.quick, diffrax=diffrax)
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        print(report_text(problem, report))
    return 0 if all(e.get("ok", True) for e in report["rules"].values()) else 1


def _gdu_check(args) -> int:
    """``glep check FILE --gdu``: the per-step EP updates against BPTT's (verify.gdu)."""
    from glep.verify import gdu

    if not args.gdu:
        raise DataError("--gdu-figure writes the figure of the GDU check: add --gdu")
    given = [f for f, v in (("--rule", args.rule), ("--quick", args.quick),
                            ("--diffrax", args.diffrax)) if v]
    if given:
        raise DataError(f"{', '.join(given)}: options of the gradient check, not of --gdu: "
                        f"drop them")
    if args.gdu_figure is not None and args.gdu_figure.suffix != ".png":
        raise DataError(f"--gdu-figure {args.gdu_figure}: give a .png path")
    if args.gdu_figure is not None and not args.gdu_figure.parent.is_dir():
        raise DataError(f"--gdu-figure {args.gdu_figure}: the folder {args.gdu_figure.parent} "
                        f"does not exist: create it or give another path")
    steps = 20 if args.steps is None else _steps_value(args.steps)
    _bounded(steps, args.force)
    report = gdu.gdu(_load(args.file, args.set), beta=args.beta, steps=steps)
    if args.gdu_figure is not None:
        gdu.plot(report, args.gdu_figure)
    if args.json:
        print(json.dumps({k: v for k, v in report.items() if k not in ("ep", "bptt")},
                         indent=2, ensure_ascii=False))
    else:
        print(gdu.report_text(report))
    return 0 if report["ok"] else 1


def cmd_report(args) -> int:
    from glep.report import build

    out = Path(args.out)
    if out.is_dir():
        raise WriteError(f"--out {out} is a directory: give the .html file to write")
    if args.run_dir is not None and not Path(args.run_dir).is_dir():
        raise DataError(f"--run {args.run_dir}: no such directory: give the --out-dir of a "
                        f"glep train run")
    problem = _load(args.file, args.set)
    if args.check is not None:
        given = [flag for flag, value in (("--rule", args.rule), ("--steps", args.steps),
                                          ("--quick", args.quick), ("--beta", args.beta))
                 if value not in (None, False, "1e-4")]
        if given:
            raise DataError(f"{', '.join(given)}: options of the check, which --check reads "
                            f"as it was run: drop them, or drop --check to run it anew")
        report = _recorded_check(Path(args.check), problem)
        steps = report.get("steps")
    else:
        args.beta = _beta(args.beta)
        steps = None if args.steps is None else _steps_value(args.steps)
        _bounded(steps, args.force)
        if steps is None and kind_of(problem).name == "continuous":
            _bounded(problem.steps, args.force, f"{problem.name} declares steps =")
        names = _rule_names(problem)
        rules = None if args.rule is None else [_canonical_rule(args.rule, names, problem)]
        try:
            with _progress(problem, rules or names, quiet=False) as progress:
                report = check(problem, rules=rules, beta=args.beta, steps=steps,
                               progress=progress, quick=args.quick)
        except DerivationError as error:  # the page shows it, as glep check would print it
            print(f"glep report: the check stopped: {error}", file=sys.stderr)
            report = {"system": problem.name, "beta": args.beta, "error": str(error),
                      "rules": {}}
    text = build(problem, report, source=source_name(args.file), steps=steps,
                 run_dir=args.run_dir)
    write_atomically(out, text)
    print(f"wrote {out} ({len(text.encode()) / 1e3:.0f} kB)")
    return 0


def _recorded_check(path: Path, problem) -> dict:
    """``--check FILE``: a ``glep check --json`` output of the same system."""
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DataError(f"--check {path}: cannot read it as JSON ({error}): give the output "
                        f"of glep check --json") from None
    if not isinstance(report, dict) or not isinstance(report.get("rules"), dict):
        raise DataError(f"--check {path}: not a glep check --json output (no rules)")
    if report.get("system") != problem.name:
        raise DataError(f"--check {path} is the check of {report.get('system')!r}, not of "
                        f"{problem.name!r}: run glep check --json on the same file")
    return report


def _teacher(values) -> dict:
    """``--teacher NAME=VALUE`` (repeatable) as ``{name: value}``; the values are checked
    with the system's parameters."""
    teacher = {}
    for text in values or ():
        name, sep, value = text.partition("=")
        name = name.strip()
        if not sep or not name or not value.strip():
            raise DataError(f"--teacher {text!r}: write NAME=VALUE, e.g. --teacher k1=1.2")
        if name in teacher:
            raise DataError(f"--teacher gives {name} twice: give each parameter once")
        teacher[name] = value.strip()
    return teacher


def cmd_data(args) -> int:
    out = Path(args.out)
    if out.is_dir():
        raise WriteError(f"--out {out} is a directory: give the .npz file to write")
    seed = _seed(args.seed)
    options = {"noise": number("noise", 0.0 if args.noise is None else args.noise, low=0,
                               low_open=False)}
    if args.trajectories is not None:
        options["trajectories"] = integer("trajectories", args.trajectories,
                                          2 if args.kind == "filter" else 1)
    if args.kind == "identification":
        options.update(teacher=_teacher(args.teacher), initial=args.initial or "random")
    else:
        for flag, value in (("--teacher", args.teacher), ("--initial", args.initial)):
            if value is not None:
                raise DataError(f"{flag} applies to glep data identification only (the "
                                f"{args.kind} data's targets do not come from a teacher)")
    problem = _load(args.file, args.set)
    _only_continuous(problem, "data")
    _bounded(problem.steps, args.force, f"{problem.name} declares steps =")
    arrays = GENERATORS[args.kind](problem, seed=seed, **options)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    write_atomically(Path(args.out), buffer.getvalue(), binary=True)
    shapes = ", ".join(f"{k} {v.shape}" for k, v in arrays.items())
    print(f"wrote {args.out}: {shapes}")
    return 0


def cmd_train(args) -> int:
    import scipy.linalg  # noqa: F401  (loads SciPy's BLAS, so that the limit below reaches it)
    import torch
    from threadpoolctl import threadpool_limits

    threads = integer("threads", args.threads or 1, 1)
    torch.set_num_threads(threads)
    threadpool_limits(threads)  # NumPy's BLAS too: its spinning threads stall a shared machine
    if args.resume is not None:
        meta = Path(args.resume) / "run.json"
        recorded = json.loads(meta.read_text(encoding="utf-8")) if meta.is_file() else {}
        if recorded.get("kind") == "vector_field":
            raise DataError(f"--resume {args.resume}: vector-field runs are not checkpointed: "
                            f"run them again")
        if recorded.get("kind") in ("classification", "hssm", "feedforward"):
            if args.file is not None and Path(args.file).resolve() != Path(
                    recorded["system"]).resolve():
                raise DataError(f"--resume {args.resume}: FILE {args.file} conflicts with the "
                                f"recorded {recorded['system']}; drop it")
            args.file, args.data = Path(recorded["system"]), recorded["data"]
            args.out_dir, args.set = args.resume, recorded.get("settings") or []
            for key, value in recorded["options"].items():
                if key in ("seeds", "targets") or value is None:
                    continue
                setattr(args, key, ",".join(map(str, value)) if isinstance(value, list)
                        else str(value) if not isinstance(value, bool) else value)
            args.seed = ",".join(map(str, recorded["options"]["seeds"]))
            args.targets = recorded["options"].get("targets")
            problem = _load(args.file, args.set)
            return CLASSIFIERS[kind_of(problem).name](args, problem, problem.name)
    if args.steps is not None:
        steps = _steps_value(args.steps)
        _bounded(steps, args.force)
        args.steps = str(steps)
    for flag in ("rule", "compare"):
        value = getattr(args, flag)
        if value is not None:  # case-insensitive: --rule hel
            canon = {r.lower(): r for r in TRAINING_RULES}
            setattr(args, flag, ",".join(canon.get(r.strip().lower(), r.strip())
                                         for r in value.split(",")))
    if args.file is not None and args.resume is None:
        if not Path(args.file).is_file():
            raise DataError(f"system file {args.file} does not exist: give the path of a "
                            f".py file")
        problem = _load(args.file, args.set)
        kind, title = kind_of(problem).name, kind_of(problem).title
        if kind not in ("feedforward", "chain"):
            _refuse(args, DTP_ONLY, f"options of DTP, for feedforward networks and the maps of "
                    f"ff-EBM chains (--rule EP+DTP), not of a {title}")
        if kind in ("feedforward", "vector_field", "continuous"):  # networks read --momentum
            _refuse(args, [k for k in CLASSIFY_ONLY if kind == "continuous" or k != "momentum"],
                    f"options of energy, chain and HSSM training, not of a {title}")
        if args.device != "cpu" and kind not in ("energy", "chain", "hssm"):
            raise DataError(f"--device {args.device}: a {title} trains on the CPU (its rules run "
                            f"in NumPy); drop --device")
        if kind in CLASSIFIERS:
            return CLASSIFIERS[kind](args, problem, problem.name)
        _only_continuous(problem, "train")
    return train_command(args)


def _refuse(args, names, why: str) -> None:
    """A DataError naming the flags of ``names`` that ``args`` sets, and ``why``."""
    misplaced = [f"--{k.replace('_', '-')}" for k in names
                 if getattr(args, k, None) not in (None, False)]
    if misplaced:
        raise DataError(f"{', '.join(misplaced)}: {why}")


class _progress:
    """Progress of ``glep check`` on stderr, fed by the check's ``progress`` callback: the
    project's progress bar on a terminal; elsewhere (a log) one line per rule as it starts,
    unless ``quiet``. Only continuous systems report their solves."""

    def __init__(self, problem, rules, quiet):
        self.problem, self.rules, self.quiet = problem, list(rules), quiet

    def __enter__(self):
        self.start, self.rule = time.monotonic(), None
        continuous = kind_of(self.problem).name == "continuous"
        self.bar = Progress(1, f"check {self.problem.name}", continuous)
        self.lines = not (self.quiet or self.bar.enabled)
        self._line(f"{self.problem.name}: {len(self.rules)} rule(s) "
                   f"({', '.join(self.rules)}); computing references...")
        return self

    def _line(self, text):
        if self.lines:
            print(f"glep check: {text}", file=sys.stderr, flush=True)

    def __call__(self, done, total, rule, what):
        self.bar.total = total
        self.bar.update(done, text=f"{rule or 'reference'} {what}" if what else rule or "")
        if rule is not None and rule != self.rule:
            self.rule = rule
            index = self.rules.index(rule) + 1 if rule in self.rules else "?"
            self._line(f"[{index}/{len(self.rules)}] {rule} "
                       f"({time.monotonic() - self.start:.1f} s)")

    def __exit__(self, *exc):
        self.bar.close()
        if not self.quiet and exc[0] is None:
            print(f"glep check: done in {time.monotonic() - self.start:.1f} s",
                  file=sys.stderr, flush=True)
        return False


def _bundled() -> list[Path]:
    return sorted(p for p in SYSTEMS_DIR.glob("*.py") if not p.name.startswith("_"))


def _emission_name(args) -> str | None:
    """``--name``: a Python module name, for one system file."""
    name = args.name
    if name is None:
        return None
    if not (name.isidentifier() and name.isascii()) or keyword.iskeyword(name):
        raise WriteError(f"--name {name!r} is not a Python module name: use letters, digits "
                         f"and underscores, not starting with a digit")
    if len([p for p in args.files if p.name != "__init__.py"]) != 1:
        raise WriteError("--name names the module of one system file: give exactly one file")
    return name


def _emission(path: Path, settings, name):
    """The problem of ``path`` with ``--set`` overrides, its source name, the command that
    regenerates it, and a function ``backend -> file name``."""
    problem = _load(path, settings)
    source = source_name(path)
    command = (f"glep emit {source}" + "".join(f" --set {s}" for s in settings or ())
               + (f" --name {name}" if name else ""))
    if name is None:  # variants of one file do not overwrite each other
        name = (problem.name or path.stem) + "".join(
            f"_{setting}{_slug(value)}" for setting, value in map(parse_setting, settings or ()))
    return problem, source, command, lambda backend: (
        f"{module_name(problem, source, backend, name)}.py")


def _slug(value) -> str:
    """A ``--set`` value in a module name: ``0.5`` → ``0p5``, ``-1`` → ``m1``, ``(3, 2)`` →
    ``3_2``, ``b-c`` → ``b_c`` (``anharmonic_chain`` with ``--set n=32`` →
    ``anharmonic_chain_n32``)."""
    text = str(value)
    if isinstance(value, (int, float)):
        text = text.replace(".", "p").replace("-", "m")
    return re.sub(r"[^0-9A-Za-z]+", "_", text).strip("_")


def cmd_emit(args) -> int:
    out_dir = Path(args.out)
    if out_dir.exists() and not out_dir.is_dir():
        raise WriteError(f"--out {out_dir} is a file, not a directory: give a folder")
    name, targets = _emission_name(args), args.target or list(BACKENDS)
    if args.check:
        return _check(out_dir, targets, args.files, args.set, name)
    if not args.files:
        raise DerivationError("glep emit needs system files (or --check): glep emit systems/*.py")
    for path in args.files:
        if path.name == "__init__.py":
            continue
        problem, source, command, file_name = _emission(path, args.set, name)
        for backend in targets:
            if not emits(problem, backend):
                if args.target:  # named with --target: say why it is skipped
                    print(f"skipped: {refusal(source, backend)}", file=sys.stderr)
                continue
            text = render(problem, backend, source, command, standalone=args.standalone)
            target = out_dir / file_name(backend)
            write_atomically(target, text)
            print(f"wrote {target}")
    if not args.standalone:  # the modules import glep.generated._runtime_*; a copy beside them
        for backend in targets:
            target = out_dir / f"{runtime_name(backend)}.py"
            write_atomically(target, render_runtime(backend))
            print(f"wrote {target}")
    return 0


def _compare(target: Path, text: str, stale: list) -> None:
    if not target.is_file():
        stale.append(f"{target} (missing)")
    elif target.read_text(encoding="utf-8") != text:
        stale.append(f"{target} (differs from what glep emits now)")


def _check(out_dir: Path, backends, files=None, settings=None, name=None) -> int:
    """Compare ``out_dir`` with a fresh emission of ``files`` (default: every bundled
    system, and then a module no bundled system emits is stale too)."""
    if not out_dir.is_dir():
        raise WriteError(f"--out {out_dir}: no such folder to check")
    paths = [p for p in files or () if p.name != "__init__.py"] or _bundled()
    stale, expected = [], set()
    for backend in backends:
        runtime = f"{runtime_name(backend)}.py"
        expected.add(runtime)
        _compare(out_dir / runtime, render_runtime(backend), stale)
    for path in paths:
        problem, source, command, file_name = _emission(path, settings if files else (),
                                                        name if files else None)
        command = command if files and (settings or name) else None
        for backend in (b for b in backends if emits(problem, b)):
            expected.add(file_name(backend))
            _compare(out_dir / file_name(backend), render(problem, backend, source, command),
                     stale)
    if not files:
        for backend in backends:
            for path in sorted(out_dir.glob(f"*_{backend}.py")):
                if path.name not in expected:
                    stale.append(f"{path} (no bundled system emits it)")
    if stale:
        print("stale generated files:\n  " + "\n  ".join(stale), file=sys.stderr)
        what = " ".join(str(p) for p in files) if files else "systems/*.py"
        print(f"regenerate with: glep emit {what} --out {out_dir}", file=sys.stderr)
        return 1
    print(f"{out_dir}/ is up to date ({len(expected)} modules)")
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="glep",
        description="Write a Lagrangian, get a learning rule.",
    )
    sub = top.add_subparsers(dest="command", required=True)

    def add(name, help_text):
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument(
            "--set",
            action="append",
            metavar="NAME=VALUE",
            help="override a module-level setting of the system file (e.g. --set n=4)",
        )
        return p

    p = add("derive", "equations of motion, Hamiltonian/Lagrangian and properties")
    p.add_argument("file", type=Path)
    p.add_argument("--latex", action="store_true", help="print expressions as LaTeX")
    p.set_defaults(run=cmd_derive)

    p = add("rules", "every boundary-condition variant: its learning rule and practicality")
    p.add_argument("file", type=Path)
    p.add_argument("--json", action="store_true", help="print the practicality report as JSON")
    p.add_argument("--latex", action="store_true", help="print expressions as LaTeX")
    p.set_defaults(run=cmd_rules)

    p = add("check", "gradients of every rule against the adjoint and finite differences")
    p.add_argument("file", type=Path)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--rule", help=f"check these rules only, comma-separated, any case "
                   f"({', '.join(RULES)}, or EP rules), e.g. --rule hel,adjoint")
    p.add_argument("--beta", default="1e-4", help="nudging strength (default 1e-4)")
    p.add_argument("--steps", help="integration steps (default: the file's)")
    p.add_argument("--quick", action="store_true", help="skip the finite differences of "
                   "an energy or chain of more than 100 parameters (implicit differentiation "
                   "stays the reference)")
    p.add_argument("--diffrax", action=argparse.BooleanOptionalAction, default=None,
                   help="continuous systems: diffrax (Dopri8, tol 1e-12) as a further reference "
                        "of the adjoint, next to torchdiffeq; on by default when JAX and diffrax "
                        "are installed (glep[jax]) and the system has a JAX module. "
                        "--no-diffrax skips it: tracing and compiling diffrax's solver costs "
                        "~6 CPU-seconds per system (coupled oscillators)")
    p.add_argument("--force", action="store_true",
                   help=f"allow more than {MAX_STEPS:.0e} integration steps")
    p.add_argument("--gdu", action="store_true", help="energies: the GDU check, EP's per-step "
                   "updates of the nudged phase against BPTT's per-step gradients (--steps: "
                   "Euler steps, default 20; --beta)")
    p.add_argument("--gdu-figure", type=Path, help="with --gdu: write its figure (.png) here")
    p.set_defaults(run=cmd_check)

    p = add("report", "one self-contained HTML page: equations, rules, check and plots")
    p.add_argument("file", type=Path)
    p.add_argument("--out", default="report.html", help="the page to write "
                   "(default report.html)")
    p.add_argument("--run", dest="run_dir", metavar="RUN_DIR", help="include the training "
                   "curves and comparison table of a glep train run directory")
    p.add_argument("--check", metavar="JSON", help="use this glep check --json output "
                   "instead of running the check")
    p.add_argument("--rule", help="check one rule only (default: every rule)")
    p.add_argument("--beta", default="1e-4", help="the check's nudging strength (default 1e-4)")
    p.add_argument("--steps", help="the check's integration steps (default: the file's)")
    p.add_argument("--quick", action="store_true", help="skip the finite differences of "
                   "an energy or chain of more than 100 parameters (implicit differentiation "
                   "stays the reference)")
    p.add_argument("--force", action="store_true",
                   help=f"allow more than {MAX_STEPS:.0e} integration steps")
    p.set_defaults(run=cmd_report)

    p = add("data", "generate a bundled data set of input/target trajectories (.npz)")
    p.epilog = ("identification: a teacher (the system with other parameters) driven by "
                "band-limited forces on every input; the targets are what the running cost "
                "observes (e.g. the positions it compares). filter: one random input force "
                "and, as the target, a band-pass filter of it (systems with one input and "
                "one target).")
    p.add_argument("kind", choices=sorted(GENERATORS))
    p.add_argument("file", type=Path, help="the system file the data is for")
    p.add_argument("--out", required=True, help="the .npz file to write")
    p.add_argument("--seed", default="0", help="random forces, initial states and noise "
                   "(default 0)")
    p.add_argument("--trajectories", metavar="N", help="how many (default: identification "
                   "64; filter 128, a quarter of them held out as the test set)")
    p.add_argument("--noise", metavar="SIGMA", help="Gaussian observation noise of standard "
                   "deviation SIGMA added to the targets (default 0)")
    p.add_argument("--teacher", action="append", metavar="NAME=VALUE",
                   help="identification: a teacher parameter (repeatable); the others "
                   "default to 1 + 0.4 sin(1.7 i + 0.3) for a name starting with k, else "
                   "0.5 + 0.3 cos(1.3 i), i the parameter's index in the system's order")
    p.add_argument("--initial", choices=("random", "declared"),
                   help="identification: initial states random (default: positions "
                   "N(0, 0.6²), velocities or momenta 0) or the system file's own")
    p.add_argument("--force", action="store_true",
                   help=f"allow a system of more than {MAX_STEPS:.0e} integration steps")
    p.set_defaults(run=cmd_data)

    p = add("train", "fit a system's parameters to data with a learning rule")
    d = TRAIN_DEFAULTS  # options are checked by glep.learn.train.validate_options
    p.add_argument("file", type=Path, nargs="?", help="the system file (not with --resume)")
    p.add_argument("--data", help=".npz data set (see learn/datasets.py)")
    p.add_argument("--rule", help=f"{', '.join(TRAINING_RULES)} (default {d['rule']})")
    p.add_argument("--compare", help="several rules from the same start, e.g. HEL,adjoint,BPTT")
    p.add_argument("--epochs", help=f"default {d['epochs']}")
    p.add_argument("--batch", help=f"default {d['batch']}")
    p.add_argument("--lr", help=f"learning rate (default {d['lr']})")
    p.add_argument("--lr-decay", help="learning-rate factor per step, in (0, 1] (default 1)")
    p.add_argument("--optimizer", help=f"{', '.join(OPTIMIZERS)} (default {d['optimizer']}); "
                   "energies and chains: sgd (default), adam, flip, metaplastic")
    p.add_argument("--seed", help=f"initial batch order (default {d['seed']})")
    p.add_argument("--beta", help=f"nudging strength (default {d['beta']}; DTP: the first "
                   f"target's β, t_N = s_N − β ∂ℓ/∂s_N, e.g. 0.7)")
    p.add_argument("--steps", help="integration steps (default: the file's)")
    p.add_argument("--out-dir", help=f"the run directory: logs, parameters, checkpoints, "
                   f"figures (default {d['out_dir']})")
    p.add_argument("--checkpoint-every", metavar="N",
                   help=f"checkpoint every N gradients (default {d['checkpoint_every']})")
    p.add_argument("--resume", metavar="RUN_DIR",
                   help="continue the run in RUN_DIR from its checkpoints, with its options")
    p.add_argument("--init", metavar="PARAMS.json",
                   help="start from these parameters {name: value} (e.g. a -params.json)")
    p.add_argument("--positive", metavar="NAMES",
                   help="train these parameters in log space, so they stay positive: names or "
                   "patterns separated by commas (m1,k2 or 'L*,C*'), or all; parameters "
                   "declared with positive=True always are")
    c = CLASSIFY_DEFAULTS
    g = p.add_argument_group(
        "energies and ff-EBM chains (--data: digits, mnist5k, mnist5k-8x8, mnist1d, an aeon "
        "set or a .npz with x, y, test_x, test_y; rules P-EP, N-EP, C-EP, CL, P-CpL, N-CpL, C-CpL, "
        "continual-EP, EqSpike (spiking EP, docs/eqspike.md), "
        "EP or EP+DTP (difference targets through the maps, --sigma ... below) for a chain, "
        "BPTT; --lr may be 0.05,W1=0.1; --seed may list seeds 0,1,2)")
    g.add_argument("--momentum", help=f"SGD momentum (default {c['momentum']})")
    g.add_argument("--weight-decay", help="L2 weight decay (default 0)")
    g.add_argument("--schedule", help="constant or cosine learning rate (default constant)")
    g.add_argument("--random-sign", action="store_true",
                   help="draw the sign of beta per batch (one-sided rules alternate P/N)")
    g.add_argument("--method", help="relaxation: async, sync or gradient (default: the file's)")
    g.add_argument("--tol", help=f"relaxation residual tolerance (default {c['tol']})")
    g.add_argument("--max-iterations", help="relaxation iteration budget per phase")
    g.add_argument("--targets", metavar="OFF,ON", help="target values of the one-hot labels")
    g.add_argument("--spike-dt", metavar="DT", help=f"EqSpike time step, in membrane time "
                   f"constants (default {c['spike_dt']}); smaller: more spikes per phase")
    g.add_argument("--spike-time", metavar="T", help=f"EqSpike phase duration, in membrane "
                   f"time constants (default {c['spike_time']}; rates averaged over its 2nd half)")
    g.add_argument("--spike-tau", metavar="TAU", help=f"EqSpike synaptic trace time constant "
                   f"(default {c['spike_tau']})")
    g.add_argument("--neuron", help=f"EqSpike neurons: integrate-and-fire or bernoulli "
                   f"(default {c['neuron']}); spikes are seeded by --seed and the step")
    g.add_argument("--gamma", help="--optimizer flip: the momentum rate γ in (0, 1] of the binary "
                   f"weights' flip rule, per weight like --lr (default {c['gamma']}; the "
                   "paper: 1e-5 to 2e-7 per layer)")
    g.add_argument("--tau", help="--optimizer flip: the flip threshold τ ≥ 0, per weight "
                   f"(default {c['tau']}; the paper: 1e-8 to 5e-7)")
    g.add_argument("--meta", help="--optimizer metaplastic: the metaplasticity m ≥ 0 "
                   f"(f = 1 − tanh²(m·|W_h|) on steps toward zero), per parameter like --lr "
                   f"(default {c['meta']}; 0 is Adam)")
    g.add_argument("--output-per-class", metavar="K", help="K output units per class (the "
                   "system's outputs: K × classes), trained toward their class's target and "
                   "read out by their mean (default 1; binary EP: e.g. 10)")
    g.add_argument("--precision", choices=("float64", "float32", "float16", "bfloat16"),
                   help="float type of the relaxations (Torch); 16-bit types keep float32 "
                   "parameters (default: float64, NumPy)")
    g = p.add_argument_group(
        "feedforward networks (--data digits, mnist5k or a .npz; rules DTP, difference target "
        "propagation with L-DRL feedback training, and BP, backpropagation; defaults: the "
        "system file's; --lr, --batch, --epochs, --momentum, --optimizer sgd|adam and --seed "
        "0,1,2 as above); --sigma, --feedback-iterations, --feedback-lr also set the feedback "
        "maps of a chain's EP+DTP (defaults 1, 40, 0.0005)")
    g.add_argument("--sigma", help="L-DRL noise scale of each feedback layer, layers 2 … N: "
                   "one number or one per layer, e.g. 0.4,0.2,0.08")
    g.add_argument("--feedback-iterations", help="L-DRL steps of every feedback layer per "
                   "batch, before the forward step (e.g. 20)")
    g.add_argument("--feedback-lr", help="learning rate of the feedback layers (SGD, momentum "
                   "0.9)")
    p.add_argument("--threads", help="torch and BLAS threads per process (default 1: small "
                   "batches run fastest on one thread)")
    p.add_argument("--device", default="cpu",
                   help="torch device of an energy or chain's parameters, optimizer and Torch "
                   "batches (cpu, cuda, cuda:1); under torchrun also the process group's "
                   "backend: gloo on cpu, nccl on cuda")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--force", action="store_true",
                   help=f"allow more than {MAX_STEPS:.0e} integration steps")
    p.set_defaults(run=cmd_train)

    p = add("emit", "write NumPy/Torch modules for system files, or check generated/")
    p.add_argument("files", nargs="*", type=Path)
    p.add_argument("--target", nargs="+", choices=BACKENDS,
                   help="backends to write (default: all; a backend that does not write a "
                        "system says why)")
    p.add_argument("--out", default="generated", help="output folder (default: generated)")
    p.add_argument(
        "--check",
        action="store_true",
        help="exit 1 naming every generated module that differs from a fresh emission",
    )
    p.add_argument("--name", help="the module's name, for one system file (default: the "
                   "system's name with the --set overrides, e.g. anharmonic_chain_n32)")
    p.add_argument(
        "--standalone",
        action="store_true",
        help="inline the shared runtime (glep.generated._runtime_*): modules that need "
        "NumPy/PyTorch only",
    )
    p.set_defaults(run=cmd_emit)
    return top


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)[1:]
    try:
        return args.run(args)
    except DerivationError as error:
        print(f"glep: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as error:
        where = f" ({error})" if str(error) else ""
        print(f"glep: interrupted{where}", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
