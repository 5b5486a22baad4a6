"""Batched energy primitives (the batch-mean contrast of ∂E/∂θ, the batch mean of the JVP, block
gradients of the asynchronous sweep) against autograd and the per-sample formulas computed here."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from glep.codegen.emit import load_module
from tests.codegen.test_convolution import _problem as conv_problem
from tests.conftest import problem, relative_error

CASES = [("hopfield_smooth", {}), ("hopfield_deep", {"n_in": 5, "hidden1": 4, "hidden2": 3,
                                                      "n_out": 2}), ("conv", {})]


def _module(name, overrides, backend):
    return load_module(conv_problem() if name == "conv" else problem(name, **overrides), backend)


def _arrays(module, rows=4, seed=0):
    gen = torch.Generator().manual_seed(seed)
    def draw(*shape):
        return (torch.rand(shape, generator=gen, dtype=torch.float64))
    return (draw(rows, module.N), draw(rows, module.N), draw(rows, sum(module.INPUT_SIZES)),
            draw(rows, module.N))


@pytest.mark.parametrize("name, overrides", CASES)
def test_contrast_and_mean_jvp_match_autograd(name, overrides):
    module = _module(name, overrides, "torch")
    theta = {k: v.clone().requires_grad_(True) for k, v in module.initial_params().items()}
    z, z0, x, v = _arrays(module)
    contrast = module.energy_dtheta_contrast(z, z0, theta, x)
    difference = (module.energy(z, theta, x) - module.energy(z0, theta, x)).mean()
    z_ = z.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(module.energy(z_, theta, x).sum(), z_, create_graph=True)
    jvp = module.energy_dtheta_jvp_mean(z, v, theta, x)
    for k in module.PARAMS:
        (auto,) = torch.autograd.grad(difference, theta[k], retain_graph=True)
        assert contrast[k].shape == module.initial_params()[k].shape, k
        assert relative_error(contrast[k].detach(), auto) < 1e-13, k
        (auto,) = torch.autograd.grad((grad * v).sum() / len(z), theta[k], retain_graph=True)
        assert relative_error(jvp[k].detach(), auto) < 1e-13, k


def test_contrast_is_the_per_sample_formula_without_cancellation():
    """Nearby states (s − s₀ ~ 1e-9): the contrast of W2 (−h2 h1ᵀ per sample) agrees with the
    mean of the per-sample differences computed in exact rational arithmetic; the per-sample
    formula in floats is only as good as its cancellation allows."""
    from fractions import Fraction

    module = _module(*CASES[1], "numpy")
    theta = module.initial_params()
    z, _, x, v = (a.numpy() for a in _arrays(module, rows=3))
    z0 = z + 1e-9 * v
    h1, h2 = slice(0, 4), slice(4, 7)
    exact = np.array([[float(sum(-Fraction(z[b, h2][i]) * Fraction(z[b, h1][j])
                                 + Fraction(z0[b, h2][i]) * Fraction(z0[b, h1][j])
                                 for b in range(3)) / 3) for j in range(4)] for i in range(3)])
    per_sample = (module.energy_dtheta(z, theta, x)["W2"]
                  - module.energy_dtheta(z0, theta, x)["W2"]).mean(0)
    assert relative_error(per_sample, exact) < 1e-5
    assert relative_error(module.energy_dtheta_contrast(z, z0, theta, x)["W2"], exact) < 1e-13


@pytest.mark.parametrize("name, overrides", CASES)
@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_block_gradients_are_blocks_of_the_full_gradient(name, overrides, backend):
    module = _module(name, overrides, backend)
    theta = module.initial_params()
    z, _, x, _ = _arrays(module)
    if backend == "numpy":
        z, x = z.numpy(), x.numpy()
    full = np.asarray(module.energy_gradient(z, theta, x))
    offsets = np.cumsum((0, *module.SIZES))
    for layers in ([0], [1], [0, 2], []):
        block = np.asarray(module.energy_gradient(z, theta, x, layers))
        for i, (a, b) in enumerate(itertools.pairwise(offsets)):
            expected = full[:, a:b] if i in layers else 0 * full[:, a:b]
            assert np.array_equal(block[:, a:b], expected), (layers, i)


@pytest.mark.parametrize("name, overrides", [CASES[1], CASES[2]])
def test_async_sweep_reaches_the_fixed_point_of_full_sweeps(name, overrides):
    """An async sweep with per-layer blocks equals the sweep written with full gradients, and
    relaxes to a fixed point of the full gradient."""
    module = _module(name, overrides, "numpy")
    theta = module.initial_params()
    z, _, x, _ = (a.numpy() for a in _arrays(module))
    y = np.full((len(z), sum(module.TARGET_SIZES)), 0.5)
    parity = np.asarray(module._PARITY, dtype=bool)
    reference = z
    for units in (~parity, parity):
        g = module.descent(reference, theta, x, y, 0.2)
        step = reference - g / (module.layer_curvature(theta) + 0.2 * np.asarray(
            module._COST_CURVATURE))
        reference = np.where(units, module._SYSTEM._project(step), reference)
    swept = module.iterate(z, theta, x, y, beta=0.2, method="async")
    assert np.array_equal(swept, reference)
    free = module.relax(theta, x, y, method="async")  # a fixed point: s = Π(s − ∂E/∂s)
    g = module.energy_gradient(free, theta, x)
    assert np.abs(free - module._SYSTEM._project(free - g)).max() < 1e-12


@pytest.mark.parametrize("name, overrides", CASES)
def test_hessian_vector_product_matches_autograd(name, overrides):
    module = _module(name, overrides, "torch")
    theta = module.initial_params()
    z, _, x, v = _arrays(module)
    z = z.requires_grad_(True)
    (grad,) = torch.autograd.grad(module.energy(z, theta, x).sum(), z, create_graph=True)
    (auto,) = torch.autograd.grad((grad * v).sum(), z)
    assert relative_error(module.energy_hvp(z.detach(), v, theta, x), auto) < 1e-13


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("sizes", [(5, 6, 4, 3), (8, 40, 30, 6)])
@pytest.mark.parametrize("scale", [1.0, 12.0])
def test_minimum_check_matches_the_dense_eigenvalues(backend, sizes, scale):
    """Lanczos on Hessian-vector products against eigvalsh of the dense restricted Hessian, at
    a relaxed state (part saturated) and, weights ×12, at an interior saddle (it raises)."""
    n_in, h1, h2, n_out = sizes
    module = _module("hopfield_deep", {"n_in": n_in, "hidden1": h1, "hidden2": h2,
                                       "n_out": n_out}, backend)
    theta = {k: scale * v for k, v in module.initial_params(seed=2).items()}
    x = module._SYSTEM._signals(theta, np.random.default_rng(3).random((4, n_in)), None)[1]
    z = module.relax(theta, x) if scale == 1 else 0.5 + 0 * module.relax(module.initial_params(), x)
    dense = float(np.linalg.eigvalsh(np.asarray(module.restricted_hessian(z, theta, x)[0])).min())
    if scale == 1:
        assert dense > 0.1
        assert abs(module.check_minimum(z, theta, x) - dense) < 1e-6
    else:
        assert dense < -1
        with pytest.raises(ArithmeticError, match=f"smallest eigenvalue {dense:.3g}"):
            module.check_minimum(z, theta, x)


def test_minimum_check_restarts_on_a_closed_krylov_space():
    """Zero weights: the restricted Hessian is I and every Krylov space closes at once."""
    module = _module(*CASES[1], "numpy")
    theta = {k: 0 * v for k, v in module.initial_params().items()}
    z = np.full((3, module.N), 0.5)
    assert abs(module.check_minimum(z, theta, np.zeros((3, 5))) - 1.0) < 1e-12


def test_torch_relaxation_syncs_with_the_host_only_at_its_checks(monkeypatch):
    """Tensor → Python conversions (host syncs on a GPU) during relax: a bounded number per
    convergence check (every _EVERY = 8 iterations), none in the other iterations."""
    module = _module(*CASES[1], "torch")
    theta = module.initial_params()
    x = torch.rand((4, 5), dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    syncs = []
    for name in ("__bool__", "__float__", "item", "tolist", "__index__", "__int__"):
        original = getattr(torch.Tensor, name)

        def counted(self, *args, _original=original):
            syncs.append(1)
            return _original(self, *args)

        monkeypatch.setattr(torch.Tensor, name, counted)
    runs = []
    for budget in (8, 24):  # it stalls at its float floor after 32
        syncs.clear()
        _, info = module.relax(theta, x, tol=0.0, max_iterations=budget, strict=False, info=True)
        runs.append((info["iterations"], len(syncs)))
    (short, few), (long, many) = runs
    assert long - short == 16
    assert many - few <= 2 * (16 // 8)  # two numbers (max |s|, the residual) per check
