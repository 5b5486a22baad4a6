"""Bad input raises its own DerivationError subclass with a message that says what to fix;
the CLI prints that message (no traceback) and exits with status 2."""

from __future__ import annotations

import math
import textwrap

import pytest
import sympy as sp

from glep.cli import main
from glep.derive import Cost, Lagrangian, Problem, errors
from glep.derive.systemfile import load_problem
from glep.learn.simulation import simulate
from tests.conftest import problem

t = sp.Symbol("t")
q = sp.Function("q")(t)
u = sp.Function("u")(t)
m, k = sp.symbols("m k")
L_OK = m * q.diff(t) ** 2 / 2 - k * q**2 / 2


def _problem(**changes):
    args = dict(
        system=Lagrangian(L_OK, [q], [m, k]),
        params={m: 1.0, k: 1.0},
        initial={q: 0.1, q.diff(t): 0.0},
        horizon=1.0,
        steps=10,
    )
    args.update(changes)
    return Problem(args.pop("system"), **args)


CASES = {
    "coordinate not a function of time": (
        lambda: Lagrangian(m * sp.Symbol("v") ** 2, [sp.Symbol("q")], [m]),
        errors.CoordinateError,
        "not a function of time",
    ),
    "parameter not a Symbol": (
        lambda: Lagrangian(L_OK, [q], [m, 2 * k]),
        errors.ParameterError,
        "not a sympy Symbol",
    ),
    "undeclared symbol": (
        lambda: Lagrangian(L_OK + sp.Symbol("g") * q, [q], [m, k]),
        errors.UndeclaredSymbolError,
        "declared nowhere",
    ),
    "undeclared function of time": (
        lambda: Lagrangian(L_OK + u * q, [q], [m, k]),
        errors.UndeclaredSymbolError,
        "u(t)",
    ),
    "degenerate mass matrix": (
        lambda: Lagrangian(q.diff(t) * q - q**2, [q], []).accelerations(),
        errors.DegenerateLagrangianError,
        "kinetic term",
    ),
    "leapfrog on a non-separable system": (
        lambda: simulate(problem("double_pendulum"), method="leapfrog"),
        errors.NotSeparableError,
        "implicit_midpoint",
    ),
    "unknown integrator": (
        lambda: simulate(problem("pendulum"), method="euler"),
        errors.IntegratorError,
        "choose one of",
    ),
    "non-positive horizon": (lambda: _problem(horizon=0.0), errors.HorizonError, "positive"),
    "zero steps": (lambda: _problem(steps=0), errors.StepsError, "positive integer"),
    "missing initial value": (
        lambda: _problem(initial={q: 0.1}),
        errors.InitialValueError,
        "no value for the velocity",
    ),
    "non-finite parameter value": (
        lambda: _problem(params={m: math.nan, k: 1.0}),
        errors.ParameterValueError,
        "not finite",
    ),
    "missing parameter value": (
        lambda: _problem(params={m: 1.0}),
        errors.ParameterValueError,
        "no value for parameter",
    ),
    "name clash": (
        lambda: Lagrangian(L_OK + sp.Symbol("q") * 0, [q], [m, sp.Symbol("q")]),
        errors.NameClashError,
        "used twice",
    ),
    "missing input signal": (
        lambda: _problem(system=Lagrangian(L_OK + u * q, [q], [m, k], [u])),
        errors.SignalError,
        "no input signal",
    ),
    "target in a terminal cost": (
        lambda: _problem(cost=Cost(terminal=(q - u) ** 2, targets=[u])),
        errors.CostError,
        "final positions",
    ),
    "input in a cost": (
        lambda: _problem(system=Lagrangian(L_OK + u * q, [q], [m, k], [u]),
                         cost=Cost(running=(q - u) ** 2), inputs={u: 0}),
        errors.CostError,
        "reads the input",
    ),
    "Legendre transform of a non-quadratic Lagrangian": (
        lambda: Lagrangian(q.diff(t) ** 4 + q.diff(t) ** 2, [q], []).to_hamiltonian(),
        errors.NotQuadraticError,
        "not quadratic",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_raises_its_own_error(case):
    build, error, fragment = CASES[case]
    with pytest.raises(error) as caught:
        build()
    assert isinstance(caught.value, errors.DerivationError)
    assert fragment in str(caught.value)


def test_every_case_has_a_distinct_error_class():
    classes = {error for _, error, _ in CASES.values()}
    assert len(classes) >= 10


def test_system_file_without_problem(tmp_path):
    path = tmp_path / "empty.py"
    path.write_text("import sympy\n")
    with pytest.raises(errors.SystemFileError, match="defines no `problem`"):
        load_problem(path)


def test_set_of_an_unknown_setting(tmp_path):
    with pytest.raises(errors.SystemFileError, match="no module-level setting 'm'"):
        load_problem(_chain_path(), {"m": 3})


def _chain_path():
    from tests.conftest import SYSTEMS

    return SYSTEMS / "anharmonic_chain.py"


BAD_FILES = {
    "no_problem.py": ("import sympy\n", "defines no `problem`"),
    "syntax.py": ("problem = (\n", "syntax error"),
    "undeclared.py": (
        """
        import sympy as sp
        from glep.derive import Lagrangian, Problem
        t = sp.Symbol("t")
        q = sp.Function("q")(t)
        m = sp.Symbol("m")
        problem = Problem(Lagrangian(m * q.diff(t)**2 / 2 - sp.Symbol("k") * q**2, [q], [m]),
                          params={m: 1}, initial={q: 0, q.diff(t): 0}, horizon=1, steps=1)
        """,
        "declared nowhere",
    ),
    "degenerate.py": (
        """
        import sympy as sp
        from glep.derive import Lagrangian, Problem
        t = sp.Symbol("t")
        q = sp.Function("q")(t)
        problem = Problem(Lagrangian(q.diff(t) * q - q**2, [q], []),
                          params={}, initial={q: 0, q.diff(t): 0}, horizon=1, steps=1)
        """,
        "singular",
    ),
    "horizon.py": (
        """
        import sympy as sp
        from glep.derive import Lagrangian, Problem
        t = sp.Symbol("t")
        q = sp.Function("q")(t)
        problem = Problem(Lagrangian(q.diff(t)**2 - q**2, [q], []),
                          params={}, initial={q: 0, q.diff(t): 0}, horizon=-1, steps=1)
        """,
        "positive duration",
    ),
}


@pytest.mark.parametrize("command", ["derive", "emit"])
@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_cli_prints_the_message_and_exits_2(tmp_path, capsys, name, command):
    text, fragment = BAD_FILES[name]
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    args = [command, str(path)] + (["--out", str(tmp_path / "out")] if command == "emit" else [])
    assert main(args) == 2
    captured = capsys.readouterr()
    assert fragment in captured.err
    assert "Traceback" not in captured.err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_cli_bad_set_exits_2(capsys):
    assert main(["derive", str(_chain_path()), "--set", "nope=1"]) == 2
    assert "no module-level setting 'nope'" in capsys.readouterr().err
