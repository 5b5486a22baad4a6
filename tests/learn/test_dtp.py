"""Difference target propagation with L-DRL feedback (glep.learn.dtp), against independent
oracles: Jacobians by ``torch.autograd.functional.jacobian``, the backprop gradient of a
network written out here with plain Torch operations, and slope tests in β."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from glep import Conv2d, Dense, FeedforwardProblem
from glep.cli import main
from glep.codegen.emit import load_module
from glep.derive.errors import DataError, KindError, RuleError
from glep.learn.catalog import Classification
from glep.learn.dtp import Network, train
from tests.conftest import SYSTEMS

DOUBLE = torch.float64


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def network(layers, shape, activation="tanh", seed=0):
    problem = FeedforwardProblem(layers, shape, activation=activation, name="probe")
    return Network(load_module(problem, "torch"), seed=seed)


def jacobians(net, n, s_prev):
    """J_F of layer n at one state s_{n−1} and J_G of its feedback at s_n = F_n(s_{n−1}), as
    (out × in) and (in × out) matrices, by autograd."""
    s = net.F(n, s_prev[None])[0].detach()
    jf = torch.autograd.functional.jacobian(lambda v: net.F(n, v[None])[0], s_prev)
    jg = torch.autograd.functional.jacobian(lambda v: net.G(n, v[None])[0], s)
    return jf.reshape(s.numel(), s_prev.numel()), jg.reshape(s_prev.numel(), s.numel())


def relative_distance(net, n, s_prev) -> float:
    jf, jg = jacobians(net, n, s_prev)
    return float(torch.linalg.norm(jg - jf.T) / torch.linalg.norm(jf))


def train_feedback(net, n, s_prev, iterations, sigma=0.01, lr=5.0, seed=1):
    """L-DRL on feedback layer n at the states s_prev: SGD with momentum, a constant rate
    for 200 steps and then ∝ 1/step (averaging the noise out)."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.SGD([net.omega[f"V{n}"], net.omega[f"c{n}"]], lr=lr, momentum=0.9)
    schedule = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: min(1.0, 200 / (k + 1)))
    for _ in range(iterations):
        opt.zero_grad()
        net.ldrl_loss(n, s_prev, sigma, gen).backward()
        opt.step()
        schedule.step()


CASES = {
    "dense": ([Dense(6), Dense(5), Dense(3)], (4,)),
    "conv": ([Conv2d(2, 3, padding=1), Conv2d(3, 3, stride=2, padding=1), Dense(3)], (1, 6, 6)),
}


@pytest.mark.parametrize("case", [pytest.param("conv", marks=pytest.mark.slow), "dense"])
def test_ldrl_drives_the_feedback_jacobian_to_the_transposed_forward_one(case):
    layers, shape = CASES[case]
    net = network(layers, shape)
    x = torch.randn(1, *shape, generator=torch.Generator().manual_seed(1), dtype=DOUBLE)
    s_prev = net.forward(x)[1].detach()[0]
    before = relative_distance(net, 2, s_prev)
    train_feedback(net, 2, s_prev.expand(128, *s_prev.shape), 600)
    after = relative_distance(net, 2, s_prev)
    assert before > 0.5 and after < 0.05, (before, after)
    assert abs(net.distance(2, s_prev[None]) - after) <= 1e-10  # the runtime's diagnostic


def _linear_with_exact_feedback(layers, shape):
    net = network(layers, shape, activation="identity")
    with torch.no_grad():
        for n in range(2, net.depth + 1):
            net.omega[f"V{n}"].copy_(net.theta[f"W{n}"])
    return net


LINEAR = {"dense": ([Dense(6), Dense(5), Dense(3)], (4,)),
          "conv": ([Conv2d(2, 3, padding=1), Conv2d(3, 3, stride=2, padding=1), Dense(3)],
                   (1, 5, 5))}


@pytest.mark.parametrize("case", sorted(LINEAR))
def test_feedback_with_the_forward_weights_is_the_transposed_jacobian(case):
    net = _linear_with_exact_feedback(*LINEAR[case])
    x = torch.randn(2, *net.shapes[0], generator=torch.Generator().manual_seed(3), dtype=DOUBLE)
    states = net.forward(x)
    for n in range(2, net.depth + 1):
        jf, jg = jacobians(net, n, states[n - 1][0].detach())
        assert torch.allclose(jg, jf.T, rtol=0, atol=1e-13)


def _cost_gradients(net, x, labels):
    """∂L/∂s_n, L = Σ_batch ℓ, for n = 1 … N, by autograd through the layers above n."""
    states = net.forward(x)
    out = []
    for n in range(1, net.depth + 1):
        s = states[n].detach().requires_grad_()
        z = s
        for m in range(n + 1, net.depth + 1):
            z = net.F(m, z)
        (g,) = torch.autograd.grad(net.cost(z, labels).sum(), s)
        out.append(g)
    return [s.detach() for s in states], out


