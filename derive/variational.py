"""The variational form GLEP needs: a Lagrangian whose stationary paths are the dynamics.

A conservative system is its own variational form. Rayleigh damping that is
proportional to the mass matrix, ``F = ½ γ q̇ᵀ M q̇`` with constant ``M`` and scalar
``γ``, has the time-weighted Lagrangian ``L_γ = e^{γt} L`` (THEORY.md §6). Any other
dissipation has no Lagrangian, and no GLEP rule applies (the adjoint still does).

>>> import sympy as sp
>>> from glep.derive import Lagrangian
>>> t = sp.Symbol("t")
>>> q = sp.Function("q")(t)
>>> m, k, c = sp.symbols("m k c")
>>> L = Lagrangian(m * q.diff(t)**2 / 2 - k * q**2 / 2, [q], [m, k, c],
...                dissipation=c * q.diff(t)**2 / 2)
>>> form = variational_form(L)
>>> form.weight
exp(c*t/m)
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from . import mechanics
from .errors import NotQuadraticError
from .system import Hamiltonian, Lagrangian


@dataclass(frozen=True)
class VariationalForm:
    """``L̃(q, q̇, t)`` and its Legendre transform ``H̃(q, p̃, t)``, or why there is none."""

    lagrangian: sp.Expr | None  # plain symbols (q, q_dot, t, θ, x)
    hamiltonian: sp.Expr | None  # plain symbols (q, p_q, t, θ, x)
    weight: sp.Expr  # e^{γt}, or 1
    reason: str | None = None

    @property
    def available(self) -> bool:
        return self.hamiltonian is not None


def _proportional_damping(system: Lagrangian):
    """``γ`` with ``∂²F/∂q̇² = γ M`` (constant M, F quadratic in q̇), else None."""
    F = system._plain_dissipation
    v = list(system.v)
    hessian = mechanics.jacobian(mechanics.gradient(F, v), v)
    if hessian.free_symbols & set(v):
        return None
    if sp.expand(F - (sp.Matrix(v).T * hessian * sp.Matrix(v))[0] / 2) != 0:
        return None
    mass = system.plain_mass_matrix
    if mass.free_symbols & (set(system.q) | set(system.v) | {system.time}):
        return None
    i = next((i for i in range(len(v)) if mass[i, i] != 0), None)
    if i is None:
        return None
    gamma = sp.simplify(hessian[i, i] / mass[i, i])
    if gamma.free_symbols - set(system.params):
        return None
    if any(sp.simplify(e) != 0 for e in (hessian - gamma * mass)):
        return None
    return gamma


def variational_form(system) -> VariationalForm:
    """The Lagrangian GLEP differentiates, for a Lagrangian or a Hamiltonian system."""
    if isinstance(system, Hamiltonian):
        if system.dissipation is not None:
            return VariationalForm(None, None, sp.S.One, _NO_LAGRANGIAN)
        try:
            lagrangian = system._plain_lagrangian
        except NotQuadraticError:
            lagrangian = None
        return VariationalForm(lagrangian, system._plain_expr, sp.S.One)
    try:
        hamiltonian, _ = system._legendre
    except NotQuadraticError as error:
        return VariationalForm(None, None, sp.S.One, str(error))
    if system.dissipation is None:
        return VariationalForm(system._plain_expr, hamiltonian, sp.S.One)
    gamma = _proportional_damping(system)
    if gamma is None:
        return VariationalForm(None, None, sp.S.One, _NO_LAGRANGIAN)
    weight = sp.exp(gamma * system.time)
    weighted = weight * system._plain_expr
    mass = weight * system.plain_mass_matrix
    weighted_hamiltonian, _ = mechanics.legendre_to_hamiltonian(weighted, system.v, system.p, mass)
    return VariationalForm(weighted, weighted_hamiltonian, weight)


_NO_LAGRANGIAN = (
    "dissipative: the Rayleigh function is not proportional to the mass matrix, so the "
    "dynamics have no Lagrangian and GLEP does not apply (use the adjoint)"
)
