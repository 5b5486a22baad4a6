"""Emitted learning rules against independent oracles (THEORY.md §8).

References: torchdiffeq's continuous adjoint (dopri5, tol 1e-10; autograd through odeint
for dissipative systems), central finite differences of the loss, and autograd through
the same leapfrog (BPTT) for the discrete rule.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

from glep.codegen.emit import load_module
from glep.verify.continuous import finite_difference, torchdiffeq_reference
from tests.conftest import problem, relative_error

EXACT_SYSTEMS = [
    ("coupled_oscillators", {}),
    ("anharmonic_chain", {"n": 4}),
    ("pendulum", {}),
    ("double_pendulum", {}),
]


@functools.cache
def modules(name, **overrides):
    p = problem(name, **overrides)
    return p, load_module(p, "numpy"), load_module(p, "torch")


@functools.cache
def references(name, **overrides):
    p, numpy_module, torch_module = modules(name, **overrides)
    adjoint = torchdiffeq_reference(torch_module, p, p.steps)
    differences = finite_difference(
        numpy_module.loss, numpy_module.PARAM_VALUES, numpy_module.INITIAL_STATE
    )
    return adjoint, differences


@pytest.mark.slow
@pytest.mark.parametrize(("name", "overrides"), EXACT_SYSTEMS, ids=[n for n, _ in EXACT_SYSTEMS])
@pytest.mark.parametrize("rule", ["HEL", "PFVP", "CIVP", "adjoint"])
def test_rule_matches_continuous_adjoint_and_finite_differences(name, overrides, rule):
    _, module, _ = modules(name, **overrides)
    adjoint, differences = references(name, **overrides)
    g = module.gradient(rule=rule, beta=1e-4)
    assert relative_error(g["theta"], adjoint["grad"]) <= 1e-6
    assert relative_error(g["theta"], differences["grad"]) <= 1e-6
    assert relative_error(g["z0"], adjoint["z0"]) <= 1e-6
    assert relative_error(g["z0"], differences["z0"]) <= 1e-6
    assert abs(g["loss"] - adjoint["loss"]) <= 1e-8 * max(1.0, abs(adjoint["loss"]))


def test_torch_rules_equal_numpy_rules():
    """The same arithmetic up to rounding, which the 1/2β of a contrast amplifies."""
    _, numpy_module, torch_module = modules("pendulum")
    for rule in ("HEL", "PFVP", "CIVP", "adjoint"):
        a = numpy_module.gradient(rule=rule)
        b = torch_module.gradient(rule=rule)
        assert relative_error(b["theta"].numpy(), a["theta"]) <= 1e-9
        assert relative_error(b["z0"].numpy(), a["z0"]) <= 1e-9


@pytest.mark.parametrize("name", ["coupled_oscillators", "anharmonic_chain", "pendulum"])
def test_leapfrog_hel_equals_autograd_through_the_same_leapfrog(name):
    _, numpy_module, torch_module = modules(name)
    z0 = np.asarray(numpy_module.INITIAL_STATE) + 0.05
    bptt = torch_module.gradient(torch.tensor(z0), rule="BPTT", method="leapfrog")
    hel = numpy_module.gradient(z0, rule="HEL", method="leapfrog", beta=1e-4)
    assert relative_error(hel["theta"], bptt["theta"].numpy()) <= 1e-9
    assert relative_error(hel["z0"], bptt["z0"].numpy()) <= 1e-9
    assert abs(hel["loss"] - float(bptt["loss"])) <= 1e-12


def test_bptt_through_rk4_equals_the_adjoint_rule():
    _, numpy_module, torch_module = modules("double_pendulum")
    bptt = torch_module.gradient(rule="BPTT")
    adjoint = numpy_module.gradient(rule="adjoint")
    assert relative_error(bptt["theta"].numpy(), adjoint["theta"]) <= 1e-7


def test_torch_loss_is_differentiable_by_autograd():
    """``loss`` evaluates its running cost on blocks of stored RK4 stages; autograd through
    it (several blocks) gives the gradient of autograd through the step-by-step RK4."""
    _, _, torch_module = modules("coupled_oscillators")
    theta = torch.tensor(torch_module.PARAM_VALUES, dtype=torch.float64, requires_grad=True)
    torch_module.loss(theta=theta, steps=600, horizon=1.5).backward()
    bptt = torch_module.gradient(steps=600, horizon=1.5, rule="BPTT")
    assert relative_error(theta.grad.numpy(), bptt["theta"].numpy()) <= 1e-12


def test_civp_without_its_residual_is_wrong():
    _, module, _ = modules("coupled_oscillators")
    adjoint, _ = references("coupled_oscillators")
    bulk_only = module.gradient(rule="CIVP", boundary_residual=False)
    assert relative_error(bulk_only["theta"], adjoint["grad"]) > 0.1


def test_cbvp_matches_finite_differences_of_its_own_loss():
    _, module, _ = modules("pendulum")
    g = module.gradient(rule="CBVP", beta=1e-4)
    b = g["health"]["boundary"]
    theta = np.asarray(module.PARAM_VALUES)
    fd = []
    for i in range(len(theta)):
        h = 1e-5 * max(1.0, abs(theta[i]))
        shift = np.eye(len(theta))[i] * h
        up = module.boundary_value_loss(theta=theta + shift, boundary=b)
        down = module.boundary_value_loss(theta=theta - shift, boundary=b)
        fd.append((up - down) / (2 * h))
    assert relative_error(g["theta"], fd) <= 1e-6
    assert g["health"]["condition"] < 1e8
    # its loss is that of the BVP trajectory, which here ends where the free run ends
    assert abs(g["loss"] - module.loss()) <= 1e-6


def test_cbvp_refuses_an_ill_conditioned_problem():
    """Near a conjugate point ∂q(T)/∂q̇(0) is singular: a harmonic oscillator at T = π/ω."""
    _, module, _ = modules("harmonic_oscillator")
    omega = np.sqrt(2.0)  # k = 2, m = 1
    with pytest.raises(ValueError, match="ill-conditioned"):
        module.gradient(rule="CBVP", horizon=np.pi / omega, steps=2000)


def _bias_slopes(name, **overrides):
    _, module, _ = modules(name, **overrides)
    z0 = np.asarray(module.INITIAL_STATE) + 0.05
    # the β → 0 limit of the same discretization, by Richardson extrapolation
    g1 = module.gradient(z0, rule="HEL", beta=1e-4)["theta"]
    g2 = module.gradient(z0, rule="HEL", beta=5e-5)["theta"]
    limit = (4 * g2 - g1) / 3
    betas = np.array([1e-2, 3e-3, 1e-3])
    slopes = {}
    for centered in (False, True):
        errors = [
            relative_error(module.gradient(z0, rule="HEL", beta=b, centered=centered)["theta"],
                           limit)
            for b in betas
        ]
        slopes[centered] = np.polyfit(np.log(betas), np.log(errors), 1)[0]
    return slopes


@pytest.mark.slow
@pytest.mark.parametrize(("name", "overrides"), [("pendulum", {}), ("anharmonic_chain", {})])
def test_bias_is_first_order_one_sided_and_second_order_centered(name, overrides):
    slopes = _bias_slopes(name, **overrides)
    assert abs(slopes[False] - 1) <= 0.2
    assert abs(slopes[True] - 2) <= 0.3


def test_leapfrog_echo_retraces_the_forward_run():
    _, module, _ = modules("coupled_oscillators")
    z0 = np.asarray(module.INITIAL_STATE) + 0.05
    assert module.echo_retrace(z0, steps=10_000, horizon=25.0, method="leapfrog") <= 1e-12


@pytest.mark.parametrize("name", ["pendulum", "coupled_oscillators"])
def test_rk4_echo_retraces_within_twice_the_global_error(name):
    from scipy.integrate import solve_ivp

    _, module, _ = modules(name)
    z0 = np.asarray(module.INITIAL_STATE) + 0.05
    theta = np.asarray(module.PARAM_VALUES)
    horizon, steps = module.HORIZON, module.STEPS // 4  # a step where rk4's error shows

    def field(t, z):
        return module.vector_field(t, z, theta, module.default_inputs(t))

    exact = solve_ivp(field, (0, horizon), z0, method="DOP853", rtol=1e-13, atol=1e-13).y[:, -1]
    end = module.simulate(z0, theta, horizon=horizon, steps=steps)[-1]
    scale = max(np.linalg.norm(z0), np.linalg.norm(end))
    global_error = np.linalg.norm(end - exact) / scale
    retrace = module.echo_retrace(z0, theta, horizon=horizon, steps=steps)
    assert retrace <= 2 * global_error


def test_terminal_cost_needs_the_momentum_kick():
    _, module, _ = modules("terminal_cost")
    adjoint, _ = references("terminal_cost")
    for rule in ("HEL", "PFVP", "CIVP"):
        assert relative_error(module.gradient(rule=rule)["theta"], adjoint["grad"]) <= 1e-6
    without = module.gradient(rule="HEL", momentum_kick=False)
    assert relative_error(without["theta"], adjoint["grad"]) > 0.1


def test_learned_masses_need_the_initial_residual_when_velocities_are_fixed():
    _, module, _ = modules("learned_masses")
    assert module.STATE_KINDS[-1] == "velocity"
    assert all(v != 0 for v in module.INITIAL_STATE[3:])
    adjoint, _ = references("learned_masses")
    for rule in ("HEL", "PFVP"):
        with_residual = module.gradient(rule=rule)["theta"]
        without = module.gradient(rule=rule, boundary_residual=False)["theta"]
        assert relative_error(with_residual, adjoint["grad"]) <= 1e-6
        assert relative_error(without, adjoint["grad"]) > 0.1


def test_learned_masses_need_no_residual_when_momenta_are_fixed():
    _, module, _ = modules("learned_masses", fixed="momentum")
    assert module.STATE_KINDS[-1] == "momentum"
    adjoint, _ = references("learned_masses", fixed="momentum")
    for rule in ("HEL", "PFVP"):
        without = module.gradient(rule=rule, boundary_residual=False)["theta"]
        assert relative_error(without, adjoint["grad"]) <= 1e-6


def test_magnetic_field_pfvp_is_exact_and_hel_refused():
    _, module, _ = modules("magnetic_particle")
    adjoint, _ = references("magnetic_particle")
    assert module.RULES["HEL"] is not None
    with pytest.raises(ValueError, match="not time-reversal invariant"):
        module.gradient(rule="HEL")
    for rule in ("PFVP", "CIVP"):
        assert relative_error(module.gradient(rule=rule)["theta"], adjoint["grad"]) <= 1e-6


def test_damped_oscillator_pfvp_matches_autograd_through_odeint():
    _, module, _ = modules("damped_oscillator")
    adjoint, differences = references("damped_oscillator")
    assert "autograd through odeint" in adjoint["method"]
    assert module.RULES["HEL"].startswith("dissipative")
    g = module.gradient(rule="PFVP")
    assert relative_error(g["theta"], adjoint["grad"]) <= 1e-6
    assert relative_error(g["theta"], differences["grad"]) <= 1e-6


def test_naive_echo_on_a_damped_system_is_wrong():
    """Running the echo in the damped system itself (ignoring TRI) gives wrong gradients."""
    _, module, _ = modules("damped_oscillator")
    adjoint, _ = references("damped_oscillator")
    # the damped system's own canonical field, used as if it were time-reversal invariant
    module_rule_field = module._rule_field
    try:
        module._rule_field = module._canonical_field
        module.RULES["HEL"] = None
        naive = module.gradient(rule="HEL")
    finally:
        module._rule_field = module_rule_field
    assert relative_error(naive["theta"], adjoint["grad"]) > 0.1
