"""BinaryFlip and Metaplastic against independent references (torch.optim.Adam, direct counts)."""

from __future__ import annotations

import copy
import math

import pytest
import torch

import glep
from glep.learn.optimizers import BinaryFlip, Metaplastic


def _signs(*shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.where(torch.rand(*shape, generator=g) < 0.5, -1.0, 1.0).double()


def test_top_level_exports():
    assert glep.BinaryFlip is BinaryFlip and glep.Metaplastic is Metaplastic
    assert issubclass(BinaryFlip, torch.optim.Optimizer)
    assert issubclass(Metaplastic, torch.optim.Optimizer)


def test_flip_count_equals_the_number_of_opposing_momenta_above_tau():
    gamma, tau = 0.3, 0.05
    w = torch.nn.Parameter(_signs(6, 7) * 0.4)
    v = torch.nn.Parameter(_signs(5, seed=3))
    opt = BinaryFlip([{"params": [w]}, {"params": [v], "gamma": 0.7, "tau": 0.0}],
                     gamma=gamma, tau=tau)
    momenta = {w: torch.zeros_like(w), v: torch.zeros_like(v)}
    rates = {w: (gamma, tau), v: (0.7, 0.0)}
    g = torch.Generator().manual_seed(1)
    total = 0
    for _ in range(12):
        expected = {}
        for p in (w, v):
            p.grad = torch.randn(p.shape, generator=g, dtype=torch.float64)
            rate, threshold = rates[p]
            momenta[p] = (1 - rate) * momenta[p] - rate * p.grad
            before = p.detach().clone()
            opposing = [(-math.copysign(1, b) * m > threshold) for b, m in
                        zip(before.flatten().tolist(), momenta[p].flatten().tolist())]
            expected[p] = (sum(opposing), torch.where(torch.tensor(opposing).reshape(p.shape),
                                                     -before, before))
        opt.step()
        for p in (w, v):
            assert opt.state[p]["flips"] == expected[p][0]
            assert torch.equal(p.detach(), expected[p][1])
            assert torch.allclose(opt.state[p]["momentum"], momenta[p], rtol=0, atol=1e-15)
        assert opt.flips() == expected[w][0] + expected[v][0]
        total += expected[w][0]
    assert opt.state[w]["total_flips"] == total > 0
    assert set(w.detach().abs().flatten().tolist()) == {0.4}  # magnitudes kept


def test_gamma_one_tau_zero_follows_the_sign_of_the_update():
    w = torch.nn.Parameter(_signs(8, 9))
    opt = BinaryFlip([w], gamma=1.0, tau=0.0)
    g = torch.Generator().manual_seed(2)
    for _ in range(5):
        grad = torch.randn(w.shape, generator=g, dtype=torch.float64)
        w.grad = grad
        opt.step()
        assert torch.equal(w.detach(), torch.sign(-grad))  # W = sign(g), g = −.grad


def test_small_tau_limit_flips_whenever_the_momentum_opposes():
    w = torch.nn.Parameter(_signs(30))
    opt = BinaryFlip([w], gamma=0.2, tau=1e-300)
    w.grad = -w.detach() * torch.linspace(1e-6, 1.0, 30, dtype=torch.float64)
    opt.step()
    assert opt.flips() == 0  # the update agrees with every sign
    before = w.detach().clone()
    w.grad = before * torch.linspace(1e-6, 1.0, 30, dtype=torch.float64) * 10
    opt.step()  # m = 0.8·m₀ + 0.2·g: opposes the sign where 2·r > 0.8·r₀ = 0.8·r (every unit)
    assert opt.flips() == 30 and torch.equal(w.detach(), -before)


def test_flip_rejects_bad_rates():
    w = torch.nn.Parameter(torch.ones(2))
    for bad in ({"gamma": 0.0}, {"gamma": 1.5}, {"tau": -1.0}, {"gamma": float("nan")}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            BinaryFlip([w], **bad)
    with pytest.raises(ValueError, match="gamma"):
        BinaryFlip([{"params": [w], "gamma": 2.0}])


@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_metaplastic_with_meta_zero_is_adam_step_for_step(weight_decay):
    g = torch.Generator().manual_seed(0)
    params = [torch.randn(5, 4, generator=g, dtype=torch.float64),
              torch.randn(4, generator=g, dtype=torch.float64),
              torch.randn(2, 3, 2, generator=g, dtype=torch.float64)]
    ours = [torch.nn.Parameter(p.clone()) for p in params]
    theirs = [torch.nn.Parameter(p.clone()) for p in params]
    opt = Metaplastic([{"params": ours[:2]}, {"params": ours[2:], "lr": 0.03}], lr=0.01,
                      meta=0.0, betas=(0.8, 0.99), eps=1e-6, weight_decay=weight_decay)
    ref = torch.optim.Adam([{"params": theirs[:2]}, {"params": theirs[2:], "lr": 0.03}],
                           lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=weight_decay)
    for _ in range(200):
        for a, b in zip(ours, theirs):
            grad = torch.randn(a.shape, generator=g, dtype=torch.float64) + a.detach() ** 2
            a.grad, b.grad = grad.clone(), grad.clone()
        opt.step()
        ref.step()
        for a, b in zip(ours, theirs):
            assert torch.allclose(a, b, rtol=0, atol=1e-12)


def test_f_meta_range_and_limits():
    hidden = torch.linspace(-20, 20, 401, dtype=torch.float64)
    for meta in (0.5, 1.35, 5.0):
        f = Metaplastic.attenuation(hidden, meta)
        assert (f > 0).all() and (f <= 1).all()
        x = (meta * hidden).tolist()
        reference = torch.tensor([1 - math.tanh(v) ** 2 if abs(v) < 3 else 4 / (math.exp(v)
                                  + math.exp(-v)) ** 2 for v in x], dtype=torch.float64)
        assert torch.allclose(f, reference, rtol=1e-12, atol=0)
    assert torch.equal(Metaplastic.attenuation(hidden, 0.0), torch.ones_like(hidden))


def test_only_toward_zero_steps_of_weights_are_attenuated():
    meta, lr = 1.35, 0.01
    g = torch.Generator().manual_seed(4)
    w0 = torch.randn(6, 5, generator=g, dtype=torch.float64) * 2
    b0 = torch.randn(6, generator=g, dtype=torch.float64) * 2
    grad_w = torch.randn(6, 5, generator=g, dtype=torch.float64)
    grad_b = torch.randn(6, generator=g, dtype=torch.float64)
    w, b = torch.nn.Parameter(w0.clone()), torch.nn.Parameter(b0.clone())
    wa, ba = torch.nn.Parameter(w0.clone()), torch.nn.Parameter(b0.clone())
    opt = Metaplastic([w, b], lr=lr, meta=meta)
    adam = torch.optim.Adam([wa, ba], lr=lr)
    w.grad, b.grad, wa.grad, ba.grad = grad_w, grad_b, grad_w.clone(), grad_b.clone()
    opt.step()
    adam.step()
    step, adam_step = (w - w0).detach(), (wa - w0).detach()
    shrinking = torch.sign(w0) * grad_w > 0  # first step: m₁ ∝ grad
    assert shrinking.any() and (~shrinking).any()
    f = 1 - torch.tanh(meta * w0.abs()) ** 2
    assert torch.allclose(step[shrinking], f[shrinking] * adam_step[shrinking], rtol=1e-12)
    assert torch.equal(step[~shrinking], adam_step[~shrinking])
    assert (step[shrinking].abs() < adam_step[shrinking].abs()).all()
    assert torch.equal(b.detach(), ba.detach())  # 1-D: plain Adam


def test_metaplastic_rejects_bad_hyper_parameters():
    w = torch.nn.Parameter(torch.ones(2, 2))
    for bad, name in (({"meta": -1.0}, "meta"), ({"lr": -0.1}, "lr"),
                      ({"betas": (0.9, 1.0)}, "betas"), ({"betas": 0.9}, "betas"),
                      ({"eps": float("inf")}, "eps")):
        with pytest.raises(ValueError, match=name):
            Metaplastic([w], **bad)


@pytest.mark.parametrize("kind", ["flip", "meta"])
def test_state_dict_round_trip_continues_identically(kind):
    def make():
        w = torch.nn.Parameter(_signs(4, 3) * 0.5)
        opt = (BinaryFlip([w], gamma=0.3, tau=0.01) if kind == "flip"
               else Metaplastic([w], lr=0.05, meta=1.0))
        return w, opt

    g = torch.Generator().manual_seed(5)
    grads = [torch.randn(4, 3, generator=g, dtype=torch.float64) for _ in range(8)]
    w, opt = make()
    for grad in grads[:4]:
        w.grad = grad.clone()
        opt.step()
    saved_w, saved = w.detach().clone(), copy.deepcopy(opt.state_dict())
    for grad in grads[4:]:
        w.grad = grad.clone()
        opt.step()
    w2, opt2 = make()
    with torch.no_grad():
        w2.copy_(saved_w)
    opt2.load_state_dict(saved)
    for grad in grads[4:]:
        w2.grad = grad.clone()
        opt2.step()
    assert torch.equal(w.detach(), w2.detach())
    key = "momentum" if kind == "flip" else "exp_avg"
    assert torch.equal(opt.state[w][key], opt2.state[w2][key])
