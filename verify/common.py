"""What every kind's check shares: finite differences, norm-wise errors, the JSON schema.

``glep check --json`` prints one object per problem (ARCHITECTURE.md):
``{"system", "loss", "beta", "reference": {REF: {"grad": {param: value}}},
"rules": {RULE: {"available", "grad", "reference", "rel_err", "practical", "ok"}}}``;
an unavailable rule carries ``"reason"`` instead of numbers.

>>> import numpy as np
>>> central_differences(lambda v: float(v @ v), np.array([1.0, -2.0]))
array([ 2., -4.])
>>> grads = central_differences(lambda m: (m**2).sum(axis=1), np.array([3.0]), batched=True)
>>> bool(np.allclose(grads, [6.0]))
True
"""

from __future__ import annotations

import numpy as np


def central_differences(loss, x, *, relative_step: float = 1e-5, absolute_step=None,
                        batched: bool = False) -> np.ndarray:
    """``∂loss/∂x`` of a scalar function of a vector by central differences.

    The step is ``relative_step·max(1, |x_i|)`` (or ``absolute_step`` for every entry).
    ``batched``: ``loss`` takes a ``(2n, n)`` array of shifted points at once and
    returns ``2n`` values (one call instead of ``2n``).
    """
    x = np.asarray(x, dtype=float)
    if absolute_step is None:
        steps = relative_step * np.maximum(1.0, np.abs(x))
    else:
        steps = np.full(x.shape, float(absolute_step))
    shifts = np.concatenate([np.diag(steps), -np.diag(steps)])
    if batched:
        values = np.asarray(loss(x + shifts), dtype=float)
    else:
        values = np.array([float(loss(x + shift)) for shift in shifts])
    half = len(x)
    return (values[:half] - values[half:]) / (2 * steps)


def dict_differences(loss, theta: dict, *, step: float = 1e-6, names=None) -> dict:
    """Central differences of ``loss(theta)`` for a mapping of named arrays (all entries of
    ``names``, default every parameter), with an absolute step."""
    out = {}
    for name, value in theta.items():
        if names is not None and name not in names:
            continue
        value = np.asarray(value, dtype=float)

        def moved(flat, name=name, shape=value.shape):
            return loss({**theta, name: flat.reshape(shape)})

        grad = central_differences(moved, value.ravel(), absolute_step=step)
        out[name] = grad.reshape(value.shape)
    return out


def relative_error(estimate, reference) -> float:
    """Norm-wise ``‖ĝ − g‖ / ‖g‖`` (THEORY.md §0)."""
    estimate, reference = np.asarray(estimate, float), np.asarray(reference, float)
    return float(np.linalg.norm(estimate - reference) / max(np.linalg.norm(reference), 1e-300))


def _flat(grad: dict) -> np.ndarray:
    return np.array([float(v) for k in sorted(grad) for v in np.ravel(grad[k])])


def dict_error(estimate: dict, reference: dict) -> float:
    """:func:`relative_error` over every parameter of two mappings of arrays."""
    return relative_error(_flat(estimate), _flat(reference))


def as_json(grad: dict) -> dict:
    """Parameter name → float (scalar) or nested list (vector, matrix)."""
    return {k: (float(v) if np.ndim(v) == 0 else np.asarray(v, dtype=float).tolist())
            for k, v in grad.items()}
