"""The ``glep`` command line: derive, emit (and check) generated modules.

A bad input prints one clear message (no traceback) and exits with status 2.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

from glep import systems
from glep.codegen.emit import (
    BACKENDS,
    module_name,
    render,
    render_runtime,
    runtime_name,
    write_atomically,
)
from glep.codegen.kinds import kind_of
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
from glep.learn.datasets import GENERATORS
from glep.learn.progress import Progress
from glep.learn.train import DEFAULTS as TRAIN_DEFAULTS
from glep.learn.train import OPTIMIZERS, TRAINING_RULES, train_command
from glep.verify import check, report_text

SYSTEMS_DIR = Path(systems.__file__).resolve().parent

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
                   "rules": {name: rule.practicality.as_json() for name, rule in rules.items()}}
        print(json.dumps(payload, indent=2, ensure_ascii=False))
    else:
        print(kind.rules_text(problem, args.latex))
    return 0


def cmd_check(args) -> int:
    args.beta = _beta(args.beta)
    args.steps = None if args.steps is None else _steps_value(args.steps)
    _bounded(args.steps, args.force)
    problem = _load(args.file, args.set)
    if args.steps is None and kind_of(problem).name == "continuous":
        _bounded(problem.steps, args.force, f"{problem.name} declares steps =")
    names = _rule_names(problem)
    rules = None if args.rule is None else [_canonical_rule(args.rule, names, problem)]
    if kind_of(problem).name == "hru" and rules is not None and len(names) > 1:
        raise RuleError(f"glep check runs every rule of a {kind_of(problem).title}: drop "
                        f"--rule {args.rule}")
    with _progress(problem, rules or names, quiet=args.json) as progress:
        report = check(problem, rules=rules, beta=args.beta, steps=args.steps,
                       progress=progress)
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        print(report_text(problem, report))
    return 0 if all(e.get("ok", True) for e in report["rules"].values()) else 1


def cmd_data(args) -> int:
    out = Path(args.out)
    if out.is_dir():
        raise WriteError(f"--out {out} is a directory: give the .npz file to write")
    seed = _seed(args.seed)
    problem = _load(args.file, args.set)
    _only_continuous(problem, "data")
    _bounded(problem.steps, args.force, f"{problem.name} declares steps =")
    arrays = GENERATORS[args.kind](problem, seed=seed)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    write_atomically(Path(args.out), buffer.getvalue(), binary=True)
    shapes = ", ".join(f"{k} {v.shape}" for k, v in arrays.items())
    print(f"wrote {args.out}: {shapes}")
    return 0


def cmd_train(args) -> int:
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
        _only_continuous(_load(args.file, args.set), "train")
    return train_command(args)


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


def cmd_emit(args) -> int:
    out_dir = Path(args.out)
    if out_dir.exists() and not out_dir.is_dir():
        raise WriteError(f"--out {out_dir} is a file, not a directory: give a folder")
    if args.check:
        return _check(out_dir, args.target, args.files, args.set)
    if not args.files:
        raise DerivationError("glep emit needs system files (or --check): glep emit systems/*.py")
    for path in args.files:
        if path.name == "__init__.py":
            continue
        problem = _load(path, args.set)
        source = source_name(path)
        settings = "".join(f" --set {s}" for s in args.set or ())
        command = f"glep emit {source}{settings}"
        for backend in args.target:
            text = render(problem, backend, source, command, standalone=args.standalone)
            target = out_dir / f"{module_name(problem, source, backend)}.py"
            write_atomically(target, text)
            print(f"wrote {target}")
    if not args.standalone:  # the modules import glep.generated._runtime_*; a copy beside them
        for backend in args.target:
            target = out_dir / f"{runtime_name(backend)}.py"
            write_atomically(target, render_runtime(backend))
            print(f"wrote {target}")
    return 0


def _compare(target: Path, text: str, stale: list) -> None:
    if not target.is_file():
        stale.append(f"{target} (missing)")
    elif target.read_text(encoding="utf-8") != text:
        stale.append(f"{target} (differs from what glep emits now)")


def _check(out_dir: Path, backends, files=None, settings=None) -> int:
    """Compare ``out_dir`` with a fresh emission of ``files`` (default: every bundled
    system, and then a module no bundled system emits is stale too)."""
    if not out_dir.is_dir():
        raise WriteError(f"--out {out_dir}: no such folder to check")
    paths = [p for p in files or () if p.name != "__init__.py"] or _bundled()
    stale, expected = [], set()
    for backend in backends:
        name = f"{runtime_name(backend)}.py"
        expected.add(name)
        _compare(out_dir / name, render_runtime(backend), stale)
    for path in paths:
        problem = _load(path, settings) if files else load_problem(path)
        source = source_name(path)
        command = (f"glep emit {source}" + "".join(f" --set {s}" for s in settings)
                   if files and settings else None)
        for backend in backends:
            name = f"{module_name(problem, source, backend)}.py"
            expected.add(name)
            _compare(out_dir / name, render(problem, backend, source, command), stale)
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
    p.add_argument("--rule", help=f"check one rule only, any case ({', '.join(RULES)}, or an "
                   f"EP rule)")
    p.add_argument("--beta", default="1e-4", help="nudging strength (default 1e-4)")
    p.add_argument("--steps", help="integration steps (default: the file's)")
    p.add_argument("--force", action="store_true",
                   help=f"allow more than {MAX_STEPS:.0e} integration steps")
    p.set_defaults(run=cmd_check)

    p = add("data", "generate a bundled data set of input/target trajectories (.npz)")
    p.add_argument("kind", choices=sorted(GENERATORS))
    p.add_argument("file", type=Path, help="the system file the data is for")
    p.add_argument("--out", required=True, help="the .npz file to write")
    p.add_argument("--seed", default="0")
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
    p.add_argument("--optimizer", help=f"{', '.join(OPTIMIZERS)} (default {d['optimizer']})")
    p.add_argument("--seed", help=f"initial batch order (default {d['seed']})")
    p.add_argument("--beta", help=f"nudging strength (default {d['beta']})")
    p.add_argument("--steps", help="integration steps (default: the file's)")
    p.add_argument("--out-dir", help=f"the run directory: logs, parameters, checkpoints, "
                   f"figures (default {d['out_dir']})")
    p.add_argument("--checkpoint-every", metavar="N",
                   help=f"checkpoint every N gradients (default {d['checkpoint_every']})")
    p.add_argument("--resume", metavar="RUN_DIR",
                   help="continue the run in RUN_DIR from its checkpoints, with its options")
    p.add_argument("--init", metavar="PARAMS.json",
                   help="start from these parameters {name: value} (e.g. a -params.json)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--force", action="store_true",
                   help=f"allow more than {MAX_STEPS:.0e} integration steps")
    p.set_defaults(run=cmd_train)

    p = add("emit", "write NumPy/Torch modules for system files, or check generated/")
    p.add_argument("files", nargs="*", type=Path)
    p.add_argument("--target", nargs="+", choices=BACKENDS, default=list(BACKENDS))
    p.add_argument("--out", default="generated", help="output folder (default: generated)")
    p.add_argument(
        "--check",
        action="store_true",
        help="exit 1 naming every generated module that differs from a fresh emission",
    )
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
