"""Binary synapses and neurons (``Energy(..., binary=[...])``): the derived scale gradients
against implicit differentiation and finite differences, the sign initialisation, binary
relaxation against a direct simulation of the paper's update, and clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
import torch

from glep import Energy, EnergyCost, EnergyError, EnergyProblem, NameClashError
from glep.codegen.emit import load_module
from glep.derive.systemfile import load_problem
from tests.conftest import SYSTEMS


def _binary(activations=False):
    return load_problem(SYSTEMS / "binary_hopfield_digits.py", {"activations": activations})


def _batch(module, n=6, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.random((n, module.INPUT_SIZES[0]))
    y = np.eye(module.TARGET_SIZES[0])[rng.integers(0, module.TARGET_SIZES[0], n)] * 0.8 + 0.1
    return x, y


def test_weights_are_signs_and_scales_their_mean_magnitude():
    module = load_module(_binary(), "numpy")
    theta = module.initial_params(3)
    rng_free = load_module(load_problem(SYSTEMS / "hopfield_digits.py"), "numpy")
    float_theta = rng_free.initial_params(3)  # the same draw for the same shapes and seed
    for w in ("W1", "W2"):
        assert set(np.unique(theta[w])) == {-1.0, 1.0}
        assert np.array_equal(theta[w], np.sign(float_theta[w]))
        assert theta[f"alpha_{w}"] == pytest.approx(np.abs(float_theta[w]).mean(), rel=1e-15)


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_centered_ep_equals_implicit_gradient_for_scales_and_biases(backend):
    module = load_module(_binary(), backend)
    theta = module.initial_params()
    x, y = _batch(module)
    if backend == "torch":
        theta = {k: torch.as_tensor(v, dtype=torch.float64) for k, v in theta.items()}
        x, y = torch.as_tensor(x), torch.as_tensor(y)
    ep = module.gradient(theta, x, y, rule="C-EP", beta=1e-3, tol=1e-13)
    ref = module.implicit_gradient(theta, x, y)
    assert ref["saturated"] < module.N * len(x)  # some units inside the box
    for name in ("alpha_W1", "alpha_W2", "b1", "b2", "W1", "W2"):
        err = float(np.max(np.abs(np.asarray(ep["grad"][name]) - np.asarray(ref["grad"][name]))))
        assert err <= 1e-5, (name, err)


def test_scale_gradient_matches_finite_differences_of_the_relaxed_loss():
    module = load_module(_binary(), "numpy")
    theta = module.initial_params()
    x, y = _batch(module)
    ref = module.implicit_gradient(theta, x, y)["grad"]
    for name in ("alpha_W1", "alpha_W2"):
        eps, losses = 1e-6, []
        for s in (1, -1):
            shifted = dict(theta, **{name: theta[name] + s * eps})
            z = module.relax(shifted, x, y, tol=1e-14)
            losses.append(module.cost(z, y).mean())
        assert (losses[0] - losses[1]) / (2 * eps) == pytest.approx(float(ref[name]), rel=1e-5,
                                                                    abs=1e-9)


def test_effective_weight_is_scale_times_sign():
    module = load_module(_binary(), "numpy")
    plain = load_module(load_problem(SYSTEMS / "hopfield_digits.py"), "numpy")
    theta = module.initial_params()
    effective = {"W1": theta["alpha_W1"] * theta["W1"], "W2": theta["alpha_W2"] * theta["W2"],
                 "b1": theta["b1"], "b2": theta["b2"]}
    x, _ = _batch(module)
    z = np.random.default_rng(0).random((len(x), module.N))
    assert np.allclose(module.energy(z, theta, x), plain.energy(z, effective, x), rtol=1e-14)
    g, h = module.energy_dtheta(z, theta, x), plain.energy_dtheta(z, effective, x)
    assert np.allclose(g["W1"], theta["alpha_W1"] * h["W1"], rtol=1e-14)
    assert np.allclose(g["alpha_W2"], (h["W2"] * theta["W2"]).sum((-1, -2)), rtol=1e-13)


def test_binary_neurons_relax_as_the_damped_threshold_update():
    module = load_module(_binary(activations=True), "numpy")
    theta = module.initial_params()
    x, y = _batch(module, n=3)
    w1, w2 = theta["alpha_W1"] * theta["W1"], theta["alpha_W2"] * theta["W2"]
    h, o = np.zeros((3, 32)), np.zeros((3, 10))
    for _ in range(400):  # s ← (1 − ½)s + ½·clip(input), neighbours read H(h − ½)
        hb = (h > 0.5) * 1.0
        h, o = (0.5 * h + 0.5 * np.clip(x @ w1.T + o @ w2 + theta["b1"], 0, 1),
                0.5 * o + 0.5 * np.clip(hb @ w2.T + theta["b2"], 0, 1))
    z = module.relax(theta, x, y)
    assert np.max(np.abs(z - np.concatenate([h, o], -1))) <= 1e-10
    emitted = module._SYSTEM.emitted(z)
    assert np.array_equal(emitted[:, :32], (h > 0.5) * 1.0)
    assert np.array_equal(emitted[:, 32:], z[:, 32:])
    # the EP contrast reads the binary states: W1's estimate is a difference of hb·xᵀ
    g = module.gradient(theta, x, y, rule="C-EP", beta=0.5, check=False)
    first, second = (module._SYSTEM.emitted(g["states"][k]) for k in ("first", "second"))
    expected = -(second[:, :32, None] - first[:, :32, None]) * x[:, None, :] * theta["alpha_W1"]
    assert np.allclose(g["grad"]["W1"], expected.mean(0) / (2 * 0.5), rtol=1e-12, atol=1e-15)


def test_binary_units_stopped_at_their_budget_do_not_warn_about_beta():
    """Binary units stop at their step budget by design, so a residual above β³ says nothing
    about β there; a continuous energy stopped at the same kind of residual is warned."""
    import warnings

    x, y = _batch(load_module(_binary(), "numpy"), n=3)
    binary = load_module(_binary(activations=True), "numpy")
    theta = binary.initial_params()
    _, info = binary.relax(theta, x, y, max_iterations=1, info=True)  # the free phase
    assert info["residual"] > 0.5 ** 3  # what would be warned on a continuous energy
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        binary.gradient(theta, x, y, rule="C-EP", beta=0.5, max_iterations=1, check=False)
    continuous = load_module(_binary(), "numpy")
    with pytest.warns(RuntimeWarning, match="beta=0.5 is too small"):
        continuous.gradient(continuous.initial_params(), x, y, rule="C-EP", beta=0.5, tol=0.9,
                            max_iterations=1, check=False)


def test_bad_binary_declarations_are_refused():
    x, h = sp.MatrixSymbol("x", 3, 1), sp.MatrixSymbol("h", 2, 1)
    w, b = sp.MatrixSymbol("W", 2, 3), sp.MatrixSymbol("b", 2, 1)
    e = h.T * h / 2 - h.T * w * x - b.T * h
    with pytest.raises(EnergyError, match="neither a declared weight matrix"):
        Energy(e, [h], [w, b], [x], binary=[b])
    with pytest.raises(EnergyError, match="neither a declared weight matrix"):
        Energy(e, [h], [w, b], [x], binary=[sp.MatrixSymbol("V", 2, 2)])
    with pytest.raises(EnergyError, match="give a list"):
        Energy(e, [h], [w, b], [x], binary=3)
    s, t = sp.symbols("s t")
    with pytest.raises(EnergyError, match="layered energies"):
        Energy(s**2 / 2 - t * s, [s], [t], binary=[t])
    with pytest.raises(NameClashError, match="alpha_W"):
        Energy(e, [h], [w, b, sp.MatrixSymbol("alpha_W", 2, 1)], [x], binary=[w])
    unboxed = EnergyProblem(Energy(e, [h], [w, b], [x], outputs=[h], binary=[w, h]),
                            EnergyCost((h - sp.MatrixSymbol("y", 2, 1)).T * h,
                                       targets=[sp.MatrixSymbol("y", 2, 1)]),
                            inputs={x: [0.1, 0.2, 0.3]}, targets={"y": [0.0, 1.0]})
    with pytest.raises(EnergyError, match="box=\\(0, 1\\)"):
        load_module(unboxed, "numpy")
