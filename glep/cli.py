"""The ``glep`` command line: derive, emit (and check) generated modules.

A bad input prints one clear message (no traceback) and exits with status 2.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
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
from glep.derive.errors import DerivationError
from glep.derive.problem import Problem
from glep.derive.rules import RULES
from glep.derive.systemfile import load_problem, parse_setting
from glep.learn.datasets import GENERATORS
from glep.learn.train import DEFAULTS as TRAIN_DEFAULTS
from glep.learn.train import OPTIMIZERS, TRAINING_RULES, train_command
from glep.verify import check, report_text

SYSTEMS_DIR = Path(systems.__file__).resolve().parent


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
    problem = _load(args.file, args.set)
    report = check(problem, rules=[args.rule] if args.rule else None, beta=args.beta,
                   steps=args.steps)
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        print(report_text(problem, report))
    return 0 if all(e.get("ok", True) for e in report["rules"].values()) else 1


def cmd_data(args) -> int:
    problem = _load(args.file, args.set)
    arrays = GENERATORS[args.kind](problem, seed=args.seed)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    write_atomically(Path(args.out), buffer.getvalue(), binary=True)
    shapes = ", ".join(f"{k} {v.shape}" for k, v in arrays.items())
    print(f"wrote {args.out}: {shapes}")
    return 0


def cmd_train(args) -> int:
    return train_command(args)


def _bundled() -> list[Path]:
    return sorted(p for p in SYSTEMS_DIR.glob("*.py") if not p.name.startswith("_"))


def cmd_emit(args) -> int:
    out_dir = Path(args.out)
    if args.check:
        return _check(out_dir, args.target)
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


def _check(out_dir: Path, backends) -> int:
    stale, expected = [], set()
    for backend in backends:
        name = f"{runtime_name(backend)}.py"
        expected.add(name)
        _compare(out_dir / name, render_runtime(backend), stale)
    for path in _bundled():
        problem = load_problem(path)
        source = source_name(path)
        for backend in backends:
            name = f"{module_name(problem, source, backend)}.py"
            expected.add(name)
            _compare(out_dir / name, render(problem, backend, source), stale)
    for backend in backends:
        for path in sorted(out_dir.glob(f"*_{backend}.py")):
            if path.name not in expected:
                stale.append(f"{path} (no bundled system emits it)")
    if stale:
        print("stale generated files:\n  " + "\n  ".join(stale), file=sys.stderr)
        print("regenerate with: glep emit systems/*.py", file=sys.stderr)
        return 1
    print(f"generated/ is up to date ({len(expected)} modules)")
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
    p.add_argument("--rule", help=f"check one rule only ({', '.join(RULES)}, or an EP rule)")
    p.add_argument("--beta", type=float, default=1e-4, help="nudging strength (default 1e-4)")
    p.add_argument("--steps", type=int, help="integration steps (default: the file's)")
    p.set_defaults(run=cmd_check)

    p = add("data", "generate a bundled data set of input/target trajectories (.npz)")
    p.add_argument("kind", choices=sorted(GENERATORS))
    p.add_argument("file", type=Path, help="the system file the data is for")
    p.add_argument("--out", required=True, help="the .npz file to write")
    p.add_argument("--seed", type=int, default=0)
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
    except KeyboardInterrupt:
        print("glep: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
