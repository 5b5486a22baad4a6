"""Bad system files and declarations: exit 2, a message naming the file or what the user
wrote (not SymPy internals such as re(q) or DiracDelta derivatives)."""

from __future__ import annotations

import pytest

from glep.derive.errors import DerivationError
from glep.derive.systemfile import load_problem

from .conftest import system_text

#: (id, file bytes or text, words the message names)
FILES = [
    ("empty", "", ["defines no `problem`"]),
    ("no-problem", "x = 1\n", ["defines no `problem`"]),
    ("problem-none", "problem = None\n", ["defines no `problem`"]),
    ("problem-int", "problem = 3\n", ["`problem` is a int"]),
    ("problem-dict", "problem = {}\n", ["`problem` is a dict"]),
    ("syntax", "problem = (\n", ["syntax error"]),
    ("indent", "  x = 1\nproblem = 2\n", ["syntax error"]),
    ("sys-exit-0", "import sys\nsys.exit(0)\n", ["sys.exit(0)"]),
    ("sys-exit-1", "import sys\nsys.exit(1)\n", ["sys.exit(1)"]),
    ("raise", "raise RuntimeError('boom')\n", ["RuntimeError", "boom"]),
    ("import-missing", "import glep_no_such_module\n", ["ModuleNotFoundError"]),
    ("null-bytes", b"x = 1\x00\nproblem = 2\n", ["not a Python source file"]),
    ("latin-1", "x = 'caf\xe9'\n".encode("latin-1"), ["not UTF-8"]),
    ("binary", bytes(range(256)), ["not"]),
    ("escaped-name", system_text('NAME = "../../escaped"'), ["../../escaped", "identifier"]),
    ("slash-name", system_text('NAME = "a/b"'), ["a/b"]),
    ("dotted-name", system_text('NAME = "a.b"'), ["a.b"]),
    ("empty-name", system_text('NAME = ""'), ["identifier"]),
    ("int-name", system_text("NAME = 5"), ["identifier"]),
    ("quote-name", system_text("NAME = 'it\"s'"), ["identifier"]),
    ("matrix-L", system_text("L = sp.Matrix([[L]])"), ["Lagrangian", "Matrix", "scalar"]),
    ("abs-q-dot-q", system_text("L = L + sp.Abs(q.diff(t)) * q"), ["Abs(q_dot)"]),
    ("abs-qdot", system_text("L = L + sp.Abs(q.diff(t))"), ["Abs(q_dot)"]),
    ("piecewise", system_text("L = L + sp.Piecewise((q.diff(t), q > 0), (0, True))"),
     ["Piecewise"]),
    ("floor", system_text("L = L + sp.floor(q)"), ["floor(q)"]),
    ("ceiling", system_text("L = L + sp.ceiling(q)"), ["ceiling(q)"]),
    ("heaviside", system_text("L = L + sp.Heaviside(q.diff(t)) * q"), ["Heaviside(q_dot)"]),
    ("dirac", system_text("L = L + sp.DiracDelta(q)"), ["DiracDelta(q)"]),
    ("sign", system_text("L = L + sp.sign(q.diff(t)) * q"), ["sign(q_dot)"]),
    ("max", system_text("L = L + sp.Max(q.diff(t), 0)"), ["Max"]),
    ("undeclared", system_text('L = L + sp.Symbol("zz") * q'), ["zz"]),
    ("undeclared-fn", system_text('L = L + sp.Function("f")(t) * q'), ["f"]),
    ("quoted-symbol", system_text('L = L + sp.Symbol("a\'b") * q'), ["a'b"]),
    ("horizon-inf", system_text('H = float("inf")'), ["horizon"]),
    ("horizon-nan", system_text('H = float("nan")'), ["horizon"]),
    ("horizon-0", system_text("H = 0"), ["horizon"]),
    ("horizon-neg", system_text("H = -1.0"), ["horizon"]),
    ("horizon-list", system_text("H = [3.0]"), ["horizon"]),
    ("steps-0", system_text("S = 0"), ["steps"]),
    ("steps-float", system_text("S = 60.5"), ["steps"]),
    ("steps-bool", system_text("S = True"), ["steps"]),
    ("mass-zero", system_text("PARAMS = {m: 0.0, k: 2.0, w: 0.5}"), ["m = 0", "mass matrix"]),
    ("param-nan", system_text('PARAMS = {m: float("nan"), k: 2.0, w: 0.5}'), ["m"]),
    ("param-unknown", system_text("PARAMS = {**PARAMS, sp.Symbol('zz'): 1.0}"), ["zz"]),
    ("param-missing", system_text("PARAMS = {m: 1.0, k: 2.0}"), ["w"]),
    ("initial-nan", system_text('INIT = {q: float("nan"), q.diff(t): 0.0}'), ["q"]),
    ("no-velocity", system_text("L = -k * q**2 / 2 + w * u * q"), ["velocity"]),
]


