"""The Python API of the generated HRU layers: a bad size, rule, β, dtype, input, state or
incoming gradient raises ValueError/TypeError whose message names the argument — in the
constructor and when an attribute is set afterwards."""

from __future__ import annotations

import math

import numpy as np
import pytest

from .conftest import module

torch = pytest.importorskip("torch")

L, N = "linear_hru", "nonlinear_hru"
SIZES = {"n_units": 4, "n_inputs": 3, "dt": 0.1}


def layer(name=L, backend="torch", **changes):
    m = module(name, backend)
    cls = m.LinearHRU if name == L else m.NonlinearHRU
    arguments = {**SIZES, **changes}
    return cls(arguments.pop("n_units"), arguments.pop("n_inputs"), **arguments)


CONSTRUCTOR = [
    ({"n_units": 0}, ValueError, "n_units"),
    ({"n_units": -3}, ValueError, "n_units"),
    ({"n_units": 2.5}, ValueError, "n_units"),
    ({"n_units": "4"}, ValueError, "n_units"),
    ({"n_units": True}, ValueError, "n_units"),
    ({"n_inputs": 0}, ValueError, "n_inputs"),
    ({"n_inputs": np.float64(3.0)}, ValueError, "n_inputs"),
    ({"dt": 0.0}, ValueError, "dt"),
    ({"dt": -0.1}, ValueError, "dt"),
    ({"dt": math.nan}, ValueError, "dt"),
    ({"dt": math.inf}, ValueError, "dt"),
    ({"beta": 0.0}, ValueError, "beta"),
    ({"beta": -1.0}, ValueError, "beta"),
    ({"beta": math.nan}, ValueError, "beta"),
    ({"beta": math.inf}, ValueError, "beta"),
    ({"beta": "1e-3"}, ValueError, "beta"),
    ({"rule": "nope"}, ValueError, "rule"),
    ({"rule": "RHEL"}, ValueError, "rule"),
    ({"dtype": "float32"}, TypeError, "dtype"),
    ({"dtype": "torch.int64"}, TypeError, "dtype"),
    ({"dtype": "torch.complex64"}, TypeError, "dtype"),
]


def _resolve(changes):
    """``"torch.x"`` strings stand for torch dtypes (torch is imported lazily)."""
    return {k: getattr(torch, v[6:]) if isinstance(v, str) and v.startswith("torch.") else v
            for k, v in changes.items()}


@pytest.mark.parametrize("name", [L, N])
@pytest.mark.parametrize(("changes", "error", "argument"), CONSTRUCTOR,
                         ids=[f"{a}-{i}" for i, (_, _, a) in enumerate(CONSTRUCTOR)])
def test_constructor_arguments(name, changes, error, argument):
    with pytest.raises(error, match=argument):
        layer(name, **_resolve(changes))


NUMPY_CONSTRUCTOR = [
    ({"rule": "bptt"}, ValueError, "rule"),  # NumPy has no autograd
    ({"dtype": "bfloat16"}, TypeError, "dtype"),
    ({"dtype": np.int32}, TypeError, "dtype"),
    ({"dtype": np.complex128}, TypeError, "dtype"),
    ({"n_units": np.float32(4)}, ValueError, "n_units"),
    ({"beta": np.float64(math.nan)}, ValueError, "beta"),
]


@pytest.mark.parametrize(("changes", "error", "argument"), NUMPY_CONSTRUCTOR,
                         ids=[f"{a}-{i}" for i, (_, _, a) in enumerate(NUMPY_CONSTRUCTOR)])
def test_numpy_constructor_arguments(changes, error, argument):
    with pytest.raises(error, match=argument):
        layer(L, "numpy", **changes)


SETTERS = [
    ("beta", 0, ValueError),  # was a ZeroDivisionError in the backward pass
    ("beta", -1e-3, ValueError),
    ("beta", math.nan, ValueError),
    ("beta", math.inf, ValueError),
    ("beta", [1.0], ValueError),
    ("rule", "echo", ValueError),
    ("rule", None, ValueError),
    ("dtype", "torch.int32", TypeError),
    ("dtype", "int8", TypeError),
]


@pytest.mark.parametrize("backend", ["torch", "numpy"])
@pytest.mark.parametrize(("attribute", "value", "error"), SETTERS,
                         ids=[f"{a}-{i}" for i, (a, _, _) in enumerate(SETTERS)])
def test_setting_an_attribute_after_construction(backend, attribute, value, error):
    target = layer(L, backend)
    before = getattr(target, attribute)
    value = _resolve({attribute: value})[attribute]
    with pytest.raises(error, match=attribute):
        setattr(target, attribute, value)
    assert getattr(target, attribute) == before  # the refused value was not kept


