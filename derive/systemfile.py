"""Load a system file: a Python file that defines ``problem`` (a :class:`derive.Problem`).

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
import types
from pathlib import Path

from .errors import DerivationError, SystemFileError
from .problem import ProblemBase


def parse_setting(text: str):
    """``NAME=VALUE`` → ``(name, value)``, the value read as a Python literal if possible."""
    name, sep, value = text.partition("=")
    name = name.strip()
    if not sep or not name.isidentifier():
        raise SystemFileError(f"--set {text!r}: write NAME=VALUE, for example --set n=4")
    try:
        return name, ast.literal_eval(value.strip())
    except (ValueError, SyntaxError):
        return name, value.strip()


def _is_literal(node) -> bool:
    try:
        ast.literal_eval(node)
    except ValueError:
        return False
    return True


def _settings(tree: ast.Module) -> dict[str, ast.Assign]:
    """Top-level ``NAME = <literal>`` assignments (``n = 8``, ``g = 9.81``)."""
    found = {}
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and _is_literal(node.value)
        ):
            found.setdefault(node.targets[0].id, node)
    return found


def load_problem(path, overrides: dict | None = None) -> ProblemBase:
    """Run a system file with ``overrides`` applied and return its ``problem``."""
    path = Path(path)
    if not path.is_file():
        raise SystemFileError(f"system file {path} does not exist: give the path of a .py file")
    text = path.read_text(encoding="utf-8")
    try:
        tree = ast.parse(text, filename=str(path))
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
        settings[name].value = ast.copy_location(ast.Constant(value), settings[name].value)
    ast.fix_missing_locations(tree)
    module = types.ModuleType(path.stem)
    module.__file__ = str(path)
    try:
        exec(compile(tree, str(path), "exec"), module.__dict__)
    except DerivationError:
        raise
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
    return problem
