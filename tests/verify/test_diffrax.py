"""diffrax as a further reference of ``glep check`` (``--diffrax``), independent of Torch."""

from __future__ import annotations

import json

import numpy as np
import pytest

from glep.cli import main
from glep.verify import check, report_text
from tests.conftest import SYSTEMS, problem, relative_error

pytest.importorskip("diffrax")


@pytest.mark.slow
def test_diffrax_agrees_with_torchdiffeq_and_is_its_own_column():
    p = problem("harmonic_oscillator")
    report = check(p, rules=["adjoint"], diffrax=True)
    references = report["reference"]
    diffrax, torchdiffeq = references["diffrax"], references["torchdiffeq"]
    assert "Dopri8" in diffrax["method"] and diffrax["seconds"] > 0
    assert relative_error(list(diffrax["grad"].values()),
                          list(torchdiffeq["grad"].values())) <= 1e-8
    assert relative_error(diffrax["z0"], torchdiffeq["z0"]) <= 1e-8
    entry = report["rules"]["adjoint"]
    assert entry["diffrax_rel_err"] <= 1e-6 and entry["ok"]
    assert "vs diffrax" in report_text(p, report)


def test_diffrax_is_asked_for_not_run_by_default(capsys):
    main(["check", str(SYSTEMS / "harmonic_oscillator.py"), "--rule", "adjoint", "--steps",
          "200", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert "diffrax" not in report["reference"] and "torchdiffeq" in report["reference"]
    assert np.isfinite(report["rules"]["adjoint"]["torchdiffeq_rel_err"])