def _u(backend, shape, fill=0.5, dtype=None):
    if backend == "torch":
        return torch.full(shape, fill, dtype=dtype or torch.float32)
    return np.full(shape, fill, dtype=dtype or np.float64)


INPUTS = [
    ({"u": ((2, 0, 3),)}, ValueError, "K"),  # an empty sequence
    ({"u": ((2, 0, 3),)}, ValueError, "u"),
    ({"u": ((0, 5, 3),)}, ValueError, "batch"),
    ({"u": ((2, 5, 4),)}, ValueError, "n_inputs"),
    ({"u": ((2, 5, 2),)}, ValueError, "u"),
    ({"u": ((5, 3),)}, ValueError, "u"),
    ({"u": ((2, 5, 3), math.nan)}, ValueError, "u"),
    ({"u": ((2, 5, 3), math.inf)}, ValueError, "u"),
    ({"u": ((2, 5, 3), 0.5, "wide")}, TypeError, "u"),
    ({"u": "list"}, TypeError, "u"),
    ({"state": ((2, 7),)}, ValueError, "state"),
    ({"state": ((3, 8),)}, ValueError, "state"),
    ({"state": ((2, 8), math.nan)}, ValueError, "state"),
    ({"state": ((2, 8), -math.inf)}, ValueError, "state"),
    ({"state": ((2, 8), 0.0, "wide")}, TypeError, "state"),
    ({"param": math.nan}, ValueError, "A"),
]


def _arguments(backend, changes):
    wide = {"torch": torch.float64, "numpy": np.float32}[backend]
    out = {"u": _u(backend, (2, 5, 3)), "state": _u(backend, (2, 8), 0.0)}
    for key, spec in changes.items():
        if key == "param" or spec == "list":
            out[key] = spec if key == "param" else [[[0.5] * 3] * 5] * 2
            continue
        shape, fill, *rest = (*spec, 0.5) if len(spec) == 1 else spec
        out[key] = _u(backend, shape, fill, wide if rest else None)
    return out


@pytest.mark.parametrize("backend", ["torch", "numpy"])
@pytest.mark.parametrize(("changes", "error", "argument"), INPUTS,
                         ids=[f"{a}-{i}" for i, (_, _, a) in enumerate(INPUTS)])
def test_forward_arguments(backend, changes, error, argument):
    target = layer(L, backend)
    arguments = _arguments(backend, changes)
    if "param" in arguments:
        if backend == "torch":
            with torch.no_grad():
                target.A[0] = arguments.pop("param")
        else:
            target.A = np.where(np.arange(4) == 0, arguments.pop("param"), target.A)
    with pytest.raises(error, match=argument):
        target(arguments["u"], arguments["state"])


BACKWARD = [
    (np.zeros((2, 5, 3)), ValueError, "grad"),
    (np.zeros((2, 4, 4)), ValueError, "grad"),
    (np.zeros((1, 5, 4)), ValueError, "grad"),
    (np.full((2, 5, 4), np.nan), ValueError, "grad"),
    (np.zeros((2, 5, 4), dtype=np.float32), TypeError, "grad"),
]


@pytest.mark.parametrize(("grad", "error", "argument"), BACKWARD,
                         ids=[f"{a}-{i}" for i, (_, _, a) in enumerate(BACKWARD)])
def test_numpy_backward_gradient(grad, error, argument):
    target = layer(L, "numpy")
    target.forward(_u("numpy", (2, 5, 3)))
    with pytest.raises(error, match=argument):
        target.backward(grad)


def test_numpy_backward_before_forward():
    with pytest.raises(RuntimeError, match="forward"):
        layer(L, "numpy").backward(np.zeros((2, 5, 4)))


@pytest.mark.parametrize("backend", ["torch", "numpy"])
def test_numpy_integer_scalars_are_sizes(backend):
    target = layer(L, backend, n_units=np.int64(4), n_inputs=np.int32(3), dt=np.float32(0.1),
                   beta=np.float64(2.0))
    assert (target.n_units, target.n_inputs, target.beta) == (4, 3, 2.0)
    assert type(target.n_units) is int and type(target.dt) is float
    assert tuple(target(_u(backend, (2, 5, 3))).shape) == (2, 5, 4)


@pytest.mark.parametrize("backend", ["torch", "numpy"])
def test_unstable_leapfrog_is_an_error_not_a_nan(backend):
    """δ²A ≥ 4: the linear leapfrog grows without bound; the forward pass says so."""
    target = layer(L, backend, dt=1.0)
    if backend == "torch":
        with torch.no_grad():
            target.A.fill_(9.0)
    else:
        target.A = np.full(4, 9.0)
    with np.errstate(over="ignore", invalid="ignore"), pytest.raises(FloatingPointError,
                                                                     match="dt = 1"):
        target(_u(backend, (2, 2000, 3)))
