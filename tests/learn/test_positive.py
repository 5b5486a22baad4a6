"""Positive parameters trained in log space: the step is a gradient step in log θ (checked
against finite differences of the loss), a mass that a plain step would make negative
stays positive, and every file holds θ."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from glep.cli import main
from glep.codegen.emit import load_module
from glep.derive.systemfile import load_problem
from glep.learn import checkpoint as ck
from glep.learn import datasets
from glep.learn.positive import LogParameters, log_mask
from glep.learn.train import train
from tests.conftest import SYSTEMS, problem
from tests.reliability.conftest import system_text

STEPS = 100
TEACHER = {"m": 0.4, "k": 1.5, "w": 0.8}


@pytest.fixture(scope="module")
def oscillator(tmp_path_factory):
    """The harmonic oscillator (m, k, w start at 1, 2, 0.5), a teacher with a lighter mass,
    and the mean loss over the data set as a function of θ."""
    p = problem("harmonic_oscillator")
    arrays = datasets.identification(p, trajectories=4, teacher=TEACHER)
    path = tmp_path_factory.mktemp("data") / "oscillator.npz"
    np.savez(path, **arrays)
    data = datasets.load_data(path, p)
    module = load_module(p, "numpy")

    def loss(theta):
        return float(np.mean(module.loss(data.z0, np.asarray(theta), steps=STEPS,
                                         inputs=data.inputs, targets=data.targets)))

    return p, data, path, np.array(module.PARAM_VALUES), loss


def _gradient(loss, x, h=1e-6):
    """Central finite differences of ``loss`` at ``x``."""
    x = np.asarray(x, dtype=float)
    return np.array([(loss(x + h * e) - loss(x - h * e)) / (2 * h) for e in np.eye(len(x))])


def _sgd(p, data, lr, **options):
    return train(p, data, rule="adjoint", optimizer="sgd", lr=lr, epochs=1, batch=4,
                 steps=STEPS, progress=False, **options)


def test_the_step_is_a_gradient_step_in_log_theta(oscillator):
    p, data, _, theta0, loss = oscillator
    mask = np.array([True, True, False])  # m, k in log space; w plain
    phi0 = np.where(mask, np.log(theta0), theta0)

    def loss_of_phi(phi):
        return loss(np.where(mask, np.exp(phi), phi))

    g_phi = _gradient(loss_of_phi, phi0)
    g_theta = _gradient(loss, theta0)
    chain = LogParameters(mask, ["m", "k", "w"]).gradient(
        torch.as_tensor(theta0), torch.as_tensor(g_theta)).numpy()
    assert np.allclose(chain, g_phi, rtol=1e-6, atol=0)  # ∂L/∂φ = θ ⊙ ∂L/∂θ
    lr = 0.3
    run = _sgd(p, data, lr, positive="m,k")
    phi1 = phi0 - lr * g_phi
    expected = np.where(mask, np.exp(phi1), phi1)
    assert np.allclose(run.theta, expected, rtol=1e-6, atol=0)
    assert run.gradient_norms[0] == pytest.approx(np.linalg.norm(g_phi), rel=1e-6)


def test_a_mass_a_plain_step_would_make_negative_stays_positive(oscillator, tmp_path):
    p, data, path, theta0, loss = oscillator
    g_m = _gradient(loss, theta0)[0]
    assert g_m > 0  # a lighter teacher: the loss falls with m
    lr = 2 * theta0[0] / g_m  # a plain step lands at m = −m0
    plain = _sgd(p, data, lr)
    assert plain.theta[0] == pytest.approx(-theta0[0], rel=1e-5)
    logged = _sgd(p, data, lr, positive="m")
    assert logged.theta[0] == pytest.approx(theta0[0] * np.exp(-2.0), rel=1e-5)
    out = tmp_path / "runs"
    code = main(["train", str(SYSTEMS / "harmonic_oscillator.py"), "--data", str(path),
                 "--rule", "adjoint", "--optimizer", "sgd", "--lr", str(lr), "--epochs", "1",
                 "--batch", "4", "--steps", str(STEPS), "--positive", "m", "--quiet",
                 "--out-dir", str(out)])
    assert code == 0
    params = json.loads((out / "harmonic_oscillator-adjoint-params.json").read_text())
    state = ck.load_checkpoint(out / "harmonic_oscillator-adjoint-checkpoint.json")
    assert params == state["params"]  # θ itself, not log θ
    assert params["m"] == pytest.approx(theta0[0] * np.exp(-2.0), rel=1e-5)
    assert json.loads((out / "run.json").read_text())["options"]["positive"] == "m"


def test_a_resumed_log_space_run_reproduces_the_uninterrupted_one(oscillator, tmp_path):
    p, data, *_ = oscillator
    options = {"rule": "adjoint", "optimizer": "adam", "lr": 0.05, "batch": 2,
               "steps": STEPS, "progress": False, "positive": "m,k"}
    straight = train(p, data, epochs=2, **options)
    path = tmp_path / "checkpoint.json"
    train(p, data, epochs=1, checkpoint_path=path, **options)
    resumed = train(p, data, epochs=2, resume=ck.load_checkpoint(path), **options)
    assert np.allclose(resumed.theta, straight.theta, rtol=1e-12, atol=0)


def test_a_parameter_declared_positive_trains_in_log_space(tmp_path):
    path = tmp_path / "declared.py"
    path.write_text(system_text().replace('sp.symbols("m k w")', 'sp.symbols("m k w")\n'
                                          'm = sp.Symbol("m", positive=True)'))
    declared = load_problem(path)
    assert log_mask(declared, ["m", "k", "w"]).tolist() == [True, False, False]
    plain_path = tmp_path / "plain.py"
    plain_path.write_text(system_text())
    plain = load_problem(plain_path)
    assert log_mask(plain, ["m", "k", "w"]).tolist() == [False, False, False]
    arrays = datasets.identification(declared, trajectories=2, teacher=TEACHER)
    trajectories = datasets.Trajectories(arrays["t"], arrays["inputs"], arrays["targets"],
                                         arrays["z0"], None, None)
    one = train(declared, trajectories, optimizer="sgd", lr=0.5, epochs=1, batch=2,
                rule="adjoint", progress=False)
    other = train(plain, trajectories, optimizer="sgd", lr=0.5, epochs=1, batch=2,
                  rule="adjoint", progress=False, positive="m")
    assert np.allclose(one.theta, other.theta, rtol=1e-12, atol=0)


@pytest.mark.parametrize(("values", "fragment"), [
    (["--positive", "R*"], "--positive R*: matches no parameter of harmonic_oscillator"),
    (["--positive", "m,,k"], "--positive 'm,,k': give parameter names"),
    (["--positive", "all", "--init", "INIT"], "--positive: w = -0.5: a parameter trained in "
                                              "log space must start > 0"),
])
def test_a_bad_positive_is_refused(oscillator, tmp_path, capsys, values, fragment):
    init = tmp_path / "init.json"
    init.write_text(json.dumps({"m": 1.0, "k": 2.0, "w": -0.5}))
    out = tmp_path / "runs"
    code = main(["train", str(SYSTEMS / "harmonic_oscillator.py"), "--data",
                 str(oscillator[2]), "--quiet", "--out-dir", str(out),
                 *[str(init) if v == "INIT" else v for v in values]])
    err = capsys.readouterr().err
    assert code == 2 and fragment in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not list(out.glob("*checkpoint.json"))
