"""HRU layers under stress: a non-finite echo is unhealthy, half precision computes in
float32, the linear unit's float32 default β, the dtype and β properties. Every gradient is
checked against autograd BPTT through the same leapfrog in float64."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

from glep.generated import (
    linear_hru_numpy,
    linear_hru_torch,
    nonlinear_hru_numpy,
    nonlinear_hru_torch,
)
from tests.conftest import relative_error

F64 = torch.float64
UNITS = {"linear": (linear_hru_torch, "LinearHRU"), "nonlinear": (nonlinear_hru_torch,
                                                                  "NonlinearHRU")}


def _problem(unit, *, n=6, m=3, K=40, dt=0.3, batch=2, seed=0):
    """A float64 layer, inputs, initial state, readout R and targets y."""
    module, name = UNITS[unit]
    torch.manual_seed(seed)
    layer = getattr(module, name)(n, m, dt=dt, dtype=F64)
    u = torch.randn(batch, K, m, dtype=F64)
    state = 0.5 * torch.randn(batch, 2 * n, dtype=F64)
    return layer, u, state, torch.randn(n, n, dtype=F64) / n**0.5, torch.randn(batch, K, n,
                                                                                  dtype=F64)


def _gradients(layer, u, state, R, y, rule, beta=None):
    """Gradients (as float64) of ``½ mean ‖R φ_k − y_k‖²``, the loss taken in float64."""
    layer.rule, layer.beta = rule, beta
    u, state = u.clone().requires_grad_(), state.clone().requires_grad_()
    layer.zero_grad()
    (0.5 * ((layer(u, state).double() @ R.T - y) ** 2).mean()).backward()
    out = {k: v.grad.double() for k, v in layer.named_parameters()}
    return {**out, "u": u.grad.double(), "state": state.grad.double()}


# -- health --------------------------------------------------------------------------------


def test_nan_incoming_gradient_makes_the_echo_unhealthy():
    layer, u, state, _, _ = _problem("nonlinear")
    phi = layer(u, state)
    with pytest.warns(RuntimeWarning, match="nan"):
        (phi * math.nan).sum().backward()
    assert math.isnan(layer.health)


def test_echo_that_loses_the_free_state_warns():
    """β so large that the free trajectory is lost in the ±β echoes' round-off: the
    gradients are wrong (NaN for A) and the health says so (NumPy layer)."""
    layer = linear_hru_numpy.LinearHRU(4, 3, dt=0.3, beta=1e300)
    rng = np.random.default_rng(0)
    phi = layer.forward(rng.standard_normal((2, 30, 3)), rng.standard_normal((2, 8)))
    with np.errstate(all="ignore"), pytest.warns(RuntimeWarning, match="echo missed"):
        grads = layer.backward(phi)
    assert not layer.health <= linear_hru_numpy.HEALTH_TOLERANCE["float64"]
    assert not np.isfinite(grads["A"]).all()


def test_small_health_does_not_bound_the_gradient_error():
    """What the docs say: at a small β the float32 linear unit retraces well (health far
    below its tolerance) while its gradient is off by the 1/β cancellation error."""
    layer, u, state, R, y = _problem("linear", n=16, m=8, K=1000, dt=0.5)
    reference = _gradients(layer, u, state, R, y, "bptt")
    layer32 = linear_hru_torch.LinearHRU(16, 8, dt=0.5)
    layer32.load_state_dict({k: v.float() for k, v in layer.state_dict().items()})
    estimate = _gradients(layer32, u.float(), state.float(), R, y, "rhel", beta=1e-3)
    assert layer32.health <= 0.1 * linear_hru_torch.HEALTH_TOLERANCE["float32"]
    assert max(relative_error(estimate[k], v) for k, v in reference.items()) >= 1e-2


# -- half precision --------------------------------------------------------------------------


@pytest.mark.parametrize("rule", ["rhel", "bptt"])
@pytest.mark.parametrize("unit", ["linear", "nonlinear"])
@pytest.mark.parametrize(("dtype", "eps"), [(torch.float16, 2**-11), (torch.bfloat16, 2**-8)])
def test_half_precision_layer_matches_float64_bptt(unit, rule, dtype, eps):
    """Half storage, float32 computation: the output within the half rounding ε (float16
    4.9e-4, bfloat16 3.9e-3) and the gradients within 2ε of float64 BPTT at the same
    rounded parameters and inputs (computing in half precision instead is off by O(1))."""
    layer, u, state, R, y = _problem(unit)
    with torch.no_grad():
        for p in layer.parameters():
            p.copy_(p.to(dtype))
    u, state = u.to(dtype).double(), state.to(dtype).double()
    reference = _gradients(layer, u, state, R, y, "bptt")
    half = type(layer)(6, 3, dt=0.3, dtype=dtype)
    half.load_state_dict({k: v.to(dtype) for k, v in layer.state_dict().items()})
    assert half.beta == UNITS[unit][0].DEFAULT_BETA["float32"]
    out = half(u.to(dtype), state.to(dtype))
    assert out.dtype == dtype
    assert relative_error(out.detach().double(), layer(u, state).detach()) <= eps
    estimate = _gradients(half, u.to(dtype), state.to(dtype), R, y, rule)
    assert all(getattr(half, name).grad.dtype == dtype for name in UNITS[unit][0].PARAMS)
    for key, value in reference.items():
        assert relative_error(estimate[key], value) <= 2 * eps, key


@pytest.mark.parametrize("unit", ["linear", "nonlinear"])
def test_numpy_float16_layer_matches_float64_bptt(unit):
    module = linear_hru_numpy if unit == "linear" else nonlinear_hru_numpy
    layer, u, state, R, y = _problem(unit)
    with torch.no_grad():
        for p in layer.parameters():
            p.copy_(p.half())
    u, state = u.half().double(), state.half().double()
    reference = _gradients(layer, u, state, R, y, "bptt")
    half = getattr(module, UNITS[unit][1])(6, 3, dt=0.3, dtype=np.float16)
    for name, p in layer.named_parameters():
        setattr(half, name, p.detach().numpy().astype(np.float16))
    phi = half.forward(u.numpy().astype(np.float16), state.numpy().astype(np.float16))
    assert phi.dtype == np.float16
    cotangent = (phi.astype(np.float64) @ R.numpy().T - y.numpy()) @ R.numpy() / y.numel()
    grads = half.backward(cotangent.astype(np.float16))
    for key, value in reference.items():
        assert grads[key].dtype == np.float16
        assert relative_error(grads[key].astype(np.float64), value.numpy()) <= 2 * 2**-11, key


# -- the linear unit's float32 default β ------------------------------------------------------


def test_linear_float32_default_beta_beats_beta_one_on_a_long_sequence():
    """bench/hru_beta.py chose the default; here a smaller case: n = 16, m = 8, K = 2000,
    dt = 0.5, float32 RHEL against float64 BPTT."""
    layer, u, state, R, y = _problem("linear", n=16, m=8, K=2000, dt=0.5)
    reference = _gradients(layer, u, state, R, y, "bptt")
    layer32 = linear_hru_torch.LinearHRU(16, 8, dt=0.5)
    layer32.load_state_dict({k: v.float() for k, v in layer.state_dict().items()})

    def error(beta):
        estimate = _gradients(layer32, u.float(), state.float(), R, y, "rhel", beta=beta)
        return max(relative_error(estimate[k], v) for k, v in reference.items())

    default = error(None)
    assert layer32.beta == linear_hru_torch.DEFAULT_BETA["float32"] > 1
    assert default <= 5e-5
    assert error(1.0) >= 10 * default


@pytest.mark.parametrize("unit", ["linear", "nonlinear"])
def test_single_step_sequence_matches_bptt(unit):
    layer, u, state, R, y = _problem(unit, K=1)
    reference = _gradients(layer, u, state, R, y, "bptt")
    estimate = _gradients(layer, u, state, R, y, "rhel", beta=1e-6)
    for key, value in reference.items():
        assert relative_error(estimate[key], value) <= 1e-8, key


# -- the dtype and β properties ----------------------------------------------------------------


def test_default_beta_follows_the_dtype_and_an_explicit_beta_stays():
    layer = nonlinear_hru_torch.NonlinearHRU(4, 3, dt=0.1)
    assert layer.beta == nonlinear_hru_torch.DEFAULT_BETA["float32"]
    layer.dtype = F64
    assert layer.A.dtype == F64 and layer.dtype == F64
    assert layer.beta == nonlinear_hru_torch.DEFAULT_BETA["float64"]
    layer.beta = 3e-4
    layer.double()
    assert layer.beta == 3e-4
    layer.beta = None
    assert layer.beta == nonlinear_hru_torch.DEFAULT_BETA["float64"]


def test_numpy_dtype_setter_converts_the_parameters():
    layer = linear_hru_numpy.LinearHRU(4, 3, dt=0.1)
    layer.dtype = np.float32
    assert layer.A.dtype == layer.B.dtype == np.float32
    out = layer.forward(np.ones((1, 3, 3), dtype=np.float32))
    assert out.dtype == np.float32 and np.isfinite(out).all()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert layer.backward(np.ones_like(out))["B"].dtype == np.float32