@pytest.mark.parametrize("case", sorted(LINEAR))
def test_exact_feedback_gives_backprop_targets_and_the_gradient_times_beta(case):
    net = _linear_with_exact_feedback(*LINEAR[case])
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(5, *net.shapes[0], generator=gen, dtype=DOUBLE)
    labels = torch.randint(0, 3, (5,), generator=gen)
    states, grads = _cost_gradients(net, x, labels)
    betas = [10.0**-k for k in range(1, 6)]
    for n in range(1, net.depth + 1):  # slope test: (t_n − s_n)/β → −∂L/∂s_n
        errors = [float(torch.linalg.norm(
            (net.targets(states, labels, beta)[n - 1] - states[n]) / beta + grads[n - 1])
            / torch.linalg.norm(grads[n - 1])) for beta in betas]
        assert max(errors) <= 1e-9, (n, errors)
    beta = 1e-4
    update = net.forward_update(states, net.targets(states, labels, beta))
    reference = torch.autograd.grad(net.cost(net.forward(x)[-1], labels).sum(),
                                    list(net.theta.values()))
    for (name, u), g in zip(update.items(), reference):
        assert torch.linalg.norm(u - beta * g) <= 1e-6 * torch.linalg.norm(beta * g), name


def test_the_first_target_moves_down_the_cost_gradient_to_first_order():
    net = network([Dense(6), Dense(5), Dense(3)], (4,))
    gen = torch.Generator().manual_seed(5)
    x, labels = torch.rand(4, 4, generator=gen, dtype=DOUBLE), torch.tensor([0, 1, 2, 1])
    states, grads = _cost_gradients(net, x, labels)
    logits = states[-1].detach()
    expected = -torch.nn.functional.softmax(logits, -1) + torch.eye(3, dtype=DOUBLE)[labels]
    assert torch.allclose(grads[-1], -expected, atol=1e-14)  # summed cross-entropy
    for beta in (0.7, 1e-3):
        t_last = net.targets(states, labels, beta)[-1]
        assert torch.allclose(t_last - logits, beta * expected, atol=1e-14)


def _plain_network(theta, x):
    """The 3-layer tanh network written out with plain Torch operations."""
    h1 = torch.tanh(x @ theta["W1"].T + theta["b1"])
    h2 = torch.tanh(h1 @ theta["W2"].T + theta["b2"])
    return h2 @ theta["W3"].T + theta["b3"]


def test_dtp_update_aligns_with_backprop_after_feedback_training():
    net = network([Dense(12), Dense(10), Dense(4)], (8,))
    gen = torch.Generator().manual_seed(1)
    x, labels = torch.rand(16, 8, generator=gen, dtype=DOUBLE), torch.randint(0, 4, (16,),
                                                                                generator=gen)
    states = net.forward(x)
    for n in (2, 3):
        train_feedback(net, n, states[n - 1].detach().repeat(8, 1), 600)
    beta = 0.1
    update = net.forward_update(states, net.targets(states, labels, beta))
    theta = {k: v.detach().clone().requires_grad_() for k, v in net.theta.items()}
    loss = torch.nn.functional.cross_entropy(_plain_network(theta, x), labels, reduction="sum")
    reference = dict(zip(theta, torch.autograd.grad(loss, list(theta.values()))))
    angles = []
    for n in (1, 2, 3):
        u = torch.cat([update[f"W{n}"].flatten(), update[f"b{n}"].flatten()])
        g = torch.cat([reference[f"W{n}"].flatten(), reference[f"b{n}"].flatten()])
        angles.append(math.degrees(math.acos(float(u @ g / (u.norm() * g.norm())))))
    assert max(angles) < 10.0, angles
    diagnosed = net.diagnostics(x, labels, beta)["angle"]
    assert np.allclose(diagnosed, angles, atol=1e-6)


def test_declaration_errors_name_the_argument():
    with pytest.raises(KindError, match="Conv2d reads"):
        FeedforwardProblem([Conv2d(2, 3), Dense(2)], (16,))
    with pytest.raises(KindError, match="make it Dense"):
        FeedforwardProblem([Dense(3), Conv2d(2, 3)], (1, 4, 4))
    with pytest.raises(KindError, match=r"sigma=\[0\.1\]\): give one number or one per"):
        FeedforwardProblem([Dense(3), Dense(3), Dense(2)], (4,), sigma=[0.1])
    with pytest.raises(KindError, match="does not fit"):
        FeedforwardProblem([Conv2d(2, 5), Dense(2)], (1, 3, 3))
    with pytest.raises(KindError, match=r"beta=nan"):
        FeedforwardProblem([Dense(2)], (4,), beta=math.nan)


