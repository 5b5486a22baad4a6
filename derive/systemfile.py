"""Load a system file: a Python file that defines ``problem`` (a :class:`glep.Problem`).

A system file is Python that runs with the rights of the user who loads it: load trusted
files only, as you would import a module.

Module-level settings (``n = 8`` at the top level) can be overridden before the file
runs, as ``glep --set n=4`` does: the assignment's value is replaced in the syntax tree.

>>> from pathlib import Path
>>> path = Path(__file__).parent.parent / "systems" / "anharmonic_chain.py"
>>> load_problem(path, {"n": 3}).name
'anharmonic_chain'
>>> len(load_problem(path, {"n": 3}).system.coords)
3
"""

from __future__ import annotations

import ast
import math
import types
from pathlib import Path

import numpy as np
import sympy as sp

from .errors import DerivationError, SystemFileError
from .problem import Problem, ProblemBase
from .system import Lagrangian


def parse_setting(text: str):
    """``NAME=VALUE`` → ``(name, value)``; the value is a Python literal (a finite number, a
    quoted string, True/False/None, a tuple or list of those) or a bare word (a string).

    >>> parse_setting("n=4"), parse_setting("method=rk4"), parse_setting("sizes=(3, 2)")
    (('n', 4), ('method', 'rk4'), ('sizes', (3, 2)))
    """
    name, sep, value = text.partition("=")
    name, value = name.strip(), value.strip()
    if not sep or not name.isidentifier():
        raise SystemFileError(f"--set {text!r}: write NAME=VALUE, for example --set n=4")
    try:
        parsed = ast.literal_eval(value)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        if value.lstrip("+-").lower() in _NON_FINITE_WORDS:
            raise SystemFileError(
                f"--set {text!r}: the value is not a finite number: give a finite one"
            ) from None
        if value.replace("-", "_").replace(".", "_").isidentifier():
            return name, value
        raise SystemFileError(
            f"--set {text!r}: the value must be a literal (a number, a quoted string, True, "
            f"False, None, or a tuple of those), not an expression"
        ) from None
    if not _finite(parsed):
        raise SystemFileError(f"--set {text!r}: the value is not a finite number: give a "
                              f"finite one")
    if not _plain(parsed):
        raise SystemFileError(
            f"--set {text!r}: the value must be a number, a string, True/False/None or a "
            f"tuple/list of those, not a {type(parsed).__name__}"
        )
    return name, parsed


_NON_FINITE_WORDS = ("nan", "inf", "infinity")


def _finite(value) -> bool:
    if isinstance(value, (tuple, list)):
        return all(_finite(v) for v in value)
    if isinstance(value, complex):
        return math.isfinite(value.real) and math.isfinite(value.imag)
    return not isinstance(value, float) or math.isfinite(value)


def _plain(value) -> bool:
    if isinstance(value, (tuple, list)):
        return all(_plain(v) for v in value)
    return value is None or isinstance(value, (bool, int, float, complex, str))


def _kind(value) -> str:
    """A coarse type of a setting, to refuse ``--set n=abc`` where the file has ``n = 8``."""
    if value is None:
        return "any"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float, complex)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "sequence"


def _is_literal(node) -> bool:
    try:
        ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False
    return True


def _settings(tree: ast.Module) -> dict[str, ast.expr]:
    """Top-level ``NAME = <literal>`` assignments (``n = 8``, ``n_in, n_h = 16, 12``):
    each name → the syntax node of its value."""
    found = {}
    for node in tree.body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1):
            continue
        target, value = node.targets[0], node.value
        if isinstance(target, ast.Name) and _is_literal(value):
            found.setdefault(target.id, (node, None))
        elif (isinstance(target, ast.Tuple) and isinstance(value, ast.Tuple)
              and len(target.elts) == len(value.elts)
              and all(isinstance(t, ast.Name) for t in target.elts)
              and all(_is_literal(v) for v in value.elts)):
            for i, t in enumerate(target.elts):
                found.setdefault(t.id, (value, i))
    return found


