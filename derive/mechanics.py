"""Equations of motion, Legendre transforms and the properties that matter for learning.

Everything here works on plain Symbols (``q``, ``q_dot``, ``q_ddot``, ``p_q``); the
classes of :mod:`derive.system` translate to and from functions of time.  Sparsity is
exploited throughout: a derivative is only taken where the variable occurs, a diagonal
mass matrix is divided rather than inverted.

>>> import sympy as sp
>>> q, v, m, k = sp.symbols("q v m k")
>>> L = m * v**2 / 2 - k * q**2 / 2
>>> p = momenta(L, [v])
>>> mass_matrix(p, [v])
Matrix([[m]])
>>> generalized_forces(gradient(L, [q]), [q], [v], p, sp.Symbol("t"))
[-k*q]
"""

from __future__ import annotations

import random

import sympy as sp

from .errors import DegenerateLagrangianError, NotQuadraticError


def gradient(expr, variables) -> list:
    """``[∂expr/∂v for v in variables]``, differentiating only the terms where ``v`` occurs.

    A sum over many couplings (a chain's potential) is indexed term by term once, so the
    gradient costs O(terms) instead of O(terms × variables).
    """
    if isinstance(expr, sp.Add) and len(expr.args) > 4:
        wanted = set(variables)
        index: dict = {}
        for term in expr.args:
            for s in term.free_symbols & wanted:
                index.setdefault(s, []).append(term)
        return [sp.Add(*[term.diff(v) for term in index.get(v, ())]) for v in variables]
    free = expr.free_symbols
    return [expr.diff(v) if v in free else sp.S.Zero for v in variables]


def jacobian(exprs, variables) -> sp.Matrix:
    """Jacobian of a list of expressions, computed only where a variable occurs."""
    return sp.Matrix([gradient(e, variables) for e in exprs])


def total_time_derivative(expr, coords, velocities, accelerations, time, signal_rates=None):
    """d/dt of an expression in ``(q, q̇, t)``; ``signal_rates`` maps an input to its rate."""
    out = sp.S.Zero
    free = expr.free_symbols
    for q, v, a in zip(coords, velocities, accelerations):
        if q in free:
            out += expr.diff(q) * v
        if v in free:
            out += expr.diff(v) * a
    if time in free:
        out += expr.diff(time)
    for x, rate in (signal_rates or {}).items():
        if x in free:
            out += expr.diff(x) * rate
    return out


def momenta(lagrangian, velocities) -> list:
    """Canonical momenta ``p = ∂L/∂q̇``."""
    return gradient(lagrangian, velocities)


def mass_matrix(momenta_exprs, velocities) -> sp.Matrix:
    """``M = ∂²L/∂q̇² = ∂p/∂q̇``."""
    return jacobian(momenta_exprs, velocities)


def is_diagonal(matrix: sp.Matrix) -> bool:
    n = matrix.shape[0]
    return all(matrix[i, j] == 0 for i in range(n) for j in range(n) if i != j)


def check_invertible(matrix: sp.Matrix, what: str, hint: str) -> None:
    """Reject a matrix that is singular everywhere (checked at random rational points)."""
    n = matrix.shape[0]
    if is_diagonal(matrix):
        zeros = [i for i in range(n) if matrix[i, i] == 0]
        if zeros:
            raise DegenerateLagrangianError(
                f"{what} is singular: its diagonal entry {zeros[0] + 1} is zero. {hint}"
            )
        return
    free = sorted(matrix.free_symbols, key=str)
    rng = random.Random(0)
    for _ in range(3):
        point = {s: sp.Rational(rng.randint(7, 97), rng.randint(11, 53)) for s in free}
        if matrix.xreplace(point).rank() == n:
            return
    raise DegenerateLagrangianError(f"{what} is singular for every state. {hint}")


def solve_linear(matrix: sp.Matrix, rhs: list) -> list:
    """Solve ``matrix · x = rhs``; a diagonal matrix is divided, not inverted."""
    n = matrix.shape[0]
    if is_diagonal(matrix):
        return [rhs[i] / matrix[i, i] for i in range(n)]
    if n <= 3:  # adjugate over determinant: compact for the small full matrices of linkages
        det = matrix.det(method="berkowitz")
        return [e / det for e in matrix.adjugate() * sp.Matrix(rhs)]
    return list(matrix.LUsolve(sp.Matrix(rhs)))


def inverse(matrix: sp.Matrix) -> sp.Matrix:
    """Inverse, cheap for diagonal matrices."""
    if is_diagonal(matrix):
        return sp.diag(*[1 / matrix[i, i] for i in range(matrix.shape[0])])
    return matrix.inv(method="LU")


def generalized_forces(dL_dq, coords, velocities, momenta_exprs, time, dissipation=None) -> list:
    """The right-hand side ``f`` of ``M q̈ = f`` (Euler–Lagrange solved for q̈).

    ``f = ∂L/∂q − (∂p/∂q) q̇ − ∂p/∂t − ∂F/∂q̇`` with ``F`` the Rayleigh function.
    """
    dF = gradient(dissipation, velocities) if dissipation is not None else None
    forces = []
    for i, p in enumerate(momenta_exprs):
        free = p.free_symbols
        f = dL_dq[i]
        for q, v in zip(coords, velocities):
            if q in free:
                f -= p.diff(q) * v
        if time in free:
            f -= p.diff(time)
        if dF is not None:
            f -= dF[i]
        forces.append(f)
    return forces


