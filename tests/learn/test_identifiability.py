"""The identifiability report: the Gauss–Newton matrix is the loss's Hessian at a perfect
fit, and an LC ladder observed through its capacitor voltages from rest is reported to hide
exactly the scaling L → αL, C → C/α."""

from __future__ import annotations

import json

import numpy as np
import pytest

from glep.cli import main
from glep.codegen.emit import load_module
from glep.derive.systemfile import load_problem
from glep.learn import datasets
from glep.learn.identifiability import gauss_newton, identifiability, report_text
from tests.conftest import SYSTEMS, problem
from tests.reliability.conftest import system_text

LADDER = SYSTEMS / "lc_ladder.py"
N = 3
#: The scaling direction in log-parameters: +1 on each log L_i, −1 on each log C_i.
SCALING = np.r_[np.ones(N), -np.ones(N)] / np.sqrt(2 * N)


def _trajectories(arrays):
    return datasets.Trajectories(arrays["t"], arrays["inputs"], arrays["targets"],
                                 arrays["z0"], None, arrays["true_theta"])


def _voltages(module, z0, theta, inputs):
    """Capacitor voltages (q_i − q_{i+1})/C_i of a simulated ladder (q_{N+1} = 0)."""
    q = module.simulate(z0, theta, inputs=inputs)[..., :N]
    charge = q - np.concatenate([q[..., 1:], np.zeros_like(q[..., :1])], axis=-1)
    return charge / theta[N:]


def test_the_ladder_voltages_from_rest_do_not_change_under_the_scaling():
    p = problem("lc_ladder")
    module = load_module(p, "numpy")
    rng = np.random.default_rng(3)
    t = np.linspace(0.0, p.horizon, p.steps + 1)
    inputs = datasets.band_limited(rng, t, 4, highest=2.0)[..., None]
    theta = np.array([0.8, 0.6, 0.3, 0.3, 0.6, 0.8])
    scaled = theta * np.exp(2.0 * np.sqrt(2 * N) * SCALING)  # α = e²: L·α, C/α
    rest = np.zeros((4, 2 * N))
    v, w = (_voltages(module, rest, th, inputs) for th in (theta, scaled))
    assert np.max(np.abs(v - w)) <= 1e-12 * np.max(np.abs(v))
    charged = rest + np.r_[0.3, -0.2, 0.1, 0, 0, 0]  # from charged capacitors: not invariant
    v, w = (_voltages(module, charged, th, inputs) for th in (theta, scaled))
    assert np.max(np.abs(v - w)) >= 0.1 * np.max(np.abs(v))


def test_the_gauss_newton_matrix_is_the_hessian_of_the_loss_at_a_perfect_fit():
    p = problem("harmonic_oscillator")
    data = _trajectories(datasets.identification(p, trajectories=3))
    theta = data.true_theta
    matrix, coordinates, _ = gauss_newton(p, data, theta)
    assert coordinates == ["log"] * 3
    module = load_module(p, "numpy")

    def loss(phi):
        return float(np.mean(module.loss(data.z0, np.exp(phi), inputs=data.inputs,
                                         targets=data.targets)))

    h, phi, eye = 1e-3, np.log(theta), np.eye(3)
    hessian = np.array([[(loss(phi + h * (a + b)) - loss(phi + h * (a - b))
                          - loss(phi - h * (a - b)) + loss(phi - h * (a + b))) / (4 * h * h)
                         for b in eye] for a in eye])
    assert np.linalg.norm(matrix - hessian) <= 1e-4 * np.linalg.norm(hessian)


def test_random_initial_charges_make_the_ladder_identifiable():
    p = problem("lc_ladder")
    data = _trajectories(datasets.identification(p, trajectories=8))
    report = identifiability(p, data, data.true_theta)
    assert report["unidentifiable"] == [] and report["weakest"]["relative"] > 1e-6
    assert report["parameter_error"] == 0.0 and report["warning"] is None
    assert "weakest direction" in report_text(report)


def test_a_cost_that_is_no_least_squares_fit_gets_no_report(tmp_path):
    path = tmp_path / "terminal.py"
    path.write_text(system_text().replace("Cost(running=(q - y) ** 2 / 2, targets=[y])",
                                          "Cost(terminal=q**2)").replace(
        ", targets={y: sp.cos(t) / 2}", ""))
    p = load_problem(path)
    module = load_module(p, "numpy")
    data = datasets.Trajectories(np.linspace(0, p.horizon, p.steps + 1),
                                 np.zeros((1, p.steps + 1, 1)), np.zeros((1, p.steps + 1, 0)),
                                 np.array([module.INITIAL_STATE]), None, None)
    report = identifiability(p, data, module.PARAM_VALUES)
    assert "has no targets" in report["skipped"]
    assert report_text(report).startswith("identifiability: not computed: ")


@pytest.mark.slow
def test_the_ladder_identification_reports_the_scaling_direction(tmp_path, capsys):
    """A teacher on the scaling orbit of the default one (its data are the same)
    drives the ladder from rest; the student fits the data, its parameter error stays large,
    and the report names the scaling as the one direction the data cannot see."""
    names = load_module(problem("lc_ladder"), "numpy").PARAMS
    alpha = np.exp(np.sqrt(2 * N) * SCALING * np.log(2.0))  # L·2, C/2
    teacher = datasets.default_teacher(names) * alpha
    data = tmp_path / "ladder.npz"
    assert main(["data", "identification", str(LADDER), "--out", str(data), "--initial",
                 "declared", "--trajectories", "16",
                 *[f"--teacher={n}={float(v)!r}" for n, v in zip(names, teacher)]]) == 0
    out = tmp_path / "runs"
    assert main(["train", str(LADDER), "--data", str(data), "--optimizer", "lbfgs", "--lr",
                 "1", "--epochs", "3", "--batch", "16", "--positive", "all", "--quiet",
                 "--out-dir", str(out)]) == 0
    printed = capsys.readouterr().out
    report = json.loads((out / "identifiability.json").read_text())["rules"]["HEL"]
    assert len(report["unidentifiable"]) == 1
    blind = np.array(list(report["unidentifiable"][0]["vector"].values()))
    assert abs(blind @ SCALING) >= 0.99
    assert report["weakest"] == report["unidentifiable"][0]
    assert report["singular_values"][-2] >= 1e-4 * report["singular_values"][0]
    assert report["parameter_error"] > 0.1 and report["error_along_unidentifiable"] >= 0.9
    assert "the data cannot see 1 direction(s)" in printed
    assert "+0.41 L1 +0.41 L2 +0.41 L3 −0.41 C1 −0.41 C2 −0.41 C3" in printed
    assert "warning: the parameter error stays" in printed
    losses = [json.loads(line)["loss"] for line in
              (out / "lc_ladder-HEL.jsonl").read_text().splitlines()]
    assert min(losses) <= 1e-4 * losses[0]  # the student fits the data