def _override(settings: dict, name: str, value, path: Path) -> None:
    owner, index = settings[name]
    node = owner.value if index is None else owner.elts[index]
    current = ast.literal_eval(node)
    was, now = _kind(current), _kind(value)
    if "any" not in (was, now) and was != now:
        raise SystemFileError(
            f"--set {name}={value!r}: {path.name} sets {name} = {current!r} (a {was}); give "
            f"a {was}, not a {now}"
        )
    if index is None:
        owner.value = ast.copy_location(ast.Constant(value), owner.value)
    else:
        owner.elts[index] = ast.copy_location(ast.Constant(value), owner.elts[index])


def load_problem(path, overrides: dict | None = None) -> ProblemBase:
    """Run a system file with ``overrides`` applied and return its ``problem``."""
    path = Path(path)
    if path.is_dir():
        raise SystemFileError(f"system file {path} is a directory: give the path of a .py file")
    if not path.is_file():
        raise SystemFileError(f"system file {path} does not exist: give the path of a .py file")
    if path.suffix != ".py":
        raise SystemFileError(
            f"system file {path} is not a .py file: a system file is Python that defines "
            f"`problem` (rename it to {path.stem}.py)"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise SystemFileError(f"system file {path} cannot be read: {error.strerror}") from None
    except UnicodeDecodeError as error:
        raise SystemFileError(
            f"{path} is not UTF-8 text (byte {error.start}): save the system file as UTF-8"
        ) from None
    if "\x00" in text:
        raise SystemFileError(f"{path} is not a Python source file: it contains null bytes "
                              f"(byte {text.index(chr(0))})")
    try:
        tree = ast.parse(text, filename=str(path))
    except ValueError as error:  # null bytes
        raise SystemFileError(f"{path} is not a Python source file: {error}") from None
    except SyntaxError as error:
        raise SystemFileError(
            f"{path}:{error.lineno}: syntax error in the system file: {error.msg}"
        ) from None
    settings = _settings(tree)
    for name, value in (overrides or {}).items():
        if name not in settings:
            available = ", ".join(sorted(settings))
            raise SystemFileError(
                f"--set {name}=...: {path.name} has no module-level setting {name!r} "
                f"(settings: {available or 'none'})"
            )
        _override(settings, name, value, path)
    ast.fix_missing_locations(tree)
    module = types.ModuleType(path.stem)
    module.__file__ = str(path)
    try:
        exec(compile(tree, str(path), "exec"), module.__dict__)
    except DerivationError:
        raise
    except SystemExit as error:
        raise SystemFileError(
            f"{path} called sys.exit({error.code!r}) while defining its problem: a system "
            f"file must define `problem` and return"
        ) from None
    except KeyboardInterrupt:
        raise KeyboardInterrupt(f"while running {path}") from None
    except Exception as error:
        given = "".join(f" --set {k}={v!r}" for k, v in (overrides or {}).items())
        raise SystemFileError(
            f"{path} failed to run: {type(error).__name__}: {error}"
            + (f" (with{given})" if given else "")
        ) from error
    problem = getattr(module, "problem", None)
    if problem is None:
        raise SystemFileError(
            f"{path} defines no `problem`: end the file with problem = glep.Problem(...)"
        )
    if not isinstance(problem, ProblemBase):
        raise SystemFileError(
            f"{path}: `problem` is a {type(problem).__name__}, not a glep.Problem"
        )
    if problem.name is None:
        problem.name = path.stem
    if not (isinstance(problem.name, str) and problem.name.isidentifier()):
        raise SystemFileError(
            f"{path}: the problem's name {problem.name!r} is not a Python identifier (it names "
            f"the generated modules): use letters, digits and underscores"
        )
    if isinstance(problem, Problem):
        _check_declaration(problem, path)
    return problem


#: Functions glep cannot use at all: no useful derivative, or not real.
_NON_SMOOTH = (sp.DiracDelta, sp.floor, sp.ceiling, sp.frac, sp.re, sp.im, sp.arg,
               sp.conjugate)
#: Piecewise-smooth functions (diodes, rectifiers, one-sided springs): printed, with rules
#: that hold almost everywhere, as long as they do not involve velocities or momenta (the
#: mass matrix and the Legendre transform need two derivatives in those).
_KINKED = (sp.Abs, sp.sign, sp.Piecewise, sp.Heaviside, sp.Max, sp.Min)


def _check_declaration(problem: Problem, path: Path) -> None:
    """What the derivation would only trip over later, named as the user wrote it: a
    matrix-valued Lagrangian, non-smooth functions, a singular mass matrix at the values."""
    system = problem.system
    what = "Lagrangian" if isinstance(system, Lagrangian) else "Hamiltonian"
    parts = [(f"the {what}", system.expr), ("the dissipation function", system.dissipation)]
    cost = problem.cost
    if cost is not None:
        parts += [("the running cost", getattr(cost, "running", None)),
                  ("the terminal cost", getattr(cost, "terminal", None))]
    for label, expr in parts:
        if expr is None:
            continue
        if isinstance(expr, (sp.MatrixBase, sp.NDimArray)):
            raise SystemFileError(
                f"{path}: {label} is a {type(expr).__name__} of shape {expr.shape}, not a "
                f"scalar expression: sum its terms (for a 1×1 matrix, use L[0, 0])"
            )
        if not isinstance(expr, sp.Basic):
            continue
        kinked = [a for a in expr.atoms(*_KINKED) if _moves(system, a)]
        bad = sorted({_as_written(system, a) for a in [*expr.atoms(*_NON_SMOOTH), *kinked]},
                     key=len)
        if bad:
            raise SystemFileError(
                f"{path}: {label} contains {', '.join(bad)}: glep differentiates it twice "
                f"(equations of motion, then learning rules), and this function is not "
                f"smooth there (Abs, sign, Max, Min, Piecewise and Heaviside of positions "
                f"are supported, not of velocities or momenta); use a smooth stand-in such as "
                f"sqrt(v**2 + eps**2) for Abs(v) or (1 + tanh(v/eps))/2 for Heaviside(v)"
            )
    if isinstance(system, Lagrangian):
        _check_mass_matrix(problem, system, path)


def _moves(system, expr) -> bool:
    """Whether ``expr`` depends on a velocity or a momentum."""
    momenta = getattr(system, "momenta", ())
    return expr.has(sp.Derivative) or any(expr.has(p) for p in momenta)


def _as_written(system, expr) -> str:
    """``Abs(q)`` rather than ``Abs(q(t))``: coordinates and velocities as plain names."""
    try:
        return str(system.plain(expr))
    except Exception:
        return str(expr)


def _check_mass_matrix(problem: Problem, system: Lagrangian, path: Path) -> None:
    values = {p: sp.Float(v) for p, v in zip(problem.params, problem.param_values)}
    values.update(zip(system.q, map(sp.Float, problem.initial_state[: len(system.q)])))
    try:
        mass = system.plain_mass_matrix
        numbers = np.zeros(mass.shape)
        for (i, j), entry in mass.todok().items():  # the non-zero entries only
            numbers[i, j] = float(entry.xreplace(values))
    except Exception:  # not a number here (inputs, ...): the derivation reports its own errors
        return
    singular = (not np.all(np.isfinite(numbers))
                or np.linalg.matrix_rank(numbers) < numbers.shape[0])
    if singular:
        named = sorted((p.name, v) for p, v in values.items()
                       if p in system.plain_mass_matrix.free_symbols)
        at = ", ".join(f"{n} = {v:g}" for n, v in named) or "the parameter values"
        raise SystemFileError(
            f"{path}: the mass matrix ∂²L/∂q̇² is singular at {at} (and the initial "
            f"state): the accelerations are undefined; give the parameters values that keep "
            f"every kinetic term positive"
        )
