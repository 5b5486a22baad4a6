"""Time-reversal invariance with the definition of THEORY.md §1."""

from __future__ import annotations

import pytest
import sympy as sp

from glep.derive import Hamiltonian, Lagrangian
from tests.conftest import BUNDLED, problem

t = sp.Symbol("t")
q, x, y = (sp.Function(n)(t) for n in ("q", "x", "y"))
m, k, B, gamma = sp.symbols("m k B gamma")


def test_magnetic_field_is_not_time_reversible():
    L = Lagrangian(
        m * (x.diff(t) ** 2 + y.diff(t) ** 2) / 2 + B * (x * y.diff(t) - y * x.diff(t)) / 2,
        [x, y],
        [m, B],
    )
    report = L.time_reversal()
    assert not report.reversible
    assert "odd in the velocities" in report.reasons[0]


def test_cubic_velocity_term_is_not_time_reversible():
    L = Lagrangian(m * q.diff(t) ** 2 / 2 + k * q.diff(t) ** 3, [q], [m, k])
    assert not L.is_time_reversible()


def test_rayleigh_dissipation_is_not_time_reversible():
    L = Lagrangian(
        m * q.diff(t) ** 2 / 2 - k * q**2 / 2,
        [q],
        [m, k, gamma],
        dissipation=gamma * q.diff(t) ** 2 / 2,
    )
    assert not L.is_time_reversible()
    assert any("dissipative" in r for r in L.time_reversal().reasons)


def test_exponentially_weighted_lagrangian_is_not_time_reversible():
    L = Lagrangian(sp.exp(gamma * t) * (m * q.diff(t) ** 2 / 2 - k * q**2 / 2), [q], [m, k, gamma])
    assert not L.is_time_reversible()
    assert any("explicitly" in r for r in L.time_reversal().reasons)


def test_one_dimensional_gauge_term_is_time_reversible():
    L = Lagrangian(m * q.diff(t) ** 2 / 2 - k * q**2 / 2 + q**2 * q.diff(t), [q], [m, k])
    assert L.is_time_reversible()
    # the same holds in Hamiltonian form, where H is not even in p
    H = L.to_hamiltonian()
    assert H.is_time_reversible()


def test_magnetic_hamiltonian_is_not_time_reversible():
    px, py = sp.Function("p_x")(t), sp.Function("p_y")(t)
    H = Hamiltonian(
        ((px + B * y / 2) ** 2 + (py - B * x / 2) ** 2) / (2 * m), [x, y], [px, py], [m, B]
    )
    assert not H.is_time_reversible()


NOT_REVERSIBLE = {"magnetic_particle", "damped_oscillator"}


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_systems_are_time_reversible_unless_meant_not_to_be(name):
    expected = name not in NOT_REVERSIBLE
    assert problem(name).system.is_time_reversible() is expected
    assert problem(name).time_reversal().reversible is expected


def test_velocity_dependent_cost_keeps_time_reversal():
    """The echo reads such a cost at the mirrored velocities (tests/generated/
    test_every_gradient.py checks HEL against the adjoint with one)."""
    from glep.derive import Cost, Problem

    p = Problem(
        Lagrangian(m * q.diff(t) ** 2 / 2 - k * q**2 / 2, [q], [m, k]),
        Cost(running=q.diff(t) ** 2),
        params={m: 1, k: 1},
        initial={q: 0, q.diff(t): 1},
        horizon=1,
        steps=10,
    )
    assert p.time_reversal().reversible
