"""Generated integrators against SciPy's DOP853, torchdiffeq, and their own invariants."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.integrate import solve_ivp
from torchdiffeq import odeint

from tests.conftest import generated, relative_error

ACCURACY_SYSTEMS = ["pendulum", "double_pendulum", "coupled_oscillators"]


def _reference(module, horizon, z0=None):
    """DOP853 at rtol = atol = 1e-12 on the module's own field and default inputs."""
    theta = np.asarray(module.PARAM_VALUES)
    z0 = np.asarray(module.INITIAL_STATE if z0 is None else z0)

    def field(t, z):
        return module.vector_field(t, z, theta, module.default_inputs(t))

    solution = solve_ivp(field, (0.0, horizon), z0, method="DOP853", rtol=1e-12, atol=1e-12)
    assert solution.success
    return solution.y[:, -1]


@pytest.mark.parametrize("name", ACCURACY_SYSTEMS)
def test_rk4_matches_dop853_at_small_steps(name):
    module = generated(name, "numpy")
    horizon, steps = 2.0, 800  # step 0.0025
    end = module.simulate(horizon=horizon, steps=steps)[-1]
    assert relative_error(end, _reference(module, horizon)) <= 1e-8


@pytest.mark.parametrize("name", ACCURACY_SYSTEMS)
def test_rk4_error_shrinks_sixteenfold_when_the_step_halves(name):
    module = generated(name, "numpy")
    horizon = 2.0
    reference = _reference(module, horizon)
    coarse = np.linalg.norm(module.simulate(horizon=horizon, steps=100)[-1] - reference)
    fine = np.linalg.norm(module.simulate(horizon=horizon, steps=200)[-1] - reference)
    assert 13 <= coarse / fine <= 19


@pytest.mark.parametrize("name", ACCURACY_SYSTEMS)
def test_torch_module_inside_torchdiffeq_gives_the_same_trajectory(name):
    module = generated(name, "torch")
    horizon, steps = 2.0, 800
    ours = module.simulate(horizon=horizon, steps=steps)
    times = torch.linspace(0.0, horizon, 5, dtype=torch.float64)
    z0 = torch.tensor(module.INITIAL_STATE, dtype=torch.float64)
    theirs = odeint(module.VectorField(), z0, times, method="dopri5", rtol=1e-12, atol=1e-12)
    for i in range(1, 5):
        assert relative_error(ours[i * steps // 4].detach(), theirs[i].detach()) <= 1e-8


def test_vector_field_module_has_the_system_parameters_and_gradients():
    module = generated("coupled_oscillators", "torch")
    field = module.VectorField()
    assert sorted(name for name, _ in field.named_parameters()) == sorted(
        f"params.{p}" for p in module.PARAMS
    )
    z0 = torch.tensor(module.INITIAL_STATE, dtype=torch.float64) + 0.1
    times = torch.linspace(0.0, 1.0, 3, dtype=torch.float64)
    odeint(field, z0, times, method="rk4", options={"step_size": 0.01})[-1].sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad) for p in field.parameters())


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_sampled_inputs_converge_to_the_expression_they_sample(backend):
    module = generated("coupled_oscillators", backend)
    horizon, steps = 2.0, 400
    exact = np.asarray(module.simulate(horizon=horizon, steps=steps)[-1])
    errors = []
    for n in (100, 200, 400):
        grid = np.linspace(0.0, horizon, n + 1)
        samples = np.asarray(module.default_inputs(torch.tensor(grid) if backend == "torch"
                                                   else grid))
        got = np.asarray(module.simulate(horizon=horizon, steps=steps, inputs=samples)[-1])
        errors.append(np.linalg.norm(got - exact) / np.linalg.norm(exact))
    assert errors[-1] <= 1e-8
    # third-order spline: halving the sampling step divides the error by about 8
    assert errors[0] / errors[1] >= 5 and errors[1] / errors[2] >= 5


def test_sampled_inputs_reverse_exactly():
    module = generated("coupled_oscillators", "numpy")
    rng = np.random.default_rng(0)
    samples = rng.normal(size=(51, 1))
    forward = module.sampled(samples, 2.0)
    backward = module.sampled(samples[::-1], 2.0)
    for t in np.linspace(0.0, 2.0, 37):
        np.testing.assert_allclose(backward(2.0 - t), forward(t), rtol=0, atol=1e-14)


