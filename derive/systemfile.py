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

from .errors import DerivationError, SystemFileError
from .problem import ProblemBase


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
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        if value.replace("-", "_").replace(".", "_").isidentifier():
            return name, value
        raise SystemFileError(
            f"--set {text!r}: the value must be a literal (a number, a quoted string, True, "
            f"False, None, or a tuple of those), not an expression"
        ) from None
    if not _finite(parsed):
        raise SystemFileError(f"--set {text!r}: the value is not a finite number")
    return name, parsed


def _finite(value) -> bool:
    if isinstance(value, (tuple, list)):
        return all(_finite(v) for v in value)
    if isinstance(value, complex):
        return math.isfinite(value.real) and math.isfinite(value.imag)
    return not isinstance(value, float) or math.isfinite(value)


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


def _override(settings: dict, name: str, value) -> None:
    owner, index = settings[name]
    if index is None:
        owner.value = ast.copy_location(ast.Constant(value), owner.value)
    else:
        owner.elts[index] = ast.copy_location(ast.Constant(value), owner.elts[index])


def load_problem(path, overrides: dict | None = None) -> ProblemBase:
    """Run a system file with ``overrides`` applied and return its ``problem``."""
    path = Path(path)
    if not path.is_file():
        raise SystemFileError(f"system file {path} does not exist: give the path of a .py file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise SystemFileError(
            f"{path} is not UTF-8 text (byte {error.start}): save the system file as UTF-8"
        ) from None
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
        _override(settings, name, value)
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
    except Exception as error:
        raise SystemFileError(
            f"{path} failed to run: {type(error).__name__}: {error}"
        ) from error
    problem = getattr(module, "problem", None)
    if problem is None:
        raise SystemFileError(
            f"{path} defines no `problem`: end the file with problem = derive.Problem(...)"
        )
    if not isinstance(problem, ProblemBase):
        raise SystemFileError(
            f"{path}: `problem` is a {type(problem).__name__}, not a derive.Problem"
        )
    if problem.name is None:
        problem.name = path.stem
    if not (isinstance(problem.name, str) and problem.name.isidentifier()):
        raise SystemFileError(
            f"{path}: the problem's name {problem.name!r} is not a Python identifier (it names "
            f"the generated modules): use letters, digits and underscores"
        )
    return problem
