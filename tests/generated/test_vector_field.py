"""Generated vector fields against an independent oracle: LagrangesMethod + lambdify."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import sympy as sp
import torch
from sympy.calculus.euler import euler_equations
from sympy.physics.mechanics import LagrangesMethod

from glep.derive.model import Model
from tests.conftest import BUNDLED, LAGRANGIANS, generated, problem, relative_error


@functools.cache
def oracle(name):
    """``(q̇, q̈)`` from SymPy's LagrangesMethod, lambdified over (state, params, inputs)."""
    p = problem(name)
    system = p.system
    t = system.time
    if system.dissipation is None:  # with holonomic constraints: rhs = (q̇, q̈, λ)
        constraints = [] if system.constraints is None else list(system.constraints.declared)
        method = LagrangesMethod(system.expr, list(system.coords), hol_coneqs=constraints or None)
        method.form_lagranges_equations()
        rhs = method.rhs()[: 2 * len(system.coords)]
    else:  # LagrangesMethod knows no Rayleigh function: Euler–Lagrange plus −∂F/∂q̇
        equations = [
            e.lhs - sp.diff(system.dissipation, q.diff(t))
            for e, q in zip(euler_equations(system.expr, list(system.coords), t), system.coords)
        ]
        accelerations = [q.diff(t, 2) for q in system.coords]
        solved = sp.solve(equations, accelerations, dict=True)[0]
        rhs = [q.diff(t) for q in system.coords] + [solved[a] for a in accelerations]
    plain = {}
    for qf, qs, vs in zip(system.coords, system.q, system.v):
        plain[qf.diff(t)] = vs
        plain[qf] = qs
    for uf, us in zip(system.inputs, system.x):
        plain[uf] = us
    rhs = [e.xreplace(plain) for e in rhs]
    args = [*system.q, *system.v, *p.params, *system.x]
    return sp.lambdify(args, rhs, "numpy")


def _random_batch(name, rng, batch=100):
    model = Model.from_problem(problem(name))
    z = rng.normal(0.0, 0.5, size=(batch, len(model.state)))
    theta = np.asarray(model.param_values) * rng.uniform(0.7, 1.3, size=(batch, len(model.params)))
    x = rng.normal(0.0, 1.0, size=(batch, len(model.inputs)))
    return z, theta, x


@pytest.mark.parametrize("name", LAGRANGIANS)
def test_numpy_vector_field_matches_lagranges_method(name, rng):
    z, theta, x = _random_batch(name, rng)
    expected = np.stack(
        np.broadcast_arrays(*oracle(name)(*z.T, *theta.T, *x.T)), axis=-1
    )
    module = generated(name, "numpy")
    got = module.vector_field(0.3, z, theta, x)
    assert got.shape == z.shape
    assert relative_error(got, expected) <= 1e-12


@pytest.mark.parametrize("name", LAGRANGIANS)
def test_torch_vector_field_matches_lagranges_method(name, rng):
    z, theta, x = _random_batch(name, rng)
    expected = np.stack(
        np.broadcast_arrays(*oracle(name)(*z.T, *theta.T, *x.T)), axis=-1
    )
    module = generated(name, "torch")
    got = module.vector_field(0.3, torch.tensor(z), torch.tensor(theta), torch.tensor(x))
    assert got.dtype == torch.float64
    assert relative_error(got.numpy(), expected) <= 1e-12


@pytest.mark.parametrize("name", BUNDLED)
def test_torch_gradients_flow_through_the_vector_field(name, rng):
    z, theta, x = (torch.tensor(a[:3], requires_grad=True) for a in _random_batch(name, rng))
    module = generated(name, "torch")
    assert torch.autograd.gradcheck(
        lambda z, theta, x: module.vector_field(0.3, z, theta, x), (z, theta, x)
    )


@pytest.mark.parametrize("name", BUNDLED)
def test_parameters_as_a_mapping(name):
    module = generated(name, "numpy")
    by_name = dict(zip(module.PARAMS, module.PARAM_VALUES))
    np.testing.assert_array_equal(
        module.simulate(module.INITIAL_STATE, by_name, horizon=0.05, steps=5),
        module.simulate(module.INITIAL_STATE, module.PARAM_VALUES, horizon=0.05, steps=5),
    )
    with pytest.raises(ValueError, match="no value for"):
        module.simulate(module.INITIAL_STATE, {}, steps=5)


def test_canonical_maps_are_inverse(rng):
    module = generated("double_pendulum", "numpy")
    z = rng.normal(size=(10, 4))
    theta = np.asarray(module.PARAM_VALUES)
    back = module.from_canonical(module.to_canonical(z, theta), theta)
    np.testing.assert_allclose(back, z, rtol=1e-13, atol=1e-13)


def test_canonical_field_agrees_with_the_lagrangian_field(rng):
    """Hamilton's equations pulled back through p = ∂L/∂q̇ give the same q̈."""
    module = generated("double_pendulum", "numpy")
    z = rng.normal(scale=0.5, size=(20, 4))
    theta = np.asarray(module.PARAM_VALUES)
    x = rng.normal(size=(20, 1))
    eps = 1e-6
    qp = module.to_canonical(z, theta)
    dqp = module.canonical_field(0.0, qp, theta, x)
    # q̇ from the canonical field equals the state's velocity
    np.testing.assert_allclose(dqp[:, :2], z[:, 2:], rtol=1e-12, atol=1e-12)
    # d/dt of the velocity via a finite step of the canonical flow
    ahead = module.from_canonical(qp + eps * dqp, theta)
    behind = module.from_canonical(qp - eps * dqp, theta)
    acc = (ahead - behind)[:, 2:] / (2 * eps)
    np.testing.assert_allclose(
        acc, module.vector_field(0.0, z, theta, x)[:, 2:], rtol=1e-6, atol=1e-7
    )
