"""The Python API of generated modules: a bad argument raises ValueError/TypeError (glep's
DerivationError is a ValueError) whose message names the argument."""

from __future__ import annotations

import math
import os
import stat

import numpy as np
import pytest

from .conftest import SYSTEMS, assert_bad, module

BAD = (ValueError, TypeError)
H = "harmonic_oscillator"  # state (q, q_dot), params (m, k, w)
Z0, THETA = (0.1, 0.3), (1.0, 2.0, 0.5)

CONTINUOUS = [
    ("gradient", {"z0": (0.1, 0.3, 0.0)}, "z0"),
    ("gradient", {"z0": (0.1,)}, "z0"),
    ("gradient", {"z0": (math.nan, 0.3)}, "z0"),
    ("gradient", {"z0": (math.inf, 0.3)}, "z0"),
    ("gradient", {"theta": (1.0, 2.0)}, "theta"),
    ("gradient", {"theta": (1.0, math.nan, 0.5)}, "theta"),
    ("gradient", {"theta": {"m": 1.0, "k": 2.0, "w": 0.5, "zz": 1.0}}, "zz"),
    ("gradient", {"theta": {"m": 1.0, "k": 2.0}}, "w"),
    ("gradient", {"beta": 0.0}, "beta"),
    ("gradient", {"beta": math.nan}, "beta"),
    ("gradient", {"rule": "nope"}, "rule"),
    ("gradient", {"steps": 0}, "steps"),
    ("simulate", {"z0": (0.1, 0.3, 0.0)}, "z0"),
    ("simulate", {"z0": (math.nan, 0.3)}, "z0"),
    ("simulate", {"theta": {"m": 1.0}}, "k"),
    ("simulate", {"steps": 0}, "steps"),
    ("simulate", {"steps": -5}, "steps"),
    ("simulate", {"steps": 2.5}, "steps"),
    ("simulate", {"steps": "abc"}, "steps"),
    ("simulate", {"horizon": 0.0}, "horizon"),
    ("simulate", {"horizon": math.inf}, "horizon"),
    ("simulate", {"horizon": math.nan}, "horizon"),
    ("simulate", {"inputs": np.zeros((3, 2, 2))}, "inputs"),
    ("loss", {"z0": (0.1,)}, "z0"),
    ("loss", {"theta": (1.0, 2.0, 0.5, 9.0)}, "theta"),
]


@pytest.mark.parametrize(("function", "changes", "name"), CONTINUOUS,
                         ids=[f"{f}-{n}-{i}" for i, (f, _, n) in enumerate(CONTINUOUS)])
def test_continuous_module_arguments(function, changes, name):
    arguments = {"z0": Z0, "theta": THETA, "steps": 20, **changes}
    z0, theta = arguments.pop("z0"), arguments.pop("theta")
    with pytest.raises(BAD, match=name):
        getattr(module(H), function)(z0, theta, **arguments)


def test_float32_z0_with_float64_theta_promotes():
    torch = pytest.importorskip("torch")
    out = module(H, "torch").simulate(torch.tensor(Z0, dtype=torch.float32),
                                      torch.tensor(THETA, dtype=torch.float64), steps=10)
    assert out.dtype == torch.float64


def test_integer_z0_tensor_works():
    torch = pytest.importorskip("torch")
    out = module(H, "torch").simulate(torch.tensor([0, 1]), torch.tensor(THETA), steps=10)
    assert torch.all(torch.isfinite(out))


