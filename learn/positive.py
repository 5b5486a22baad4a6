"""Positive parameters trained in log space.

A mass, an inductance or a capacitance must stay positive, but a plain gradient step
``θ ← θ − η ∂L/∂θ`` can cross zero. For the parameters named by ``glep train --positive``
(names, shell patterns such as ``m*``, or ``all``) and those whose symbols the system file
declares positive (``sp.symbols("m", positive=True)``), the optimizer works on ``φ = log θ``:
``θ = e^φ`` stays positive, and the gradient it steps with is ``∂L/∂φ = θ ⊙ ∂L/∂θ``.
Checkpoints and the written parameters are in θ.

>>> import sympy as sp
>>> class Ladder:  # what log_mask reads of a problem
...     name, params = "ladder", sp.symbols("L1 L2 C1 w")
>>> log_mask(Ladder, ["L1", "L2", "C1", "w"], "L*,C1").tolist()
[True, True, True, False]
>>> log_mask(Ladder, ["L1", "L2", "C1", "w"], "R*")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
glep.derive.errors.DataError: --positive R*: matches no parameter of ladder; its parameters ...
"""

from __future__ import annotations

import fnmatch

import numpy as np
import torch

from glep.derive.errors import DataError

__all__ = ["LogParameters", "log_mask", "parse"]


def parse(spec) -> str | None:
    """``--positive`` as a normalized comma-separated list (``None``: none given)."""
    if spec is None:
        return None
    tokens = [s.strip() for s in spec.split(",")] if isinstance(spec, str) else list(spec)
    if not tokens or not all(tokens):
        raise DataError(f"--positive {spec!r}: give parameter names or patterns separated by "
                        f"commas, e.g. --positive m1,m2 or --positive 'L*,C*' or all")
    return ",".join(tokens)


def log_mask(problem, names, spec=None) -> np.ndarray:
    """Which of ``names`` (the module's PARAMS) train in log space: those ``spec`` names or
    matches and those the system file declares positive."""
    declared = {p.name for p in problem.params if p.is_positive}
    mask = np.array([name in declared for name in names])
    for token in (parse(spec) or "").split(",") if spec else ():
        hits = np.array([token == "all" or fnmatch.fnmatchcase(name, token) for name in names])
        if not hits.any():
            raise DataError(f"--positive {token}: matches no parameter of {problem.name}; its "
                            f"parameters are {list(names)}")
        mask |= hits
    return mask


class LogParameters:
    """The map between parameters θ and the optimizer's variables φ (``log θ`` where
    ``mask``, θ elsewhere), in float64 torch tensors."""

    def __init__(self, mask, names):
        self.mask = torch.as_tensor(np.asarray(mask, dtype=bool))
        self.names = list(names)

    def variables(self, theta) -> torch.Tensor:
        """φ of parameters θ; a log parameter must be > 0."""
        theta = torch.as_tensor(theta, dtype=torch.float64)
        bad = [f"{n} = {float(v):g}" for n, v, m in zip(self.names, theta, self.mask)
               if m and not v > 0]
        if bad:
            raise DataError(f"--positive: {', '.join(bad)}: a parameter trained in log space "
                            f"must start > 0 (give --init, or leave it out of --positive)")
        return torch.where(self.mask, theta.clamp(min=1e-300).log(), theta)

    def parameters(self, phi) -> torch.Tensor:
        """θ of variables φ."""
        return torch.where(self.mask, phi.exp(), phi)

    def gradient(self, theta, grad) -> torch.Tensor:
        """``∂L/∂φ`` from θ and ``∂L/∂θ``: ``θ ⊙ ∂L/∂θ`` in the log entries."""
        return torch.where(self.mask, theta * grad, grad)
