"""Every accepted continuous system gets gradients; costs on velocities and momenta; HEL-gain.

Oracles: central finite differences of the loss, torchdiffeq (autograd through ``odeint``
for dissipative systems), autograd through the generated RK4 (BPTT), and a hand-written
echo of the damped oscillator (THEORY.md §6: without gain it stays wrong).
"""

from __future__ import annotations

import functools
import json
import textwrap

import numpy as np
import pytest

from glep.cli import main
from glep.codegen.emit import load_module
from glep.derive.errors import CostError
from glep.derive.rules import derive_rules
from glep.derive.systemfile import load_problem
from glep.verify.continuous import finite_difference, torchdiffeq_reference
from tests.conftest import problem, relative_error

#: An LC ladder in charges and fluxes with resistors (damping not proportional to the
#: inductances), a cost on an inductor current φ2/L2 (a momentum) and on the rate q̇1 (a
#: velocity), and a terminal cost on a flux.
LADDER = '''
import sympy as sp
from glep import Cost, Hamiltonian, Problem

resistors = True
t = sp.Symbol("t")
q1, q2, f1, f2 = (sp.Function(n)(t) for n in ("q1", "q2", "phi1", "phi2"))
u, y, w = (sp.Function(n)(t) for n in "uyw")
L1, L2, C1, C2, R1, R2 = sp.symbols("L1 L2 C1 C2 R1 R2")
H = f1**2 / (2 * L1) + f2**2 / (2 * L2) + q1**2 / (2 * C1) + (q2 - q1)**2 / (2 * C2) - u * q1
problem = Problem(
    Hamiltonian(H, [q1, q2], [f1, f2], [L1, L2, C1, C2, R1, R2], [u],
                dissipation=(R1 * q1.diff(t)**2 + R2 * q2.diff(t)**2) / 2 if resistors else None),
    Cost(running=(f2 / L2 - y)**2 / 2 + (q1.diff(t) - w)**2 / 2, terminal=f1**2 / 2 + q2**2,
         targets=[y, w]),
    params={L1: 1.0, L2: 0.7, C1: 0.8, C2: 1.2, R1: 0.3, R2: 0.1},
    initial={q1: 0.1, q2: -0.2, f1: 0.2, f2: 0.0},
    inputs={u: sp.sin(2 * t) / 2},
    targets={y: sp.cos(t) / 4, w: sp.sin(t) / 5},
    horizon=2.0, steps=200,
)
'''

#: Two masses, learned, moving at t = 0; damping none, mass-proportional (γ = 2/5, known)
#: or general; costs on a velocity, on a momentum ∂L/∂q̇ and (terminal) on a velocity.
MASSES = '''
import sympy as sp
from glep import Cost, Lagrangian, Problem, momentum

damping = "proportional"
terminal = "velocity"
t = sp.Symbol("t")
q1, q2 = sp.Function("q1")(t), sp.Function("q2")(t)
u, y, v = (sp.Function(n)(t) for n in "uyv")
m1, m2, k1, k2, c2 = sp.symbols("m1 m2 k1 k2 c2")
gamma = sp.Rational(2, 5)
L = (m1 * q1.diff(t)**2 + m2 * q2.diff(t)**2) / 2 - k1 * q1**2 / 2 - k2 * (q2 - q1)**2 / 2 + u * q1
F = {"none": None,
     "proportional": gamma * (m1 * q1.diff(t)**2 + m2 * q2.diff(t)**2) / 2,
     "general": gamma * m1 * q1.diff(t)**2 / 2 + c2 * q2.diff(t)**2 / 2}[damping]
general = damping == "general"
problem = Problem(
    Lagrangian(L, [q1, q2], [m1, m2, k1, k2] + [c2] * general, [u], dissipation=F),
    Cost(running=(q2.diff(t) - v)**2 / 2 + (momentum(q1) - y)**2 / 2 + q2**2 / 4,
         terminal=(q1.diff(t)**2 / 2 if terminal == "velocity" else 0) + q2**2 / 3,
         targets=[y, v]),
    params={m1: 1.0, m2: 1.3, k1: 2.0, k2: 1.1, **({c2: 0.1} if general else {})},
    initial={q1: 0.2, q2: -0.1, q1.diff(t): 0.1, q2.diff(t): 0.3},
    inputs={u: sp.sin(2 * t) / 2},
    targets={y: sp.cos(t) / 4, v: sp.sin(t) / 5},
    horizon=2.0, steps=200,
)
'''

