"""Training with the derived rules: batched gradients, sampled data, readouts, runs."""

from __future__ import annotations

import functools
import json

import numpy as np
import pytest
import torch

from glep.cli import main
from glep.codegen.emit import load_module
from glep.learn import datasets
from glep.learn.train import train
from tests.conftest import SYSTEMS, problem, relative_error


@functools.cache
def identification(trajectories=16, seed=0):
    p = problem("chain_identification")
    return p, datasets.identification(p, trajectories=trajectories, seed=seed)


@functools.cache
def modules(name):
    p = problem(name)
    return load_module(p, "numpy"), load_module(p, "torch")


def _as_data(arrays):
    return datasets.Trajectories(arrays["t"], arrays["inputs"], arrays["targets"],
                                 arrays["z0"], None, arrays.get("true_theta"))


def _torchdiffeq_batch(torch_module, z0, inputs, targets, horizon):
    """odeint_adjoint (dopri5, tol 1e-10) on the batch, through the module's own spline."""
    from torchdiffeq import odeint_adjoint

    m = torch_module
    x_signal = m.sampled(torch.as_tensor(inputs), horizon)
    y_signal = m._resolve(torch.as_tensor(targets), len(m.TARGETS), horizon, None, "targets")

    class Augmented(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.theta = torch.nn.Parameter(torch.tensor(m.PARAM_VALUES, dtype=torch.float64))

        def forward(self, t, state):
            c = m.prepare(self.theta)
            z = state[..., :-1]
            dz = m._vector_field(t, z, c, x_signal(t))
            return torch.cat([dz, m._running_cost(t, z, c, y_signal(t))[..., None]], dim=-1)

    func = Augmented()
    start = torch.cat([torch.as_tensor(z0), torch.zeros(len(z0), 1, dtype=torch.float64)], -1)
    start.requires_grad_(True)
    times = torch.tensor([0.0, horizon], dtype=torch.float64)
    end = odeint_adjoint(func, start, times, rtol=1e-10, atol=1e-10, method="dopri5",
                         adjoint_params=(func.theta,))[-1]
    loss = end[:, -1].mean()
    grad_theta, grad_start = torch.autograd.grad(loss, [func.theta, start])
    return float(loss.detach()), grad_theta.numpy(), grad_start[:, :-1].numpy()


@pytest.mark.slow
def test_batched_gradient_is_the_mean_of_single_trajectories_and_matches_the_adjoint():
    p, arrays = identification()
    numpy_module, torch_module = modules("chain_identification")
    z0, u, y = arrays["z0"], arrays["inputs"], arrays["targets"]
    batch = numpy_module.gradient(z0, rule="HEL", inputs=u, targets=y)
    singles = [numpy_module.gradient(z0[i], rule="HEL", inputs=u[i], targets=y[i])
               for i in range(len(z0))]
    mean = np.mean([s["theta"] for s in singles], axis=0)
    # both gradients are contrasts divided by 2β (of the nudged integrals, summed in blocks
    # of RK4 stages whose size depends on the batch, and of final states): rounding
    # differences between batched and single arithmetic are amplified by 1/β
    assert relative_error(batch["theta"], mean) <= 1e-10
    assert abs(batch["loss"] - np.mean([s["loss"] for s in singles])) <= 1e-14
    per_state = np.stack([s["z0"] for s in singles]) / len(z0)
    assert relative_error(batch["z0"], per_state) <= 1e-10
    loss, grad, grad_z0 = _torchdiffeq_batch(torch_module, z0, u, y, p.horizon)
    assert relative_error(batch["theta"], grad) <= 1e-6
    assert relative_error(batch["z0"], grad_z0) <= 1e-6
    assert abs(batch["loss"] - loss) <= 1e-7 * loss


def test_echo_with_sampled_inputs_retraces_within_twice_the_global_error():
    from scipy.integrate import solve_ivp

    p, arrays = identification()
    numpy_module, _ = modules("chain_identification")
    z0, u = arrays["z0"][0], arrays["inputs"][0]
    theta = np.asarray(numpy_module.PARAM_VALUES)
    signal = numpy_module.sampled(u, p.horizon)
    steps = p.steps // 4  # where RK4's own error is well above round-off

    def field(t, z):
        return numpy_module.vector_field(t, z, theta, signal(t))

    exact = solve_ivp(field, (0, p.horizon), z0, method="DOP853", rtol=1e-13, atol=1e-13,
                      t_eval=[p.horizon]).y[:, -1]
    end = numpy_module.simulate(z0, theta, steps=steps, inputs=u)[-1]
    scale = max(np.linalg.norm(z0), np.linalg.norm(end))
    retrace = numpy_module.echo_retrace(z0, theta, steps=steps, inputs=u)
    assert retrace <= 2 * np.linalg.norm(end - exact) / scale


@pytest.mark.slow
def test_readout_weights_get_exact_gradients_from_every_rule():
    numpy_module, _ = modules("oscillator_filter")
    p = problem("oscillator_filter")
    arrays = datasets.linear_filter(p, trajectories=4, test=1)
    u, y = arrays["inputs"][:2], arrays["targets"][:2]
    z0 = np.tile(numpy_module.INITIAL_STATE, (2, 1))
    theta = np.asarray(numpy_module.PARAM_VALUES)
    reference = numpy_module.gradient(z0, theta, rule="adjoint", inputs=u, targets=y)["theta"]

    def loss(thetas):
        return numpy_module.loss(z0[:, None], thetas[None], inputs=u[:, None],
                                 targets=y[:, None]).mean(axis=0)

    steps = 1e-5 * np.maximum(1.0, np.abs(theta))
    shifted = np.concatenate([theta + np.diag(steps), theta - np.diag(steps)])
    values = loss(shifted)
    fd = (values[: len(theta)] - values[len(theta):]) / (2 * steps)
    assert relative_error(reference, fd) <= 1e-6
    weights = [i for i, name in enumerate(numpy_module.PARAMS) if name.startswith("w")]
    assert len(weights) == 6
    for rule in ("HEL", "PFVP"):
        g = numpy_module.gradient(z0, theta, rule=rule, inputs=u, targets=y)["theta"]
        assert relative_error(g, reference) <= 1e-6
        assert relative_error(g[weights], fd[weights]) <= 1e-6


@pytest.mark.slow
def test_hel_adjoint_and_bptt_train_identically():
    p, arrays = identification()
    data = _as_data(arrays)
    curves = {}
    for rule in ("HEL", "adjoint", "BPTT"):
        run = train(p, data, rule=rule, epochs=13, batch=4, lr=0.02, seed=3, steps=50,
                    progress=False)
        curves[rule] = np.array(run.losses[:50])
    assert len(curves["HEL"]) == 50
    for rule in ("adjoint", "BPTT"):
        assert np.all(np.abs(curves[rule] - curves["HEL"]) <= 0.01 * curves["HEL"])


@pytest.mark.slow
def test_system_identification_recovers_the_teacher():
    p, arrays = identification()
    data = _as_data(arrays)
    # full batch, L-BFGS (each logged step is one HEL gradient), coarser integration step
    run = train(p, data, rule="HEL", epochs=2, batch=16, lr=1.0, optimizer="lbfgs", seed=0,
                steps=100, progress=False)
    assert len(run.losses) <= 60
    error = np.linalg.norm(run.theta - data.true_theta) / np.linalg.norm(data.true_theta)
    assert error <= 1e-3
    assert run.losses[0] / run.losses[-1] >= 1e4


def _write(path, **arrays):
    np.savez(path, **arrays)
    return path


def _good(p):
    arrays = datasets.identification(p, trajectories=2)
    return {k: arrays[k] for k in ("t", "inputs", "targets", "z0")}


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (lambda a: a.pop("targets"), "has no ['targets']"),
        (lambda a: a.update(inputs=a["inputs"][:, :-1]), "'inputs' has shape"),
        (lambda a: a.update(targets=a["targets"][:1]), "target trajectories"),
        (lambda a: a["inputs"].__setitem__((0, 3, 0), np.nan), "NaN"),
        (lambda a: a.update(t=a["t"] * 2), "horizon"),
        (lambda a: a.update(z0=a["z0"][:, :3]), "'z0' has shape"),
    ],
)
def test_bad_data_gives_a_clear_message_and_exit_2(tmp_path, capsys, change, fragment):
    arrays = _good(problem("chain_identification"))
    change(arrays)
    path = _write(tmp_path / "bad.npz", **arrays)
    code = main(["train", str(SYSTEMS / "chain_identification.py"), "--data", str(path),
                 "--out-dir", str(tmp_path / "runs"), "--quiet"])
    assert code == 2
    err = capsys.readouterr().err
    assert fragment in err and "Traceback" not in err


