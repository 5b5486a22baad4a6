"""What ``glep derive`` prints: one name per time derivative, shortened expressions that keep
their value, the mass matrix spelled out.

Oracles: SymPy's differentiation of the declared L or H, numerical evaluation at random
points.
"""

from __future__ import annotations

import itertools
import re
import time
from pathlib import Path

import pytest
import sympy as sp

from glep import Lagrangian, Problem
from glep.cli import main
from glep.derive.describe import READABLE_OPS, continuous, readable
from tests.conftest import BUNDLED, SYSTEMS, problem

LC = Path(__file__).resolve().parent / "systems" / "lc_readout.py"


def _equal_at_random_points(a, b, rng, trials=3) -> bool:
    symbols = sorted(a.free_symbols | b.free_symbols, key=str)
    for _ in range(trials):
        point = dict(zip(symbols, rng.uniform(0.5, 1.5, len(symbols))))
        x, y = complex(a.evalf(subs=point)), complex(b.evalf(subs=point))
        if abs(x - y) > 1e-10 * max(1.0, abs(y)):
            return False
    return True


def test_readable_shortens_and_keeps_the_value(rng):
    q1, q2, C1 = sp.symbols("q1 q2 C1")
    assert str(readable((2 * q1 - 2 * q2) / (2 * C1))) == "(q1 - q2)/C1"
    system = problem("double_pendulum").system
    for expr in [*system.plain_accelerations, system.to_hamiltonian()._plain_expr]:
        short = readable(expr)
        assert sp.count_ops(short) <= sp.count_ops(expr)
        assert _equal_at_random_points(short, expr, rng)


def test_readable_leaves_a_huge_expression_as_it_is_and_fast():
    xs = sp.symbols("x0:1000")
    big = sp.Add(*[(2 * a - 2 * b) ** 2 / 2 for a, b in itertools.pairwise(xs)])
    assert sp.count_ops(big) > READABLE_OPS
    start = time.perf_counter()
    assert readable(big) is big
    assert time.perf_counter() - start < 5


@pytest.mark.parametrize("name", BUNDLED)
def test_derive_names_every_time_derivative_plainly(name):
    text = continuous(problem(name))
    assert "Derivative(" not in text
    assert not re.search(r"^\s+M = ", text, re.M)


def test_hamiltons_equations_read_p_dot_and_equal_sympys_derivatives(capsys, rng):
    """Each printed line ``x_dot = rhs`` equals ∂H/∂p or −∂H/∂q of the declared H."""
    assert main(["derive", str(LC)]) == 0
    out = capsys.readouterr().out
    assert "Derivative(" not in out
    assert "phi1_dot = u - (q1 - q2)/C2 - q1/C1" in out
    from glep.derive.systemfile import load_problem

    system = load_problem(LC).system
    plain = {f: sp.Symbol(f.func.__name__) for f in (*system.coords, *system.momenta,
                                                      *system.inputs)}
    H = system.expr.xreplace(plain)
    rates = {**{f"{q.func.__name__}_dot": sp.diff(H, plain[p])
                for q, p in zip(system.coords, system.momenta)},
             **{f"{p.func.__name__}_dot": -sp.diff(H, plain[q])
                for q, p in zip(system.coords, system.momenta)}}
    lines = dict(re.findall(r"^  (\w+_dot) = (.+)$", out, re.M))
    assert set(lines) == set(rates)
    names = {s.name: s for s in H.free_symbols}
    for name, expected in rates.items():
        assert _equal_at_random_points(sp.sympify(lines[name], locals=names), expected, rng)


def test_mass_matrix_is_spelled_out_and_a_parameter_named_m_is_kept_apart(capsys):
    t = sp.Symbol("t")
    x, th = sp.Function("x")(t), sp.Function("th")(t)
    M, m, r = sp.symbols("M m r")
    L = ((M + m) * x.diff(t) ** 2 / 2 + m * r * x.diff(t) * th.diff(t) * sp.cos(th)
         + m * r**2 * th.diff(t) ** 2 / 2 + m * 9.81 * r * sp.cos(th))
    cart = Problem(Lagrangian(L, [x, th], [M, m, r]), params={M: 2.0, m: 0.5, r: 1.0},
                   initial={x: 0, th: 0.1, x.diff(t): 0, th.diff(t): 0}, horizon=1.0, steps=10,
                   name="cart_pendulum")
    text = continuous(cart)
    assert "Mass matrix ∂²L/∂q̇² (state-dependent, full, row by row)" in text
    rows = text.split("row by row)\n")[1].split("\n\n")[0].splitlines()
    names = {s.name: s for s in L.free_symbols} | {"th": sp.Symbol("th")}
    printed = sp.Matrix([sp.sympify(r.strip(), locals=names) for r in rows])
    v = sp.symbols("x_dot th_dot")
    plain = L.xreplace({x.diff(t): v[0], th.diff(t): v[1], th: sp.Symbol("th")})
    assert sp.simplify(printed - sp.hessian(plain, v)) == sp.zeros(2, 2)
    assert "M = " not in text
    diagonal = continuous(problem("coupled_oscillators"))
    assert "(constant, diagonal)\n  diag(m1, m2, m3, m4, m5, m6)\n" in diagonal


def test_derive_simplifies_the_chain_equations():
    text = continuous(problem("learned_masses"))
    assert "(2*q1 - 2*q2)/2" not in text and "-q1 + q2" not in text
    assert "c1*(q1 - q2)" in text


def test_rules_text_shows_shortened_integrands():
    from glep.derive.describe import continuous_rules

    text = continuous_rules(problem("coupled_oscillators"))
    assert "c1: ∂L/∂c1 = -(q1 - q2)**2/2   [reads q1, q2]" in text


def test_latex_derive_still_works(capsys):
    assert main(["derive", str(SYSTEMS / "pendulum.py"), "--latex"]) == 0
    out = capsys.readouterr().out
    assert "\\frac" in out
