"""Vector-field networks with distinct forward and backward weights (glep.learn.vector_field),
against independent oracles: the generated Hopfield energy of systems/hopfield_digits.py
(its ∂E/∂s and its C-EP), finite differences of the relaxed loss, Jacobians by autograd and
angles known in closed form."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from glep import VectorFieldProblem
from glep.cli import main
from glep.codegen.emit import load_module
from glep.derive.errors import KindError
from glep.learn.vector_field import Network, angle
from tests.conftest import SYSTEMS, problem

DOUBLE = torch.float64


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def network(layers, seed=0, **settings):
    return Network(load_module(VectorFieldProblem(layers, name="probe", **settings), "torch"),
                   seed=seed)


def symmetric_pair(**settings):
    """The energy of hopfield_digits (64-32-10) and a vector-field network carrying its
    parameters, with B1 = W2ᵀ."""
    energy = load_module(problem("hopfield_digits"), "numpy")
    theta = energy.initial_params()
    net = network((64, 32, 10), **settings)
    with torch.no_grad():
        for k in ("W1", "b1", "W2", "b2"):
            net.theta[k].copy_(torch.as_tensor(np.asarray(theta[k], dtype=float)))
        net.theta["B1"].copy_(net.theta["W2"].T)
    return energy, theta, net


def test_symmetric_field_is_minus_the_energy_gradient():
    energy, theta, net = symmetric_pair()
    rng = np.random.default_rng(1)
    x, z, y = rng.random((5, 64)), rng.random((5, 42)), rng.random((5, 10))
    torch_x, torch_y = torch.as_tensor(x), torch.as_tensor(y)
    states = [torch_x, torch.as_tensor(z[:, :32]), torch.as_tensor(z[:, 32:])]
    for beta in (0.0, 0.3):
        with torch.no_grad():
            field = torch.cat(net.field(states, torch_y, beta), -1).numpy()
        expected = -(energy.energy_gradient(z, theta, x) + beta * energy.cost_gradient(z, y))
        assert np.abs(field - expected).max() <= 1e-12 * np.abs(expected).max()


def test_asymmetric_field_is_the_gradient_of_no_energy():
    net = network((3, 4, 2))
    x = torch.rand(1, 3, dtype=DOUBLE)

    def f(s):
        return torch.cat(net.field([x, s[None, :4], s[None, 4:]]), -1)[0]

    jac = torch.autograd.functional.jacobian(f, torch.rand(6, dtype=DOUBLE))
    assert float((jac - jac.T).abs().max()) > 0.1  # a gradient field has a symmetric Jacobian
    with torch.no_grad():
        net.theta["B1"].copy_(net.theta["W2"].T)
    jac = torch.autograd.functional.jacobian(f, torch.rand(6, dtype=DOUBLE))
    assert float((jac - jac.T).abs().max()) <= 1e-15


def test_symmetric_ep_update_is_the_energy_centered_ep():
    energy, theta, net = symmetric_pair(free_steps=400, nudged_steps=400)
    x, y = np.asarray(energy.DEFAULT_INPUTS), np.asarray(energy.DEFAULT_TARGETS)
    beta = 0.05
    reference = energy.gradient(theta, x, y, rule="C-EP", beta=beta)["grad"]
    update = net.ep_update(torch.as_tensor(x), torch.as_tensor(y), beta=beta)
    for k in ("W1", "b1", "W2", "b2"):
        ref = np.asarray(reference[k])
        assert np.abs(-update[k].numpy() - ref).max() <= 1e-8 * max(1.0, np.abs(ref).max()), k
    assert np.allclose(update["B1"].numpy(), update["W2"].numpy().T, rtol=0, atol=1e-15)


def test_bptt_gradient_matches_finite_differences():
    net = network((4, 5, 3), seed=2, free_steps=6)
    with torch.no_grad():
        for v in net.theta.values():
            v.mul_(2.0).add_(0.2)  # more units inside the box
    x, y = torch.rand(3, 4, dtype=DOUBLE), torch.rand(3, 3, dtype=DOUBLE)
    _, grad = net.bptt(x, y)
    h = 1e-6
    for name, value in net.theta.items():
        fd = torch.zeros_like(value)
        with torch.no_grad():
            for i in range(value.numel()):
                old = float(value.view(-1)[i])
                losses = []
                for shift in (h, -h):
                    value.view(-1)[i] = old + shift
                    losses.append(float(net.cost(net.relax(x, net.free_steps), y).mean()))
                value.view(-1)[i] = old
                fd.view(-1)[i] = (losses[0] - losses[1]) / (2 * h)
        assert float(fd.abs().max()) > 0, name
        assert float((grad[name] - fd).abs().max()) <= 1e-7 * float(fd.abs().max()), name


def test_angle_of_known_vectors():
    assert angle(torch.tensor([1.0, 0.0]), torch.tensor([1.0, 1.0])) == pytest.approx(45.0)
    assert angle(torch.tensor([[1.0, 0.0], [0.0, 0.0]]),
                 torch.tensor([[0.0, 2.0], [0.0, 0.0]])) == pytest.approx(90.0)
    assert angle(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([-2.0, -4.0, -6.0])) \
        == pytest.approx(180.0)
    assert angle(torch.tensor([1.0, 0.0]), torch.tensor([math.sqrt(3), 1.0])) \
        == pytest.approx(30.0)
    with pytest.raises(ValueError, match="zero"):
        angle(torch.zeros(3), torch.ones(3))


def test_symmetric_ep_update_aligns_with_the_true_gradient():
    """B1 = W2ᵀ, converged phases, small β: VF-EP's update of layer 1 is parallel to BPTT's
    gradient; that of layer 2 to BPTT's gradient along the tied direction (W2 and B1 = W2ᵀ
    moving together, the energy's implicit gradient), not to ∂C/∂W2 alone. With an
    independent B1 layer 1 is off too."""
    energy, theta, net = symmetric_pair(free_steps=200, nudged_steps=200)
    x = torch.rand(16, 64, dtype=DOUBLE, generator=torch.Generator().manual_seed(0))
    y = torch.nn.functional.one_hot(torch.arange(16) % 10, 10).double()
    net.beta = 1e-4
    found = net.diagnostics(x, y)
    assert found["angle"][0] < 0.01 and max(found["angle_tied"]) < 0.01
    assert found["angle"][1] > 1.0
    assert net.mismatch() == [0.0] and found["residual"] <= 1e-12
    implicit = energy.implicit_gradient(theta, x.numpy(), y.numpy())["grad"]
    _, grad = net.bptt(x, y)
    tied = (grad["W2"] + grad["B1"].T).numpy()
    assert np.abs(tied - implicit["W2"]).max() <= 1e-8 * np.abs(implicit["W2"]).max()
    with torch.no_grad():
        net.theta["B1"].copy_(torch.rand(32, 10, dtype=DOUBLE) - 0.5)
    assert net.diagnostics(x, y)["angle"][0] > 5.0


@pytest.mark.slow
def test_glep_train_compares_vf_ep_with_bptt(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["train", str(SYSTEMS / "vector_field_digits.py"), "--data", "digits",
                 "--rule", "vf-ep", "--compare", "VF-EP,BPTT", "--epochs", "1", "--lr",
                 "0.05", "--out-dir", str(out), "--quiet"])
    assert code == 0
    text = capsys.readouterr().out
    assert "| VF-EP |" in text and "| BPTT |" in text
    log = [json.loads(line) for line in
           (out / "vector_field_digits-VF-EP.jsonl").read_text().splitlines()]
    assert len(log) == 1 and len(log[0]["angle"]) == len(log[0]["angle_tied"]) == 2
    assert 0 <= log[0]["angle"][0] <= 180 and log[0]["angle"][0] == log[0]["angle_tied"][0]
    assert log[0]["test_accuracy"] > 0.3  # 10 classes: chance is 0.1
    for name in ("VF-EP-angle.png", "BPTT-angle.png", "accuracy.md", "accuracy.png",
                 "BPTT-params.json"):
        assert (out / f"vector_field_digits-{name}").is_file(), name


def test_bad_declarations_and_commands_say_how_to_fix(capsys):
    with pytest.raises(KindError, match="beta"):
        VectorFieldProblem((4, 3, 2), beta=-1.0)
    with pytest.raises(KindError, match="free_steps"):
        VectorFieldProblem((4, 3, 2), free_steps=0)
    with pytest.raises(KindError, match="feedback_decay"):
        VectorFieldProblem((4, 3, 2), feedback_decay=float("nan"))
    path = str(SYSTEMS / "vector_field_digits.py")
    assert main(["train", path, "--data", "digits", "--rule", "DTP"]) == 2
    assert "a vector-field network learns by VF-EP or BPTT" in capsys.readouterr().err
    assert main(["train", path, "--data", "digits", "--tol", "1e-3"]) == 2
    assert "--tol" in capsys.readouterr().err
    assert main(["check", path]) == 2
    assert "--compare BPTT" in capsys.readouterr().err
