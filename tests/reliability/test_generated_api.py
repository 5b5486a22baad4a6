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
