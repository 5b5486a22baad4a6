"""Optimizers for binary synapses: the flip rule of binary EP and metaplastic Adam.

Both read the loss gradient from ``.grad`` as every ``torch.optim`` optimizer does, so they
step parameters trained by any rule glep computes (the EP family writes its estimate ĝ of
dC/dθ there, backpropagation and HEL theirs).

:class:`BinaryFlip` (Laydevant et al. 2021, "Training dynamical binary neural networks with
equilibrium propagation") keeps no latent weights: each weight is a sign (or ±α), and a
momentum buffer of the update direction g = −∇ decides when it flips,

    m ← (1 − γ) m + γ g,        W ← −W  where  −sign(W) ⊙ m > τ.

:class:`Metaplastic` (Laborieux et al. 2021, "Synaptic metaplasticity in binarized neural
networks", Nature Communications) is Adam on hidden weights W_h whose signs are the binary
weights; a step that would push |W_h| toward zero is multiplied by
f_meta = 1 − tanh²(meta·|W_h|), so that weights grown far from zero (important for earlier
tasks) become hard to flip. ``meta = 0`` is Adam.

>>> import torch
>>> w = torch.nn.Parameter(torch.tensor([1.0, -1.0, 1.0]))
>>> opt = BinaryFlip([w], gamma=1.0, tau=0.0)
>>> w.grad = torch.tensor([0.5, 0.5, -0.5])   # descent wants w[0] < 0, w[2] > 0
>>> opt.step()
>>> w.data.tolist(), opt.flips()
([-1.0, -1.0, 1.0], 1)
"""

from __future__ import annotations

import math

import torch


def _positive(value, name: str, allow_zero: bool = True) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}={value!r}: give a number") from None
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        bound = "≥ 0" if allow_zero else "> 0"
        raise ValueError(f"{name}={value!r}: give a finite number {bound}")
    return value


