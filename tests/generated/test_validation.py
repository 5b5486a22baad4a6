"""Emitted continuous-system modules check their arguments and watch their integrations;
the printers handle non-smooth functions (Abs, sign, Max/Min, Heaviside, Piecewise)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import sympy as sp
import torch
from scipy.integrate import solve_ivp

from glep import Cost, Lagrangian, Problem
from glep.codegen.emit import load_module
from glep.codegen.printers import ArrayPrinter
from glep.derive.errors import CodegenError
from tests.conftest import generated

BACKENDS = ["numpy", "torch"]


def _module(name, backend):
    return generated(name, backend)


def _raises(call, error, *words):
    with pytest.raises(error) as info:
        call()
    for word in words:
        assert word in str(info.value), (word, str(info.value))
    return info.value


# -- bad arguments: (label, call, error, words the message must hold) ---------------------

def _cases(m):
    nan = float("nan")
    return [
        ("z0 last axis", lambda: m.simulate((0.5, 0.0, 1.0)), ValueError, ["z0", "(3,)", "STATE"]),
        ("z0 scalar", lambda: m.simulate(0.5), ValueError, ["z0", "theta1"]),
        ("z0 nan", lambda: m.simulate((nan, 0.0)), ValueError, ["z0", "non-finite"]),
        ("z0 inf", lambda: m.loss((math.inf, 0.0)), ValueError, ["z0", "non-finite"]),
        ("theta length", lambda: m.simulate(theta=(1.0,)), ValueError, ["theta", "m", "l"]),
        ("theta unknown", lambda: m.simulate(theta={"m": 1, "l": 1, "g": 9}), ValueError,
         ["theta", "unknown", "'g'"]),
        ("theta missing", lambda: m.simulate(theta={"m": 1}), ValueError,
         ["theta", "no value", "'l'"]),
        ("theta nan", lambda: m.simulate(theta=(nan, 1.0)), ValueError, ["theta", "non-finite"]),
        ("steps float", lambda: m.simulate(steps=10.0), ValueError, ["steps", "10.0"]),
        ("steps bool", lambda: m.simulate(steps=True), ValueError, ["steps", "True"]),
        ("steps zero", lambda: m.simulate(steps=0), ValueError, ["steps", "0"]),
        ("steps negative", lambda: m.loss(steps=-3), ValueError, ["steps", "-3"]),
        ("horizon zero", lambda: m.simulate(horizon=0.0), ValueError, ["horizon", "0"]),
        ("horizon inf", lambda: m.simulate(horizon=math.inf), ValueError, ["horizon", "inf"]),
        ("horizon nan", lambda: m.gradient(horizon=nan), ValueError, ["horizon", "nan"]),
        ("horizon text", lambda: m.simulate(horizon="3"), ValueError, ["horizon", "'3'"]),
        ("inputs shape", lambda: m.simulate(inputs=np.zeros((10, 2))), ValueError,
         ["inputs", "(10, 2)"]),
        ("inputs short", lambda: m.simulate(inputs=np.zeros((2, 1))), ValueError,
         ["inputs", ">= 3"]),
        ("inputs nan", lambda: m.simulate(inputs=np.full((5, 1), nan)), ValueError,
         ["inputs", "non-finite"]),
        ("targets shape", lambda: m.gradient(targets=np.zeros((10, 3))), ValueError,
         ["targets", "(10, 3)"]),
        ("inputs callable", lambda: m.simulate(inputs=lambda t: np.zeros(3)), ValueError,
         ["inputs", "callable", "1 values"]),
        ("inputs callable nan", lambda: m.simulate(inputs=lambda t: np.full(1, nan)),
         ValueError, ["inputs", "non-finite"]),
        ("unknown keyword", lambda: m.simulate(stepz=3), TypeError, ["stepz"]),
        ("unknown keyword gradient", lambda: m.gradient(bta=1e-3), TypeError, ["bta"]),
        ("vector_field z", lambda: m.vector_field(0.0, (1.0,), m.PARAM_VALUES, (0.0,)),
         ValueError, ["z0", "STATE"]),
        ("vector_field x", lambda: m.vector_field(0.0, (1.0, 0.0), m.PARAM_VALUES, (0.0, 1.0)),
         ValueError, ["x", "INPUTS"]),
        ("hamiltonian theta", lambda: m.hamiltonian(0.0, (1.0, 0.0), {"m": 1}, (0.0,)),
         ValueError, ["theta", "'l'"]),
        ("echo_retrace steps", lambda: m.echo_retrace(steps=2.5), ValueError, ["steps"]),
        ("echo_retrace z0", lambda: m.echo_retrace((1.0,)), ValueError, ["z0"]),
        ("rule", lambda: m.gradient(rule="XYZ"), ValueError, ["XYZ"]),
        ("beta", lambda: m.gradient(beta=-1.0), ValueError, ["beta"]),
        ("method", lambda: m.simulate(method="euler"), ValueError, ["euler"]),
    ]


_LABELS = [label for label, *_ in _cases(_module("pendulum", "numpy"))]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("label", _LABELS)
def test_bad_arguments_are_refused_naming_them(backend, label):
    m = _module("pendulum", backend)
    _, call, error, words = next(c for c in _cases(m) if c[0] == label)
    _raises(call, error, *words)


def test_boundary_value_loss_checks_its_arguments():
    m = _module("pendulum", "numpy")
    _raises(lambda: m.boundary_value_loss((1.0, 2.0, 3.0)), ValueError, "z0", "STATE")
    _raises(lambda: m.boundary_value_loss(steps=np.float64(4)), ValueError, "steps")


def test_vector_field_module_checks_theta():
    m = _module("pendulum", "torch")
    _raises(lambda: m.VectorField({"m": 1.0, "l": 1.0, "k": 2.0}), ValueError, "theta", "'k'")


@pytest.mark.parametrize("backend", BACKENDS)
def test_numpy_integers_are_accepted(backend):
    m = _module("pendulum", backend)
    a = m.simulate(steps=np.int64(40), horizon=np.float64(1.0))
    b = m.simulate(steps=40, horizon=1.0)
    assert tuple(a.shape) == (41, 2) and float(abs(a - b).max()) == 0.0
    assert math.isfinite(float(m.loss(steps=np.int32(40))))
    assert np.isfinite(np.asarray(m.gradient(steps=np.int64(40))["theta"])).all()


def test_dtypes_promote_to_the_wider():
    m = _module("pendulum", "torch")
    z = m.simulate(torch.tensor([0.5, 0.0], dtype=torch.float32),
                   torch.tensor([1.0, 1.0], dtype=torch.float64), steps=20)
    assert z.dtype == torch.float64
    reference = m.simulate(torch.tensor([0.5, 0.0], dtype=torch.float64), steps=20)
    assert float((z - reference).abs().max()) == 0.0
    assert m.simulate(torch.tensor([1, 0]), steps=5).dtype == torch.float64
    assert m.simulate(torch.tensor([0.5, 0.0], dtype=torch.float32), steps=5).dtype == torch.float32
    numpy = _module("pendulum", "numpy")
    out = numpy.simulate(np.asarray([0.5, 0.0], np.float32), np.asarray([1.0, 1.0]), steps=5)
    assert out.dtype == np.float64
    assert numpy.simulate(np.asarray([1, 0]), steps=5).dtype == np.float64


# -- watching the integrations ------------------------------------------------------------

@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("method", ["rk4", "leapfrog"])
def test_blow_up_names_step_time_and_component(backend, method):
    m = _module("harmonic_oscillator", backend)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        error = _raises(lambda: m.simulate(horizon=4000.0, steps=1000, method=method),
                        m.IntegrationError, "step", "t = ")
    assert isinstance(error, ArithmeticError)
    assert any(f": {name} is " in str(error) for name in m.STATE)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("rule", ["HEL", "PFVP", "CIVP", "adjoint"])
def test_learning_rules_watch_their_runs(backend, rule):
    m = _module("harmonic_oscillator", backend)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        error = _raises(lambda: m.gradient(horizon=4000.0, steps=1000, rule=rule),
                        m.IntegrationError, "by step 256", "t = ")
    assert any(f": {name} is " in str(error) for name in ("q", "q_dot", "p_q"))


@pytest.mark.parametrize("backend", BACKENDS)
def test_rk4_beyond_its_stability_limit_warns(backend):
    m = _module("pendulum", backend)
    with pytest.warns(RuntimeWarning, match="stability limit"):
        m.simulate(horizon=1000.0, steps=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m.simulate()  # the file's own step is fine


# -- a non-smooth potential and a singular mass matrix ------------------------------------

_t = sp.Symbol("t")
_q = sp.Function("q")(_t)
_y = sp.Function("y")(_t)
_m, _k, _a = sp.symbols("m k a")


def _diode_problem():
    """A pendulum with a one-sided spring and a V-shaped well: V ∋ a|q| + k max(q, 0)²/2."""
    lagrangian = (_m * _q.diff(_t) ** 2 / 2 + 9.81 * sp.cos(_q) - _a * sp.Abs(_q)
                  - _k * sp.Max(_q, 0) ** 2 / 2)
    return Problem(Lagrangian(lagrangian, coords=[_q], params=[_m, _k, _a]),
                   Cost(running=(_q - _y) ** 2 / 2, targets=[_y]),
                   params={_m: 1.0, _k: 2.0, _a: 0.3}, initial={_q: 0.5, _q.diff(_t): 0.0},
                   targets={_y: sp.sin(_t) / 5}, horizon=0.5, steps=200)


def _diode(backend):
    return load_module(_diode_problem(), backend)


def _diode_rhs(theta):
    m, k, a = theta

    def rhs(t, z):
        q, v = z
        return [v, (-9.81 * math.sin(q) - a * np.sign(q) - k * max(q, 0.0)) / m]

    return rhs


@pytest.mark.parametrize("backend", BACKENDS)
def test_non_smooth_potential_simulates_like_scipy(backend):
    m = _diode(backend)
    theta = (1.0, 2.0, 0.3)
    for z0 in ((0.5, 0.0), (-0.4, 0.3)):  # stays on one side of the kink over the horizon
        z = np.asarray(m.simulate(m._as_array(z0) if backend == "torch" else z0, theta,
                                  horizon=0.2, steps=200))
        ref = solve_ivp(_diode_rhs(theta), (0.0, 0.2), z0, rtol=1e-12, atol=1e-12)
        assert np.abs(z[-1] - ref.y[:, -1]).max() < 1e-9
        assert np.all(np.sign(z[:, 0]) == np.sign(z0[0]))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("rule", ["adjoint", "HEL"])
def test_non_smooth_potential_gradient_matches_finite_differences(backend, rule):
    m = _diode(backend)
    theta = np.asarray([1.0, 2.0, 0.3])
    args = {"horizon": 0.2, "steps": 200}
    as_array = (lambda a: torch.tensor(a)) if backend == "torch" else np.asarray
    got = np.asarray(m.gradient(as_array((0.5, 0.0)), as_array(theta), rule=rule, **args)["theta"])
    eps = 1e-5
    fd = []
    for i in range(3):
        up, down = theta.copy(), theta.copy()
        up[i] += eps
        down[i] -= eps
        fd.append((float(m.loss(as_array((0.5, 0.0)), as_array(up), **args))
                   - float(m.loss(as_array((0.5, 0.0)), as_array(down), **args))) / (2 * eps))
    assert np.abs(got - np.asarray(fd)).max() <= 1e-6


def test_printers_print_non_smooth_functions():
    q, p = sp.symbols("q p")
    from glep.codegen.backends.torch.printer import TorchPrinter

    cases = {
        sp.Max(q, 0): ("np.maximum(q, 0)", "torch.clamp(q, min=0)"),
        sp.Min(q, p): ("np.minimum(p, q)", "torch.minimum(p, q)"),
        sp.Heaviside(q): ("np.where((q < 0), 0.0, np.where((q == 0), 0.5, 1.0))",
                          "torch.where((q < 0), 0.0, torch.where((q == 0), 0.5, 0*q + 1.0))"),
        sp.Piecewise((q, sp.And(q > 0, p < 1)), (0, True)):
            ("np.where(np.logical_and((q > 0), (p < 1)), q, 0.0)",
             "torch.where(torch.logical_and((q > 0), (p < 1)), q, 0.0)"),
    }
    for expr, (numpy, torch_code) in cases.items():
        assert ArrayPrinter().doprint(expr) == numpy
        assert TorchPrinter().doprint(expr) == torch_code
    values = {"q": torch.tensor([-1.0, 0.0, 2.0], dtype=torch.float64)}
    assert eval(TorchPrinter().doprint(sp.Heaviside(q)), {"torch": torch}, values).tolist() == [
        0.0, 0.5, 1.0]
    assert eval(TorchPrinter().doprint(sp.Heaviside(q)), {"torch": torch}, values).dtype == (
        torch.float64)


def test_unsupported_functions_are_refused_by_name():
    q = sp.Symbol("q")
    for function in (sp.floor, sp.ceiling, sp.gamma, sp.erf, sp.DiracDelta):
        _raises(lambda f=function: ArrayPrinter().doprint(f(q)), CodegenError, function.__name__)
    _raises(lambda: ArrayPrinter().doprint(sp.Piecewise((q, q > 0))), CodegenError, "Piecewise")


@pytest.mark.parametrize("backend", BACKENDS)
def test_singular_mass_matrix_is_named(backend):
    m, k = sp.symbols("m k")
    problem = Problem(Lagrangian(m * _q**2 * _q.diff(_t) ** 2 / 2 - k * _q**2 / 2, coords=[_q],
                                 params=[m, k]),
                      params={m: 1.0, k: 1.0}, initial={_q: 0.0, _q.diff(_t): 1.0},
                      horizon=1.0, steps=10)
    module = load_module(problem, backend)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for method in ("rk4", "implicit_midpoint"):
            if method in module.METHODS:
                _raises(lambda method=method: module.simulate(method=method),
                        module.IntegrationError, "mass matrix is singular", "t=0", "q=(0.0,)")
