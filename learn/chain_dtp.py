"""Difference target propagation (DTP) through the feedforward maps of an ff-EBM chain, with
feedback maps trained by the Local Difference Reconstruction Loss (L-DRL), in place of
backpropagation between the energy blocks (the rule ``EP+DTP`` of ``glep train``).

The chain (THEORY.md §7) is ``x_1 = input``, ``s⋆_k = argmin E_k(s; θ_k, x_k)``,
``x_{k+1} = F_{k+1}(o⋆_k) = W_{k+1} o⋆_k + b_{k+1}``. Its gradient (the generated module's
``gradient``) runs backwards over the blocks: centered EP in block k, nudged by ±βC (last
block) or by ±β δ_kᵀo_k, gives the EP estimate of the input gradient

    dC/dx_k ≈ [∂_xE_k(s^{+β}) − ∂_xE_k(s^{−β})] / (2β).

Backpropagation then sends δ_{k−1} = J_{F_k}ᵀ dC/dx_k to block k−1. Here instead each map
F_k has a feedback map ``G_k(x) = V_k x + c_k`` (x_k's space → o_{k−1}'s) and:

    target of the map's output:   t_k = x_k − β dC/dx_k
                                      = x_k − ½[∂_xE_k(s^{+β}) − ∂_xE_k(s^{−β})]
    difference target:            t_{k−1} = o_{k−1} + G_k(t_k) − G_k(x_k)
    error of block k−1:           δ_{k−1} = (o_{k−1} − t_{k−1}) / β
    map update:                   ∇_ω Σ_batch L_k^F / (β B),  L_k^F = ½‖F_k(o_{k−1}) − t_k‖²

Block k−1 is then nudged by ±β δ_{k−1}ᵀo, the linearization at its free state of its local
target loss ‖o − t_{k−1}‖²/(2β): EP in block k−1 estimates the gradient of that loss, as
every DTP layer descends its own ½‖s − t‖² (scaled by 1/β, so that ``--lr`` means the same
as for ``EP``). For these affine maps L_k^F's gradient is the backpropagated one (F_k − t_k
= β dC/dx_k), so DTP changes only what reaches the earlier blocks: δ_{k−1} = V_k dC/dx_k
instead of W_kᵀ dC/dx_k — exactly (at every β, not only to first order), since G_k is affine.

The feedback maps learn by L-DRL (Ernoult et al. 2022) at the free states, noise ε, η ~ N(0, I):

    L_k^G = −2 (σε)ᵀ[G_k(F_k(o + σε)) − G_k(F_k(o))] + ‖G_k(x + ση) − G_k(x)‖²,

whose expectation for affine maps is σ²(‖V_k − W_kᵀ‖²_F − ‖W_k‖²_F): its minimiser is the
Jacobian matching J_G = J_Fᵀ, and then DTP is backpropagation. L^G is exactly quadratic in σ
here, so σ only scales the loss (default 1). During a batch's backward sweep, when block k's
input gradient is known, G_k takes ``feedback_iterations`` SGD steps (momentum 0.9, fresh
noise) on L^G at that batch's free outputs o_{k−1}, then propagates the target.

Diagnostics (per epoch, on a probe batch): the Jacobian distance ‖J_G − J_Fᵀ‖_F/‖J_F‖_F of
every feedback map (k = 2 … K) and, for every block k, the angle between the EP+DTP update
and the EP (backpropagated-maps) update of block k's parameters and the map into it, at the
same parameters and batch.

>>> import glep
>>> from glep.codegen.emit import load_module
>>> module = load_module(glep.load_problem("systems/ff_ebm.py"), "numpy")
>>> feedback = MapFeedback(module, seed=0)
>>> [tuple(v.shape) for v in feedback.omega.values()]
[(4, 4), (4,), (4, 4), (4,)]
"""

from __future__ import annotations

import math

import numpy as np

from glep.derive.errors import DataError

from . import checkpoint as ck
from .options import integer as _integer
from .options import number as _number

