"""Which parameter combinations the data can identify: the Gauss–Newton matrix at a solution.

A least-squares fit (:mod:`glep.learn.observation`) has the loss
``L(θ) = (1/B) Σ_b ∫ ½ (h − y)ᵀ A (h − y) dt`` and the Gauss–Newton matrix

    G = JᵀJ = (1/B) Σ_b ∫ (∂h/∂φ)ᵀ A (∂h/∂φ) dt,    h = h(z(t; θ), θ),

the curvature of the loss that the data give, whatever the residuals. A direction v of
parameter space with singular value σ changes the loss by ½ σ s² for a step s along it; a
direction with σ ≈ 0 changes nothing observed, so every parameter vector along it fits the
data equally and the data cannot identify it. ``∂h/∂φ`` is taken by central finite
differences of the simulated observations in log-parameters ``φ_i = log|θ_i|``
(``dφ = dθ/θ``; θ itself for a parameter that is 0): a scaling symmetry such as
``L → αL, C → C/α`` of an LC ladder is then one exact straight direction, +1 on every log L
and −1 on every log C (normalized).

>>> print(direction_text([0.5, -0.5, 0.7, 0.01], ["L1", "C1", "k", "w"]))
+0.70 k +0.50 L1 −0.50 C1
"""

from __future__ import annotations

import numpy as np

from glep.codegen.emit import load_module
from glep.derive.errors import DataError

from .observation import observation

__all__ = ["direction_text", "gauss_newton", "identifiability", "report_text"]

#: A direction is unidentifiable when its singular value is at most RTOL × the largest.
RTOL = 1e-8
#: A relative parameter error above this, with an unidentifiable direction, is warned about.
LARGE_ERROR = 1e-2
#: At most this many numbers in ∂h/∂φ (parameters × samples × trajectories × targets):
#: fewer trajectories are used when a data set is larger.
BUDGET = 2**24


def direction_text(vector, names, smallest=0.05, most=10) -> str:
    """``+0.58 L1 +0.58 L2 −0.58 C1``: the components of at least ``smallest`` in
    magnitude, largest first (at most ``most`` of them, then ``…``)."""
    order = sorted(range(len(names)), key=lambda i: -round(abs(vector[i]), 2))
    terms = [f"{vector[i]:+.2f} {names[i]}".replace("-", "−") for i in order
             if abs(vector[i]) >= smallest]
    return " ".join(terms[:most] + ["…"] * (len(terms) > most))


def _jacobian(module, seen, theta, log, z0, inputs, t, epsilon):
    """∂h/∂φ at every sample, ``(parameters, N + 1, B, targets)``, and h's states."""
    steps = len(t) - 1

    def observed(values):
        with np.errstate(all="ignore"):
            states = module.simulate(z0, values, steps=steps, inputs=inputs)
        return seen(t[:, None], states, values), states

    columns = []
    for i in range(len(theta)):
        shifted = []
        for sign in (1, -1):
            values = theta.copy()
            values[i] = theta[i] * np.exp(sign * epsilon) if log[i] else theta[i] + sign * epsilon
            shifted.append(observed(values)[0])
        columns.append((shifted[0] - shifted[1]) / (2 * epsilon))
    return np.stack(columns), observed(theta)[1]


