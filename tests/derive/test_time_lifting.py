"""Known functions of time in L or H are lifted to input signals, replayed reversed in an
echo like declared inputs, so HEL applies when the rest of the system is time-reversal
invariant.

Oracles: ``sympy.euler_equations`` on the Lagrangian as written, the continuous adjoint and
finite differences of the loss of the generated module.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import sympy as sp
from sympy.calculus.euler import euler_equations

from glep import Cost, Hamiltonian, Lagrangian, Problem
from glep.cli import main
from glep.codegen.emit import load_module
from glep.derive.mechanics import lift_time
from glep.derive.rules import derive_rules
from glep.derive.systemfile import load_problem

FORCED = Path(__file__).resolve().parent / "systems" / "forced_oscillator.py"
t = sp.Symbol("t")
q, p, y = (sp.Function(n)(t) for n in ("q", "p", "y"))
m, k, a, g = sp.symbols("m k a g")


def test_lift_time_takes_the_largest_time_only_pieces():
    x, b = sp.symbols("x b")
    expr, lifted = lift_time(b * x * sp.sin(2 * t) * sp.exp(-t) + x**2 + sp.cos(t),
                             t, lambda i: sp.Symbol(f"s{i}"))
    s = {str(k): v for k, v in lifted.items()}
    assert s == {"s1": sp.sin(2 * t) * sp.exp(-t), "s2": sp.cos(t)} or s == {
        "s1": sp.cos(t), "s2": sp.sin(2 * t) * sp.exp(-t)}
    back = expr.xreplace(lifted)
    assert sp.expand(back - (b * x * sp.sin(2 * t) * sp.exp(-t) + x**2 + sp.cos(t))) == 0
    assert t not in expr.free_symbols


def test_forcing_in_the_lagrangian_becomes_a_signal_and_keeps_the_equations():
    L = m * q.diff(t) ** 2 / 2 - k * q**2 / 2 + a * sp.sin(2 * t) * q
    system = Lagrangian(L, [q], [m, k, a])
    (lifted, value), = system.lifted.items()
    assert str(lifted) == "ft1(t)" and value == sp.sin(2 * t)
    assert lifted in system.inputs
    assert system.time_reversal().reversible
    ours = system.euler_lagrange()[0].lhs.xreplace(system.lifted)
    theirs = euler_equations(L, [q], t)[0].lhs
    assert sp.simplify(ours - theirs) == 0


def test_forcing_in_a_hamiltonian_becomes_a_signal():
    H = p**2 / (2 * m) + k * q**2 / 2 - a * sp.cos(3 * t) * q
    system = Hamiltonian(H, [q], [p], [m, k, a])
    assert list(system.lifted.values()) == [sp.cos(3 * t)]
    assert system.is_time_reversible()
    _, dp = system.hamilton_equations()
    assert sp.simplify(dp.rhs.xreplace(system.lifted) - (-k * q + a * sp.cos(3 * t))) == 0


def test_time_in_the_kinetic_term_stays_explicit():
    """A mass that varies in time would make the momentum depend on an input: not lifted,
    and the system is not time-reversal invariant."""
    L = (1 + sp.sin(t) / 2) * q.diff(t) ** 2 / 2 - k * q**2 / 2 + a * sp.sin(2 * t) * q
    system = Lagrangian(L, [q], [k, a])
    assert list(system.lifted.values()) == [sp.sin(2 * t)]
    report = system.time_reversal()
    assert not report.reversible and "time t appears explicitly" in report.reasons[0]


def test_a_lifted_name_never_clashes_with_a_declared_one():
    ft1 = sp.Symbol("ft1")
    system = Lagrangian(m * q.diff(t) ** 2 / 2 - ft1 * q**2 / 2 + sp.sin(t) * q, [q], [m, ft1])
    assert [str(f) for f in system.lifted] == ["ft2(t)"]


def test_a_time_function_with_a_parameter_lifts_time_itself():
    """``exp(-g t)`` with g learnable is not a known function, but t inside it is."""
    system = Lagrangian(m * q.diff(t) ** 2 / 2 - k * q**2 / 2 + sp.exp(-g * t) * q, [q], [m, k, g])
    assert list(system.lifted.values()) == [t]
    assert system.is_time_reversible()


def test_the_problem_fills_in_the_lifted_signals():
    problem = Problem(Lagrangian(m * q.diff(t) ** 2 / 2 + sp.sin(2 * t) * q, [q], [m]),
                      Cost(running=(q - y) ** 2 / 2, targets=[y]), params={m: 1.0},
                      initial={q: 0.0, q.diff(t): 0.0}, targets={y: 0}, horizon=1.0, steps=10)
    (signal,) = problem.inputs
    assert signal.name == "ft1" and signal.expression == sp.sin(2 * t)
    rules = derive_rules(problem)
    assert rules["HEL"].available and rules["HEL"].phases[1].signals == "reversed in time"


def test_derive_says_it_lifted_the_forcing(capsys):
    assert main(["derive", str(FORCED)]) == 0
    out = capsys.readouterr().out
    assert "0 input(s), 1 lifted signal(s)" in out
    assert "Known functions of time, lifted to input signals" in out
    assert "ft1(t) = sin(2*t)" in out
    assert "0 = a*ft1 - k*q - m*q_ddot" in out
    assert "time-reversal invariant: yes" in out


@pytest.fixture(scope="module")
def forced():
    return load_module(load_problem(FORCED), "numpy")


def test_hel_on_the_lifted_forcing_equals_the_adjoint(forced):
    assert forced.INPUTS == ("ft1",) and forced.RULES["HEL"] is None
    hel = forced.gradient(rule="HEL", beta=1e-4)
    adjoint = forced.gradient(rule="adjoint")
    error = np.linalg.norm(hel["theta"] - adjoint["theta"]) / np.linalg.norm(adjoint["theta"])
    assert error <= 1e-6
    assert np.linalg.norm(hel["z0"] - adjoint["z0"]) <= 1e-6 * np.linalg.norm(adjoint["z0"])
    # the forcing gain a is learned, and the adjoint agrees with finite differences
    theta = np.array(forced.PARAM_VALUES)
    j = forced.PARAMS.index("a")

    def loss(value):
        shifted = theta.copy()
        shifted[j] = value
        return float(forced.loss(theta=shifted))

    fd = (loss(theta[j] + 1e-6) - loss(theta[j] - 1e-6)) / 2e-6
    assert adjoint["theta"][j] == pytest.approx(fd, rel=1e-6)
    assert abs(adjoint["theta"][j]) > 1e-2


def test_the_echo_retraces_with_the_lifted_signal_reversed(forced):
    """The β = 0 echo replays sin(2t) reversed, as a declared input (with time left in the
    vector field it would be replayed forward and not retrace the run)."""
    assert forced.echo_retrace() < 1e-9
