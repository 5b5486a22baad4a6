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
import sympy as sp

from derive.errors import DerivationError
from derive.problem import Problem
from derive.rules import RULES, derive_rules
from derive.system import Hamiltonian

from .datasets import GENERATORS, fir_baseline, load_data
from .emit import BACKENDS, module_name, render, write_atomically
from .systemfile import load_problem, parse_setting
from .train import OPTIMIZERS, TRAINING_RULES, plot_losses, train
from .verify import check

SYSTEMS_DIR = Path(__file__).resolve().parent.parent / "systems"


def source_name(path: Path) -> str:
    """How a generated header names its source: ``<folder>/<file>``, whatever the cwd."""
    path = Path(path).resolve()
    return f"{path.parent.name}/{path.name}"


def _load(path, settings) -> Problem:
    overrides = dict(parse_setting(s) for s in settings or ())
    return load_problem(path, overrides)


#: CLI handlers of other kinds of problems: ``problem class → {"derive" | "rules" |
#: "check": handler(problem, args) -> exit code}``, registered by the modules that
#: implement them (imported from ``codegen/__init__.py``).
HANDLERS: dict[type, dict] = {}


def _handler(problem, command):
    for kind, handlers in HANDLERS.items():
        if isinstance(problem, kind):
            if command not in handlers:
                raise DerivationError(
                    f"glep {command} does not apply to a {type(problem).__name__} problem"
                )
            return handlers[command]
    return None


def _show(expr, latex: bool, plain_of) -> str:
    return sp.latex(expr) if latex else sp.sstr(plain_of(expr))


def cmd_derive(args) -> int:
    problem = _load(args.file, args.set)
    if handler := _handler(problem, "derive"):
        return handler(problem, args)
    system = problem.system
    def show(expr):
        return _show(expr, args.latex, system.plain)

    out = []
    kind = system.kind.capitalize()
    out.append(
        f"{problem.name}: {kind} with {len(system.coords)} coordinate(s), "
        f"{len(problem.params)} parameter(s), {len(system.inputs)} input(s)"
    )
    if isinstance(system, Hamiltonian):
        out.append(f"\nHamiltonian\n  H = {show(system.expr)}")
        out.append("\nHamilton's equations")
        out += [f"  {show(e.lhs)} = {show(e.rhs)}" for e in system.hamilton_equations()]
        separable = system.is_separable()
        lagrangian = None
        try:
            lagrangian = system.to_lagrangian()
            out.append(f"\nLagrangian (inverse Legendre transform)\n  L = {show(lagrangian.expr)}")
        except DerivationError as error:
            out.append(f"\nLagrangian: none ({error})")
    else:
        out.append(f"\nLagrangian\n  L = {show(system.expr)}")
        if system.dissipation is not None:
            out.append(f"  Rayleigh dissipation F = {show(system.dissipation)}")
        out.append("\nEuler–Lagrange equations")
        out += [f"  0 = {show(e.lhs)}" for e in system.euler_lagrange()]
        mass = system.mass_matrix()
        constant = not (system.plain_mass_matrix.free_symbols & set(system.q))
        structure = "diagonal" if mass.is_diagonal() else "full"
        out.append(f"\nMass matrix ({'constant' if constant else 'state-dependent'}, {structure})")
        out.append(f"  M = {show(mass)}")
        out.append("\nAccelerations")
        out += [
            f"  {show(q.diff(system.time, 2))} = {show(a)}"
            for q, a in zip(system.coords, system.accelerations())
        ]
        separable = None
        try:
            hamiltonian = system.to_hamiltonian()
            h = _show(hamiltonian.expr, args.latex, hamiltonian.plain)
            out.append(f"\nHamiltonian (Legendre transform)\n  H = {h}")
            separable = hamiltonian.is_separable()
        except DerivationError as error:
            out.append(f"\nHamiltonian: none ({error})")
    reversal = problem.time_reversal()
    out.append("\nProperties")
    if reversal.reversible:
        out.append("  time-reversal invariant: yes (an echo can replace backward integration)")
    else:
        out.append("  time-reversal invariant: no — " + "; ".join(reversal.reasons))
    if separable is not None:
        out.append(f"  separable H = T(p) + V(q): {'yes' if separable else 'no'}")
    out.append(f"  dissipative: {'yes' if system.dissipation is not None else 'no'}")
    if problem.cost is not None:
        out.append(
            f"\nCost\n  running c = {show(problem.running_cost)}"
            f"\n  terminal ψ = {show(problem.terminal_cost)}"
        )
    print("\n".join(out))
    return 0


