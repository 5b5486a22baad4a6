"""``glep check --quick``: the finite differences of a large energy or chain are skipped, and
nothing else changes (every rule is judged against implicit differentiation either way)."""

from __future__ import annotations

import pytest

import glep.verify
from glep.verify import check
from tests.conftest import problem


def test_quick_drops_only_the_finite_differences_of_a_large_energy(monkeypatch):
    p = problem("hopfield_smooth")  # 15 parameters
    full = check(p, rules=["C-EP", "P-EP"], beta=1e-3)
    assert "finite_difference" in full["reference"]
    assert "finite_difference" in check(p, rules=["C-EP"], beta=1e-3, quick=True)["reference"]
    monkeypatch.setattr(glep.verify, "QUICK_FD_PARAMS", 10)  # now 15 is large
    quick = check(p, rules=["C-EP", "P-EP"], beta=1e-3, quick=True)
    assert set(quick["reference"]) == {"implicit_differentiation"}
    assert quick["reference"]["implicit_differentiation"] == full["reference"][
        "implicit_differentiation"]
    for rule in ("C-EP", "P-EP"):
        assert quick["rules"][rule]["rel_err"] == pytest.approx(full["rules"][rule]["rel_err"],
                                                                rel=1e-12)
        assert quick["rules"][rule]["ok"] == full["rules"][rule]["ok"]
