"""HRUs in JAX: the echo (``jax.custom_vjp``) against ``jax.grad`` through a leapfrog written
here (no custom_vjp, no generated kernel), the forward pass against the NumPy/Torch layers,
the parallel scan against the sequential one; float64, tiny sizes (compiling is the cost).

Setting: n = 4 units, m = 3 inputs, K = 24 steps, dt = 0.3, a batch of 2 by ``jax.vmap``,
loss ``½ Σ ‖R φ_k − y_k‖²`` with R and y standard normal.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from glep.generated import linear_hru_numpy, nonlinear_hru_torch
from tests.conftest import generated, relative_error

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
jnp = jax.numpy

N, M, K, DT, BATCH = 4, 3, 24, 0.3, 2
LINEAR, NONLINEAR = generated("linear_hru", "jax"), generated("nonlinear_hru", "jax")


def _force(name, p, phi, u_k):
    """−∂V/∂φ of the two bundled units, from their system files' Hamiltonians."""
    if name == "linear":
        return -p["A"] * phi + p["B"] @ u_k
    return -p["alpha"] * phi - jnp.tanh(p["A"] * phi + p["B"] @ u_k + p["b"])


def _bptt_positions(name, p, u, state):
    """The leapfrog (drift–kick–drift) in a plain lax.scan: jax.grad differentiates it."""

    def step(carry, u_k):
        phi, pi = carry
        phi_half = phi + DT / 2 * pi
        pi = pi + DT * _force(name, p, phi_half, u_k)
        phi = phi_half + DT / 2 * pi
        return (phi, pi), phi

    return jax.lax.scan(step, (state[:N], state[N:]), u)[1]


def _data(seed=0):
    keys = jax.random.split(jax.random.PRNGKey(seed), 4)
    u = jax.random.normal(keys[0], (BATCH, K, M))
    state = 0.5 * jax.random.normal(keys[1], (BATCH, 2 * N))
    return u, state, jax.random.normal(keys[2], (N, N)), jax.random.normal(keys[3], (BATCH, K, N))


def _loss(positions):
    """The gradient of the loss of ``positions(p, u, state) -> (K, n)``, batched by vmap."""

    def loss(p, u, state, R, y):
        phi = jax.vmap(positions, in_axes=(None, 0, 0))(p, u, state)
        return 0.5 * ((phi @ R.T - y) ** 2).sum()

    return jax.jit(jax.grad(loss, argnums=(0, 1, 2)))


BPTT = {name: _loss(lambda p, u, s, name=name: _bptt_positions(name, p, u, s))
        for name in ("linear", "nonlinear")}


def _errors(estimate, reference):
    (p, u, state), (p_ref, u_ref, state_ref) = estimate, reference
    errors = {name: relative_error(p[name], p_ref[name]) for name in p_ref}
    return errors | {"u": relative_error(u, u_ref), "state": relative_error(state, state_ref)}


@pytest.mark.parametrize(("name", "beta", "tolerance"),
                         [("linear", 0.1, 1e-12), ("nonlinear", 1e-5, 1e-9)])
def test_rhel_equals_bptt_through_a_plain_scan(name, beta, tolerance):
    module = LINEAR if name == "linear" else NONLINEAR
    p = module.init_params(jax.random.PRNGKey(1), N, M)
    u, state, R, y = _data()
    reference = BPTT[name](p, u, state, R, y)
    rhel = _loss(lambda p, u, s: module.forward(p, u, s, dt=DT, beta=beta))(p, u, state, R, y)
    errors = _errors(rhel, reference)
    assert set(errors) == {*module.PARAMS, "u", "state"}
    assert max(errors.values()) <= tolerance, errors
    bptt = _loss(lambda p, u, s: module.forward(p, u, s, dt=DT, rule="bptt"))(p, u, state, R, y)
    assert max(_errors(bptt, reference).values()) <= 1e-13
    assert max(errors.values()) > 1e-17  # the echo ran, not autodiff: round-off or O(β²) shows


def test_parallel_scan_equals_sequential_and_its_echo_stays_exact():
    p = LINEAR.init_params(jax.random.PRNGKey(2), N, M)
    u, state, R, y = _data(1)
    for one_u, one_state in ((u[0], state[0]), (u[1, :23], state[1])):  # 23 = 5 chunks of 4 + 3
        parallel = LINEAR.simulate(p, one_u, one_state, dt=DT, scan="parallel")
        sequential = LINEAR.simulate(p, one_u, one_state, dt=DT)
        for a, b in zip(parallel, sequential):
            assert relative_error(a, b) <= 1e-12
    reference = BPTT["linear"](p, u, state, R, y)
    parallel = _loss(lambda p, u, s: LINEAR.forward(p, u, s, dt=DT, beta=1.0, scan="parallel"))
    rhel = parallel(p, u, state, R, y)
    assert max(_errors(rhel, reference).values()) <= 1e-12


