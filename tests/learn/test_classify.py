"""Training energies and ff-EBM chains on classification data (glep.learn.classify)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import glep
from glep import DataError, RuleError
from glep.codegen.emit import load_module
from glep.learn import checkpoint as ck
from glep.learn.catalog import Classification, load
from glep.learn.classify import learning_rates, train


@pytest.fixture(scope="module")
def digits():
    return glep.load_problem("systems/hopfield_digits.py"), load("digits").head(480, 200)


def test_learning_rates_per_parameter_and_bad_values():
    assert learning_rates("0.1", ["a", "b"]) == {"a": 0.1, "b": 0.1}
    assert learning_rates("a=0.2,0.1", ["a", "b"]) == {"a": 0.2, "b": 0.1}
    for text, words in [("0", "--lr"), ("nan", "--lr"), ("c=0.1,0.1", "'c'"),
                        ("a=0.1", "no rate for"), ("x", "--lr")]:
        with pytest.raises(DataError, match=words):
            learning_rates(text, ["a", "b"])


def test_data_that_does_not_fit_is_refused(digits):
    problem, data = digits
    wide = Classification("wide", np.zeros((4, 65)), np.zeros(4, int), np.zeros((4, 65)),
                          np.zeros(4, int), tuple("0123456789"))
    with pytest.raises(DataError, match=r"65.*64 inputs"):
        train(problem, wide, epochs=1, progress=False)
    three = Classification("three", np.zeros((4, 64)), np.zeros(4, int), np.zeros((4, 64)),
                           np.zeros(4, int), ("a", "b", "c"))
    with pytest.raises(DataError, match=r"3 classes.*10 output units"):
        train(problem, three, epochs=1, progress=False)
    with pytest.raises(RuleError, match="HEL"):
        train(problem, data, rule="HEL", epochs=1, progress=False)


def test_bptt_gradient_matches_implicit_differentiation(digits):
    """Backprop through the relaxation from rest (the BPTT baseline) against the implicit
    gradient at the fixed point (a Hessian solve): both are dC/dθ."""
    problem, data = digits
    module, torch_module = load_module(problem, "numpy"), load_module(problem, "torch")
    theta = module.initial_params(0)
    x, y = data.x[:8], 0.1 + 0.8 * data.one_hot(data.y[:8])
    leaves = {k: torch.tensor(v, requires_grad=True) for k, v in theta.items()}
    z = torch_module.relax(leaves, torch.as_tensor(x), torch.as_tensor(y), tol=1e-12)
    grads = torch.autograd.grad(torch_module.cost(z, torch.as_tensor(y)).mean(),
                                list(leaves.values()))
    reference = module.implicit_gradient(theta, x, y)["grad"]
    for name, g in zip(leaves, grads):
        assert np.allclose(g.numpy(), reference[name], rtol=1e-6, atol=1e-9), name


def test_c_ep_learns_and_a_resumed_run_is_the_uninterrupted_run(digits, tmp_path):
    problem, data = digits
    full = train(problem, data, rule="C-EP", epochs=2, batch=16, lr="0.02", progress=False,
                 checkpoint_path=tmp_path / "full.json")
    assert full.accuracies[-1] > full.initial_accuracy + 0.5

    class StopAfter(ck.Stop):  # a signal part-way through the first epoch
        def __init__(self):
            super().__init__()
            self.calls = 0

        @property
        def requested(self):
            self.calls += 1
            return self.calls > 40

    first = train(problem, data, rule="C-EP", epochs=2, batch=16, lr="0.02", progress=False,
                  checkpoint_path=tmp_path / "part.json", stop=StopAfter(), checkpoint_every=1)
    assert first.interrupted and first.step < full.step
    saved = ck.loads((tmp_path / "part.json").read_text(), "part.json")
    second = train(problem, data, rule="C-EP", epochs=2, batch=16, lr="0.02", progress=False,
                   resume=saved)
    assert second.step == full.step
    for name in full.theta:
        assert np.allclose(second.theta[name], full.theta[name], rtol=0, atol=1e-12), name
    assert second.accuracies == full.accuracies


def test_random_sign_uses_both_one_sided_rules(digits, monkeypatch):
    problem, data = digits
    module = load_module(problem, "numpy")
    seen = []
    original = module.gradient

    def spy(*args, **kwargs):
        seen.append(kwargs["rule"])
        return original(*args, **kwargs)

    monkeypatch.setattr(module, "gradient", spy)
    train(problem, data, rule="P-EP", epochs=1, batch=16, random_sign=True, progress=False)
    assert set(seen) == {"P-EP", "N-EP"}
    seen.clear()
    train(problem, data, rule="P-EP", epochs=1, batch=16, progress=False)
    assert set(seen) == {"P-EP"}


def test_continual_ep_estimates_the_one_sided_gradient(digits):
    """Continual EP's total move, read as −η ĝ, equals P-EP's estimate to O(ηK/β)."""
    from glep.learn.classify import CONTINUAL_ETA, CONTINUAL_STEPS

    problem, data = digits
    module = load_module(problem, "numpy")
    theta = module.initial_params(0)
    x, y = data.x[:16], 0.1 + 0.8 * data.one_hot(data.y[:16])
    _, total = module.continual_ep(theta, x, y, beta=0.2, eta=CONTINUAL_ETA,
                                   steps=CONTINUAL_STEPS, method="async")
    one_sided = module.gradient(theta, x, y, rule="P-EP", beta=0.2, method="async",
                                check=False)["grad"]
    for name in theta:
        estimate = -total[name] / CONTINUAL_ETA
        error = np.linalg.norm(estimate - one_sided[name]) / np.linalg.norm(one_sided[name])
        assert error < 1e-2, (name, error)
    result = train(problem, data, rule="continual-EP", epochs=1, batch=16, lr="0.02",
                   progress=False)
    assert result.accuracies[-1] > result.initial_accuracy + 0.3


def test_device_cpu_trains_as_before_and_an_unusable_device_is_refused(digits, tmp_path,
                                                                          capsys):
    """``device``: the parameters live there (cpu here); the result equals the default run's.
    A device torch cannot use (no GPU here, or not a device) is a clear error naming --device."""
    from glep.cli import main

    problem, data = digits
    small = data.head(64, 32)
    for rule in ("C-EP", "BPTT"):
        runs = [train(problem, small, rule=rule, epochs=1, batch=32, progress=False, **extra)
                for extra in ({}, {"device": "cpu"})]
        for k, v in runs[0].theta.items():
            assert np.array_equal(v, runs[1].theta[k]), (rule, k)
    unusable = ["nonsense"] + ([] if torch.cuda.is_available() else ["cuda"])
    for device in unusable:
        with pytest.raises(DataError, match=f"--device '{device}' is not usable here"):
            train(problem, small, epochs=1, progress=False, device=device)
    assert main(["train", "systems/hopfield_digits.py", "--data", "digits", "--epochs", "1",
                 "--device", "nonsense", "--out-dir", str(tmp_path), "--quiet"]) == 2
    assert "--device 'nonsense' is not usable here" in capsys.readouterr().err
