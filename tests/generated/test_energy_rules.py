"""The EP family on static energies against independent oracles (THEORY.md §7–§8).

Oracles: implicit differentiation with the Hessian (restricted to unsaturated units), central
finite differences of the relaxed loss, and finite differences of the EP bounds.
"""

from __future__ import annotations

import numpy as np
import pytest

from glep.codegen.emit import load_module
from glep.verify.energy import finite_difference
from tests.conftest import problem, relative_error

BETAS = (1e-2, 3e-3, 1e-3)


def _flat(grad):
    return np.concatenate([np.ravel(grad[k]) for k in sorted(grad)])


@pytest.fixture(scope="module")
def smooth():
    module = load_module(problem("hopfield_smooth"), "numpy")
    theta = module.initial_params()
    return module, theta, module.implicit_gradient(theta)


@pytest.fixture(scope="module")
def layered():
    module = load_module(problem("hopfield_digits", n_in=8, hidden=6, n_out=3), "numpy")
    theta = module.initial_params()
    return module, theta, module.implicit_gradient(theta)


def _slope(errors):
    return np.polyfit(np.log(BETAS), np.log(errors), 1)[0]


def test_implicit_differentiation_matches_finite_differences(smooth):
    module, theta, ref = smooth
    fd = finite_difference(module, theta, module.DEFAULT_INPUTS, module.DEFAULT_TARGETS)
    assert relative_error(_flat(ref["grad"]), _flat(fd)) <= 1e-8


def test_centered_ep_matches_implicit_differentiation(smooth):
    module, theta, ref = smooth
    g = module.gradient(theta, rule="C-EP", beta=1e-4)
    assert relative_error(_flat(g["grad"]), _flat(ref["grad"])) <= 1e-6


def test_bias_slopes(smooth):
    module, theta, ref = smooth
    g = _flat(ref["grad"])
    errors = {rule: [relative_error(_flat(module.gradient(theta, rule=rule, beta=b)["grad"]), g)
                     for b in BETAS] for rule in ("P-EP", "N-EP", "C-EP")}
    assert abs(_slope(errors["P-EP"]) - 1) <= 0.2
    assert abs(_slope(errors["N-EP"]) - 1) <= 0.2
    assert abs(_slope(errors["C-EP"]) - 2) <= 0.3


def test_centered_is_the_mean_of_one_sided_with_separately_relaxed_states(smooth):
    module, theta, _ = smooth
    g = {rule: _flat(module.gradient(theta, rule=rule, beta=1e-3, start="zero")["grad"])
         for rule in ("P-EP", "N-EP", "C-EP")}
    assert np.max(np.abs(g["C-EP"] - (g["P-EP"] + g["N-EP"]) / 2)) <= 1e-9


def _free_energy(module, theta, beta):
    """𝓔(β) = min (E + βC), mean over the batch."""
    z = module.relax(theta, beta=beta)
    x, y = np.atleast_2d(module.DEFAULT_INPUTS), np.atleast_2d(module.DEFAULT_TARGETS)
    return float(np.mean(module.energy(z, theta, x) + beta * module.cost(z, y)))


@pytest.mark.parametrize("rule, sign", [("P-EP", 1), ("N-EP", -1)])
def test_one_sided_ep_is_the_exact_gradient_of_a_bound(smooth, rule, sign):
    module, theta, _ = smooth
    beta = 0.05

    def bound(th):
        return sign * (_free_energy(module, th, sign * beta) - _free_energy(module, th, 0.0)) / beta

    loss = float(np.mean(module.cost(module.relax(theta), np.atleast_2d(module.DEFAULT_TARGETS))))
    assert (bound(theta) <= loss) if sign > 0 else (bound(theta) >= loss)
    fd = {}
    for name, value in theta.items():
        up, down = {**theta, name: value + 1e-6}, {**theta, name: value - 1e-6}
        fd[name] = (bound(up) - bound(down)) / 2e-6
    estimate = module.gradient(theta, rule=rule, beta=beta)["grad"]
    assert relative_error(_flat(estimate), _flat(fd)) <= 1e-7
    # ... and at this β it is clearly not the gradient of C itself
    assert relative_error(_flat(estimate), _flat(module.implicit_gradient(theta)["grad"])) > 1e-3


def test_boxed_layered_net_matches_restricted_implicit_differentiation(layered):
    module, theta, ref = layered
    assert ref["saturated"] >= 3  # some units sit on the box
    fd = finite_difference(module, theta, module.DEFAULT_INPUTS, module.DEFAULT_TARGETS)
    assert relative_error(_flat(ref["grad"]), _flat(fd)) <= 1e-7
    g = module.gradient(theta, rule="C-EP", beta=1e-4)
    assert relative_error(_flat(g["grad"]), _flat(ref["grad"])) <= 1e-6


