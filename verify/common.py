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


def directions(x, count: int = 3, seed: int = 0) -> np.ndarray:
    """``count`` directions to differentiate along at ``x`` (rows): the coordinate axes when
    ``x`` has no more entries than that, else random unit vectors drawn with ``seed``; each
    scaled entrywise by ``max(1, |x_i|)``, the step scale of :func:`central_differences`.

    >>> directions(np.array([2.0, 0.5]))
    array([[2., 0.],
           [0., 1.]])
    >>> directions(np.zeros(10)).shape
    (3, 10)
    """
    x = np.asarray(x, dtype=float).ravel()
    if x.size <= count:
        unit = np.eye(x.size)
    else:
        unit = np.random.default_rng(seed).standard_normal((count, x.size))
        unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    return unit * np.maximum(1.0, np.abs(x))


def directional_differences(loss, x, rows, *, step: float = 1e-5) -> np.ndarray:
    """``(loss(x + h·d) − loss(x − h·d)) / 2h`` for each row ``d`` of ``rows``: the
    derivative of ``loss`` along ``d``, two evaluations per direction whatever ``len(x)``.

    >>> directional_differences(lambda v: float(v @ v), np.array([1.0, -2.0]),
    ...                         np.array([[1.0, 1.0]])).round(8)
    array([-2.])
    """
    x = np.asarray(x, dtype=float)
    values = np.array([[float(loss(x + sign * step * d)) for d in rows] for sign in (1, -1)])
    return (values[0] - values[1]) / (2 * step)


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


#: Relative error below which a rule matches its reference whatever its bias order (the
#: references themselves agree with each other to about this).
FLOOR = 1e-6
#: How far the measured bias slope may fall below the rule's order k.
SLOPE_MARGIN = 0.5
#: A biased estimate worse than this is not an estimate of the gradient any more.
LARGEST_BIAS = 0.5


def bias_slope(betas, errors) -> float | None:
    """Least-squares slope of log(error) against log(β); None with fewer than two
    measurable points."""
    points = [(np.log(b), np.log(e)) for b, e in zip(betas, errors) if e > 0]
    if len(points) < 2:
        return None
    x, y = np.array(points).T
    return float(np.polyfit(x, y, 1)[0])


def judge(practicality, betas, errors, *, floor: float = FLOOR, problems=()) -> dict:
    """The verdict on one rule from its relative errors at several β (largest β first).

    An exact rule must match its reference to ``floor``. A rule biased O(β^k) matches when
    its error is below ``floor``, or when its error falls at least as fast as β^(k − ½)
    between the two largest β and stays below :data:`LARGEST_BIAS`. A rule that does not
    estimate the gradient is reported, never failed. ``problems`` (e.g. a nudged phase that
    left the free phase's basin) fail the rule whatever its errors.

    >>> from glep.derive.practicality import Practicality
    >>> ep = Practicality(True, True, True, 3, "O(1)", False, False, True, 2, "")
    >>> judge(ep, [1e-2, 5e-3, 2.5e-3], [4e-4, 1e-4, 2.5e-5])["ok"]
    True
    >>> judge(ep, [0.5, 0.25, 0.125], [1.5, 1e-2, 2.5e-3])["ok"]
    False
    """
    gradient = practicality.gradient
    slope = bias_slope(betas, errors)
    out = {"gradient": gradient, "betas": [float(b) for b in betas],
           "rel_errs": [float(e) for e in errors], "bias_slope": slope}
    order, error = practicality.bias_order, errors[0]
    if order is None:
        return {**out, "ok": True, "verdict": "not a gradient estimator (reported, not judged)"}
    if problems:
        return {**out, "ok": False, "verdict": "MISMATCH: " + "; ".join(problems)}
    if error <= floor:
        return {**out, "ok": True, "verdict": "matches the reference"}
    if order == 0:
        return {**out, "ok": False,
                "verdict": f"MISMATCH: error {error:.1e} for an exact method (limit {floor:g})"}
    first = None if len(errors) < 2 or errors[1] <= 0 else float(
        np.log(errors[0] / errors[1]) / np.log(betas[0] / betas[1]))
    if first is not None and first >= order - SLOPE_MARGIN and error <= LARGEST_BIAS:
        return {**out, "ok": True,
                "verdict": f"biased O(β^{order}) as derived (slope {first:.2f})"}
    shown = "n/a" if first is None else f"{first:.2f}"
    return {**out, "ok": False,
            "verdict": f"MISMATCH: error {error:.1e} at β = {betas[0]:g}, bias slope {shown} "
                       f"where the rule's bias is O(β^{order})"}
