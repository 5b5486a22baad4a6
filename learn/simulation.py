"""Simulate a problem through its generated module, with glep's own input checks.

>>> from pathlib import Path
>>> from glep.derive.systemfile import load_problem
>>> problem = load_problem(Path(__file__).parent.parent / "systems" / "double_pendulum.py")
>>> simulate(problem, method="leapfrog")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
glep.derive.errors.NotSeparableError: double_pendulum: leapfrog needs a separable Hamiltonian ...
>>> simulate(problem, method="implicit_midpoint", steps=10).shape
(11, 4)
"""

from __future__ import annotations

import math
import numbers

from glep.codegen.emit import load_module
from glep.derive.errors import HorizonError, StepsError
from glep.derive.model import Model
from glep.derive.problem import Problem


def simulate(problem: Problem, *, method="rk4", backend="numpy", horizon=None, steps=None,
             z0=None, theta=None, inputs=None):
    """The trajectory of ``problem`` (defaults from the problem), shape ``(steps + 1, ...)``."""
    model = Model.from_problem(problem)
    model.require_method(method)
    horizon = problem.horizon if horizon is None else horizon
    steps = problem.steps if steps is None else steps
    if (isinstance(horizon, bool) or not isinstance(horizon, numbers.Real)
            or not math.isfinite(horizon) or not horizon > 0):
        raise HorizonError(f"horizon is {horizon!r}: give a positive, finite duration")
    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or steps <= 0:
        raise StepsError(f"steps is {steps!r}: give a positive integer number of steps")
    horizon, steps = float(horizon), int(steps)
    module = load_module(problem, backend)
    return module.simulate(
        module.INITIAL_STATE if z0 is None else z0,
        module.PARAM_VALUES if theta is None else theta,
        horizon=horizon,
        steps=steps,
        method=method,
        inputs=inputs,
    )
