"""Adaptive-step HEL in the JAX backend (``method="dopri5"``) against independent references:
diffrax's adaptive adjoint with the same solver and tolerance, the NumPy module's fixed-step
HEL on a fine grid and its adjoint rule on a fine grid."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import generated, relative_error

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)


def _diffrax_gradient(module, tolerance):
    """dC/dθ from diffrax: Dopri5 under a PID controller at rtol = atol = ``tolerance``,
    ``RecursiveCheckpointAdjoint``, on the JAX module's vector field and cost kernels."""
    diffrax = pytest.importorskip("diffrax")
    jnp = module.jnp

    def loss(theta):
        c = module.prepare(theta)

        def field(t, state, c):
            z = state[:-1]
            cost = module._state_running_cost(t, z, c, module.default_targets(t))
            dz = module._vector_field(t, z, c, module.default_inputs(t))
            return jnp.concatenate([dz, cost[None]])

        z0 = jnp.asarray(module.INITIAL_STATE, float)
        end = diffrax.diffeqsolve(
            diffrax.ODETerm(field), diffrax.Dopri5(), 0.0, module.HORIZON,
            module.HORIZON / module.STEPS, jnp.concatenate([z0, jnp.zeros(1)]), args=c,
            stepsize_controller=diffrax.PIDController(rtol=tolerance, atol=tolerance),
            adjoint=diffrax.RecursiveCheckpointAdjoint(), max_steps=100_000).ys[-1]
        return end[-1] + module._state_terminal_cost(module.HORIZON, end[:-1], c)

    return np.asarray(jax.jit(jax.grad(loss))(jnp.asarray(module.PARAM_VALUES, float)))


@pytest.mark.slow
def test_pendulum_as_accurate_as_diffrax_at_the_same_tolerance():
    jax_module, numpy_module = generated("pendulum", "jax"), generated("pendulum", "numpy")
    exact = numpy_module.gradient(rule="adjoint", steps=4 * numpy_module.STEPS)["theta"]
    fine_hel = numpy_module.gradient(rule="HEL", steps=4 * numpy_module.STEPS)["theta"]
    got = jax_module.gradient(rule="HEL", method="dopri5", rtol=1e-9, atol=1e-9, max_steps=1024)
    diffrax_error = relative_error(_diffrax_gradient(jax_module, 1e-9), exact)
    assert relative_error(np.asarray(got["theta"]), fine_hel) <= 1e-7
    assert relative_error(np.asarray(got["theta"]), exact) <= 3 * diffrax_error
    assert 0 < got["health"]["steps"] < numpy_module.STEPS / 4
    with pytest.raises(ValueError, match="max_steps = 1024"):
        jax_module.gradient(rule="HEL", method="dopri5", rtol=1e-14, atol=1e-14, max_steps=1024)


@pytest.mark.slow
def test_coupled_oscillators_converge_to_the_fine_grid_hel():
    jax_module = generated("coupled_oscillators", "jax")
    numpy_module = generated("coupled_oscillators", "numpy")
    fine = numpy_module.gradient(rule="HEL", steps=4 * numpy_module.STEPS)
    errors = []
    for tolerance in (1e-7, 1e-10):
        got = jax_module.gradient(rule="HEL", method="dopri5", rtol=tolerance, atol=tolerance,
                                  max_steps=2048)
        errors.append(relative_error(np.asarray(got["theta"]), fine["theta"]))
    assert relative_error(np.asarray(got["z0"]), fine["z0"]) <= 1e-7
    assert errors[1] <= 2e-8 and errors[0] >= 30 * errors[1], errors


def test_adaptive_options_are_checked():
    module = generated("harmonic_oscillator", "jax")
    for options, named in (({"rtol": 0}, "rtol"), ({"atol": float("nan")}, "atol"),
                           ({"max_steps": 0}, "max_steps"), ({"rule": "adjoint"}, "dopri5")):
        with pytest.raises(ValueError, match=named):
            module.gradient(**{"rule": "HEL", "method": "dopri5", **options})
