"""``glep check`` at a cost independent of the number of parameters: directional finite
differences, the module's adjoint as the rules' reference, bias and suggested β for every
biased rule, per-rule time."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from glep.cli import main
from glep.codegen.emit import load_module
from glep.verify import check
from glep.verify.common import directions, relative_error
from glep.verify.continuous import directional_reference, finite_difference
from tests.conftest import SYSTEMS, problem

STEPS = 300  # enough for 1e-6 agreement on these short horizons, and quick


@pytest.fixture
def oscillators():
    """Six coupled oscillators: 17 parameters, more than the three directions."""
    p = problem("coupled_oscillators")
    return p, load_module(p, "numpy")


def test_directional_differences_agree_with_the_whole_finite_difference_gradient(oscillators):
    _, module = oscillators
    theta, z0 = np.asarray(module.PARAM_VALUES), np.asarray(module.INITIAL_STATE)

    def loss(z, th):
        return module.loss(z, th, steps=STEPS)

    whole = finite_difference(loss, theta, z0)  # one central difference per entry
    fd = directional_reference(loss, z0, theta)
    assert fd["theta"]["directions"].shape == (3, theta.size)
    for name, grad in (("theta", whole["grad"]), ("z0", whole["z0"])):
        rows = fd[name]["directions"]
        assert relative_error(fd[name]["derivative"], rows @ grad) <= 1e-8
        assert fd[name]["accuracy"] <= 1e-6
    # no two directions alike, none along an axis
    unit = fd["theta"]["directions"] / np.maximum(1.0, np.abs(theta))
    assert np.all(np.abs(unit @ unit.T - np.eye(3)) < 0.9)
    assert np.count_nonzero(unit, axis=1).min() == theta.size


def test_few_parameters_are_differentiated_along_the_axes():
    rows = directions(np.array([3.0, -0.5]), count=3)
    assert np.array_equal(rows, np.diag([3.0, 1.0]))


@pytest.mark.parametrize("corrupt", ["adjoint", "HEL"])
def test_a_corrupted_gradient_fails_the_check(oscillators, monkeypatch, corrupt):
    """A gradient function that is wrong by 2 % in its largest entry is caught: the adjoint
    by directional differences of the loss, HEL by the adjoint."""
    p, module = oscillators
    honest = module.gradient

    def gradient(*args, **kwargs):
        out = honest(*args, **kwargs)
        if kwargs.get("rule") == corrupt:
            theta = out["theta"].copy()
            theta[np.argmax(np.abs(theta))] *= 1.02
            out = {**out, "theta": theta}
        return out

    monkeypatch.setattr(module, "gradient", gradient)
    report = check(p, rules=["HEL", "adjoint"], steps=STEPS)
    entry = report["rules"][corrupt]
    assert not entry["ok"] and entry["verdict"].startswith("MISMATCH"), entry["verdict"]
    assert entry["rel_err"] > 1e-4
    other = "HEL" if corrupt == "adjoint" else "adjoint"
    if corrupt == "HEL":
        assert report["rules"][other]["ok"]


def test_cbvp_reports_a_bias_that_predicts_its_error_and_a_suggested_beta():
    """At β = 1e-2 the O(β²) bias dominates: the reported bias (from β and β/2) agrees with
    the error against central differences of CBVP's own loss in every parameter."""
    p = problem("pendulum")
    module = load_module(p, "numpy")
    report = check(p, rules=["CBVP"], beta=1e-2)
    entry = report["rules"]["CBVP"]
    assert entry["ok"] and "biased O(β^2)" in entry["verdict"], entry["verdict"]
    assert 1.5 <= entry["bias_slope"] <= 2.5
    theta = np.asarray(module.PARAM_VALUES)
    boundary = module.gradient(rule="CBVP", beta=1e-4)["health"]["boundary"]
    whole = np.array([
        (module.boundary_value_loss(theta=theta + h, boundary=boundary)
         - module.boundary_value_loss(theta=theta - h, boundary=boundary)) / (2e-5)
        for h in 1e-5 * np.eye(len(theta))])
    error = relative_error(list(entry["grad"].values()), whole)
    bias = entry["health"]["bias"]
    assert 0.5 * error <= bias <= 2 * error
    # at the suggested β the bias K·β² is far below the error at β = 1e-2
    suggested = entry["health"]["suggested_beta"]
    assert 0 < suggested < 1e-2 and bias * (suggested / 1e-2) ** 2 < 1e-3 * bias


def test_the_floor_follows_the_reference_accuracy_at_coarse_steps():
    """At 40 RK4 steps HEL and the adjoint are two discretizations a few 1e-6 apart: no
    false failure, and the accuracy the floor rests on bounds the adjoint's true error
    (against torchdiffeq's continuous adjoint)."""
    p = problem("pendulum")
    report = check(p, rules=["HEL", "adjoint"], steps=40)
    assert all(entry["ok"] for entry in report["rules"].values())
    adjoint = report["reference"]["adjoint"]
    true = relative_error(list(adjoint["grad"].values()),
                          list(report["reference"]["torchdiffeq"]["grad"].values()))
    if "accuracy" in adjoint:
        assert true <= 3 * adjoint["accuracy"]


def test_json_has_per_rule_seconds(capsys):
    code = main(["check", str(SYSTEMS / "pendulum.py"), "--rule", "hEl, ADJOINT,hel",
                 "--steps", str(STEPS), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and list(report["rules"]) == ["HEL", "adjoint"]
    entry = report["rules"]["HEL"]
    assert isinstance(entry["seconds"], float) and 0 < entry["seconds"] <= report["seconds"]
    assert all(isinstance(ref["seconds"], float) for ref in report["reference"].values())


def test_rules_are_timed_apart_from_the_shared_references():
    report = check(problem("pendulum"), rules=["hel", "Adjoint"], steps=STEPS)
    assert list(report["rules"]) == ["HEL", "adjoint"]
    rules = sum(entry["seconds"] for entry in report["rules"].values())
    shared = sum(ref["seconds"] for name, ref in report["reference"].items()
                 if name != "adjoint")  # the adjoint rule's own run is its reference
    assert rules + shared <= report["seconds"]
    # two parameters: the three directions are the axes, and the differences the gradient
    fd, adjoint = report["reference"]["finite_difference"], report["reference"]["adjoint"]
    assert relative_error(list(fd["grad"].values()), list(adjoint["grad"].values())) <= 1e-6


def test_text_rows_name_their_rules(capsys):
    main(["check", str(SYSTEMS / "pendulum.py"), "--rule", "hel,adjoint", "--steps", str(STEPS)])
    out = capsys.readouterr().out
    rows = [line.split()[0] for line in out.splitlines() if re.match(r"  \S+ +\d\.\de-", line)]
    assert rows == ["HEL", "adjoint"], out
