"""``glep rules`` and ``glep check``: the JSON contracts and the refusals."""

from __future__ import annotations

import json
import math

import pytest

from glep.cli import main
from tests.conftest import SYSTEMS

RULE_KEYS = {
    "available": bool, "forward_only": bool, "same_system": bool, "passes": int,
    "memory": str, "needs_jacobian": bool, "needs_bvp": bool, "local": bool,
    "bias_order": int, "reason": str, "gradient": str,
}


def _json(capsys, *args):
    code = main([*args, "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_rules_json_contract_on_the_coupled_oscillators(capsys):
    code, report = _json(capsys, "rules", str(SYSTEMS / "coupled_oscillators.py"))
    assert code == 0
    assert report["system"] == "coupled_oscillators"
    assert set(report["rules"]) >= {"CIVP", "CBVP", "PFVP", "HEL"}
    for entry in report["rules"].values():
        for key, kind in RULE_KEYS.items():
            assert isinstance(entry[key], kind), key
    hel = report["rules"]["HEL"]
    assert hel["available"] and hel["forward_only"] and hel["same_system"]
    assert hel["passes"] == 3 and hel["memory"] == "O(1)"
    assert not hel["needs_jacobian"] and hel["local"] and hel["bias_order"] == 2
    assert hel["gradient"] == "biased O(β^2)" and report["rules"]["adjoint"]["gradient"] == "exact"
    assert report["rules"]["CIVP"]["needs_jacobian"]
    assert report["rules"]["CBVP"]["needs_bvp"] and not report["rules"]["CBVP"]["forward_only"]
    assert not report["rules"]["PFVP"]["forward_only"]
    # locality: a coupling spring's update reads exactly the two masses it joins
    assert hel["reads"]["c1"] == ["q1", "q2"]


def test_rules_json_marks_hel_unavailable_for_a_magnetic_field(capsys):
    code, report = _json(capsys, "rules", str(SYSTEMS / "magnetic_particle.py"))
    assert code == 0
    hel = report["rules"]["HEL"]
    assert not hel["available"]
    assert "not time-reversal invariant" in hel["reason"]
    assert report["rules"]["PFVP"]["available"]


def test_rules_json_says_dissipative_for_the_damped_oscillator(capsys):
    _, report = _json(capsys, "rules", str(SYSTEMS / "damped_oscillator.py"))
    assert not report["rules"]["HEL"]["available"]
    assert report["rules"]["HEL"]["reason"].startswith("dissipative")


def test_rules_text_and_latex(capsys):
    assert main(["rules", str(SYSTEMS / "pendulum.py")]) == 0
    out = capsys.readouterr().out
    assert "HEL: Hamiltonian echo learning (available)" in out
    assert "practicality" in out
    assert main(["rules", str(SYSTEMS / "pendulum.py"), "--latex"]) == 0
    assert "\\frac{d}{d t}" in capsys.readouterr().out


def _validate_check(report):
    assert isinstance(report["system"], str)
    assert math.isfinite(report["loss"])
    for name in ("adjoint", "finite_difference"):
        grads = report["reference"][name]["grad"]
        assert grads and all(isinstance(v, float) for v in grads.values())
    for rule, entry in report["rules"].items():
        assert isinstance(entry["practical"], bool)
        if not entry["available"]:
            assert entry["reason"]
            continue
        assert set(entry["grad"]) == set(report["reference"]["adjoint"]["grad"])
        assert entry["reference"] in ("adjoint", "finite_difference")
        assert isinstance(entry["rel_err"], float)
        if rule == "CBVP":
            assert entry["reference"] == "finite_difference" and "loss" in entry


@pytest.mark.slow
def test_check_json_contract_and_agreement(capsys):
    code, report = _json(capsys, "check", str(SYSTEMS / "pendulum.py"))
    assert code == 0
    _validate_check(report)
    for entry in report["rules"].values():
        assert entry["rel_err"] <= 1e-6 if entry["available"] else "HEL" in entry["reason"]
    health = report["rules"]["HEL"]["health"]
    assert health["retrace_error"] <= 2 * health["integrator_error"] + 1e-13
    assert 0 < health["suggested_beta"] < 1


@pytest.mark.slow
def test_check_lists_hel_unavailable_and_checks_the_rest(capsys):
    code, report = _json(capsys, "check", str(SYSTEMS / "magnetic_particle.py"))
    assert code == 0
    _validate_check(report)
    assert not report["rules"]["HEL"]["available"]
    assert report["rules"]["PFVP"]["rel_err"] <= 1e-6
    assert report["rules"]["PFVP"]["reference"] == "adjoint"


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--rule", "HEL", str(SYSTEMS / "magnetic_particle.py")], "not available"),
        (["--rule", "HEL", str(SYSTEMS / "damped_oscillator.py")], "dissipative"),
        (["--beta", "0", str(SYSTEMS / "pendulum.py")], "positive, finite"),
        (["--beta=-1e-3", str(SYSTEMS / "pendulum.py")], "positive, finite"),
        (["--beta", "nan", str(SYSTEMS / "pendulum.py")], "positive, finite"),
        (["--beta", "inf", str(SYSTEMS / "pendulum.py")], "positive, finite"),
    ],
)
def test_check_refuses_with_a_clear_message(capsys, args, fragment):
    assert main(["check", *args]) == 2
    err = capsys.readouterr().err
    assert fragment in err and "Traceback" not in err
