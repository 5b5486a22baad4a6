"""Relaxations stop on the residual ‖s − Π(s − ∂F/∂s)‖ with a tolerance tied to β, and say
when β is too small; ``initial_params`` draws the same values in NumPy and Torch.

Oracles: the residual recomputed here from the printed gradients; nudged states solved to
machine precision by Newton's method (the "true" EP estimate at β, whose distance to the
implicit gradient is the rule's own bias); the NumPy module for the Torch module.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from glep.codegen.emit import load_module
from glep.derive.chain import EnergyChain
from glep.derive.energy import EnergyProblem
from glep.derive.systemfile import load_problem
from tests.conftest import ALL_SYSTEMS, problem, relative_error

#: A resistive network: node voltages v1, v2, v3 and an output node o; conductances g_ij
#: between nodes, to two input sources and a leak gl to ground; two diode-like elements with
#: exponential co-contents (convex, not quadratic: C-EP has a genuine O(β²) bias).
RESISTIVE = '''\
import sympy as sp
from glep import Energy, EnergyCost, EnergyProblem

v1, v2, v3, o = units = sp.symbols("v1 v2 v3 o")
x1, x2, y = sp.symbols("x1 x2 y")
g = g12, g23, g13, g2o, g3o, gin1, gin2, gl = sp.symbols("g12 g23 g13 g2o g3o gin1 gin2 gl")
energy = (g12 * (v1 - v2) ** 2 + g23 * (v2 - v3) ** 2 + g13 * (v1 - v3) ** 2
          + g2o * (v2 - o) ** 2 + g3o * (v3 - o) ** 2 + gin1 * (v1 - x1) ** 2
          + gin2 * (v3 - x2) ** 2 + gl * (v1**2 + v2**2 + v3**2 + o**2)) / 2 \\
    + (sp.exp(v2) - v2) / 4 + (sp.exp(-o) + o) / 4
problem = EnergyProblem(
    Energy(energy, states=units, params=list(g), inputs=[x1, x2], outputs=[o]),
    EnergyCost((o - y) ** 2 / 2, targets=[y]),
    params=dict(zip(g, (1.0, 0.5, 0.8, 1.2, 0.7, 1.5, 0.9, 0.1))),
    inputs={x1: [1.0, -0.5, 0.3], x2: [0.2, 0.7, -1.0]},
    targets={y: [0.5, -0.2, 0.1]},
    relaxation="gradient", step=0.3,
)
'''


def _flat(grad):
    return np.concatenate([np.ravel(np.asarray(grad[k])) for k in sorted(grad)])


@pytest.fixture(scope="module")
def network(tmp_path_factory):
    path = tmp_path_factory.mktemp("systems") / "resistive.py"
    path.write_text(RESISTIVE)
    return load_problem(path)


@pytest.fixture(scope="module")
def resistive(network):
    module = load_module(network, "numpy")
    theta = module.initial_params()
    x, y = np.array(module.DEFAULT_INPUTS), np.array(module.DEFAULT_TARGETS)
    return module, theta, x, y


def _newton(module, theta, x, y, beta):
    """s^β to machine precision: Newton on ∇E + β∇C (C = ½(o − y)², Hessian 1 on o)."""
    z = module.relax(theta, x, y, beta=beta, tol=1e-8)
    cost_hessian = beta * np.diag([1.0 * (u in module.OUTPUT_UNITS) for u in range(module.N)])
    for _ in range(30):
        g = module.energy_gradient(z, theta, x) + beta * module.cost_gradient(z, y)
        h = module.energy_hessian(z, theta, x) + cost_hessian
        z = z - np.linalg.solve(h, g[..., None])[..., 0]
    return z


def _residual(module, z, theta, x, y, beta=0.0):
    """max |s − Π(s − ∂F/∂s)|, recomputed from the printed gradients."""
    g = module.energy_gradient(z, theta, x) + beta * module.cost_gradient(z, y)
    low, high = module.BOX if module.BOX is not None else (-np.inf, np.inf)
    return float(np.max(np.abs(z - np.clip(z - g, low, high))))


def test_centered_ep_at_small_beta_is_within_twice_its_true_bias(resistive):
    module, theta, x, y = resistive
    beta = 1e-4
    reference = _flat(module.implicit_gradient(theta, x, y, z=_newton(module, theta, x, y, 0.0))
                      ["grad"])
    minus, plus = (_newton(module, theta, x, y, b) for b in (-beta, beta))
    a, b = module.energy_dtheta(minus, theta, x), module.energy_dtheta(plus, theta, x)
    exact = _flat({k: (b[k] - a[k]).mean(0) / (2 * beta) for k in a})
    bias = relative_error(exact, reference)
    assert 1e-10 < bias < 1e-7  # a genuine O(β²) bias, well above rounding
    error = relative_error(_flat(module.gradient(theta, x, y, rule="C-EP", beta=beta)["grad"]),
                           reference)
    assert error <= 2 * bias, (error, bias)


def test_too_small_beta_warns(resistive):
    module, theta, x, y = resistive
    with pytest.warns(RuntimeWarning, match="beta=1e-12"):
        module.gradient(theta, x, y, rule="C-EP", beta=1e-12)
    with pytest.warns(RuntimeWarning, match="beta=1e-10"):
        module.gradient(theta, x, y, rule="P-EP", beta=1e-10)


def test_a_loose_tolerance_warns_and_the_default_does_not(resistive):
    module, theta, x, y = resistive
    with pytest.warns(RuntimeWarning, match="beta=0.001"):
        module.gradient(theta, x, y, rule="C-EP", beta=1e-3, tol=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        module.gradient(theta, x, y, rule="C-EP", beta=1e-3)


@pytest.mark.parametrize("tol", [1e-4, 1e-8, 1e-12])
def test_relaxation_stops_once_the_residual_is_below_tol(resistive, tol):
    module, theta, x, y = resistive
    z, info = module.relax(theta, x, y, beta=0.1, tol=tol, info=True)
    residual = _residual(module, z, theta, x, y, beta=0.1)
    assert info["converged"] and residual <= tol
    assert info["residual"] == pytest.approx(residual, rel=1e-6, abs=1e-15)
    assert residual > tol / 1e3  # it stopped there, not at the float floor


def test_a_small_change_per_iteration_is_not_convergence(resistive):
    module, theta, x, y = resistive
    z, info = module.relax(theta, x, y, step=1e-14, max_iterations=50, strict=False, info=True)
    assert not info["converged"]  # each step moves < 1e-13, the gradient is O(1)
    assert info["residual"] == pytest.approx(_residual(module, z, theta, x, y), rel=1e-6)
    with pytest.raises(RuntimeError, match="max_iterations"):
        module.relax(theta, x, y, step=1e-14, max_iterations=50)


def test_tol_zero_runs_to_the_float_floor(resistive):
    module, theta, x, y = resistive
    z, info = module.relax(theta, x, y, tol=0.0, info=True)
    assert info["converged"] and _residual(module, z, theta, x, y) <= 1e-15
    np.testing.assert_allclose(z, _newton(module, theta, x, y, 0.0), rtol=0, atol=1e-14)


def test_the_residual_is_projected_at_the_box():
    module = load_module(problem("hopfield_digits", n_in=8, hidden=6, n_out=3), "numpy")
    theta = module.initial_params()
    x, y = np.array(module.DEFAULT_INPUTS), np.array(module.DEFAULT_TARGETS)
    z, info = module.relax(theta, x, y, method="gradient", info=True)
    saturated = ~module.unsaturated(z)
    gradient = module.energy_gradient(z, theta, x)
    assert saturated.sum() >= 3 and np.max(np.abs(gradient[saturated])) > 1e-2
    assert info["converged"] and _residual(module, z, theta, x, y) <= 1e-14


def test_torch_checks_the_residual_every_eight_iterations(network, resistive):
    module, theta, x, y = resistive
    torch_module = load_module(network, "torch")
    _, info = module.relax(theta, x, y, tol=1e-10, info=True)
    zt, found = torch_module.relax({k: torch.as_tensor(v) for k, v in theta.items()},
                                   torch.as_tensor(x), torch.as_tensor(y), tol=1e-10, info=True)
    assert found["iterations"] % 8 == 0  # one host sync per 8 iterations
    assert info["iterations"] <= found["iterations"] < info["iterations"] + 8
    assert _residual(module, zt.numpy(), theta, x, y) <= 1e-10


def test_float32_relaxation_stops_at_its_floor():
    module = load_module(problem("hopfield_smooth"), "torch")
    theta = {k: v.float() for k, v in module.initial_params().items()}
    x = torch.tensor(module.DEFAULT_INPUTS, dtype=torch.float32)
    y = torch.tensor(module.DEFAULT_TARGETS, dtype=torch.float32)
    z, info = module.relax(theta, x, y, tol=0.0, info=True)
    assert z.dtype == torch.float32 and info["converged"]
    reference = load_module(problem("hopfield_smooth"), "numpy").relax(
        module.initial_params(), np.array(module.DEFAULT_INPUTS), tol=0.0)
    assert np.max(np.abs(z.double().numpy() - reference)) <= 1e-5
    with pytest.warns(RuntimeWarning, match="beta=0.0001"):
        module.gradient(theta, x, y, rule="C-EP", beta=1e-4)


BUNDLED = [name for name in ALL_SYSTEMS
           if isinstance(problem(name), (EnergyProblem, EnergyChain))]


@pytest.mark.parametrize("name", BUNDLED)
@pytest.mark.parametrize("seed", [0, 7])
def test_initial_params_are_the_same_in_numpy_and_torch(name, seed):
    numpy_values = load_module(problem(name), "numpy").initial_params(np.int64(seed))
    torch_values = load_module(problem(name), "torch").initial_params(seed)
    assert list(numpy_values) == list(torch_values)
    for key, value in numpy_values.items():
        assert torch_values[key].dtype == torch.float64
        assert np.max(np.abs(torch_values[key].numpy() - value), initial=0.0) <= 0.0, key


def test_a_growing_residual_is_a_divergence_not_a_stall(tmp_path):
    path = tmp_path / "unbounded.py"
    path.write_text(
        "import sympy as sp\nfrom glep import Energy, EnergyCost, EnergyProblem\n"
        's, o, w, y = sp.symbols("s o w y")\n'
        "problem = EnergyProblem(Energy(-s**2 / 2 + o**2 / 2 - w * s * o - s, [s, o], [w],\n"
        "    outputs=[o]), EnergyCost((o - y)**2 / 2, [y]), params={w: 0.1}, targets={y: 1.0})\n")
    module = load_module(load_problem(path), "numpy")
    with pytest.raises(ArithmeticError, match="diverged"):
        module.relax(module.initial_params())


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_async_relaxation_holds_clamped_units_between_its_half_sweeps(backend):
    """Three layers (h1, o updated first, then h2): h2 must read the clamped o, so the
    asynchronous schedule reaches gradient flow's clamped fixed point."""
    module = load_module(problem("hopfield_deep"), backend)
    theta = module.initial_params(0)
    x, y = module.DEFAULT_INPUTS, module.DEFAULT_TARGETS
    outputs = [u in module.OUTPUT_UNITS for u in range(module.N)]
    values = np.zeros((len(y), module.N))
    values[:, module.OUTPUT_UNITS] = y
    clamp = (outputs, values if backend == "numpy" else torch.as_tensor(values))
    states = {m: np.asarray(module.relax(theta, x, y, clamp=clamp, method=m, tol=1e-13,
                                         max_iterations=20_000))
              for m in ("async", "gradient")}
    assert np.max(np.abs(states["async"] - states["gradient"])) <= 1e-10
    assert np.array_equal(states["async"][:, module.OUTPUT_UNITS], np.asarray(y))
