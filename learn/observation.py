"""What a least-squares running cost observes: the signal its targets are compared with.

A running cost quadratic in the targets y, ``c = ½ (h − y)ᵀ A (h − y) + (terms without y)``,
is a fit of an observation ``h(t, z, θ) = argmin_y c`` to the data: ``∂c/∂y = A y − A h`` is
linear in y and vanishes at ``y = h``. A teacher's data are its observations, and the
Gauss–Newton matrix of a fit is built from ``∂h/∂θ`` and ``A = ∂²c/∂y²``.

>>> from pathlib import Path
>>> from glep.derive.systemfile import load_problem
>>> ladder = load_problem(Path(__file__).parent.parent / "systems" / "lc_ladder.py")
>>> seen = observation(ladder)
>>> seen.expressions[0], seen.weight.tolist()
((q1 - q2)/C1, [[1, 0, 0], [0, 1, 0], [0, 0, 1]])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sympy as sp
from sympy.solvers.solveset import NonlinearError

from glep.codegen.emit import load_module
from glep.derive.errors import DataError

__all__ = ["Observation", "observation"]


@dataclass(frozen=True)
class Observation:
    """The observation ``h`` (one expression per target) and the weight ``A`` of a
    least-squares running cost, in the generated module's STATE and PARAMS names."""

    targets: tuple[str, ...]
    expressions: tuple
    weight: sp.Matrix
    state: tuple[str, ...]
    params: tuple[str, ...]
    time: sp.Symbol

    def _function(self, expressions):
        symbols = [self.time, *map(sp.Symbol, self.state), *map(sp.Symbol, self.params)]
        return sp.lambdify(symbols, list(expressions), "numpy", cse=True)

    def __call__(self, t, states, theta) -> np.ndarray:
        """``h`` at times ``t`` (broadcast against the leading axes of ``states``) and
        states ``(..., len(STATE))``: shape ``(..., len(targets))``."""
        values = self._function(self.expressions)(t, *np.moveaxis(states, -1, 0), *theta)
        shape = np.shape(states)[:-1]
        return np.stack([np.broadcast_to(v, shape) for v in values], axis=-1)

    def weights(self, t, states, theta) -> np.ndarray:
        """``A = ∂²c/∂y²`` at each state: shape ``(..., k, k)``."""
        flat = self._function(list(self.weight))(t, *np.moveaxis(states, -1, 0), *theta)
        shape = np.shape(states)[:-1]
        k = len(self.targets)
        return np.stack([np.broadcast_to(v, shape) for v in flat], axis=-1).reshape(
            *shape, k, k)


def observation(problem, module=None) -> Observation:
    """The observation of ``problem``'s running cost; a :class:`DataError` says why there is
    none (no targets, a cost not quadratic in them, or one that reads what is not a state)."""
    module = module or load_module(problem, "numpy")
    cost, targets = problem.running_cost, problem.y
    where = f"{problem.name}'s running cost {cost}"
    if not targets:
        raise DataError(f"{problem.name} has no targets: the running cost compares nothing "
                        f"with data (declare Cost(..., targets=[y]))")
    try:
        weight, rhs = sp.linear_eq_to_matrix([cost.diff(y) for y in targets], targets)
    except NonlinearError:
        raise DataError(f"{where} is not quadratic in the targets {list(targets)}: it is "
                        f"not a least-squares fit of an observation") from None
    if weight.det() == 0:
        raise DataError(f"{where} does not fix every target (∂²c/∂y² is singular): each "
                        f"target needs its own squared error")
    system = problem.system
    # a Hamiltonian declaration's velocities are q̇ = ∂H/∂p, functions of the state
    velocities = dict(zip(system.v, system.plain_rhs[0])) if hasattr(system, "momenta") else {}
    expressions = tuple(sp.simplify(h.xreplace(velocities)) for h in weight.LUsolve(rhs))
    allowed = {*module.STATE, *module.PARAMS}
    for name in sorted({s.name for e in (*expressions, *weight) for s in e.free_symbols}
                       - allowed - {problem.system.time.name}):
        raise DataError(f"{where} reads {name}, which is neither a state {module.STATE} nor "
                        f"a parameter: its observation cannot be computed from a simulation")
    return Observation(tuple(y.name for y in targets), expressions, weight,
                       tuple(module.STATE), tuple(module.PARAMS), problem.system.time)
