"""Emitted energy primitives against autograd (the matrix-level formulas are not trusted)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from glep.codegen.emit import load_module
from tests.conftest import problem, relative_error

CASES = [("hopfield_smooth", {}), ("hopfield_digits", {"n_in": 5, "hidden": 4, "n_out": 3})]


def _hand_energy(module, z, theta, x):
    """The digits energy written out by hand (an oracle independent of the derivation)."""
    hidden = module.SIZES[0]
    h, o = z[..., :hidden], z[..., hidden:]
    return (0.5 * (h * h).sum(-1) + 0.5 * (o * o).sum(-1) - (h * (x @ theta["W1"].T)).sum(-1)
            - (o * (h @ theta["W2"].T)).sum(-1) - (theta["b1"] * h).sum(-1)
            - (theta["b2"] * o).sum(-1))


@pytest.mark.parametrize("name, overrides", CASES)
def test_primitives_match_autograd(name, overrides):
    module = load_module(problem(name, **overrides), "torch")
    gen = torch.Generator().manual_seed(0)
    theta = {k: v.clone().requires_grad_(True) for k, v in module.initial_params().items()}
    x = torch.rand((3, sum(module.INPUT_SIZES)), generator=gen, dtype=torch.float64)
    z = torch.rand((3, module.N), generator=gen, dtype=torch.float64).requires_grad_(True)
    v = torch.rand((3, module.N), generator=gen, dtype=torch.float64)
    energy = module.energy(z, theta, x)
    if name == "hopfield_digits":
        assert relative_error(energy.detach(), _hand_energy(module, z, theta, x).detach()) < 1e-14
    (grad,) = torch.autograd.grad(energy.sum(), z, create_graph=True)
    assert relative_error(module.energy_gradient(z, theta, x).detach(), grad.detach()) < 1e-13
    hessian = torch.stack([torch.autograd.grad(grad[:, i].sum(), z, retain_graph=True)[0]
                           for i in range(module.N)], dim=1)
    assert relative_error(module.energy_hessian(z, theta, x).detach(), hessian) < 1e-13
    dtheta = module.energy_dtheta(z, theta, x)
    for k in module.PARAMS:  # per-sample ∂E/∂θ: sum over the batch against autograd
        (auto,) = torch.autograd.grad(energy.sum(), theta[k], retain_graph=True)
        assert relative_error(dtheta[k].sum(0).detach(), auto) < 1e-13, k
    jvp = module.energy_dtheta_jvp(z, v, theta, x)
    directional = (grad * v).sum()  # d/dθ of vᵀ∂E/∂s = vᵀ ∂²E/∂s∂θ
    for k in module.PARAMS:
        (auto,) = torch.autograd.grad(directional, theta[k], retain_graph=True)
        assert relative_error(jvp[k].sum(0).detach(), auto) < 1e-13, k
    x_ = x.clone().requires_grad_(True)
    (auto,) = torch.autograd.grad(module.energy(z, theta, x_).sum(), x_)
    assert relative_error(module.energy_dx(z, theta, x).detach(), auto) < 1e-13


@pytest.mark.parametrize("name, overrides", CASES)
def test_cost_gradient_matches_autograd(name, overrides):
    module = load_module(problem(name, **overrides), "torch")
    z = torch.rand((2, module.N), dtype=torch.float64, requires_grad=True)
    y = torch.as_tensor(module.DEFAULT_TARGETS, dtype=torch.float64)[:2]
    (auto,) = torch.autograd.grad(module.cost(z, y).sum(), z)
    assert relative_error(module.cost_gradient(z, y).detach(), auto) < 1e-14


def test_layered_derivation_does_not_depend_on_the_layer_sizes():
    small = problem("hopfield_digits", n_in=5, hidden=4, n_out=3).model
    big = problem("hopfield_digits").model
    assert [str(g) for g in small.gradient] == [str(g) for g in big.gradient]
    assert big.curvature == (1, 1) and big.block_reason is None


def test_numpy_and_torch_relaxations_agree():
    p = problem("hopfield_digits", n_in=5, hidden=4, n_out=3)
    a, b = load_module(p, "numpy"), load_module(p, "torch")
    za = a.relax(a.initial_params(), method="async")
    zb = b.relax({k: torch.as_tensor(v) for k, v in a.initial_params().items()}, method="async")
    np.testing.assert_allclose(zb.numpy(), za, atol=1e-12)
