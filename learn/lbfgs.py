"""L-BFGS whose line search counts a non-finite trial loss as +∞.

``torch.optim.LBFGS`` with the strong-Wolfe line search evaluates trial points
``x + t d``; a trial step too long for the system (a simulation that blows up, an ``exp``
that overflows) gives a non-finite loss, and the line search's cubic interpolation would
turn it into a NaN step. Here the closure raises :class:`NonFiniteTrial` at such a point,
and the line search sees instead the value ``f(x)⁺`` (the next float above the loss at the
line search's start) with the slope ``−g(x)·d`` > 0: the Armijo test fails, so the point
brackets the step from above and is never accepted, and the cubic through ``(0, f, g·d)``
and ``(t, f⁺, −g·d)`` is symmetric, so the next trial is ``t/2`` — the line search
backtracks. A non-finite loss at the start of a step (an accepted point) is not caught:
the caller's divergence handling stops the run. A trial point's ``RuntimeWarning`` (e.g. an
integration step beyond its stability limit, at a step the line search may reject) is
silenced; the next step starts by evaluating the accepted point again, warnings included.

>>> theta = torch.nn.Parameter(torch.tensor([3.0], dtype=torch.float64))
>>> opt = LBFGS([theta], lr=100.0, line_search_fn="strong_wolfe")
>>> def closure():  # (θ − 1)², undefined (blows up) beyond θ = 10
...     opt.zero_grad()
...     if abs(float(theta.detach())) > 10:
...         raise NonFiniteTrial("blew up")
...     loss = (theta - 1.0) ** 2
...     loss.backward()
...     return float(loss.detach())
>>> _ = opt.step(closure)
>>> round(float(theta.detach()), 6), opt.rejected > 0
(1.0, True)
"""

from __future__ import annotations

import math
import warnings

import torch

__all__ = ["LBFGS", "NonFiniteTrial"]


class NonFiniteTrial(ArithmeticError):
    """The loss or gradient at a point is not finite (raised by a training closure)."""


class LBFGS(torch.optim.LBFGS):
    """``torch.optim.LBFGS`` whose line search backtracks from a :class:`NonFiniteTrial`;
    ``rejected`` counts such trial points."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.rejected = 0
        self._seen = {}

    def _key(self, params) -> bytes:
        return b"".join(p.detach().cpu().numpy().tobytes() for p in params)

    def step(self, closure):
        """One L-BFGS step; every finite evaluation is remembered for the line search."""
        self._seen = {}

        def remembered():
            loss = closure()
            self._seen[self._key(self._params)] = (float(loss), self._gather_flat_grad().clone())
            return loss

        return super().step(remembered)

    def _directional_evaluate(self, closure, x, t, d):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                return super()._directional_evaluate(closure, x, t, d)
        except NonFiniteTrial:
            self._set_param(x)
            start = self._seen.get(self._key(x))
            if start is None:  # never happens: every line search starts at an evaluated point
                raise
            self.rejected += 1
            loss, grad = start
            return math.nextafter(loss, math.inf), -grad