#: The chains' L-DRL settings when ``--sigma``, ``--feedback-iterations``, ``--feedback-lr``
#: are not given.
DEFAULTS = {"sigma": 1.0, "feedback_iterations": 40, "feedback_lr": 0.0005}


def _torch():
    import torch

    return torch


def settings(module, sigma=None, feedback_iterations=None, feedback_lr=None) -> tuple:
    """``(sigmas, iterations, rate)``, checked: ``sigma`` one value or one per map."""
    maps = len(module.MAPS)
    if maps == 0:
        raise DataError("--rule EP+DTP: this chain has one block and no feedforward map: use EP")
    sigma = DEFAULTS["sigma"] if sigma is None else sigma
    parts = sigma if isinstance(sigma, list | tuple) else str(sigma).split(",")
    sigmas = [_number("sigma", s, low=0) for s in parts]
    if len(sigmas) == 1:
        sigmas = sigmas * maps
    if len(sigmas) != maps:
        raise DataError(f"--sigma gives {len(sigmas)} values: give one, or one per feedforward "
                        f"map ({maps}, into blocks 2 … {maps + 1})")
    iterations = _integer("feedback_iterations", DEFAULTS["feedback_iterations"]
                          if feedback_iterations is None else feedback_iterations, 0)
    rate = _number("feedback_lr", DEFAULTS["feedback_lr"] if feedback_lr is None
                   else feedback_lr, low=0)
    return sigmas, iterations, rate