def _show_object(value, latex: bool) -> str:
    if isinstance(value, sp.MatrixBase) and max(value.shape) > 4 and not latex:
        nonzero = sum(1 for e in value if e != 0)
        return f"{value.shape[0]}×{value.shape[1]} matrix, {nonzero} non-zero entries (--latex)"
    if isinstance(value, sp.Basic):
        return sp.latex(value) if latex else sp.sstr(value)
    return str(value)


def cmd_rules(args) -> int:
    problem = _load(args.file, args.set)
    if handler := _handler(problem, "rules"):
        return handler(problem, args)
    rules = derive_rules(problem)
    if args.json:
        payload = {
            "system": problem.name,
            "rules": {name: rule.practicality.as_json() for name, rule in rules.items()},
        }
        print(json.dumps(payload, indent=2, ensure_ascii=False))
        return 0
    def show(value):
        if args.latex and isinstance(value, sp.Basic):
            value = problem.system.to_time(value)  # q_dot → dq/dt reads better in LaTeX
        return _show_object(value, args.latex)

    out = [f"{problem.name}: learning rules (GLEP, THEORY.md §2–§4)"]
    bulk_rule = next((r for r in rules.values() if r.bulk), None)
    if bulk_rule is not None:
        out.append("\nbulk integrand ∂L/∂θ, contrasted between nudged runs by every GLEP rule")
        out.append("(in brackets: the variables each parameter's update reads)")
        for param, expr in bulk_rule.bulk.items():
            reads = bulk_rule.practicality.reads.get(str(param), [])
            out.append(f"  ∂L/∂{param} = {show(expr)}   [{', '.join(reads)}]")
    for rule in rules.values():
        status = "available" if rule.available else f"unavailable — {rule.practicality.reason}"
        out.append(f"\n== {rule.name}: {rule.title} ({status})")
        out.append("  phases:")
        for i, phase in enumerate(rule.phases, 1):
            out.append(
                f"    {i}. {phase.trajectory:<10} {phase.direction:<15} from {phase.boundary}; "
                f"nudging {phase.nudging}; signals {phase.signals}"
            )
        out.append("  estimator:")
        out += [f"    {form}: {formula}" for form, formula in rule.estimator.items()]
        if rule.residual:
            out.append("  boundary terms:")
            out += [f"    {k}: {show(v)}" for k, v in rule.residual.items()]
        out.append("  initial-state gradient:")
        out += [f"    {k} = {v}" for k, v in rule.initial_state_gradient.items()]
    out.append("\npracticality")
    header = (f"  {'rule':<8} {'avail':<6} {'fwd-only':<9} {'same-sys':<9} {'passes':<7} "
              f"{'memory':<22} {'jacobian':<9} {'bvp':<5} {'local':<6} {'bias':<5} practical")
    out.append(header)
    for rule in rules.values():
        p = rule.practicality

        def yes(flag):
            return "yes" if flag else "no"

        out.append(
            f"  {rule.name:<8} {yes(p.available):<6} {yes(p.forward_only):<9} "
            f"{yes(p.same_system):<9} {p.passes:<7} {p.memory[:22]:<22} "
            f"{yes(p.needs_jacobian):<9} {yes(p.needs_bvp):<5} {yes(p.local):<6} "
            f"{p.bias_order:<5} {yes(p.practical)}"
        )
    impractical = [r for r in rules.values() if r.available and not r.practicality.practical]
    for rule in impractical:
        out.append(f"  {rule.name}: {rule.practicality.reason}")
    print("\n".join(out))
    return 0


