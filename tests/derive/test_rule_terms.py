"""The printed rule is the whole rule: every parameter's contrast integrand, the cost's own
terms ∂c/∂θ and ∂ψ/∂θ, and every signal the update reads (``glep rules`` and ``--json``).

Oracles: finite differences of the declared H, L, c and ψ (evaluated numerically, not
differentiated by glep), the generated module's own gradient pieces, and the adjoint.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

from glep.cli import main
from glep.codegen.emit import load_module
from glep.derive.systemfile import load_problem
from tests.conftest import SYSTEMS

HERE = Path(__file__).resolve().parent / "systems"
LC = HERE / "lc_readout.py"


def _rules_json(capsys, path) -> dict:
    assert main(["rules", str(path), "--json"]) == 0
    return json.loads(capsys.readouterr().out)["rules"]


def _parse(text: str, module):
    """A printed expression, with every declared name as a plain Symbol."""
    names = (*module.STATE, *module.PARAMS, *module.INPUTS, *module.TARGETS, "t")
    names += tuple(f"{s}_dot" for s in module.STATE)
    return sp.sympify(text, locals={n: sp.Symbol(n) for n in names})


def _evaluate(expr, values: dict) -> float:
    return float(expr.xreplace({sp.Symbol(k): v for k, v in values.items()}))


def _derivative(f, x: float, h: float = 1e-6) -> float:
    return (f(x + h) - f(x - h)) / (2 * h)


# -- the LC ladder: a Hamiltonian with a cost-only gain w and a shared capacitance C3 --------


def test_json_lists_both_terms_of_a_shared_parameter_and_the_targets(capsys):
    rules = _rules_json(capsys, LC)
    for name in ("CIVP", "CBVP", "PFVP", "HEL"):
        rule = rules[name]
        assert rule["bulk_name"] == "−∂H/∂θ"
        shared, gain = rule["update"]["C3"], rule["update"]["w"]
        assert shared["bulk"] != "0" and shared["running"] != "0" and shared["terminal"] == "0"
        assert gain["bulk"] == "0" and gain["running"] != "0" and gain["terminal"] != "0"
        assert rule["reads"]["C3"] == rule["update"]["C3"]["reads"] == ["q2", "q3", "y"]
        assert rule["reads"]["w"] == ["q2", "q3", "y"]
        # a Hamiltonian declaration reads its own momenta, not velocities
        assert rule["reads"]["L1"] == ["phi1"]
    assert "update" not in rules["adjoint"]


def test_text_prints_each_term_and_the_reads(capsys):
    assert main(["rules", str(LC)]) == 0
    out = capsys.readouterr().out
    assert "−∂H/∂θ contrasted between the nudged\nruns" in out
    assert "C3: −∂H/∂C3 = (q2 - q3)**2/(2*C3**2)" in out
    assert "∂c/∂C3 = " in out and "∂c/∂w = " in out and "∂ψ/∂w = q3**2/2" in out
    assert out.count("[reads q2, q3, y]") == 2
    assert "L1: −∂H/∂L1 = phi1**2/(2*L1**2)   [reads phi1]" in out
    assert "∂L/∂" not in out and "q1_dot" not in out
    assert "from (q0, p0) given" in out and "q̇0" not in out
    assert "−(1/2β) ∫_0^T [∂H/∂θ(Φ^+β) − ∂H/∂θ(Φ^−β)] dt + ∫_0^T ∂c/∂θ(Φ^0) dt" in out


@pytest.fixture(scope="module")
def lc():
    problem = load_problem(LC)
    return problem, load_module(problem, "numpy")


def _point(module, rng):
    """A random canonical state, parameters, input and target."""
    values = dict(zip(module.STATE, rng.normal(size=len(module.STATE))))
    values.update(zip(module.PARAMS, np.array(module.PARAM_VALUES) * rng.uniform(0.8, 1.2,
                                                                              len(module.PARAMS))))
    values.update(zip(module.INPUTS, rng.normal(size=len(module.INPUTS))))
    values.update(zip(module.TARGETS, rng.normal(size=len(module.TARGETS))))
    return values


def test_printed_terms_equal_the_generated_modules_pieces(capsys, lc, rng):
    _, module = lc
    update = _rules_json(capsys, LC)["HEL"]["update"]
    for _ in range(3):
        v = _point(module, rng)
        z = np.array([v[s] for s in module.STATE])
        theta = np.array([v[p] for p in module.PARAMS])
        c = module.prepare(theta)
        x = np.array([v[s] for s in module.INPUTS])
        y = np.array([v[s] for s in module.TARGETS])
        pieces = {"bulk": -module._dH_dtheta(0.4, z, c, x),
                  "running": module._cost_dtheta(0.4, z, c, y),
                  "terminal": module._terminal_dtheta(0.4, z, c)}
        for j, name in enumerate(module.PARAMS):
            for term, values in pieces.items():
                printed = _evaluate(_parse(update[name][term], module), v)
                assert printed == pytest.approx(values[j], rel=1e-12, abs=1e-12), (name, term)


def test_printed_terms_equal_finite_differences_of_the_declared_expressions(capsys, lc, rng):
    """∂H/∂θ, ∂c/∂θ, ∂ψ/∂θ by central differences of H, c, ψ as the file declares them."""
    problem, module = lc
    update = _rules_json(capsys, LC)["HEL"]["update"]
    system, cost = problem.system, problem.cost
    v = _point(module, rng)
    timed = {f: v[f.func.__name__] for f in (*system.coords, *system.momenta, *system.inputs)}
    timed[cost.targets[0]] = v["y"]
    declared = {"bulk": -system.expr, "running": cost.running, "terminal": cost.terminal}
    for name in module.PARAMS:
        symbol = sp.Symbol(name)
        others = {sp.Symbol(p): v[p] for p in module.PARAMS if p != name}
        for term, expr in declared.items():
            f = sp.lambdify(symbol, expr.xreplace(timed).xreplace(others))
            printed = _evaluate(_parse(update[name][term], module), v)
            assert printed == pytest.approx(_derivative(f, v[name]), rel=1e-6, abs=1e-8), (
                name, term)


def test_the_cost_only_gain_is_learned_by_its_printed_terms_alone(capsys, lc):
    """w does not enter the dynamics, so dC/dw = ∫ ∂c/∂w dt + ∂ψ/∂w(q(T)) along the free run:
    the printed terms, integrated by Simpson's rule, give the adjoint's and the finite-difference
    gradient."""
    _, module = lc
    update = _rules_json(capsys, LC)["HEL"]["update"]["w"]
    running = sp.lambdify([sp.Symbol(s) for s in (*module.STATE, "w", "C3", "y")],
                          _parse(update["running"], module))
    terminal = sp.lambdify([sp.Symbol(s) for s in (*module.STATE[:3], "w")],
                           _parse(update["terminal"], module))
    theta = np.array(module.PARAM_VALUES)
    w, c3 = theta[module.PARAMS.index("w")], theta[module.PARAMS.index("C3")]
    path = module.simulate()
    times = np.linspace(0.0, module.HORIZON, module.STEPS + 1)
    y = module.default_targets(times)[:, 0]
    integrand = running(*path.T, w, c3, y)
    dt = times[1] - times[0]
    simpson = dt / 3 * (integrand[0] + integrand[-1] + 4 * integrand[1:-1:2].sum()
                        + 2 * integrand[2:-1:2].sum())
    printed = simpson + terminal(*path[-1, :3], w)
    j = module.PARAMS.index("w")
    adjoint = module.gradient(rule="adjoint")["theta"][j]
    hel = module.gradient(rule="HEL")["theta"][j]

    def loss(value):
        shifted = theta.copy()
        shifted[j] = value
        return float(module.loss(theta=shifted))

    assert printed == pytest.approx(adjoint, rel=1e-6)
    assert printed == pytest.approx(_derivative(loss, w), rel=1e-6)
    assert hel == pytest.approx(adjoint, rel=1e-8)


# -- Lagrangian declarations: ∂L/∂θ in (q, q̇), cost-only readout weights ---------------------


def test_lagrangian_bulk_is_the_modules_contrast_integrand_at_corresponding_points(capsys, rng):
    """∂L/∂θ at (q, q̇) equals −∂H/∂θ at (q, p(q, q̇)) (THEORY.md §0), for every parameter
    of the oscillator filter, whose readout weights w_j live in the cost only."""
    path = SYSTEMS / "oscillator_filter.py"
    module = load_module(load_problem(path), "numpy")
    rules = _rules_json(capsys, path)
    hel = rules["HEL"]
    assert hel["bulk_name"] == "∂L/∂θ"
    v = _point(module, rng)
    z = np.array([v[s] for s in module.STATE])
    theta = np.array([v[p] for p in module.PARAMS])
    c = module.prepare(theta)
    qp = module.to_canonical(z, theta)
    bulk = -module._dH_dtheta(0.0, qp, c, np.array([v["u"]]))
    running = module._cost_dtheta(0.0, qp, c, np.array([v["y"]]))
    velocities = {f"{q}_dot": v[s] for q, s in zip(module.STATE[:6], module.STATE[6:])}
    for j, name in enumerate(module.PARAMS):
        entry = hel["update"][name]
        point = {**v, **velocities}
        assert _evaluate(_parse(entry["bulk"], module), point) == pytest.approx(bulk[j], abs=1e-12)
        assert _evaluate(_parse(entry["running"], module), point) == pytest.approx(running[j],
                                                                                  abs=1e-12)
        if name.startswith("w"):
            assert entry["bulk"] == "0" and "y" in entry["reads"]
            assert entry["reads"] == ["q1", "q2", "q3", "q4", "q5", "q6", "y"]
    assert hel["reads"]["m1"] == ["q1_dot"] and hel["reads"]["c1"] == ["q1", "q2"]


def test_lagrangian_phases_and_estimator_in_velocities(capsys):
    assert main(["rules", str(SYSTEMS / "oscillator_filter.py")]) == 0
    out = capsys.readouterr().out
    assert "from (q0, q̇0) given" in out and "(q0, p0)" not in out.split("== CBVP")[0]
    assert "(1/2β) ∫_0^T [∂L/∂θ(s^+β) − ∂L/∂θ(s^−β)] dt + ∫_0^T ∂c/∂θ(s^0) dt + R" in out
    assert "w1: ∂c/∂w1 = " in out


def test_momentum_initial_state_is_named_in_the_phases(capsys):
    """A Lagrangian problem given (q0, p0) says so in CIVP's, PFVP's and HEL's phases."""
    t = sp.Symbol("t")
    q = sp.Function("q")(t)
    m, k = sp.symbols("m k")
    from glep import Cost, Lagrangian, Problem, momentum
    from glep.derive.rules import derive_rules

    problem = Problem(Lagrangian(m * q.diff(t) ** 2 / 2 - k * q**2 / 2, [q], [m, k]),
                      Cost(terminal=q**2 / 2), params={m: 1.0, k: 1.0},
                      initial={q: 0.1, momentum(q): 0.2}, horizon=1.0, steps=10)
    rules = derive_rules(problem)
    for name in ("CIVP", "PFVP", "HEL"):
        assert rules[name].phases[0].boundary == "(q0, p0) given"
    assert rules["CIVP"].phases[1].boundary == "the same (q0, p0)"
    assert rules["HEL"].bulk_name == "∂L/∂θ"