class MapFeedback:
    """The feedback maps ``G_k(x) = V_k x + c_k`` (k = 2 … K) of a generated chain ``module``
    (NumPy), their L-DRL training and the difference-target step. ``V_k`` is drawn uniformly
    in ±1/√(size of x_k) from ``seed``, ``c_k`` is zero."""

    def __init__(self, module, seed=0, sigma=None, feedback_iterations=None, feedback_lr=None):
        torch = _torch()
        self.module = module
        self.sigma, self.iterations, self.rate = settings(module, sigma, feedback_iterations,
                                                          feedback_lr)
        gen = torch.Generator().manual_seed(10_007 + seed)
        self.omega = {}
        for k in range(2, len(module.BLOCKS) + 1):
            n_o = len(module.BLOCKS[k - 2].OUTPUT_UNITS)
            n_x = sum(module.BLOCKS[k - 1].INPUT_SIZES)
            draw = (2 * torch.rand(n_o, n_x, generator=gen, dtype=torch.float64) - 1)
            self.omega[f"V{k}"] = (draw / math.sqrt(n_x)).requires_grad_()
            self.omega[f"c{k}"] = torch.zeros(n_o, dtype=torch.float64, requires_grad=True)
        self.optimizers = [torch.optim.SGD([self.omega[f"V{k}"], self.omega[f"c{k}"]],
                                           lr=self.rate, momentum=0.9)
                           for k in range(2, len(module.BLOCKS) + 1)]
        self.noise = torch.Generator().manual_seed(seed + 1)

    def G(self, k: int, x):
        """Feedback map into block ``k``'s predecessor: x_k's space → o_{k−1}'s (batched)."""
        return x @ self.omega[f"V{k}"].T + self.omega[f"c{k}"]

    def _feed(self, k: int, o, theta):
        """F_k on a Torch batch ``o`` (held: no gradient)."""
        torch = _torch()
        return torch.as_tensor(np.asarray(self.module.feed(k - 1, o.numpy(), theta),
                                          dtype=np.float64))

    def ldrl_loss(self, k: int, o, theta):
        """L_k^G, mean over the batch of free outputs ``o`` (Torch), fresh noise."""
        torch = _torch()
        sigma = self.sigma[k - 2]
        eps = torch.randn(o.shape, generator=self.noise, dtype=o.dtype)
        x = self._feed(k, o, theta)
        moved = self._feed(k, o + sigma * eps, theta)
        eta = torch.randn(x.shape, generator=self.noise, dtype=x.dtype)
        base = self.G(k, x)
        reconstruction = -2 * (sigma * eps * (self.G(k, moved) - base)).sum(1)
        spread = ((self.G(k, x + sigma * eta) - base) ** 2).sum(1)
        return (reconstruction + spread).mean()

    def learn(self, k: int, o, theta) -> None:
        """``feedback_iterations`` L-DRL steps of G_k at the free outputs ``o``."""
        o = _torch().as_tensor(np.asarray(o, dtype=np.float64))
        opt = self.optimizers[k - 2]
        for _ in range(self.iterations):
            opt.zero_grad()
            self.ldrl_loss(k, o, theta).backward()
            opt.step()

    def backward(self, beta: float, train: bool = True):
        """The ``maps`` hook of the chain's ``gradient``: for the map into block k (the
        runtime's k is 0-based), train G_k (``train``), form t_k = x_k − β dC/dx_k and the
        difference target of block k−1; return the map's gradient ∇_ω Σ L^F/(βB) and
        δ_{k−1} = (o − t_{k−1})/β."""
        torch = _torch()

        def step(k, o, dx, theta):
            if train:
                self.learn(k + 1, o, theta)
            x = np.asarray(self.module.feed(k, o, theta), dtype=np.float64)
            target = x - beta * np.asarray(dx, dtype=np.float64)
            with torch.no_grad():
                shift = self.G(k + 1, torch.as_tensor(target)) - self.G(k + 1, torch.as_tensor(x))
            previous = o + shift.numpy()
            grads, _ = self.module.feed_vjp(k, o, (x - target) / beta, theta)
            return grads, (o - previous) / beta

        return step

    def distance(self, k: int, theta) -> float:
        """‖J_G − J_Fᵀ‖_F / ‖J_F‖_F for the (affine) map into block ``k`` and its feedback."""
        n_o = len(self.module.BLOCKS[k - 2].OUTPUT_UNITS)
        eye = np.eye(n_o)
        jf_t = self.module.feed(k - 1, eye, theta) - self.module.feed(k - 1, 0 * eye, theta)
        jg = self.omega[f"V{k}"].detach().numpy()
        return float(np.linalg.norm(jg - jf_t) / np.linalg.norm(jf_t))

    def diagnostics(self, theta, x, y, beta: float, **options) -> dict:
        """The Jacobian distance of every feedback map (k = 2 … K) and, per block k = 1 … K, the
        angle (degrees) between the EP+DTP and the EP update of its parameters and those of the
        map into it, on the batch ``x, y`` (feedback held)."""
        module = self.module
        dtp = module.gradient(theta, x, y, beta=beta, check=False, maps=self.backward(
            beta, train=False), **options)["grad"]
        bp = module.gradient(theta, x, y, beta=beta, check=False, **options)["grad"]
        angles = []
        for k, block in enumerate(module.BLOCKS):
            names = list(block.PARAMS) + ([n for n in module.MAPS[k - 1].values()
                                            if n is not None] if k else [])
            u = np.concatenate([np.ravel(dtp[n]) for n in names])
            g = np.concatenate([np.ravel(bp[n]) for n in names])
            cos = float(u @ g / max(np.linalg.norm(u) * np.linalg.norm(g), 1e-300))
            angles.append(math.degrees(math.acos(max(-1.0, min(1.0, cos)))))
        return {"distance": [self.distance(k, theta) for k in range(2, len(module.BLOCKS) + 1)],
                "angle": angles}

    def state_dict(self) -> dict:
        """The feedback parameters, their optimizers' states and the noise generator's."""
        return {"omega": {k: v.detach().tolist() for k, v in self.omega.items()},
                "optimizers": [ck.encode(o.state_dict()) for o in self.optimizers],
                "noise": ck.generator_state(self.noise)}

    def load_state_dict(self, state: dict) -> None:
        torch = _torch()
        with torch.no_grad():
            for k, v in state["omega"].items():
                self.omega[k].copy_(torch.as_tensor(v, dtype=torch.float64))
        for opt, saved in zip(self.optimizers, state["optimizers"]):
            opt.load_state_dict(ck.decode(saved))
        ck.set_generator_state(self.noise, state["noise"])
