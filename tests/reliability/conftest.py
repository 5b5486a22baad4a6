"""Helpers of the reliability suite: run the CLI in-process, write bad system files, cache
bundled problems (loading and rendering them is the slow part)."""

from __future__ import annotations

import functools
import traceback
from pathlib import Path

import pytest

import glep.cli
import glep.derive.systemfile as systemfile
from glep.codegen.emit import load_module

ROOT = Path(__file__).resolve().parents[2]
SYSTEMS = ROOT / "systems"
_load_problem = systemfile.load_problem

#: A small valid system file; ``#EXTRA`` lines are replaced by each case.
BASE = '''\
import sympy as sp
from glep import Cost, Lagrangian, Problem

t = sp.Symbol("t")
q = sp.Function("q")(t)
u = sp.Function("u")(t)
y = sp.Function("y")(t)
m, k, w = sp.symbols("m k w")
n = 4
M = 1.0
L = m * q.diff(t) ** 2 / 2 - k * q**2 / 2 + w * u * q
H = 3.0
S = 60
INIT = {q: 0.1, q.diff(t): 0.3}
NAME = None
PARAMS = {m: M, k: 2.0, w: 0.5}
#EXTRA
problem = Problem(
    Lagrangian(L, coords=[q], params=[m, k, w], inputs=[u]),
    Cost(running=(q - y) ** 2 / 2, targets=[y]),
    params=PARAMS, initial=INIT, inputs={u: sp.sin(3 * t)}, targets={y: sp.cos(t) / 2},
    horizon=H, steps=S, name=NAME,
)
'''


def system_text(extra: str = "") -> str:
    return BASE.replace("#EXTRA", extra)


@functools.cache
def bundled(name: str):
    """A bundled problem, loaded once for the whole suite."""
    return _load_problem(SYSTEMS / f"{name}.py")


@functools.cache
def module(name: str, backend: str = "numpy"):
    return load_module(bundled(name), backend)


@functools.cache
def _cached(path: str, mtime: float, overrides: tuple):
    return _load_problem(path, dict(overrides))


def cached_load_problem(path, overrides=None):
    """``load_problem`` with a cache for bundled files (the module render is kept on the
    problem object, so a cached problem is rendered once)."""
    path = Path(path)
    if path.is_file() and path.resolve().parent == SYSTEMS:
        key = tuple(sorted((overrides or {}).items()))
        try:
            hash(key)
        except TypeError:
            return _load_problem(path, overrides)
        return _cached(str(path.resolve()), path.stat().st_mtime, key)
    return _load_problem(path, overrides)


@pytest.fixture
def cached_loads(monkeypatch):
    monkeypatch.setattr(systemfile, "load_problem", cached_load_problem)
    monkeypatch.setattr(glep.cli, "load_problem", cached_load_problem)


class Result:
    def __init__(self, code, out, err):
        self.code, self.out, self.err = code, out, err

    def __repr__(self):
        return f"Result(code={self.code}, err={self.err!r})"


@pytest.fixture
def glep_cli(capsys, cached_loads):
    """Run ``glep ARGS`` in-process: exit code, stdout, stderr. An exception escaping
    ``main`` (a traceback for the user) fails the test with its traceback in the message."""

    def run(*argv) -> Result:
        argv = [str(a) for a in argv]
        try:
            code = glep.cli.main(argv)
        except SystemExit as exit_:
            code = exit_.code
        except BaseException as error:  # what a user would see as a traceback
            pytest.fail(f"glep {' '.join(argv)} raised {type(error).__name__} (a traceback):\n"
                        + "".join(traceback.format_exception(error)))
        captured = capsys.readouterr()
        assert "Traceback" not in captured.err
        return Result(code, captured.out, captured.err)

    return run


def assert_bad(result: Result, *names: str) -> None:
    """Exit 2 and one message that names every one of ``names``."""
    assert result.code == 2, result
    assert "error" in result.err, result
    for name in names:
        assert name.lower() in result.err.lower(), (name, result.err)