class BinaryFlip(torch.optim.Optimizer):
    """The momentum/threshold flip rule for binary weights (BOP as used by binary EP).

    For every parameter with a gradient, with g = −``.grad`` (the EP update direction):

        m ← (1 − γ) m + γ g,        W ← −W  where  −sign(W) ⊙ m > τ.

    The magnitude of W is kept, so a weight stored as ±1 (the sign pattern, scaled by a
    separate α) or as ±α stays binary. A weight at exactly 0 never flips: initialise with
    signs. Biases and scales α are not binary: step them with another optimizer.

    Args:
        params: the binary weights, or parameter groups (dicts) with their own ``gamma``/``tau``.
        gamma: the momentum's rate γ ∈ (0, 1]. The paper uses a per-layer γ of about 1e-5 to
            2e-7 for EP's raw gradient (1 / (β·B) contrasts); γ = 1 follows the current
            gradient's sign.
        tau: the flip threshold τ ≥ 0 (1e-8 to 5e-7 in the paper's code).

    After each :meth:`step`, ``state[p]["flips"]`` is the number of weights of ``p`` flipped
    by that step and ``state[p]["total_flips"]`` the running total; :meth:`flips` sums the
    last step's counts over every parameter.

    >>> import torch
    >>> w = torch.nn.Parameter(torch.ones(4))
    >>> opt = BinaryFlip([{"params": [w], "gamma": 0.5, "tau": 0.1}])
    >>> for _ in range(2):
    ...     w.grad = torch.tensor([1.0, 0.1, -1.0, 0.3])
    ...     opt.step()
    >>> w.data.tolist(), opt.state[w]["total_flips"]
    ([-1.0, 1.0, 1.0, -1.0], 2)
    """

    def __init__(self, params, gamma: float = 1e-5, tau: float = 1e-7):
        gamma = _positive(gamma, "gamma", allow_zero=False)
        if gamma > 1:
            raise ValueError(f"gamma={gamma!r}: the momentum rate must be in (0, 1]")
        super().__init__(params, {"gamma": gamma, "tau": _positive(tau, "tau")})
        for group in self.param_groups:
            group["gamma"] = _positive(group["gamma"], "gamma", allow_zero=False)
            if group["gamma"] > 1:
                raise ValueError(f"gamma={group['gamma']!r}: the momentum rate must be in (0, 1]")
            group["tau"] = _positive(group["tau"], "tau")

    @torch.no_grad()
    def step(self, closure=None):
        """Update the momenta and flip the weights they oppose by more than τ."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            gamma, tau = group["gamma"], group["tau"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if "momentum" not in state:
                    state["momentum"] = torch.zeros_like(p)
                    state["total_flips"] = 0
                m = state["momentum"]
                m.mul_(1 - gamma).add_(p.grad, alpha=-gamma)
                flip = -torch.sign(p) * m > tau
                p.copy_(torch.where(flip, -p, p))
                state["flips"] = int(flip.sum())
                state["total_flips"] += state["flips"]
        return loss

    def flips(self) -> int:
        """The number of weights the last step flipped, over every parameter."""
        return sum(int(s.get("flips", 0)) for s in self.state.values())


class Metaplastic(torch.optim.Optimizer):
    """Adam with metaplastic attenuation of the steps that shrink a hidden weight.

    The hidden weight W_h of a binary synapse is the parameter; the network uses sign(W_h).
    With Adam's moments m₁, m₂ (bias-corrected as in ``torch.optim.Adam``), the step of a
    parameter with two or more dimensions is

        ΔW_h = −lr · f · m̂₁ / (√m̂₂ + eps),   f = 1 − tanh²(meta·|W_h|) where sign(W_h)·m₁ > 0,
                                               f = 1 elsewhere,

    so only the steps toward zero (the ones that can flip sign(W_h)) are slowed, the more the
    larger |W_h|; steps that grow |W_h| are never attenuated. One-dimensional parameters
    (biases, batch-norm scales) take plain Adam steps. ``meta = 0`` is ``torch.optim.Adam``.

    Args:
        params: the parameters or parameter groups (each may set its own ``meta``, ``lr``...).
        lr: the step size (the paper: 0.005 for permuted MNIST, 0.005–0.0005 elsewhere).
        meta: the metaplasticity m ≥ 0 (the paper: 1.3–1.35 for permuted MNIST; 0 is a plain
            BNN trained with Adam).
        betas: Adam's moment rates (the paper: (0.9, 0.999)).
        eps: Adam's denominator guard (the paper: 1e-8).
        weight_decay: L2 penalty added to the gradient, as in ``torch.optim.Adam`` (the paper: 0
            with metaplasticity).

    >>> import torch
    >>> w = torch.nn.Parameter(torch.tensor([[2.0, -2.0]]))
    >>> opt = Metaplastic([w], lr=0.1, meta=1.0)
    >>> w.grad = torch.tensor([[1.0, 1.0]])    # shrinks |w[0]|, grows |w[1]|
    >>> opt.step()
    >>> [round(v, 4) for v in w.data[0].tolist()]
    [1.9929, -2.1]
    """

    def __init__(self, params, lr: float = 0.005, meta: float = 1.35,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0):
        try:
            b1, b2 = (float(b) for b in betas)
        except (TypeError, ValueError):
            raise ValueError(f"betas={betas!r}: give two numbers in [0, 1)") from None
        if not (0 <= b1 < 1 and 0 <= b2 < 1):
            raise ValueError(f"betas={betas!r}: give two numbers in [0, 1)")
        defaults = {"lr": _positive(lr, "lr"), "meta": _positive(meta, "meta"),
                    "betas": (b1, b2), "eps": _positive(eps, "eps"),
                    "weight_decay": _positive(weight_decay, "weight_decay")}
        super().__init__(params, defaults)
        for group in self.param_groups:
            for key in ("lr", "meta", "eps", "weight_decay"):
                group[key] = _positive(group[key], key)

    @staticmethod
    def attenuation(hidden, meta: float):
        """f_meta = 1 − tanh²(meta·|W_h|) ∈ (0, 1], equal to 1 at meta = 0 or W_h = 0; computed
        as 1 / cosh² (no cancellation where tanh² is close to 1)."""
        return torch.cosh(meta * hidden.abs()) ** -2

    @torch.no_grad()
    def step(self, closure=None):
        """One Adam step per parameter, attenuated where it shrinks a hidden weight."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad
                if group["weight_decay"]:
                    grad = grad.add(p, alpha=group["weight_decay"])
                state = self.state[p]
                if "step" not in state:
                    state["step"] = torch.tensor(0.0)
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                state["step"] += 1
                t = float(state["step"])
                m1, m2 = state["exp_avg"], state["exp_avg_sq"]
                m1.lerp_(grad, 1 - beta1)
                m2.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                step_size = group["lr"] / (1 - beta1**t)
                denom = (m2.sqrt() / math.sqrt(1 - beta2**t)).add_(group["eps"])
                direction = m1
                if p.dim() >= 2 and group["meta"]:
                    toward_zero = torch.sign(p) * m1 > 0
                    direction = torch.where(toward_zero,
                                            self.attenuation(p, group["meta"]) * m1, m1)
                p.addcdiv_(direction, denom, value=-step_size)
        return loss