def test_emitted_files_follow_the_umask(glep_cli, tmp_path):
    old = os.umask(0o022)
    try:
        result = glep_cli("emit", SYSTEMS / "pendulum.py", "--target", "numpy", "--out", tmp_path)
    finally:
        os.umask(old)
    assert result.code == 0, result
    for path in tmp_path.glob("*.py"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path


def test_emit_check_honours_files(glep_cli, tmp_path):
    assert glep_cli("emit", SYSTEMS / "pendulum.py", "--out", tmp_path).code == 0
    result = glep_cli("emit", "--check", "--out", tmp_path, SYSTEMS / "pendulum.py")
    assert result.code == 0, result  # the other bundled systems are not asked for
    (tmp_path / "pendulum_numpy.py").write_text("# edited\n")
    result = glep_cli("emit", "--check", "--out", tmp_path, SYSTEMS / "pendulum.py")
    assert result.code == 1 and "pendulum_numpy.py" in result.err
    assert "harmonic_oscillator" not in result.err


def test_data_out_is_a_directory(glep_cli, tmp_path):
    assert_bad(glep_cli("data", "filter", SYSTEMS / "harmonic_oscillator.py", "--out",
                        tmp_path), "--out")


# -- energies (hopfield_smooth: inputs x1, x2; targets y1, y2; 5 units; 15 scalar θ) and an
# ff-EBM chain (ff_ebm: 4 inputs, 3 targets, maps V2/e2, V3/e3) --------------------------

S, D, C = "hopfield_smooth", "hopfield_digits", "ff_ebm"
X3 = np.array([[1.0, 0.2, 0.5], [-0.5, 0.7, 0.1], [0.3, -1.0, 0.0]])  # a third input column
LABELS = np.array([0, 1, 1])  # class labels instead of one-hot targets

ENERGY = [
    (S, "relax", {"x": X3}, "x has shape (3, 3)"),
    (S, "gradient", {"x": X3}, "x has shape (3, 3)"),
    (S, "predict", {"x": X3[:, :1]}, "x has shape (3, 1)"),
    (S, "gradient", {"y": np.zeros((3, 3))}, "y has shape (3, 3)"),
    (S, "gradient", {"y": LABELS}, "one-hot"),
    (D, "gradient", {"y": np.array([3, 1, 0, 2])}, "one-hot"),
    (D, "gradient", {"y": np.array([[3], [1], [0], [2]])}, "one-hot"),
    (S, "relax", {"x": np.full((3, 2), math.nan)}, "x has non-finite"),
    (S, "gradient", {"y": np.full((3, 2), math.inf)}, "y has non-finite"),
    (S, "gradient", {"x": np.zeros((3, 2)), "y": np.zeros((2, 2))}, "{'x': 3, 'y': 2}"),
    (S, "relax", {"x": np.zeros((2, 3, 2))}, "x has shape (2, 3, 2)"),
    (S, "relax", {"theta": {"w12": 0.3}}, "no value for ['w23'"),
    (S, "relax", {"extra": {"zz": 1.0}}, "unknown names ['zz']"),
    (S, "relax", {"theta": [0.3] * 15}, "theta is a list"),
    (S, "gradient", {"extra": {"w12": math.nan}}, "theta['w12'] has non-finite"),
    (D, "relax", {"extra": {"W1": np.zeros((32, 65))}},
     "theta['W1'] has shape (32, 65): expected (32, 64)"),
    (D, "gradient", {"extra": {"b1": np.zeros((1, 32))}},
     "theta['b1'] has shape (1, 32): expected (32,)"),
    (S, "relax", {"z0": np.zeros((3, 4))}, "z0 has shape (3, 4)"),
    (S, "relax", {"z0": np.full((3, 5), math.nan)}, "z0 has non-finite"),
    (S, "relax", {"z0": np.zeros((2, 5))}, "'z0': 2"),
    (S, "gradient", {"z_free": np.zeros((3, 6))}, "z_free has shape (3, 6)"),
    (S, "implicit_gradient", {"z": np.zeros((3, 4))}, "z has shape (3, 4)"),
    (S, "gradient", {"beta": 0.0}, "beta=0.0"),
    (S, "gradient", {"beta": -1e-3}, "beta=-0.001"),
    (S, "gradient", {"beta": math.nan}, "beta=nan"),
    (S, "gradient", {"beta": "0.1"}, "beta='0.1'"),
    (S, "relax", {"beta": math.inf}, "beta=inf"),
    (S, "gradient", {"rule": "nope"}, "unknown rule 'nope'"),
    (S, "gradient", {"rule": "ff-EBM"}, "ff-EBM does not apply"),
    (S, "gradient", {"start": "middle"}, "start='middle'"),
    (S, "relax", {"method": "newton"}, "method='newton'"),
    (S, "relax", {"step": 0.0}, "step=0.0"),
    (S, "relax", {"tol": -1.0}, "tol=-1.0"),
    (S, "gradient", {"tol": math.nan}, "tol=nan"),
    (S, "relax", {"max_iterations": 2.5}, "max_iterations=2.5"),
    (S, "relax", {"max_iterations": -1}, "max_iterations=-1"),
    (S, "continual_ep", {"steps": 1.5}, "steps=1.5"),
    (S, "continual_ep", {"eta": 0.0}, "eta=0.0"),
    (S, "initial_params", {"seed": 1.5}, "seed=1.5"),
    (S, "initial_params", {"seed": -1}, "seed=-1"),
    (S, "energy", {"z": np.zeros((3, 5)), "x": X3}, "x has shape (3, 3)"),
    (S, "energy_gradient", {"z": np.zeros((3, 6)), "x": X3[:, :2]}, "z has shape (3, 6)"),
    (C, "gradient", {"x": np.zeros((3, 5))}, "x has shape (3, 5)"),
    (C, "forward", {"x": np.full((3, 4), math.nan)}, "x has non-finite"),
    (C, "gradient", {"y": np.zeros((3, 4))}, "y has shape (3, 4)"),
    (C, "gradient", {"y": np.array([0, 1, 2])}, "one-hot"),
    (C, "loss", {"drop": "V2"}, "no value for ['V2']"),
    (C, "gradient", {"extra": {"V9": np.eye(4)}}, "unknown names ['V9']"),
    (C, "gradient", {"extra": {"V2": np.eye(3)}}, "theta['V2'] has shape (3, 3): expected (4, 4)"),
    (C, "gradient", {"beta": 0.0}, "beta=0.0"),
    (C, "gradient", {"tol": "tight"}, "tol='tight'"),
    (C, "feed", {"k": 0, "o": np.zeros((3, 4))}, "k=0"),
    (C, "initial_params", {"seed": "1"}, "seed='1'"),
]


def _call(system, backend, function, changes):
    m = module(system, backend)
    arguments = dict(changes)
    extra, drop = arguments.pop("extra", {}), arguments.pop("drop", None)
    if function != "initial_params" and arguments.get("theta", "PARAMS") == "PARAMS":
        theta = {**m.initial_params(), **extra}
        arguments["theta"] = {k: v for k, v in theta.items() if k != drop}
    if function.startswith("energy"):
        arguments.setdefault("theta", m.initial_params())
    return getattr(m, function)(**arguments)


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize(("system", "function", "changes", "name"), ENERGY,
                         ids=[f"{s}-{f}-{n}-{i}" for i, (s, f, _, n) in enumerate(ENERGY)])
def test_energy_and_chain_module_arguments(backend, system, function, changes, name):
    with pytest.raises(BAD) as error:
        _call(system, backend, function, changes)
    assert name in str(error.value), str(error.value)


def test_integer_label_tensor_is_refused_in_torch():
    torch = pytest.importorskip("torch")
    with pytest.raises(ValueError, match="one-hot"):
        module(S, "torch").gradient(module(S, "torch").initial_params(), y=torch.tensor([0, 1, 1]))


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_energy_arguments_that_are_fine(backend):
    m = module(S, backend)
    theta = m.initial_params(np.int64(3))
    one_hot = np.eye(2, dtype=int)[LABELS]  # integer one-hot targets are accepted
    g = m.gradient(theta, rule="c-ep", y=one_hot)
    assert set(g["grad"]) == set(m.PARAMS)
    z = m.relax(theta, m.DEFAULT_INPUTS[0], m.DEFAULT_TARGETS[0], max_iterations=np.int64(3),
                strict=False)
    assert tuple(z.shape) == (1, m.N)  # one sample broadcasts
    z = m.relax(theta, m.DEFAULT_INPUTS, m.DEFAULT_TARGETS[:1])
    assert tuple(z.shape) == (3, m.N)


def test_energy_mixed_dtypes_promote_to_the_wider_float():
    torch = pytest.importorskip("torch")
    m = module(S, "torch")
    theta = {k: v.float() for k, v in m.initial_params().items()}
    x = torch.tensor(m.DEFAULT_INPUTS, dtype=torch.float32)
    y = torch.tensor(m.DEFAULT_TARGETS, dtype=torch.float32)
    assert m.relax(theta, x, y).dtype == torch.float32
    assert m.relax(theta, x.double(), y).dtype == torch.float64
    assert m.relax({**theta, "w12": torch.tensor(0.3, dtype=torch.float64)}, x, y).dtype == \
        torch.float64
    grad = m.gradient(theta, x, y.double(), beta=1e-2)["grad"]
    assert all(g.dtype == torch.float64 for g in grad.values())