def test_a_hamiltonian_without_a_lagrangian_form_is_shown_in_its_own_variables():
    """H quartic in p has no Legendre transform in closed form: −∂H/∂θ in (q, p), so labelled."""
    from glep import Cost, Hamiltonian, Problem
    from glep.derive.describe import continuous_rules
    from glep.derive.rules import derive_rules

    t = sp.Symbol("t")
    q, p, y = (sp.Function(n)(t) for n in ("q", "p", "y"))
    g, k = sp.symbols("g k")
    problem = Problem(Hamiltonian(g * p**4 / 4 + k * q**2 / 2, [q], [p], [g, k]),
                      Cost(running=(q - y) ** 2 / 2, targets=[y]), params={g: 1.0, k: 2.0},
                      initial={q: 0.1, p: 0.2}, targets={y: 0}, horizon=1.0, steps=10)
    hel = derive_rules(problem)["HEL"]
    assert hel.available and hel.bulk_name == "−∂H/∂θ"
    qs, ps = sp.symbols("q p")
    assert hel.updates[g].bulk == -(ps**4) / 4 and hel.updates[k].bulk == -(qs**2) / 2
    assert hel.practicality.reads == {"g": ["p"], "k": ["q"]}
    text = continuous_rules(problem)
    assert "g: −∂H/∂g = -p**4/4   [reads p]" in text and "∂L/∂" not in text
