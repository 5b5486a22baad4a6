"""Convolution and pooling in layered energies: the derived ∂E/∂s, ∂E/∂θ, ∂E/∂x, Hessian and
its contraction against torch autograd of the same energy written directly with
``torch.nn.functional``; the EP family against implicit differentiation computed by autograd."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
import torch
import torch.nn.functional as F

from glep import Energy, EnergyCost, EnergyError, EnergyProblem, conv
from glep.codegen.emit import load_module

# x (1×6×6) →[3×3 pad 1, avg pool 2]→ h1 (2×3×3) →[2×2 pad 1, max pool 2]→ h2 (3×2×2)
#           h1 →[3×3 stride 2 pad 1, no pool]→ h2;   h2 →[dense]→ o (4)
x = sp.MatrixSymbol("x", 36, 1)
h1, h2, o, y = (sp.MatrixSymbol(n, k, 1) for n, k in (("h1", 18), ("h2", 12), ("o", 4), ("y", 4)))
W1, W2, W4 = (sp.MatrixSymbol(n, c, k) for n, c, k in (("W1", 2, 9), ("W2", 3, 8), ("W4", 3, 18)))
W3 = sp.MatrixSymbol("W3", 4, 12)
b1, b2, b3 = (sp.MatrixSymbol(n, k, 1) for n, k in (("b1", 18), ("b2", 12), ("b3", 4)))
F1 = conv(W1, x, image=(1, 6, 6), kernel=3, padding=1, pool="avg")
F2 = conv(W2, h1, image=(2, 3, 3), kernel=2, padding=1, pool="max")
F4 = conv(W4, h1, image=(2, 3, 3), kernel=3, stride=2, padding=1)
ENERGY = (h1.T * h1 / 2 + h2.T * h2 / 2 + o.T * o / 2 - h1.T * F1 - h2.T * F2 - h2.T * F4
          - o.T * W3 * h2 - b1.T * h1 - b2.T * h2 - b3.T * o)
RNG = np.random.default_rng(0)
INPUTS = RNG.random((3, 36)).tolist()


def _problem(energy=ENERGY, states=(h1, h2, o), params=(W1, b1, W2, W4, b2, W3, b3), box=None,
             relaxation="async"):
    return EnergyProblem(Energy(energy, states=states, params=params, inputs=[x], outputs=[o],
                                box=box),
                         EnergyCost((o - y).T * (o - y) / 2, targets=[y]),
                         inputs={x: INPUTS}, targets={y: RNG.random((3, 4)).tolist()},
                         relaxation=relaxation, seed=1)


def _torch_energy(z, theta, xs):
    """The same energy, written by hand with torch.nn.functional."""
    s1, s2, so = z[:, :18], z[:, 18:30], z[:, 30:]
    f1 = F.avg_pool2d(F.conv2d(xs.reshape(-1, 1, 6, 6), theta["W1"].reshape(2, 1, 3, 3),
                               padding=1), 2).flatten(1)
    f2 = F.max_pool2d(F.conv2d(s1.reshape(-1, 2, 3, 3), theta["W2"].reshape(3, 2, 2, 2),
                               padding=1), 2).flatten(1)
    f4 = F.conv2d(s1.reshape(-1, 2, 3, 3), theta["W4"].reshape(3, 2, 3, 3), stride=2,
                  padding=1).flatten(1)
    quadratic = (z * z).sum(-1) / 2
    return (quadratic - (s1 * f1).sum(-1) - (s2 * (f2 + f4)).sum(-1)
            - (so * (s2 @ theta["W3"].T)).sum(-1) - (s1 * theta["b1"]).sum(-1)
            - (s2 * theta["b2"]).sum(-1) - (so * theta["b3"]).sum(-1))


@pytest.fixture(scope="module")
def problem():
    return _problem()


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_derived_derivatives_match_autograd(problem, backend):
    module = load_module(problem, backend)
    theta = {k: torch.as_tensor(np.asarray(v)) for k, v in module.initial_params(2).items()}
    theta = {k: v + 0.1 * torch.randn(v.shape, dtype=torch.float64) for k, v in theta.items()}
    xs = torch.as_tensor(INPUTS, dtype=torch.float64)
    z = torch.randn(3, module.N, dtype=torch.float64)
    v = torch.randn(3, module.N, dtype=torch.float64)
    own = (lambda a: a.numpy()) if backend == "numpy" else (lambda a: a)
    args = (own(z), {k: own(t) for k, t in theta.items()}, own(xs))

    def close(derived, reference):
        np.testing.assert_allclose(np.asarray(derived), reference.detach().numpy(), atol=1e-12)

    close(module.energy(*args), _torch_energy(z, theta, xs))
    zz = z.clone().requires_grad_()
    close(module.energy_gradient(*args),
          torch.autograd.grad(_torch_energy(zz, theta, xs).sum(), zz)[0])
    hessian = torch.stack([torch.autograd.functional.hessian(
        lambda s, b=b: _torch_energy(s[None], theta, xs[b:b + 1]).sum(), z[b]) for b in range(3)])
    close(module.energy_hessian(*args), hessian)
    dtheta, jvp = module.energy_dtheta(*args), module.energy_dtheta_jvp(args[0], own(v), *args[1:])
    for b in range(3):
        leaves = {k: t.clone().requires_grad_() for k, t in theta.items()}
        s = z[b:b + 1].clone().requires_grad_()
        e = _torch_energy(s, leaves, xs[b:b + 1]).sum()
        grads = torch.autograd.grad(e, [*leaves.values(), s], create_graph=True)
        contraction = (grads[-1] * v[b]).sum()
        second = torch.autograd.grad(contraction, list(leaves.values()))
        for name, g, g2 in zip(leaves, grads, second):
            close(dtheta[name][b], g)
            close(jvp[name][b], g2)
    xx = xs.clone().requires_grad_()
    close(module.energy_dx(*args), torch.autograd.grad(_torch_energy(z, theta, xx).sum(), xx)[0])


def _implicit_reference(module, energy, theta, xs, ys):
    """dC/dθ at the free fixed point, by autograd of the hand-written energy: H λ = ∂C/∂s,
    dC/dθ = −mean_b λ_bᵀ ∂²E/∂s∂θ."""
    z = torch.as_tensor(module.relax(theta, xs, ys, tol=1e-14))
    xt = torch.as_tensor(np.asarray(xs, dtype=np.float64))
    th = {k: torch.as_tensor(np.asarray(v)).requires_grad_() for k, v in theta.items()}
    total = 0
    for b in range(len(z)):
        hessian = torch.autograd.functional.hessian(
            lambda s, b=b: energy(s[None], th, xt[b:b + 1]).sum(), z[b])
        dc = torch.zeros_like(z[b])
        dc[-4:] = z[b, -4:] - torch.as_tensor(np.asarray(ys))[b]
        lam = torch.linalg.solve(hessian, dc)
        s = z[b:b + 1].clone().requires_grad_()
        g, = torch.autograd.grad(energy(s, th, xt[b:b + 1]).sum(), s, create_graph=True)
        total = total + (g[0] * lam).sum()
    grads = torch.autograd.grad(total, list(th.values()))
    return {k: -g.numpy() / len(z) for k, g in zip(th, grads)}


W5 = sp.MatrixSymbol("W5", 4, 18)
POOLED = conv(W1, x, image=(1, 6, 6), kernel=3, padding=1, pool="max")
SMALL = h1.T * h1 / 2 + o.T * o / 2 - h1.T * POOLED - o.T * W5 * h1 - b1.T * h1 - b3.T * o


def _small_energy(z, theta, xs):
    """The one-convolution energy (max pooling, then a dense layer) by hand."""
    s1, so = z[:, :18], z[:, 18:]
    f1 = F.max_pool2d(F.conv2d(xs.reshape(-1, 1, 6, 6), theta["W1"].reshape(2, 1, 3, 3),
                               padding=1), 2).flatten(1)
    return ((z * z).sum(-1) / 2 - (s1 * f1).sum(-1) - (so * (s1 @ theta["W5"].T)).sum(-1)
            - (s1 * theta["b1"]).sum(-1) - (so * theta["b3"]).sum(-1))


def test_centered_ep_matches_implicit_differentiation():
    problem = _problem(SMALL, (h1, o), (W1, b1, W5, b3))
    module = load_module(problem, "numpy")
    theta = module.initial_params(1)
    xs, ys = np.asarray(problem.input_values), np.asarray(problem.target_values)
    reference = _implicit_reference(module, _small_energy, theta, xs, ys)
    derived = module.implicit_gradient(theta, xs, ys)["grad"]
    centered = module.gradient(theta, xs, ys, rule="C-EP", beta=1e-4, tol=1e-15)["grad"]
    for name, ref in reference.items():
        np.testing.assert_allclose(derived[name], ref, atol=1e-12)
        assert np.max(np.abs(centered[name] - ref)) <= 1e-6 * max(1.0, np.max(np.abs(ref)))

    def error(rule, beta):
        g = module.gradient(theta, xs, ys, rule=rule, beta=beta, tol=1e-15)["grad"]
        return np.sqrt(sum(np.sum((g[k] - reference[k]) ** 2) for k in reference))

    betas = np.array([0.02, 0.01, 0.005])
    for rule, slope, width in (("P-EP", 1, 0.2), ("C-EP", 2, 0.3)):
        fitted = np.polyfit(np.log(betas), np.log([error(rule, b) for b in betas]), 1)[0]
        assert abs(fitted - slope) <= width, (rule, fitted)


def test_bad_convolutions_are_named():
    with pytest.raises(EnergyError, match="image"):
        conv(W1, x, image=(1, 5, 6), kernel=3)
    with pytest.raises(EnergyError, match="shape"):
        conv(W3, x, image=(1, 6, 6), kernel=3)
    with pytest.raises(EnergyError, match="pool_size"):
        conv(W1, x, image=(1, 6, 6), kernel=3, pool="max", pool_size=3)
    with pytest.raises(EnergyError, match="pool="):
        conv(W1, x, image=(1, 6, 6), kernel=3, pool="sum")
    with pytest.raises(EnergyError, match="nonlinearly"):
        _ = _problem(energy=h1.T * h1 / 2 + o.T * o / 2 - F1.T * F1 - o.T * W3 * h2,
                     states=(h1, h2, o), params=(W1, W3)).model


def test_async_schedule_follows_the_layer_graph_and_reaches_the_gradient_flow_fixed_point():
    """States declared out of chain order (h1, o, h2): the two-colouring of the layer graph,
    not the declaration parity, makes the even/odd sweeps exact; async, sync and gradient
    flow reach the same minimum, async never raises the energy and needs fewer sweeps."""
    pooled = conv(W2, h1, image=(2, 3, 3), kernel=2, padding=1, pool="avg")
    energy = (h1.T * h1 / 2 + h2.T * h2 / 2 + o.T * o / 2 - h1.T * POOLED - h2.T * pooled
              - o.T * W3 * h2 - b1.T * h1 - b2.T * h2 - b3.T * o)
    problem = _problem(energy, (h1, o, h2), (W1, b1, W2, b2, W3, b3), box=(0, 1))
    assert problem.model.block_reason is None and problem.model.colours == (0, 0, 1)
    module = load_module(problem, "numpy")
    theta = {k: 2 * np.asarray(v) for k, v in module.initial_params(3).items()}
    xs = np.asarray(problem.input_values)
    found = {m: module.relax(theta, xs, method=m, tol=1e-13, info=True)
             for m in ("async", "sync", "gradient")}
    for m in ("sync", "gradient"):
        np.testing.assert_allclose(found[m][0], found["async"][0], atol=1e-11)
    assert found["async"][1]["iterations"] < found["sync"][1]["iterations"]
    z = module.relax(theta, xs, max_iterations=0, strict=False)
    energies = [module.energy(z, theta, xs)]
    for _ in range(found["async"][1]["iterations"]):
        z = module.iterate(z, theta, xs, None, method="async")
        energies.append(module.energy(z, theta, xs))
    assert np.all(np.diff(energies, axis=0) <= 1e-12)
    assert not (found["async"][0] > 1 - 1e-12).all() and (found["async"][0] > 1e-12).any()