def _tiny_data(features=64, classes=10, cases=40):
    rng = np.random.default_rng(0)
    return Classification("tiny", rng.random((cases, features)), rng.integers(0, classes, cases),
                          rng.random((cases // 2, features)), rng.integers(0, classes, cases // 2),
                          tuple(str(k) for k in range(classes)))


def test_training_logs_diagnostics_and_rejects_bad_options(tmp_path):
    from glep import load_problem

    problem = load_problem(SYSTEMS / "dtp_digits.py")
    log = tmp_path / "log.jsonl"
    result = train(problem, _tiny_data(), epochs=2, batch=10, feedback_iterations=2,
                   progress=False, log_path=log)
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [len(line["distance"]) for line in lines] == [2, 2]
    assert [len(line["angle"]) for line in lines] == [3, 3]
    assert lines[-1]["test_accuracy"] == result.accuracies[-1]
    with pytest.raises(DataError, match="--sigma gives 3 values"):
        train(problem, _tiny_data(), sigma="0.1,0.2,0.3", progress=False)
    with pytest.raises(DataError, match="do not fit the network's input"):
        train(problem, _tiny_data(features=5), progress=False)
    with pytest.raises(RuleError, match="DTP or BP"):
        train(problem, _tiny_data(), rule="C-EP", progress=False)


@pytest.mark.slow
def test_glep_train_runs_dtp_and_backprop_side_by_side(tmp_path, capsys):
    code = main(["train", str(SYSTEMS / "dtp_conv.py"), "--data", "digits", "--rule", "dtp",
                 "--compare", "BP", "--epochs", "1", "--feedback-iterations", "2",
                 "--sigma", "0.05", "--quiet", "--out-dir", str(tmp_path)])
    assert code == 0
    out = capsys.readouterr().out
    assert "| DTP | 1 |" in out and "| BP | 1 |" in out
    for name in ("dtp_conv-DTP.jsonl", "dtp_conv-BP.jsonl", "dtp_conv-accuracy.png",
                 "dtp_conv-DTP-diagnostics.png", "dtp_conv-accuracy.md"):
        assert (tmp_path / name).is_file(), name
    assert main(["train", str(SYSTEMS / "hopfield_digits.py"), "--data", "digits",
                 "--sigma", "0.1", "--out-dir", str(tmp_path)]) == 2
    assert "--sigma: options of DTP" in capsys.readouterr().err
    assert main(["train", str(SYSTEMS / "dtp_conv.py"), "--data", "digits", "--rule", "DTP",
                 "--precision", "float32", "--out-dir", str(tmp_path)]) == 2
    assert "--precision: options of energy" in capsys.readouterr().err
    assert main(["check", str(SYSTEMS / "dtp_conv.py")]) == 2
    assert "glep check has no reference run for a feedforward network" in capsys.readouterr().err


class _StopAfterFirstEpoch:
    """A stand-in for :class:`glep.learn.checkpoint.Stop` that asks to stop once 4 batches (the
    first epoch of 40 cases in batches of 10) are done, as SIGINT would."""

    signum = 2

    def __init__(self):
        self.calls = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    @property
    def requested(self):
        self.calls += 1
        return self.calls > 5  # checked before the epoch and each of its 4 batches


@pytest.mark.slow  # four short runs, two through the command line (~15 s)
def test_a_stopped_and_resumed_dtp_run_is_the_uninterrupted_run(tmp_path, monkeypatch):
    """Stopped after epoch 1 and resumed from its checkpoint (forward and feedback parameters,
    both optimizers' momentum, the noise generator): the same parameters as one run, float64."""
    from glep import load_problem
    from glep.learn import checkpoint as ck

    problem, data = load_problem(SYSTEMS / "dtp_digits.py"), _tiny_data()
    options = {"epochs": 2, "batch": 10, "feedback_iterations": 2, "progress": False}
    full = train(problem, data, **options)
    first = train(problem, data, **options, checkpoint_path=tmp_path / "part.json",
                  stop=_StopAfterFirstEpoch())
    assert first.interrupted and len(first.accuracies) == 1
    saved = ck.loads((tmp_path / "part.json").read_text(), "part.json")
    assert saved["epoch"] == 1 and set(saved["params"]) == {"W1", "b1", "W2", "b2", "W3", "b3",
                                                            "V2", "c2", "V3", "c3"}
    second = train(problem, data, **options, resume=saved)
    assert second.step == full.step == 8
    for name in full.theta:
        assert np.abs(second.theta[name] - full.theta[name]).max() <= 1e-12, name
    assert second.diagnostics == full.diagnostics and second.losses == full.losses

    # the same through the command line: interrupted (exit 130), then --resume RUN_DIR
    np.savez(tmp_path / "tiny.npz", x=data.x, y=data.y, test_x=data.test_x, test_y=data.test_y)
    args = ["train", str(SYSTEMS / "dtp_digits.py"), "--data", str(tmp_path / "tiny.npz"),
            "--epochs", "2", "--batch", "10", "--feedback-iterations", "2", "--quiet"]
    monkeypatch.setattr(ck, "Stop", _StopAfterFirstEpoch)
    assert main([*args, "--out-dir", str(tmp_path / "cut")]) == 130
    monkeypatch.undo()
    assert not (tmp_path / "cut" / "dtp_digits-DTP-params.json").exists()
    assert main(["train", "--resume", str(tmp_path / "cut"), "--quiet"]) == 0
    cut = json.loads((tmp_path / "cut" / "dtp_digits-DTP-params.json").read_text())
    for name in full.theta:
        assert np.abs(np.array(cut[name]) - full.theta[name]).max() <= 1e-12, name