@pytest.mark.parametrize("fixture", ["smooth", "layered"])
def test_contrastive_learning_is_positive_coupled_learning_at_beta_one(fixture, request):
    module, theta, _ = request.getfixturevalue(fixture)
    cl = module.gradient(theta, rule="CL")["grad"]
    cpl = module.gradient(theta, rule="P-CpL", beta=1.0)["grad"]
    assert relative_error(_flat(cl), _flat(cpl)) <= 1e-10


def test_coupled_learning_limit_is_the_schur_weighted_gradient(smooth):
    module, theta, ref = smooth
    x, y = np.atleast_2d(module.DEFAULT_INPUTS), np.atleast_2d(module.DEFAULT_TARGETS)
    z = ref["state"]
    hessian = module.energy_hessian(z, theta, x)
    out = module.OUTPUT_UNITS
    hid = [i for i in range(module.N) if i not in out]
    limit, true = [], []
    for b in range(z.shape[0]):
        h = hessian[b]
        schur = h[np.ix_(out, out)] - h[np.ix_(out, hid)] @ np.linalg.solve(
            h[np.ix_(hid, hid)], h[np.ix_(hid, out)])
        # E_sθ column by column from the contraction vᵀ ∂²E/∂s∂θ with unit vectors
        rows = [_flat(module.energy_dtheta_jvp(z[b:b + 1], np.eye(module.N)[i][None], theta,
                                               x[b:b + 1])) for i in range(module.N)]
        jacobian = -np.linalg.solve(h, np.array(rows))[out]  # J_o = do⋆/dθ
        c = module.cost_gradient(z[b:b + 1], y[b:b + 1])[0, out]
        limit.append(jacobian.T @ schur @ c)
        true.append(jacobian.T @ c)
    limit, true = np.mean(limit, 0), np.mean(true, 0)
    assert relative_error(true, _flat(ref["grad"])) <= 1e-10  # J_oᵀ c is the gradient
    cpl = _flat(module.gradient(theta, rule="C-CpL", beta=1e-5)["grad"])
    assert relative_error(cpl, limit) <= 1e-6
    assert relative_error(cpl, true) > 0.05  # S ≠ I: coupled learning is biased


def test_continual_ep_differs_from_ep_by_order_eta(smooth):
    module, theta, _ = smooth
    beta, steps = 0.01, 60
    z_free = module.relax(theta)
    z_nudged = z_free
    for _ in range(steps):  # the same K nudged steps at fixed θ
        z_nudged = module.iterate(z_nudged, theta, np.atleast_2d(module.DEFAULT_INPUTS),
                                  np.atleast_2d(module.DEFAULT_TARGETS), beta)
    x = np.atleast_2d(module.DEFAULT_INPUTS)
    a, b = module.energy_dtheta(z_free, theta, x), module.energy_dtheta(z_nudged, theta, x)
    ep = {k: (b[k] - a[k]).mean(0) / beta for k in a}
    etas = (1e-3, 3e-4, 1e-4)
    gaps = []
    for eta in etas:
        _, total = module.continual_ep(theta, beta=beta, eta=eta, steps=steps)
        gaps.append(relative_error(_flat(total), -eta * _flat(ep)))
    slope = np.polyfit(np.log(etas), np.log(gaps), 1)[0]
    assert abs(slope - 1) <= 0.2


@pytest.mark.parametrize("beta", [0.0, 0.5])
def test_asynchronous_relaxation_never_increases_the_energy(layered, beta):
    module, theta, _ = layered
    x, y = np.atleast_2d(module.DEFAULT_INPUTS), np.atleast_2d(module.DEFAULT_TARGETS)
    z = module.relax(theta, x, y, max_iterations=0, strict=False)
    previous = module.energy(z, theta, x) + beta * module.cost(z, y)
    for _ in range(40):
        z = module.iterate(z, theta, x, y, beta, method="async")
        current = module.energy(z, theta, x) + beta * module.cost(z, y)
        assert np.all(current <= previous + 1e-12)
        previous = current


def test_asynchronous_relaxation_needs_about_half_the_iterations(layered):
    module, theta, _ = layered
    _, fast = module.relax(theta, method="async", info=True)
    _, slow = module.relax(theta, method="sync", info=True)
    assert slow["iterations"] / fast["iterations"] >= 1.8


def test_torch_module_agrees_and_gradients_flow():

    numpy_module = load_module(problem("hopfield_smooth"), "numpy")
    torch_module = load_module(problem("hopfield_smooth"), "torch")
    theta = numpy_module.initial_params()
    g_np = numpy_module.gradient(theta, rule="C-EP", beta=1e-3)["grad"]
    g_t = torch_module.gradient(torch_module.initial_params(), rule="C-EP", beta=1e-3)["grad"]
    assert relative_error(_flat({k: v.numpy() for k, v in g_t.items()}), _flat(g_np)) <= 1e-10
    ref_t = torch_module.implicit_gradient(torch_module.initial_params())["grad"]
    ref_np = numpy_module.implicit_gradient(theta)["grad"]
    assert relative_error(_flat({k: v.numpy() for k, v in ref_t.items()}), _flat(ref_np)) <= 1e-12