def gauss_newton(problem, data, theta, *, steps=None, trajectories=64, epsilon=1e-5):
    """``G = JᵀJ`` of the fit of ``problem`` at ``theta`` to the training set of ``data``
    (its first ``trajectories``, fewer if ∂h/∂φ would hold more than :data:`BUDGET`
    numbers), simulated with ``steps`` (default: the problem's), in the coordinates
    ``log|θ_i|`` (``θ_i`` where it is 0); those coordinates' kinds, ``"log"`` or
    ``"theta"``; and the number of trajectories used. Raises :class:`DataError` when the
    cost is not a least-squares fit and ``ArithmeticError`` when the simulation blows up."""
    module = load_module(problem, "numpy")
    seen = observation(problem, module)
    theta = np.asarray(theta, dtype=float)
    log = theta != 0
    steps = problem.steps if steps is None else steps
    count = max(1, min(trajectories, data.size,
                       BUDGET // (len(theta) * (steps + 1) * len(seen.targets))))
    t = np.linspace(0.0, problem.horizon, steps + 1)
    weights = np.full(steps + 1, problem.horizon / steps / count)
    weights[[0, -1]] /= 2  # the trapezoid rule over [0, T], averaged over the batch
    jacobian, states = _jacobian(module, seen, theta, log, data.z0[:count],
                                 data.inputs[:count], t, epsilon)
    if seen.weight.free_symbols:
        weighted = np.einsum("nbkl,pnbl->pnbk", seen.weights(t[:, None], states, theta),
                             jacobian)
    else:
        weighted = np.einsum("kl,pnbl->pnbk", np.asarray(seen.weight, dtype=float), jacobian)
    matrix = np.einsum("pnbk,qnbk,n->pq", jacobian, weighted, weights)
    return matrix, ["log" if v else "theta" for v in log], count


def identifiability(problem, data, theta, *, steps=None, trajectories=64, epsilon=1e-5,
                    rtol=RTOL) -> dict:
    """The identifiability report of ``theta`` (see :func:`gauss_newton` for the
    arguments): singular values of G, its condition number, the directions with
    ``σ ≤ rtol σ_max`` (named in parameters) and, when ``data.true_theta`` is known, the
    parameter error. A problem whose cost is not a least-squares fit, or whose simulation
    blows up near ``theta``, gets ``{"skipped": reason}``."""
    names = list(load_module(problem, "numpy").PARAMS)
    theta = np.asarray(theta, dtype=float)
    try:
        matrix, coordinates, count = gauss_newton(problem, data, theta, steps=steps,
                                                  trajectories=trajectories, epsilon=epsilon)
    except DataError as error:
        return {"skipped": str(error)}
    except ArithmeticError as error:
        return {"skipped": f"the simulation blew up near the trained parameters: {error}"}
    if not np.all(np.isfinite(matrix)):
        return {"skipped": "the simulated observations near the trained parameters are not "
                           "finite"}
    _, values, vectors = np.linalg.svd(matrix)
    leading = np.argmax(np.abs(vectors) >= 0.5 * np.abs(vectors).max(axis=1, keepdims=True),
                        axis=1)  # the first large component of each direction is positive
    vectors *= np.sign(vectors[np.arange(len(names)), leading])[:, None]

    def direction(i):
        return {"singular_value": float(values[i]),
                "relative": float(values[i] / values[0]) if values[0] else 0.0,
                "vector": dict(zip(names, map(float, vectors[i]))),
                "text": direction_text(vectors[i], names)}

    blind = [i for i in range(len(names)) if values[i] <= rtol * values[0]]
    report = {
        "parameters": names, "theta": theta.tolist(), "coordinates": coordinates,
        "trajectories": count,
        "steps": problem.steps if steps is None else steps, "epsilon": epsilon, "rtol": rtol,
        "singular_values": values.tolist(),
        "condition_number": float(values[0] / values[-1]) if values[-1] > 0 else None,
        "unidentifiable": [direction(i) for i in blind],
        "weakest": direction(len(names) - 1),
        "parameter_error": None, "error_along_unidentifiable": None, "warning": None,
    }
    if data.true_theta is not None:
        _compare(report, theta, np.asarray(data.true_theta, dtype=float),
                 np.array(coordinates) == "log", vectors[blind])
    return report


def _compare(report, theta, truth, log, blind) -> None:
    """The parameter error, the share of it (in log-parameters) along the unidentifiable
    directions, and a warning when it is large and such a direction exists."""
    error = float(np.linalg.norm(theta - truth) / max(np.linalg.norm(truth), 1e-300))
    report["parameter_error"] = error
    if len(blind) == 0 or error <= LARGE_ERROR:
        return
    share = ""
    ratio = np.divide(theta, truth, out=np.zeros_like(theta), where=truth != 0)
    if np.all(ratio[log] > 0):
        step = np.where(log, np.log(np.where(log, ratio, 1.0)), theta - truth)
        along = float(np.linalg.norm(blind @ step) / max(np.linalg.norm(step), 1e-300))
        report["error_along_unidentifiable"] = along
        share = f" and {along:.0%} of it (in log-parameters) lies along them"
    report["warning"] = (
        f"the parameter error stays {error:.2g}{share}: these data cannot identify the "
        f"parameters along the direction(s) above (every point along them fits equally); "
        f"observe something they change, or fix a parameter")


def report_text(report, label="") -> str:
    """The report as ``glep train`` prints it."""
    head = f"identifiability{f' ({label})' if label else ''}"
    if "skipped" in report:
        return f"{head}: not computed: {report['skipped']}"
    values = report["singular_values"]
    shown = values if len(values) <= 12 else [*values[:3], None, *values[-3:]]
    condition = report["condition_number"]
    lines = [
        f"{head}: Gauss–Newton matrix JᵀJ of the residuals at the trained parameters "
        f"({report['trajectories']} trajectories), in log-parameters d log θ",
        "  singular values: " + " ".join("…" if v is None else f"{v:.2e}" for v in shown),
        f"  condition number: {'∞' if condition is None else f'{condition:.2e}'}",
    ]
    blind = report["unidentifiable"]
    if blind:
        lines.append(f"  the data cannot see {len(blind)} direction(s) (singular value ≤ "
                     f"{report['rtol']:g} × the largest):")
        lines += [f"    {d['singular_value']:.2e}: {d['text']}" for d in blind[-3:]]
        if len(blind) > 3:
            lines.append(f"    … and {len(blind) - 3} more (identifiability.json)")
    else:
        weakest = report["weakest"]
        lines.append(f"  weakest direction ({weakest['relative']:.2e} × the largest): "
                     f"{weakest['text']}")
    if report["warning"]:
        lines.append(f"  warning: {report['warning']}")
    return "\n".join(lines)
