"""diffrax as a further reference of ``glep check`` (on by default when installed; ``--no-diffrax``
skips it), independent of Torch."""

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


def _cli_check(capsys, *flags):
    main(["check", str(SYSTEMS / "harmonic_oscillator.py"), "--rule", "adjoint", "--steps",
          "200", "--json", *flags])
    return json.loads(capsys.readouterr().out)


@pytest.mark.slow
def test_glep_check_adds_diffrax_by_default_and_no_diffrax_skips_it(capsys):
    report = _cli_check(capsys)
    references = report["reference"]
    assert relative_error(list(references["diffrax"]["grad"].values()),
                          list(references["torchdiffeq"]["grad"].values())) <= 1e-8
    assert np.isfinite(report["rules"]["adjoint"]["diffrax_rel_err"])
    report = _cli_check(capsys, "--no-diffrax")
    assert "diffrax" not in report["reference"] and "torchdiffeq" in report["reference"]
    assert np.isfinite(report["rules"]["adjoint"]["torchdiffeq_rel_err"])