def _write(tmp_path, content, name="case.py"):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


@pytest.mark.parametrize(("content", "names"), [c[1:] for c in FILES], ids=[c[0] for c in FILES])
def test_bad_system_file(glep_cli, tmp_path, content, names):
    path = _write(tmp_path, content)
    result = glep_cli("derive", path)
    assert result.code == 2, result
    assert "glep: error:" in result.err
    for name in names:
        assert name in result.err, (name, result.err)
    assert "re(q)" not in result.err and "Derivative(" not in result.err


def test_keyboard_interrupt_in_system_file(glep_cli, tmp_path):
    path = _write(tmp_path, "raise KeyboardInterrupt\n")
    result = glep_cli("derive", path)
    assert result.code == 130, result
    assert "interrupted" in result.err and "case.py" in result.err


@pytest.mark.parametrize(("make", "names"), [
    (lambda d: d / "missing.py", ["missing.py", "does not exist"]),
    (lambda d: d, ["is a directory"]),
    (lambda d: _write(d, "problem = 1\n", "case.txt"), ["case.txt", ".py"]),
    (lambda d: _write(d, "problem = 1\n", "noext"), ["noext", ".py"]),
], ids=["missing", "directory", "txt", "no-extension"])
@pytest.mark.parametrize("command", ["derive", "rules", "check", "emit"])
def test_file_not_a_system_file(glep_cli, tmp_path, make, names, command):
    argv = [command, make(tmp_path)]
    if command == "emit":
        argv += ["--out", tmp_path / "gen"]
    result = glep_cli(*argv)
    assert result.code == 2, result
    for name in names:
        assert name in result.err


@pytest.mark.parametrize("setting", ["n=(1, 2)", "n=True", "n='four'", "M=[1.0]"])
def test_set_of_the_wrong_type_is_named(glep_cli, tmp_path, setting):
    path = _write(tmp_path, system_text())
    result = glep_cli("derive", path, "--set", setting)
    assert result.code == 2, result
    assert f"--set {setting.split('=')[0]}=" in result.err


def test_steps_as_numpy_integer_is_accepted(tmp_path):
    path = _write(tmp_path, system_text("import numpy as np\nS = np.int64(40)"))
    problem = load_problem(path)
    assert problem.steps == 40 and type(problem.steps) is int


def test_escaped_name_cannot_write_outside_out(glep_cli, tmp_path):
    out = tmp_path / "deep" / "out"
    path = _write(tmp_path, system_text('NAME = "../../escaped"'))
    result = glep_cli("emit", path, "--out", out)
    assert result.code == 2
    assert not list(tmp_path.rglob("escaped*"))


def test_python_api_error_class(tmp_path):
    with pytest.raises(DerivationError, match="Abs"):
        load_problem(_write(tmp_path, system_text("L = L + sp.Abs(q.diff(t))")))


def test_kinks_in_positions_are_accepted(tmp_path):
    """A diode-like ``Abs(q)`` or a one-sided spring ``Max(q, 0)**2``: printed, not refused."""
    text = system_text("L = L - sp.Abs(q) / 10 - sp.Max(q, 0) ** 2")
    assert load_problem(_write(tmp_path, text)).name
