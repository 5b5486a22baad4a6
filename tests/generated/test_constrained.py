"""The Cartesian pendulum (one holonomic constraint) against the angle formulation.

Oracles: systems/pendulum.py (the same physics in the angle θ = atan2(x, −y), no
constraint), a continuous adjoint of an angle formulation with the same cost, and autograd
through the same RATTLE steps (BPTT) for the discrete echo.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
import sympy as sp
import torch

from glep import Cost, Hamiltonian, Lagrangian, Problem, load_module
from tests.conftest import generated, relative_error

L = 1.0  # the rod's length in systems/cartesian_pendulum.py


def cartesian(backend="numpy"):
    return generated("cartesian_pendulum", backend)


def on_circle(angle, rate):
    """(x, y, ẋ, ẏ) of the angle and its rate."""
    s, c = math.sin(angle), math.cos(angle)
    return np.array([L * s, -L * c, L * c * rate, L * s * rate])


def tangent_map(angle, rate):
    """∂(x, y, ẋ, ẏ)/∂(θ, θ̇): rows map a Cartesian dC/dz0 to the angle's."""
    s, c = math.sin(angle), math.cos(angle)
    return np.array([[L * c, L * s, -L * s * rate, L * c * rate], [0.0, 0.0, L * c, L * s]])


@functools.cache
def angle_module():
    """The angle formulation of the same problem, cost ½(l sin θ − x_ref)², learning m, g."""
    t = sp.Symbol("t")
    theta, u, ref = (sp.Function(n)(t) for n in ("theta", "u", "x_ref"))
    m, g = sp.symbols("m g")
    problem = Problem(
        Lagrangian(m * L**2 * theta.diff(t) ** 2 / 2 + m * g * L * sp.cos(theta) + u * theta,
                   [theta], [m, g], [u]),
        Cost(running=(L * sp.sin(theta) - ref) ** 2 / 2, targets=[ref]),
        params={m: 1.0, g: 9.81}, initial={theta: 0.5, theta.diff(t): 0.0},
        inputs={u: sp.sin(2 * t) / 2}, targets={ref: sp.sin(t) / 5},
        horizon=3.0, steps=6000, name="angle_pendulum")
    return load_module(problem, "numpy")


def test_rattle_trajectory_equals_the_angle_formulation():
    """RATTLE's error is O(dt²): at dt = 1e-4 it is below 1e-8 (rk4 on θ: ~1e-15)."""
    steps, horizon = 10_000, 1.0
    xy = cartesian().simulate(horizon=horizon, steps=steps, method="rattle")
    theta = generated("pendulum").simulate(horizon=horizon, steps=steps)[:, 0]
    assert np.abs(xy[:, 0] - L * np.sin(theta)).max() <= 1e-8
    assert np.abs(xy[:, 1] + L * np.cos(theta)).max() <= 1e-8


def test_index_one_form_trajectory_equals_the_angle_formulation():
    module = cartesian()
    xy = module.simulate(method="rk4")
    theta = generated("pendulum").simulate(steps=module.STEPS)
    expected = np.stack([on_circle(a, w) for a, w in theta], axis=0)
    assert np.abs(xy - expected).max() <= 1e-10


@pytest.mark.slow
def test_rattle_keeps_the_constraints_over_1e5_steps():
    states = np.stack([on_circle(0.5, 0.0), on_circle(-2.0, 1.5)])
    z = cartesian().simulate(states, horizon=100.0, steps=100_000)
    x, y, vx, vy = np.moveaxis(z, -1, 0)
    assert np.abs(x**2 + y**2 - L**2).max() <= 1e-10
    assert np.abs(x * vx + y * vy).max() <= 1e-10  # the hidden constraint G q̇ = 0


def test_discrete_hel_on_rattle_equals_backprop_through_rattle():
    z0 = on_circle(0.9, 0.7)
    options = {"horizon": 1.0, "steps": 200}
    bptt = cartesian("torch").gradient(torch.tensor(z0), rule="BPTT", **options)
    hel = cartesian().gradient(z0, rule="HEL", beta=1e-4, **options)
    assert relative_error(hel["theta"], bptt["theta"].numpy()) <= 1e-8
    assert relative_error(hel["z0"], bptt["z0"].detach().numpy()) <= 1e-8
    assert abs(hel["loss"] - float(bptt["loss"])) <= 1e-12
    assert hel["health"]["retrace_error"] <= 1e-12
    in_torch = cartesian("torch").gradient(torch.tensor(z0), rule="HEL", beta=1e-4, **options)
    assert relative_error(in_torch["theta"].numpy(), hel["theta"]) <= 1e-8


@pytest.mark.slow
def test_hel_on_rattle_and_the_adjoint_agree_with_the_angle_adjoint():
    reference = angle_module().gradient(rule="adjoint")
    to_angle = tangent_map(0.5, 0.0)
    hel = cartesian().gradient(rule="HEL", beta=1e-4, steps=8000)  # RATTLE's error O(dt²)
    adjoint = cartesian().gradient(rule="adjoint")
    for g, tolerance in ((hel, 1e-6), (adjoint, 1e-9)):
        assert relative_error(g["theta"], reference["theta"]) <= tolerance
        assert relative_error(to_angle @ g["z0"], reference["z0"]) <= tolerance