def test_forward_matches_the_numpy_and_torch_layers():
    u, state, _, _ = _data(2)
    layer = linear_hru_numpy.LinearHRU(N, M, dt=DT)
    p = {name: jnp.asarray(getattr(layer, name)) for name in LINEAR.PARAMS}
    got = jax.vmap(lambda u, s: LINEAR.forward(p, u, s, dt=DT))(u, state)
    assert relative_error(got, layer.forward(np.asarray(u), np.asarray(state))) <= 1e-12
    torch.manual_seed(0)
    layer = nonlinear_hru_torch.NonlinearHRU(N, M, dt=DT, dtype=torch.float64)
    p = {name: jnp.asarray(value.detach().numpy()) for name, value in layer.named_parameters()}
    got = jax.vmap(lambda u, s: NONLINEAR.forward(p, u, s, dt=DT))(u, state)
    with torch.no_grad():
        expected = layer(torch.from_numpy(np.array(u)), torch.from_numpy(np.array(state)))
    assert relative_error(got, expected.numpy()) <= 1e-12


def test_echo_retraces_and_equinox_layer_trains_through_it():
    eqx = pytest.importorskip("equinox")
    layer = LINEAR.LinearHRU(N, M, dt=DT, key=jax.random.PRNGKey(3))
    u, state, R, y = _data(3)
    phi, end = LINEAR.simulate(layer.params, u[0], state[0], dt=DT)
    grads, start = LINEAR.echo(layer.params, u[0], end, jnp.zeros_like(phi), dt=DT)
    assert LINEAR.health(start, state[0]) <= 1e-13 and relative_error(grads["A"] + 1, 1) == 0.0
    loss = lambda layer: 0.5 * ((jax.vmap(layer)(u, state) @ R.T - y) ** 2).sum()  # noqa: E731
    grad = eqx.filter_grad(loss)(layer)
    reference = BPTT["linear"](layer.params, u, state, R, y)[0]
    for name in LINEAR.PARAMS:
        assert relative_error(grad.params[name], reference[name]) <= 1e-12


def test_bad_input_says_what_to_do():
    p = NONLINEAR.init_params(jax.random.PRNGKey(4), N, M)
    u = jnp.zeros((K, M))
    with pytest.raises(ValueError, match=r"scan is 'parallel'.*quadratic"):
        NONLINEAR.forward(p, u, dt=DT, scan="parallel")
    with pytest.raises(ValueError, match=r"u has shape \(2, 24, 3\): expected \(K, n_inputs\)"):
        NONLINEAR.forward(p, jnp.zeros((2, K, M)), dt=DT)
    with pytest.raises(ValueError, match="params must map exactly the names"):
        NONLINEAR.forward({"A": p["A"]}, u, dt=DT)
    with pytest.raises(ValueError, match="parameter B has shape"):
        NONLINEAR.forward(p | {"B": jnp.zeros((N + 1, M))}, u, dt=DT)
    with pytest.raises(ValueError, match="dt is -1"):
        NONLINEAR.forward(p, u, dt=-1)
    with pytest.raises(ValueError, match="rule is 'adjoint'"):
        NONLINEAR.forward(p, u, dt=DT, rule="adjoint")
    with pytest.raises(ValueError, match="u has non-finite values"):
        NONLINEAR.forward(p, u.at[0, 0].set(jnp.nan), dt=DT)
    with pytest.raises(ValueError, match=r"n_units is 2\.5: give a positive integer"):
        NONLINEAR.init_params(jax.random.PRNGKey(0), 2.5, M)


@pytest.mark.slow
def test_without_equinox_the_functions_work_and_there_is_no_layer_class():
    code = ("import sys; sys.modules['equinox'] = None\n"
            "import jax\n"
            "from glep.generated import linear_hru_jax as L\n"
            "p = L.init_params(jax.random.PRNGKey(0), 2, 1)\n"
            "print(L.LinearHRU, L.forward(p, jax.numpy.ones((3, 1)), dt=0.1).shape)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["None", "(3,", "2)"]
