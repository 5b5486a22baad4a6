"""HRU layers: RHEL (the discrete echo) against autograd BPTT through the same leapfrog.

Reference setting: n = 5, m = 3, K = 60, dt = 0.3, batch 2, loss
``½ Σ_k ‖R φ_k − y_k‖²`` with R and y standard normal; float64 where exactness is tested.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

from glep.generated import linear_hru_numpy, linear_hru_torch, nonlinear_hru_torch
from tests.conftest import relative_error

F64 = torch.float64


def _setting(module, *, n=5, m=3, K=60, dt=0.3, batch=2, seed=0, beta=None, dtype=F64):
    torch.manual_seed(seed)
    cls = module.LinearHRU if module is linear_hru_torch else module.NonlinearHRU
    layer = cls(n, m, dt=dt, beta=beta, dtype=dtype)
    u = torch.randn(batch, K, m, dtype=dtype)
    state = 0.5 * torch.randn(batch, 2 * n, dtype=dtype)
    R = torch.randn(n, n, dtype=dtype)
    y = torch.randn(batch, K, n, dtype=dtype)
    return layer, u, state, R, y


def _gradients(layer, u, state, R, y, rule):
    layer.rule = rule
    u = u.clone().requires_grad_()
    state = state.clone().requires_grad_()
    layer.zero_grad()
    phi = layer(u, state)
    (0.5 * ((phi @ R.T - y) ** 2).sum()).backward()
    out = {"u": u.grad, "state": state.grad}
    out.update({k: v.grad.clone() for k, v in layer.named_parameters()})
    return out


def _errors(layer, u, state, R, y):
    reference = _gradients(layer, u, state, R, y, "bptt")
    estimate = _gradients(layer, u, state, R, y, "rhel")
    return {k: relative_error(estimate[k], reference[k]) for k in reference}


@pytest.mark.parametrize("beta", [0.1, 1e-3])
def test_linear_hru_is_exact_at_every_beta(beta):
    layer, u, state, R, y = _setting(linear_hru_torch, beta=beta)
    errors = _errors(layer, u, state, R, y)
    assert set(errors) == {"A", "B", "u", "state"}
    assert max(errors.values()) <= 1e-9, errors
    assert layer.health < 1e-12


def test_nonlinear_hru_bias_falls_as_beta_squared():
    errors = {}
    for beta in (1e-2, 3e-3, 1e-3, 1e-5):
        layer, u, state, R, y = _setting(nonlinear_hru_torch, beta=beta)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # large β: the health warns
            errors[beta] = _errors(layer, u, state, R, y)
    assert set(errors[1e-5]) == {"A", "B", "b", "alpha", "u", "state"}
    assert max(errors[1e-5].values()) <= 1e-6, errors[1e-5]
    betas = np.log([1e-2, 3e-3, 1e-3])
    for key in errors[1e-5]:
        slope = np.polyfit(betas, np.log([errors[b][key] for b in (1e-2, 3e-3, 1e-3)]), 1)[0]
        assert abs(slope - 2) <= 0.3, (key, slope)


def test_post_step_evaluation_fails_where_half_step_passes():
    """The test above is sensitive to the estimator: ∂θH at post-step states is wrong."""
    layer, u, state, R, y = _setting(nonlinear_hru_torch, beta=1e-5)
    reference = _gradients(layer, u, state, R, y, "bptt")
    params = tuple(layer.parameters())
    with torch.no_grad():
        phi, end = nonlinear_hru_torch.simulate(u, state, layer.dt, params)
        grad = (phi @ R.T - y) @ R
        exact, _ = nonlinear_hru_torch.echo(u, end, grad, layer.dt, 1e-5, params)
        post, _ = nonlinear_hru_torch.echo(u, end, grad, layer.dt, 1e-5, params,
                                           estimator="post_step")
    for name in nonlinear_hru_torch.PARAMS:
        assert relative_error(exact[name], reference[name]) <= 1e-6
    assert max(relative_error(post[n], reference[n]) for n in nonlinear_hru_torch.PARAMS) > 1e-3


@pytest.mark.parametrize("module", [linear_hru_torch, nonlinear_hru_torch])
def test_float32_defaults_match_float64_bptt(module):
    torch.set_num_threads(1)
    layer, u, state, R, y = _setting(module, n=64, m=8, K=1000, dt=0.1, dtype=F64)
    R = R / 8
    reference = _gradients(layer, u, state, R, y, "bptt")
    layer32 = type(layer)(64, 8, dt=0.1)  # class defaults: float32, β for float32
    layer32.load_state_dict({k: v.float() for k, v in layer.state_dict().items()})
    assert layer32.beta == module.DEFAULT_BETA["float32"]
    estimate = _gradients(layer32, u.float(), state.float(), R.float(), y.float(), "rhel")
    for key, value in reference.items():
        assert relative_error(estimate[key].double(), value) <= 1e-2, key


def test_linear_hru_retraces_ten_thousand_steps():
    layer, u, state, _, _ = _setting(linear_hru_torch, K=10_000)
    params = tuple(layer.parameters())
    with torch.no_grad():
        phi, end = linear_hru_torch.simulate(u, state, layer.dt, params)
        _, start = linear_hru_torch.echo(u, end, torch.zeros_like(phi), layer.dt, 1.0, params)
    assert float((start - state).norm() / state.norm()) <= 1e-12


def test_nonlinear_hru_retraces_at_default_setting_and_health_is_tiny():
    layer, u, state, R, y = _setting(nonlinear_hru_torch, n=64, m=8, K=1000, dt=0.1)
    params = tuple(layer.parameters())
    with torch.no_grad():
        phi, end = nonlinear_hru_torch.simulate(u, state, layer.dt, params)
        _, start = nonlinear_hru_torch.echo(u, end, torch.zeros_like(phi), layer.dt, 1.0,
                                            params)
    assert float((start - state).norm() / state.norm()) <= 1e-10
    layer.beta = 1e-5
    _gradients(layer, u, state, R / 8, y, "rhel")  # warnings are errors: none expected
    assert layer.health <= 1e-8


def test_health_warns_on_a_chaotic_setting():
    layer, u, state, R, y = _setting(nonlinear_hru_torch, n=16, m=4, K=1000, dt=0.5,
                                     beta=1e-5)
    with torch.no_grad():
        layer.A.mul_(5)
        layer.B.mul_(3)
    with pytest.warns(RuntimeWarning, match="echo missed the initial state"):
        _gradients(layer, u, state, R, y, "rhel")
    assert layer.health > 1e-2


def test_numpy_layer_matches_torch_rhel():
    layer, u, state, R, y = _setting(linear_hru_torch, beta=0.1)
    reference = _gradients(layer, u, state, R, y, "bptt")
    numpy_layer = linear_hru_numpy.LinearHRU(5, 3, dt=0.3, beta=0.1)
    numpy_layer.A, numpy_layer.B = (p.detach().numpy() for p in layer.parameters())
    phi = numpy_layer.forward(u.numpy(), state.numpy())
    grads = numpy_layer.backward((phi @ R.numpy().T - y.numpy()) @ R.numpy())
    for key, value in reference.items():
        assert relative_error(grads[key], value.numpy()) <= 1e-9, key


def test_zero_incoming_gradient_gives_zero_gradients():
    layer, u, state, _, _ = _setting(nonlinear_hru_torch)
    u.requires_grad_()
    (layer(u, state) * 0).sum().backward()
    # the ±β echoes coincide; only round-off of the batched matrix products remains
    assert all(float(p.grad.abs().max()) <= 1e-10 for p in layer.parameters())
    assert math.isfinite(layer.health)


def test_hssm_with_glu_blocks_matches_bptt():
    from glep.learn.hssm import HSSM

    torch.manual_seed(3)
    model = HSSM(3, 4, hidden=6, units=5, blocks=3, unit=nonlinear_hru_torch.NonlinearHRU,
                 dt=0.3, beta=1e-5, dtype=F64)
    x = torch.randn(2, 40, 3, dtype=F64)
    labels = torch.tensor([1, 3])
    grads = {}
    for rule in ("bptt", "rhel"):
        model.set_rule(rule)
        model.zero_grad()
        torch.nn.functional.cross_entropy(model(x), labels).backward()
        grads[rule] = {k: v.grad.clone() for k, v in model.named_parameters()}
    for name, reference in grads["bptt"].items():
        estimate = grads["rhel"][name]
        cosine = float((estimate * reference).sum() / (estimate.norm() * reference.norm()))
        assert cosine >= 1 - 1e-9, (name, cosine)
        assert abs(float(estimate.norm() / reference.norm()) - 1) <= 1e-6, name
