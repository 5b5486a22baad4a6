"""Training the convolutional Hopfield energy (systems/conv_hopfield_digits.py) on digits with
every energy rule and backprop through the relaxation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import glep
from glep.codegen.emit import load_module
from glep.learn.catalog import load
from glep.learn.classify import ENERGY_RULES, train


@pytest.fixture(scope="module")
def digits():
    return glep.load_problem("systems/conv_hopfield_digits.py"), load("digits").head(320, 160)


def test_bptt_through_the_conv_relaxation_matches_implicit_differentiation(digits):
    """Autograd through the Torch module's relaxation (torch's conv2d, pooling by the
    switches) against the NumPy module's Hessian solve at the fixed point (im2col)."""
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
        assert np.abs(reference[name]).max() > 1e-4, name
        assert np.allclose(g.numpy(), reference[name], rtol=1e-6, atol=1e-9), name


@pytest.mark.slow
def test_every_rule_trains_the_conv_energy(digits):
    """Each rule runs end to end on the conv energy; C-EP and BPTT learn (above 50 % after two
    epochs on 320 images; chance is 10 %)."""
    problem, data = digits
    for rule in ENERGY_RULES:
        epochs = 2 if rule in ("C-EP", "BPTT") else 1
        result = train(problem, data.head(320 if epochs == 2 else 64, 160), rule=rule,
                       epochs=epochs, batch=16, lr="0.05", progress=False)
        start = load_module(problem, "numpy").initial_params(0)
        assert all(np.isfinite(result.losses)), rule
        assert any(not np.allclose(result.theta[k], start[k]) for k in start), rule
        if epochs == 2:
            assert result.accuracies[-1] > 0.5, (rule, result.accuracies)


def test_reduced_precision_relaxation_steps_like_float64(digits):
    """One SGD step with the relaxations in bfloat16 / float16 (float32 parameters) against
    the float64 NumPy step: the same update to a few per cent; a bad type is refused."""
    problem, data = digits
    tiny = data.head(16, 16)
    start = load_module(problem, "numpy").initial_params(0)
    options = {"rule": "C-EP", "epochs": 1, "batch": 16, "lr": "0.05", "momentum": 0.0,
               "progress": False}
    reference = train(problem, tiny, **options).theta
    for precision in ("bfloat16", "float16"):
        theta = train(problem, tiny, precision=precision, **options).theta
        for name in start:
            step, ref = theta[name] - start[name], reference[name] - start[name]
            assert np.linalg.norm(step - ref) <= 0.05 * np.linalg.norm(ref), (precision, name)
    with pytest.raises(glep.DataError, match="--precision 'half'"):
        train(problem, tiny, precision="half", **options)