def require_quadratic(hessian: sp.Matrix, variables, what: str) -> None:
    """A Legendre transform in closed form needs a Hessian independent of ``variables``."""
    if hessian.free_symbols & set(variables):
        raise NotQuadraticError(
            f"the {what} is not quadratic (its Hessian depends on them), so the Legendre "
            f"transform has no closed form: write the kinetic term as ½ vᵀ M(q) v + a(q)·v"
        )


def legendre_to_hamiltonian(lagrangian, velocities, momentum_symbols, mass):
    """``H(q, p)`` for ``L = ½ q̇ᵀMq̇ + a·q̇ + L0``: ``H = ½(p − a)ᵀM⁻¹(p − a) − L0``.

    Returns ``(H, velocity_of_momentum)`` where the second maps ``p`` to ``q̇``.
    """
    require_quadratic(mass, velocities, "Lagrangian in the velocities")
    at_rest = dict.fromkeys(velocities, sp.S.Zero)
    a = [e.xreplace(at_rest) for e in gradient(lagrangian, velocities)]
    l0 = lagrangian.xreplace(at_rest)
    shifted = [p - ai for p, ai in zip(momentum_symbols, a)]
    vel = solve_linear(mass, shifted)
    kinetic = sum((s * v for s, v in zip(shifted, vel)), sp.S.Zero) / 2
    return kinetic - l0, vel


def legendre_to_lagrangian(hamiltonian, momentum_symbols, velocities):
    """``L(q, q̇)`` for ``H = ½pᵀWp + b·p + H0``: ``L = ½(q̇ − b)ᵀW⁻¹(q̇ − b) − H0``."""
    w = jacobian(gradient(hamiltonian, momentum_symbols), momentum_symbols)
    require_quadratic(w, momentum_symbols, "Hamiltonian in the momenta")
    check_invertible(
        w,
        "the inverse mass matrix ∂²H/∂p²",
        "A Hamiltonian whose kinetic term is degenerate has no Lagrangian.",
    )
    at_rest = dict.fromkeys(momentum_symbols, sp.S.Zero)
    b = [e.xreplace(at_rest) for e in gradient(hamiltonian, momentum_symbols)]
    h0 = hamiltonian.xreplace(at_rest)
    shifted = [v - bi for v, bi in zip(velocities, b)]
    p = solve_linear(w, shifted)
    kinetic = sum((s * pi for s, pi in zip(shifted, p)), sp.S.Zero) / 2
    return kinetic - h0


def hamilton_rhs(hamiltonian, coords, momentum_symbols, velocities=None, dissipation=None):
    """``(q̇, ṗ) = (∂H/∂p, −∂H/∂q − ∂F/∂q̇)`` with ``q̇ = ∂H/∂p`` inside ``F``."""
    dq = gradient(hamiltonian, momentum_symbols)
    dp = [-e for e in gradient(hamiltonian, coords)]
    if dissipation is not None:
        at = dict(zip(velocities, dq))
        dp = [e - f.xreplace(at) for e, f in zip(dp, gradient(dissipation, velocities))]
    return dq, dp


def is_separable(hamiltonian, coords, momentum_symbols, others=()) -> bool:
    """``H = T(p) + V(q, ...)``: ∂H/∂p depends on the momenta and parameters only."""
    dH_dp = gradient(hamiltonian, momentum_symbols)
    forbidden = set(coords) | set(others)
    return not any(e.free_symbols & forbidden for e in dH_dp)


def euler_lagrange_residual(lagrangian, coords, velocities, accelerations, time, rates):
    """``∂L/∂q − d/dt ∂L/∂q̇`` for every coordinate (accelerations as free symbols)."""
    dL_dq = gradient(lagrangian, coords)
    p = gradient(lagrangian, velocities)
    return [
        dq - total_time_derivative(pi, coords, velocities, accelerations, time, rates)
        for dq, pi in zip(dL_dq, p)
    ]


def odd_part(expr, odd_variables):
    """``½[e(v) − e(−v)]``: the part of ``expr`` odd under ``v → −v``."""
    flipped = expr.xreplace({v: -v for v in odd_variables})
    return sp.expand((expr - flipped) / 2)


def is_null_lagrangian(lagrangian, coords, velocities, accelerations, time, rates) -> bool:
    """True when the Euler–Lagrange expression of ``lagrangian`` vanishes identically."""
    residual = euler_lagrange_residual(lagrangian, coords, velocities, accelerations, time, rates)
    return all(sp.simplify(r) == 0 for r in residual)


def lift_time(expr, time, name_of_index):
    """Replace each largest sub-expression of ``expr`` that depends on ``time`` alone (a
    known function of time such as ``sin(2*t)``) by a symbol ``name_of_index(k)``.

    The factors (or terms) of a product (or sum) that depend on time alone are lifted
    together. Returns the new expression and ``{symbol: function of time}``.

    >>> t, q, k = sp.symbols("t q k")
    >>> lift_time(k * q**2 / 2 + 3 * sp.sin(2 * t) * sp.cos(t) * q, t, lambda i: sp.Symbol(f"f{i}"))
    (3*f1*q + k*q**2/2, {f1: sin(2*t)*cos(t)})
    """
    found: dict = {}

    def symbol(sub):
        if sub not in found:
            found[sub] = name_of_index(len(found) + 1)
        return found[sub]

    def visit(e):
        free = e.free_symbols
        if time not in free:
            return e
        if free == {time}:
            return symbol(e)
        if isinstance(e, (sp.Add, sp.Mul)):
            timed = [a for a in e.args if a.free_symbols == {time}]
            rest = [visit(a) for a in e.args if a.free_symbols != {time}]
            return e.func(*rest, *([symbol(e.func(*timed))] if timed else []))
        return e.func(*[visit(a) for a in e.args])

    return visit(expr), {s: sub for sub, s in found.items()}