#: A relativistic oscillator with a quartic damping: L is not quadratic in the velocity, so
#: there is no Hamiltonian form; the rules' kernels work in the state (q, q̇).
RELATIVISTIC = '''
import sympy as sp
from glep import Cost, Lagrangian, Problem

t = sp.Symbol("t")
q, u, y = (sp.Function(n)(t) for n in "quy")
m, k, c = sp.symbols("m k c")
problem = Problem(
    Lagrangian(-m * sp.sqrt(1 - q.diff(t)**2) - k * q**2 / 2 + u * q, [q], [m, k, c], [u],
               dissipation=c * q.diff(t)**4 / 4),
    Cost(running=(q - y)**2 / 2 + q.diff(t)**2 / 4, terminal=q.diff(t)**2, targets=[y]),
    params={m: 1.0, k: 2.0, c: 0.2},
    initial={q: 0.3, q.diff(t): 0.2},
    inputs={u: sp.sin(2 * t) / 2},
    targets={y: sp.cos(t) / 4},
    horizon=2.0, steps=200,
)
'''

CASES = [("ladder", {}), ("masses", {"damping": "general"}), ("relativistic", {})]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("systems")
    paths = {}
    for name, text in (("ladder", LADDER), ("masses", MASSES), ("relativistic", RELATIVISTIC)):
        paths[name] = folder / f"{name}.py"
        paths[name].write_text(textwrap.dedent(text))
    return paths


@functools.cache
def _modules(path, overrides):
    p = load_problem(path, dict(overrides))
    return p, load_module(p, "numpy"), load_module(p, "torch")


def modules(files, name, **overrides):
    return _modules(files[name], tuple(sorted(overrides.items())))


def differences(module):
    return finite_difference(module.loss, module.PARAM_VALUES, module.INITIAL_STATE)


@pytest.mark.parametrize(("name", "overrides"), CASES, ids=[n for n, _ in CASES])
def test_adjoint_and_bptt_match_finite_differences(files, name, overrides):
    p, numpy_module, torch_module = modules(files, name, **overrides)
    assert numpy_module.RULES["adjoint"] is None
    assert all(numpy_module.RULES[r] is not None for r in ("CIVP", "CBVP", "PFVP", "HEL"))
    fd = differences(numpy_module)
    runs = [numpy_module.gradient(rule="adjoint"), torch_module.gradient(rule="adjoint"),
            torch_module.gradient(rule="BPTT")]
    for g in runs:
        assert relative_error(np.asarray(g["theta"]), fd["grad"]) <= 1e-6
        assert relative_error(np.asarray(g["z0"]), fd["z0"]) <= 1e-6
    torchdiffeq = torchdiffeq_reference(torch_module, p, p.steps)
    assert relative_error(runs[0]["theta"], torchdiffeq["grad"]) <= 1e-6
    assert abs(float(runs[2]["loss"]) - torchdiffeq["loss"]) <= 1e-8


def test_unavailable_rules_say_why(files):
    _, numpy_module, _ = modules(files, "ladder")
    with pytest.raises(ValueError, match="not proportional to the mass matrix"):
        numpy_module.gradient(rule="HEL")