def test_a_constrained_hamiltonian_runs_like_the_constrained_lagrangian():
    """The same pendulum declared by H(x, y, p_x, p_y) with m = 2: p = m v along the run, the
    same discrete HEL (up to what holding p0 instead of q̇0 changes), and HEL = BPTT in the
    Hamiltonian's own module."""
    t = sp.Symbol("t")
    x, y, px, py, u, ref = (sp.Function(n)(t) for n in ("x", "y", "p_x", "p_y", "u", "x_ref"))
    m, g = sp.symbols("m g")
    mass, start = 2.0, on_circle(0.5, 0.3)
    problem = Problem(
        Hamiltonian((px**2 + py**2) / (2 * m) + m * g * y - u * sp.atan2(x, -y), [x, y],
                    [px, py], [m, g], [u], constraints=[sp.Eq(x**2 + y**2, L**2)]),
        Cost(running=(x - ref) ** 2 / 2, targets=[ref]), params={m: mass, g: 9.81},
        initial={x: start[0], y: start[1], px: mass * start[2], py: mass * start[3]},
        inputs={u: sp.sin(2 * t) / 2}, targets={ref: sp.sin(t) / 5},
        horizon=1.0, steps=200, name="hamiltonian_pendulum")
    module = load_module(problem, "numpy")
    theta = np.array([mass, 9.81])
    lagrangian = cartesian().simulate(start, theta, horizon=1.0, steps=200)
    states = module.simulate()
    assert np.abs(states[:, :2] - lagrangian[:, :2]).max() <= 1e-12
    assert np.abs(states[:, 2:] - mass * lagrangian[:, 2:]).max() <= 1e-12
    hel = module.gradient(beta=1e-4)
    # the Lagrangian module keeps (q0, q̇0) fixed, this one (q0, p0 = m q̇0): dC/dm differs
    # by dC/dp0 · q̇0 (a tangent direction), dC/dg does not
    same = cartesian().gradient(start, theta, beta=1e-4, horizon=1.0, steps=200)
    expected = hel["theta"] + np.array([hel["z0"][2:] @ start[2:], 0.0])
    assert relative_error(same["theta"], expected) <= 1e-9
    bptt = load_module(problem, "torch").gradient(rule="BPTT")
    assert relative_error(hel["theta"], bptt["theta"].numpy()) <= 1e-8
    assert relative_error(hel["z0"], bptt["z0"].detach().numpy()) <= 1e-8


def test_constrained_modules_refuse_what_would_leave_the_manifold():
    module = cartesian()
    with pytest.raises(ValueError, match="off the constraint manifold"):
        module.simulate(on_circle(0.5, 0.0) * 1.1, steps=5)
    with pytest.raises(ValueError, match="discrete echo on RATTLE"):
        module.gradient(rule="HEL", method="rk4", steps=5)
    with pytest.raises(ValueError, match="not available"):
        module.gradient(rule="PFVP", steps=5)
    with pytest.raises(ValueError, match="'rattle' integrates constrained systems"):
        generated("pendulum").gradient(rule="HEL", method="rattle", steps=5)


def test_a_velocity_cost_has_the_adjoint_and_bptt_but_no_echo():
    """HEL on RATTLE nudges by a cost on positions only: with ½(x − x_ref)² + ¼ẋ² it is
    refused, and the adjoint (RK4) and BPTT (through RATTLE) match central differences."""
    t = sp.Symbol("t")
    x, y, u, ref = (sp.Function(n)(t) for n in ("x", "y", "u", "x_ref"))
    m, g = sp.symbols("m g")
    problem = Problem(
        Lagrangian(m * (x.diff(t) ** 2 + y.diff(t) ** 2) / 2 - m * g * y + u * sp.atan2(x, -y),
                   [x, y], [m, g], [u], constraints=[x**2 + y**2 - L**2]),
        Cost(running=(x - ref) ** 2 / 2 + x.diff(t) ** 2 / 4, targets=[ref]),
        params={m: 1.0, g: 9.81}, initial={x: math.sin(0.5), y: -math.cos(0.5),
                                           x.diff(t): 0.0, y.diff(t): 0.0},
        inputs={u: sp.sin(2 * t) / 2}, targets={ref: sp.sin(t) / 5},
        horizon=1.0, steps=2000, name="pendulum_velocity_cost")
    numpy_module, torch_module = load_module(problem, "numpy"), load_module(problem, "torch")
    assert "cost on velocities" in numpy_module.RULES["HEL"]
    with pytest.raises(ValueError, match="cost on velocities"):
        numpy_module.gradient(rule="HEL")
    theta, step = np.asarray(numpy_module.PARAM_VALUES), 1e-5
    fd = [(numpy_module.loss(theta=theta + e) - numpy_module.loss(theta=theta - e)) / (2 * step)
          for e in step * np.eye(len(theta))]
    assert relative_error(numpy_module.gradient(rule="adjoint")["theta"], fd) <= 1e-6
    bptt = torch_module.gradient(rule="BPTT")["theta"].numpy()
    assert relative_error(bptt, fd) <= 1e-5  # RATTLE's trapezoid loss: O(dt²) from RK4's