def _reverse(module, method, horizon, steps, z0):
    theta = module.PARAM_VALUES
    forward = module.simulate(z0, theta, horizon=horizon, steps=steps, method=method)
    n = len(module.STATE) // 2
    flipped = forward[-1] * 1.0
    flipped[..., n:] *= -1

    def reversed_inputs(t):
        return module.default_inputs(horizon - t)

    back = module.simulate(
        flipped, theta, horizon=horizon, steps=steps, method=method, inputs=reversed_inputs
    )
    recovered = back[-1] * 1.0
    recovered[..., n:] *= -1
    return recovered


@pytest.mark.parametrize(
    ("name", "method"),
    [
        ("coupled_oscillators", "leapfrog"),
        ("anharmonic_chain", "leapfrog"),
        ("pendulum", "leapfrog"),
        ("pendulum", "implicit_midpoint"),
        ("double_pendulum", "implicit_midpoint"),
    ],
)
def test_symplectic_integrators_are_reversible(name, method):
    module = generated(name, "numpy")
    z0 = np.asarray(module.INITIAL_STATE) + 0.05
    recovered = _reverse(module, method, 2.5, 1000, z0)
    assert np.abs(recovered - z0).max() <= 1e-12


def test_reversibility_with_velocity_state_and_learned_masses():
    """A velocity state is flipped by flipping q̇ (the momentum is linear in it)."""
    module = generated("double_pendulum", "torch")
    z0 = torch.tensor(module.INITIAL_STATE, dtype=torch.float64)
    recovered = _reverse(module, "implicit_midpoint", 1.0, 400, z0)
    assert float(abs(recovered - z0).max()) <= 1e-12


def _energy_errors(module, method, steps, horizon, z0):
    theta = np.asarray(module.PARAM_VALUES)
    zero = np.zeros(len(module.INPUTS))
    trajectory = module.simulate(
        z0, theta, horizon=horizon, steps=steps, method=method, inputs=lambda t: zero
    )
    energy = module.hamiltonian(0.0, module.to_canonical(trajectory, theta), theta, zero)
    return np.abs(energy - energy[0])


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "method"),
    [("pendulum", "leapfrog"), ("coupled_oscillators", "leapfrog"),
     ("pendulum", "implicit_midpoint")],
)
def test_energy_error_is_bounded_and_second_order(name, method):
    module = generated(name, "numpy")
    z0 = np.asarray(module.INITIAL_STATE) + 0.3
    steps = 100_000
    dt = 0.02
    errors = _energy_errors(module, method, steps, steps * dt, z0)
    early = errors[: steps // 100].max()
    assert errors.max() <= 2.0 * early  # bounded: no secular drift over 1e5 steps
    half = _energy_errors(module, method, 2 * (steps // 100), steps // 100 * dt, z0)
    assert 3.0 <= early / half.max() <= 5.0


def test_leapfrog_warns_beyond_its_stability_limit():
    module = generated("coupled_oscillators", "numpy")
    with pytest.warns(RuntimeWarning, match="stability limit"):
        module.simulate(horizon=10.0, steps=5, method="leapfrog")


def test_simulate_rejects_bad_arguments():
    module = generated("pendulum", "numpy")
    with pytest.raises(ValueError, match="positive duration"):
        module.simulate(horizon=0.0)
    with pytest.raises(ValueError, match="positive integer"):
        module.simulate(steps=0)
    with pytest.raises(ValueError, match="not available"):
        generated("double_pendulum", "numpy").simulate(method="leapfrog")


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_simulation_is_batched(backend):
    module = generated("double_pendulum", backend)
    rng = np.random.default_rng(3)
    z0 = rng.normal(scale=0.3, size=(7, 4))
    if backend == "torch":
        z0 = torch.tensor(z0)
    batch = module.simulate(z0, horizon=0.5, steps=50)
    assert tuple(batch.shape) == (51, 7, 4)
    single = module.simulate(z0[2], horizon=0.5, steps=50)
    np.testing.assert_allclose(np.asarray(batch[:, 2]), np.asarray(single), rtol=0, atol=1e-15)
