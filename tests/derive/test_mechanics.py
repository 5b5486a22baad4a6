"""Equations of motion and Legendre transforms against SymPy's own mechanics."""

from __future__ import annotations

import pytest
import sympy as sp
from sympy.calculus.euler import euler_equations
from sympy.physics.mechanics import LagrangesMethod, dynamicsymbols

from glep.derive import Hamiltonian, Lagrangian
from tests.conftest import HAMILTONIANS, LAGRANGIANS, problem


def _rayleigh_forces(system):
    """−∂F/∂q̇ for each coordinate (zero without dissipation): the oracles know only L."""
    if system.dissipation is None:
        return [0] * len(system.coords)
    return [-sp.diff(system.dissipation, q.diff(system.time)) for q in system.coords]


def _constraints(system):
    """The declared constraints g (each meaning g = 0) as expressions."""
    if system.constraints is None:
        return []
    return [c.lhs - c.rhs if isinstance(c, sp.Equality) else c for c in system.constraints.declared]


def _constraint_forces(system):
    """−Gᵀλ for each coordinate, G = ∂g/∂q differentiated here, λ glep's multiplier symbols."""
    if system.constraints is None:
        return [0] * len(system.coords)
    G = sp.Matrix(_constraints(system)).jacobian(list(system.coords))
    return list(-G.T * sp.Matrix(system.constraints.multipliers))


def _is_zero(expr) -> bool:
    expr = sp.expand(expr)
    return expr == 0 or sp.simplify(expr) == 0


@pytest.mark.parametrize("name", LAGRANGIANS)
def test_euler_lagrange_matches_sympy_euler_equations(name):
    system = problem(name).system
    ours = system.euler_lagrange()
    theirs = euler_equations(system.expr, list(system.coords), system.time)
    assert len(ours) == len(theirs)
    forces = zip(_rayleigh_forces(system), _constraint_forces(system))
    for a, b, (force, constraint) in zip(ours, theirs, forces):
        assert a.rhs == 0 and b.rhs == 0
        assert _is_zero(a.lhs - b.lhs - force - constraint)


@pytest.mark.parametrize("name", LAGRANGIANS)
def test_euler_lagrange_matches_lagranges_method(name):
    system = problem(name).system
    constraints = _constraints(system)
    method = LagrangesMethod(system.expr, list(system.coords), hol_coneqs=constraints or None)
    theirs = method.form_lagranges_equations()  # d/dt ∂L/∂q̇ − ∂L/∂q (+ Gᵀλ) = 0
    ours = dict(zip(method.lam_vec, system.constraints.multipliers)) if constraints else {}
    for a, b, force in zip(system.euler_lagrange(), theirs, _rayleigh_forces(system)):
        assert _is_zero(a.lhs + b.xreplace(ours) - force)


@pytest.mark.parametrize("name", LAGRANGIANS)
def test_accelerations_solve_euler_lagrange(name):
    system = problem(name).system
    t = system.time
    solved = dict(zip((q.diff(t, 2) for q in system.coords), system.accelerations()))
    if system.constraints is not None:
        solved.update(zip(system.constraints.multipliers, system.multipliers()))
    for equation in system.euler_lagrange():
        assert _is_zero(equation.lhs.subs(solved))


@pytest.mark.parametrize("name", LAGRANGIANS)
def test_legendre_round_trip_gives_back_the_lagrangian(name):
    system = problem(name).system
    back = system.to_hamiltonian().to_lagrangian()
    assert _is_zero(back.expr - system.expr)


def test_coupled_oscillator_hamiltonian_equals_hand_written_one():
    system = problem("coupled_oscillators").system
    H = system.to_hamiltonian()
    t = system.time
    q = system.coords
    p = H.momenta
    names = {s.name: s for s in system.params}
    u = system.inputs[0]
    by_hand = (
        sum(p[i] ** 2 / (2 * names[f"m{i + 1}"]) for i in range(6))
        + sum(names[f"k{i + 1}"] * q[i] ** 2 / 2 for i in range(6))
        + sum(names[f"c{i + 1}"] * (q[i + 1] - q[i]) ** 2 / 2 for i in range(5))
        - u * q[0]
    )
    assert _is_zero(H.expr - by_hand)
    assert H.is_separable()
    assert str(p[0]) == f"p_q1({t})"


def test_hamilton_equations_of_a_legendre_transform_reproduce_euler_lagrange():
    system = problem("double_pendulum").system
    H = system.to_hamiltonian()
    t = system.time
    equations = {e.lhs: e.rhs for e in H.hamilton_equations()}
    # q̇ = ∂H/∂p evaluated at p = ∂L/∂q̇ gives back the velocity
    momenta = {
        pf: sp.diff(system.expr, q.diff(t)) for pf, q in zip(H.momenta, system.coords)
    }
    for q in system.coords:
        assert _is_zero(equations[q.diff(t)].subs(momenta) - q.diff(t))


def test_dynamicsymbols_are_accepted():
    q = dynamicsymbols("q")
    t = dynamicsymbols._t
    m, k = sp.symbols("m k")
    L = Lagrangian(m * q.diff(t) ** 2 / 2 - k * q**2 / 2, [q], [m, k])
    assert L.accelerations() == [-k * q / m]


def test_diagonal_mass_matrix_is_not_inverted_symbolically():
    system = problem("anharmonic_chain", n=16).system
    mass = system.plain_mass_matrix
    assert mass.is_diagonal()
    # q̈_i = f_i / m_i: each acceleration only involves its own mass
    for i, a in enumerate(system.plain_accelerations):
        masses = {s.name for s in a.free_symbols if s.name.startswith("m")}
        assert masses == {f"m{i + 1}"}


def test_hamiltonian_separability():
    t = sp.Symbol("t")
    q, p = sp.Function("q")(t), sp.Function("p")(t)
    m = sp.Symbol("m")
    assert Hamiltonian(p**2 / (2 * m) + q**4, [q], [p], [m]).is_separable()
    assert not Hamiltonian(p**2 * (1 + q**2) / 2, [q], [p], []).is_separable()
    assert not problem("double_pendulum").system.to_hamiltonian().is_separable()


@pytest.mark.parametrize("name", HAMILTONIANS)
def test_hamilton_equations_are_the_derivatives_of_h(name):
    """q̇ = ∂H/∂p, ṗ = −∂H/∂q, differentiated here from the declared H."""
    system = problem(name).system
    equations = {eq.lhs: eq.rhs for eq in system.hamilton_equations()}
    for q, p in zip(system.coords, system.momenta):
        assert _is_zero(equations[q.diff(system.time)] - sp.diff(system.expr, p))
        assert _is_zero(equations[p.diff(system.time)] + sp.diff(system.expr, q))