def test_glep_check_runs_the_adjoint(files, capsys):
    assert main(["check", str(files["ladder"]), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    adjoint = report["rules"]["adjoint"]
    assert adjoint["available"] and adjoint["rel_err"] <= 1e-6
    assert "declares no cost" not in json.dumps(report)
    assert not report["rules"]["HEL"]["available"]


@pytest.mark.slow
def test_glep_train_with_the_adjoint(files, tmp_path):
    data = tmp_path / "ladder.npz"
    assert main(["data", "identification", str(files["ladder"]), "--out", str(data)]) == 0
    out = tmp_path / "runs"
    assert main(["train", str(files["ladder"]), "--data", str(data), "--rule", "adjoint",
                 "--epochs", "1", "--batch", "32", "--steps", "100", "--out-dir", str(out),
                 "--quiet"]) == 0
    params = json.loads((out / "ladder-adjoint-params.json").read_text())
    log = [json.loads(line) for line in (out / "ladder-adjoint.jsonl").read_text().splitlines()]
    assert set(params) >= {"L1", "R2"} and all(np.isfinite(list(params.values())))
    assert len([row for row in log if "loss" in row]) >= 2


# -- GLEP rules with costs on velocities and momenta ---------------------------------------


@pytest.mark.parametrize("rule", ["HEL", "PFVP", "CIVP"])
@pytest.mark.parametrize(("name", "overrides"), [("masses", {"damping": "none"}),
                                                 ("ladder", {"resistors": False})])
def test_glep_rules_with_motion_costs_match_the_adjoint(files, name, overrides, rule):
    """The nudge H̃ − βc(q, p) moves q̇ too; the echo reads the cost at momenta −p."""
    _, numpy_module, torch_module = modules(files, name, **overrides)
    assert numpy_module.RULES[rule] is None
    adjoint = numpy_module.gradient(rule="adjoint")
    fd = differences(numpy_module)
    assert relative_error(adjoint["theta"], fd["grad"]) <= 1e-6
    for module in (numpy_module, torch_module):
        g = module.gradient(rule=rule, beta=1e-4)
        assert relative_error(np.asarray(g["theta"]), adjoint["theta"]) <= 1e-6
        assert relative_error(np.asarray(g["z0"]), adjoint["z0"]) <= 1e-6


def test_echo_needs_the_mirrored_cost(files):
    """An echo that reads a velocity cost at its own velocity (the plain nudged field of
    PFVP, flipped) instead of at the mirrored −q̇ gives a wrong gradient."""
    _, module, _ = modules(files, "masses", damping="none")
    right = module.gradient(rule="HEL")["theta"]
    kernels = {k: vars(module).pop(k) for k in ("_echo_field", "_echo_dH_dtheta", "_echo_state")}
    try:  # the runtime looks the kernels up in the module's globals when it runs
        naive = module.gradient(rule="HEL")["theta"]
    finally:
        vars(module).update(kernels)
    assert relative_error(naive, right) > 0.1


def test_cbvp_with_a_velocity_running_cost(files):
    _, module, _ = modules(files, "masses", damping="none", terminal="position")
    g = module.gradient(rule="CBVP", beta=1e-4)
    boundary = g["health"]["boundary"]
    theta = np.asarray(module.PARAM_VALUES)
    step = 1e-6
    fd = [(module.boundary_value_loss(theta=theta + e, boundary=boundary)
           - module.boundary_value_loss(theta=theta - e, boundary=boundary)) / (2 * step)
          for e in step * np.eye(len(theta))]
    assert relative_error(g["theta"], fd) <= 1e-5


def test_cbvp_loss_from_a_given_jacobian_is_the_same_solve(files):
    """Newton started from a nearby solve's ∂q(T)/∂p(0) converges to the same trajectory (the
    loss to rounding); a Jacobian of the wrong shape or with NaN is refused by name."""
    _, module, _ = modules(files, "masses", damping="none", terminal="position")
    g = module.gradient(rule="CBVP", beta=1e-4)
    boundary, jacobian = g["health"]["boundary"], g["health"]["jacobian"]
    theta = np.asarray(module.PARAM_VALUES) * 1.01
    alone = module.boundary_value_loss(theta=theta, boundary=boundary)
    given = module.boundary_value_loss(theta=theta, boundary=boundary, jacobian=jacobian)
    assert abs(given - alone) <= 1e-12 * abs(alone)
    for bad in (jacobian[:1], jacobian * np.nan):
        with pytest.raises(ValueError, match="jacobian"):
            module.boundary_value_loss(theta=theta, boundary=boundary, jacobian=bad)


def test_cbvp_refuses_a_terminal_velocity_cost(files):
    _, module, _ = modules(files, "masses", damping="none")
    assert "leaves free" in module.RULES["CBVP"]


# -- damping with an echo: HEL-gain (THEORY.md §6) ------------------------------------------


@pytest.mark.parametrize(("path", "overrides"), [("masses", {}), ("damped_oscillator", None)],
                         ids=["learned-masses-motion-cost", "damped-oscillator"])
def test_gain_echo_equals_the_adjoint(files, path, overrides):
    if overrides is None:
        p = problem(path)
        numpy_module, torch_module = load_module(p, "numpy"), load_module(p, "torch")
    else:
        p, numpy_module, torch_module = modules(files, path, **overrides)
    assert numpy_module.RULES["HEL-gain"] is None and numpy_module.RULES["HEL"] is not None
    reference = torchdiffeq_reference(torch_module, p, p.steps)
    z0 = np.asarray(numpy_module.INITIAL_STATE)
    assert np.any(z0[len(z0) // 2:] != 0)  # moving at t = 0: the residual R_0 is needed
    for module in (numpy_module, torch_module):
        g = module.gradient(rule="HEL-gain", beta=1e-4)
        assert relative_error(np.asarray(g["theta"]), reference["grad"]) <= 1e-6
        assert relative_error(np.asarray(g["z0"]), reference["z0"]) <= 1e-6
    without = numpy_module.gradient(rule="HEL-gain", boundary_residual=False)
    assert relative_error(without["theta"], reference["grad"]) > 1e-3


def _naive_echo(theta, damped, beta=1e-4, steps=1200, horizon=3.0):
    """HEL as if the damped oscillator of systems/damped_oscillator.py were time-reversal
    invariant: the echo runs the same damped system (no gain), unweighted nudge and
    contrast, with R_0 for the learned mass (q̇0 = 0.1)."""
    m, k, c = theta
    c = c if damped else 0.0

    def rk4(field, s, dt):
        for i in range(steps):
            t = i * dt
            k1 = field(t, s)
            k2 = field(t + dt / 2, s + dt / 2 * k1)
            k3 = field(t + dt / 2, s + dt / 2 * k2)
            k4 = field(t + dt, s + dt * k3)
            s = s + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        return s

    dt = horizon / steps
    q, p = rk4(lambda t, s: np.array([s[1] / m, -k * s[0] + np.sin(2 * t) / 2 - c / m * s[1]]),
               np.array([0.2, m * 0.1]), dt)
    ends = []
    for b in (beta, -beta):
        def echo(tau, s, b=b):
            t = horizon - tau
            force = -k * s[0] + np.sin(2 * t) / 2 - c / m * s[1] + b * (s[0] - np.cos(t) / 4)
            return np.array([s[1] / m, force, -s[1] ** 2 / (2 * m**2), s[0] ** 2 / 2, 0.0])
        ends.append(rk4(echo, np.array([q, -p, 0.0, 0.0, 0.0]), dt))
    d = (ends[0] - ends[1]) / (2 * beta)
    return -d[2:] + np.array([0.1 * d[0], 0.0, 0.0])


def test_naive_echo_on_the_damped_system_stays_wrong():
    module = load_module(problem("damped_oscillator"), "numpy")
    theta = np.asarray(module.PARAM_VALUES)
    adjoint = module.gradient(rule="adjoint")["theta"]
    gain = module.gradient(rule="HEL-gain")["theta"]
    assert relative_error(gain, adjoint) <= 1e-6
    assert relative_error(_naive_echo(theta, damped=True), adjoint) > 0.1
    # the same echo is right without damping (m and k: c only enters through damping)
    undamped = theta * np.array([1.0, 1.0, 0.0])
    adjoint = module.gradient(theta=undamped, rule="adjoint")["theta"]
    assert relative_error(_naive_echo(theta, damped=False)[:2], adjoint[:2]) <= 1e-6


def test_gain_rule_practicality():
    rules = derive_rules(problem("damped_oscillator"))
    gain = rules["HEL-gain"].practicality
    assert gain.available and gain.forward_only and not gain.same_system
    assert "gain" in gain.reason
    assert "HEL-gain" in rules["HEL"].practicality.reason
    assert not derive_rules(problem("pendulum"))["HEL-gain"].available


# -- declarations -------------------------------------------------------------------------


def test_a_cost_reading_an_input_is_refused(files, tmp_path):
    text = textwrap.dedent(LADDER).replace("(q1.diff(t) - w)**2 / 2", "(q1.diff(t) - u)**2 / 2")
    path = tmp_path / "bad.py"
    path.write_text(text)
    with pytest.raises(CostError, match="reads the input"):
        load_problem(path)


def test_a_terminal_cost_reading_a_target_is_refused(tmp_path):
    text = textwrap.dedent(LADDER).replace("terminal=f1**2 / 2", "terminal=(f1 - y)**2 / 2")
    path = tmp_path / "bad.py"
    path.write_text(text)
    with pytest.raises(CostError, match="terminal cost may depend on the final positions"):
        load_problem(path)