def cmd_check(args) -> int:
    problem = _load(args.file, args.set)
    if handler := _handler(problem, "check"):
        return handler(problem, args)
    rules = [args.rule] if args.rule else None
    report = check(problem, rules=rules, beta=args.beta, steps=args.steps)
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        ref = report["reference"]["adjoint"]
        print(f"{report['system']}: loss {report['loss']:.12g}; β = {report['beta']:g}, "
              f"{report['steps']} RK4 steps")
        print(f"reference: {ref['method']}; finite differences of the RK4 loss")
        fd = np.array(list(report["reference"]["finite_difference"]["grad"].values()))
        adjoint = np.array(list(ref["grad"].values()))
        spread = np.linalg.norm(fd - adjoint) / max(np.linalg.norm(adjoint), 1e-300)
        print(f"adjoint vs finite differences: {spread:.1e}")
        print(f"\n  {'rule':<8} {'rel_err':>9} {'vs':<18} {'practical':<9}  health")
        for name, entry in report["rules"].items():
            if not entry["available"]:
                print(f"  {name:<8} {'—':>9} {'unavailable':<18} {'no':<9}  {entry['reason']}")
                continue
            health = ", ".join(f"{k} {v:.2g}" for k, v in entry.get("health", {}).items()
                               if isinstance(v, float))
            verdict = "" if entry["ok"] else "  MISMATCH"
            print(f"  {name:<8} {entry['rel_err']:>9.1e} {entry['reference']:<18} "
                  f"{'yes' if entry['practical'] else 'no':<9}  {health}{verdict}")
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
    problem = _load(args.file, args.set)
    data = load_data(args.data, problem)
    rules = args.compare.split(",") if args.compare else [args.rule]
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    runs = []
    for rule in rules:
        stem = out_dir / f"{problem.name}-{rule}"
        run = train(
            problem, data, rule=rule, epochs=args.epochs, batch=args.batch, lr=args.lr,
            lr_decay=args.lr_decay, optimizer=args.optimizer, seed=args.seed, beta=args.beta,
            steps=args.steps, log_path=f"{stem}.jsonl", params_path=f"{stem}-params.json",
            progress=not args.quiet,
        )
        runs.append(run)
        line = (f"{rule}: loss {run.losses[0]:.3e} → {run.losses[-1]:.3e} "
                f"({run.losses[0] / max(run.losses[-1], 1e-300):.3g}× lower) in "
                f"{len(run.losses)} steps, {run.seconds:.1f} s")
        if run.test_losses:
            line += f"; test loss {run.test_losses[-1]:.4e}"
        if data.true_theta is not None:
            error = np.linalg.norm(run.theta - data.true_theta) / np.linalg.norm(data.true_theta)
            line += f"; parameter error {error:.2e}"
        print(line)
        print(f"  log {stem}.jsonl, parameters {stem}-params.json")
        if run.interrupted:
            print("interrupted: the log and the last parameters are kept", file=sys.stderr)
            return 130
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
            text = render(problem, backend, source, command)
            target = out_dir / f"{module_name(problem, source, backend)}.py"
            write_atomically(target, text)
            print(f"wrote {target}")
    return 0


def _check(out_dir: Path, backends) -> int:
    stale, expected = [], set()
    for path in _bundled():
        problem = load_problem(path)
        source = source_name(path)
        for backend in backends:
            name = f"{module_name(problem, source, backend)}.py"
            expected.add(name)
            target = out_dir / name
            text = render(problem, backend, source)
            if not target.is_file():
                stale.append(f"{target} (missing)")
            elif target.read_text(encoding="utf-8") != text:
                stale.append(f"{target} (differs from what glep emits now)")
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
    p.add_argument("file", type=Path)
    p.add_argument("--data", required=True, help=".npz data set (see codegen/datasets.py)")
    p.add_argument("--rule", default="HEL", choices=TRAINING_RULES)
    p.add_argument("--compare", help="several rules from the same start, e.g. HEL,adjoint,BPTT")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-2)
    p.add_argument("--lr-decay", type=float, default=1.0, help="learning-rate factor per step")
    p.add_argument("--optimizer", default="adam", choices=OPTIMIZERS)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--beta", type=float, default=1e-4)
    p.add_argument("--steps", type=int, help="integration steps (default: the file's)")
    p.add_argument("--out-dir", default="runs", help="where logs, parameters, figures go")
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
    p.set_defaults(run=cmd_emit)
    return top


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.run(args)
    except DerivationError as error:
        print(f"glep: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