def test_interrupted_training_keeps_the_log_and_the_last_parameters(tmp_path, monkeypatch):
    import glep.learn.train as training

    p = problem("chain_identification")
    data = _as_data(datasets.identification(p, trajectories=4))
    real = training.load_module

    def interrupting(problem_, backend):
        module = real(problem_, backend)
        calls = {"n": 0}
        gradient = module.gradient

        def gradient_then_interrupt(*args, **kwargs):
            calls["n"] += 1
            if calls["n"] == 3:
                raise KeyboardInterrupt
            return gradient(*args, **kwargs)

        module.gradient = gradient_then_interrupt
        return module

    monkeypatch.setattr(training, "load_module", interrupting)
    log, params = tmp_path / "log.jsonl", tmp_path / "params.json"
    run = train(p, data, rule="HEL", epochs=5, batch=1, steps=50, log_path=log,
                params_path=params, progress=False)
    assert run.interrupted
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2]
    assert set(rows[0]) == {"step", "epoch", "loss", "grad_norm", "time"}
    saved = json.loads(params.read_text())
    assert list(saved) == list(modules("chain_identification")[0].PARAMS)
    assert np.allclose(list(saved.values()), run.theta)


def test_data_command_writes_a_valid_data_set(tmp_path, capsys):
    out = tmp_path / "filter.npz"
    assert main(["data", "filter", str(SYSTEMS / "oscillator_filter.py"), "--out", str(out)]) == 0
    data = datasets.load_data(out, problem("oscillator_filter"))
    assert data.test is not None and data.inputs.shape[1] == len(data.t)
