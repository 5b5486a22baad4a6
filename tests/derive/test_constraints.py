"""Holonomic constraints: declaration checks, equations with multipliers, the rules offered."""

from __future__ import annotations

import math

import pytest
import sympy as sp
from sympy.physics.mechanics import LagrangesMethod

from glep.codegen.kinds import kind_of
from glep.derive import Cost, Hamiltonian, Lagrangian, Problem
from glep.derive.errors import ConstraintError, DegenerateLagrangianError, InitialValueError
from glep.derive.model import Model
from glep.derive.rules import derive_rules
from tests.conftest import problem

t = sp.Symbol("t")
x, y, z, u = (sp.Function(n)(t) for n in ("x", "y", "z", "u"))
px, py = sp.Function("p_x")(t), sp.Function("p_y")(t)
m, g, length = sp.symbols("m g length")
KINETIC = m * (x.diff(t) ** 2 + y.diff(t) ** 2) / 2
CIRCLE = x**2 + y**2 - 1


def pendulum(constraints=(CIRCLE,), **options):
    return Lagrangian(KINETIC - m * g * y, [x, y], [m, g], constraints=constraints, **options)


def problem_of(system, initial, **options):
    return Problem(system, Cost(running=x**2 / 2), params={m: 1.0, g: 9.81}, initial=initial,
                   horizon=1.0, steps=10, **options)


def test_accelerations_match_lagranges_method_with_holonomic_constraints():
    """A bead on a tilted parabola z = x² + y (two constraints, three coordinates)."""
    kinetic = m * (x.diff(t) ** 2 + y.diff(t) ** 2 + z.diff(t) ** 2) / 2
    constraints = [z - x**2 - y, sp.Eq(x + y, 1)]
    system = Lagrangian(kinetic - m * g * z, [x, y, z], [m, g], constraints=constraints)
    method = LagrangesMethod(kinetic - m * g * z, [x, y, z],
                             hol_coneqs=[z - x**2 - y, x + y - 1])
    method.form_lagranges_equations()
    theirs = method.rhs()[3:6]
    point = {x: 0.3, y: 0.7, z: 0.79, x.diff(t): 0.4, y.diff(t): -0.4, z.diff(t): -0.16,
             m: 1.3, g: 9.81}
    for ours, expected in zip(system.accelerations(), theirs):
        assert abs(float(ours.subs(point) - expected.subs(point))) <= 1e-12


def test_hamiltonian_with_constraints_moves_like_its_lagrangian():
    system = pendulum()
    H = Hamiltonian((px**2 + py**2) / (2 * m) + m * g * y, [x, y], [px, py], [m, g],
                    constraints=[CIRCLE])
    equations = {e.lhs: e.rhs for e in H.hamilton_equations()}
    assert equations[px.diff(t)] == -2 * x * sp.Symbol("lambda_1")
    _, dp = H.plain_rhs
    at = {sp.Symbol("x"): 0.6, sp.Symbol("y"): -0.8, sp.Symbol("p_x"): 1.6, sp.Symbol("p_y"): 1.2,
          m: 2.0, g: 9.81}
    velocity = {sp.Symbol("x_dot"): 0.8, sp.Symbol("y_dot"): 0.6}
    for rate, acceleration in zip(dp, system.plain_accelerations):
        expected = 2.0 * acceleration.xreplace({**at, **velocity})  # ṗ = m q̈
        assert abs(float(rate.xreplace(at) - expected)) <= 1e-12


@pytest.mark.parametrize(("constraints", "words"), [
    ([x * x.diff(t) + y * y.diff(t)], "velocity (non-holonomic) constraints are not supported"),
    ([x**2 + y**2 - length**2], "a learned constraint would move the manifold"),
    ([x**2 + y**2 - 1 - t], "a moving constraint"),
    ([CIRCLE, 2 * CIRCLE], "not independent"),
    ([CIRCLE, x - y, z], "leave nothing to move"),
    ([sp.Integer(3)], "does not involve any coordinate"),
])
def test_unusable_constraints_are_refused_with_a_reason(constraints, words):
    lagrangian = KINETIC + m * z.diff(t) ** 2 / 2 - m * g * y
    with pytest.raises(ConstraintError, match="constraint") as error:
        Lagrangian(lagrangian, [x, y, z], [m, g, length], constraints=constraints)
    assert words in str(error.value)


def test_constraints_with_dissipation_are_refused():
    with pytest.raises(ConstraintError, match="dissipation"):
        pendulum(dissipation=g * x.diff(t) ** 2)


def test_a_multiplier_coordinate_points_to_constraints():
    lam = sp.Function("lam")(t)
    with pytest.raises(DegenerateLagrangianError, match=r"constraints=\[g\(q\)\]"):
        Lagrangian(KINETIC - m * g * y - lam * CIRCLE, [x, y, lam], [m, g]).accelerations()


@pytest.mark.parametrize(("initial", "words"), [
    ({x: 0.5, y: -0.5, x.diff(t): 0.0, y.diff(t): 0.0}, "off the constraint manifold"),
    ({x: 0.6, y: -0.8, x.diff(t): 0.6, y.diff(t): 0.0}, "not tangent"),
    ({x: 0.6, y: -0.8, sp.Function("p_x")(t): 1.0, sp.Function("p_y")(t): 0.0}, "not tangent"),
])
def test_inconsistent_initial_states_are_refused(initial, words):
    with pytest.raises(InitialValueError, match="initial") as error:
        problem_of(pendulum(), initial)
    assert words in str(error.value)


def test_a_consistent_initial_state_is_accepted_with_velocities_or_momenta():
    a = 0.4
    on = {x: math.sin(a), y: -math.cos(a)}
    problem_of(pendulum(), {**on, x.diff(t): math.cos(a), y.diff(t): math.sin(a)})
    problem_of(pendulum(), {**on, sp.Function("p_x")(t): 2 * math.cos(a),
                            sp.Function("p_y")(t): 2 * math.sin(a)})


def test_rules_of_a_constrained_system_say_what_is_available_and_why():
    rules = derive_rules(problem("cartesian_pendulum"))
    available = {name for name, rule in rules.items() if rule.available}
    assert available == {"HEL", "BPTT", "adjoint"}
    assert "RATTLE" in rules["HEL"].title and "RATTLE" in rules["BPTT"].title
    for name in ("CIVP", "CBVP", "PFVP"):
        assert "not derived for constrained systems" in rules[name].practicality.reason
    assert rules["HEL"].practicality.practical and not rules["BPTT"].practicality.practical
    text = kind_of(problem("cartesian_pendulum")).rules_text(problem("cartesian_pendulum"))
    assert "== HEL: Hamiltonian echo learning, discrete, on RATTLE (available)" in text
    assert "== BPTT: backpropagation through the RATTLE steps" in text


def test_without_constant_mass_there_is_no_rattle_and_no_echo():
    varying = Lagrangian((1 + x**2) * x.diff(t) ** 2 / 2 + y.diff(t) ** 2 / 2 - g * y, [x, y], [g],
                         constraints=[CIRCLE])
    p = Problem(varying, Cost(running=x**2 / 2), params={g: 9.81},
                initial={x: 0.0, y: -1.0, x.diff(t): 0.3, y.diff(t): 0.0}, horizon=1.0, steps=10)
    assert Model.from_problem(p).methods == ("rk4",)
    reason = derive_rules(p)["HEL"].practicality.reason
    assert "RATTLE" in reason and "constant inverse mass matrix" in reason


def test_derive_prints_constraints_and_multipliers():
    text = kind_of(problem("cartesian_pendulum")).describe(problem("cartesian_pendulum"))
    assert "0 = x**2 + y**2 - 1.0" in text
    assert "lambda_1 = " in text and "M q̈ = ∂L/∂q − Gᵀλ" in text
    assert "-2*lambda_1*x" in text  # the Euler–Lagrange equations carry the multiplier
