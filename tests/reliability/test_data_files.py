"""Bad data sets for ``glep train``: a DataError (exit 2) naming the file and the key."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

from glep.derive.errors import DataError
from glep.learn.datasets import load_data

from .conftest import SYSTEMS, assert_bad, bundled, module

NAME = "harmonic_oscillator"  # horizon 3, 600 steps, 1 input, 1 target, 3 parameters


def good() -> dict:
    t = np.linspace(0.0, 3.0, 601)
    return {"t": t, "inputs": np.sin(np.outer([1.0, 2.0], t)),
            "targets": np.cos(np.outer([1.0, 2.0], t))}


def _with(**changes):
    arrays = good()
    for key, value in changes.items():
        if value is None:
            arrays.pop(key)
        else:
            arrays[key] = value
    return arrays


G = good()
T = G["t"]
ARRAYS = [
    ("missing-t", _with(t=None), "'t'"),
    ("missing-inputs", _with(inputs=None), "inputs"),
    ("missing-targets", _with(targets=None), "targets"),
    ("object-inputs", _with(inputs=np.array([[1.0], "x"], dtype=object)), "inputs"),
    ("string-targets", _with(targets=np.array([["a"] * 601] * 2)), "targets"),
    ("complex-inputs", _with(inputs=G["inputs"] + 1j), "inputs"),
    ("bool-targets", _with(targets=G["targets"] > 0), "targets"),
    ("nan-inputs", _with(inputs=np.where(T > 1, np.nan, G["inputs"])), "inputs"),
    ("inf-targets", _with(targets=np.where(T > 1, np.inf, G["targets"])), "targets"),
    ("nan-t", _with(t=np.where(T > 1, np.nan, T)), "'t'"),
    ("t-2d", _with(t=T[None]), "'t'"),
    ("t-short", _with(t=T[:2]), "'t'"),
    ("t-nonuniform", _with(t=T**2 / 3), "'t'"),
    ("t-offset", _with(t=T + 1), "'t'"),
    ("t-wrong-horizon", _with(t=np.linspace(0, 5, 601)), "horizon"),
    ("inputs-1d", _with(inputs=T), "inputs"),
    ("inputs-short", _with(inputs=G["inputs"][:, :500]), "inputs"),
    ("inputs-channels", _with(inputs=np.stack([G["inputs"]] * 2, -1)), "inputs"),
    ("targets-4d", _with(targets=G["targets"][..., None, None]), "targets"),
    ("count-mismatch", _with(targets=G["targets"][:1]), "target"),
    ("zero-trajectories", _with(inputs=np.zeros((0, 601)), targets=np.zeros((0, 601))),
     "no trajectories"),
    ("z0-shape", _with(z0=np.zeros((2, 3))), "z0"),
    ("z0-nan", _with(z0=np.full((2, 2), np.nan)), "z0"),
    ("test-inputs-only", _with(test_inputs=G["inputs"]), "test_targets"),
    ("test-targets-only", _with(test_targets=G["targets"]), "test_inputs"),
    ("test-mismatch", _with(test_inputs=G["inputs"], test_targets=G["targets"][:1]),
     "test_targets"),
    ("test-nan", _with(test_inputs=G["inputs"] * np.nan, test_targets=G["targets"]),
     "test_inputs"),
    ("test-z0-alone", _with(test_z0=np.zeros((2, 2))), "test_z0"),
    ("true-theta-short", _with(true_theta=np.ones(2)), "true_theta"),
    ("true-theta-nan", _with(true_theta=np.array([1.0, np.nan, 0.5])), "true_theta"),
    ("true-theta-2d", _with(true_theta=np.ones((3, 1))), "true_theta"),
]


def _save(path, arrays, allow_pickle=False):
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize(("arrays", "key"), [c[1:] for c in ARRAYS], ids=[c[0] for c in ARRAYS])
def test_bad_arrays(tmp_path, arrays, key):
    path = _save(tmp_path / "data.npz", arrays)
    with pytest.raises(DataError, match=r"data\.npz") as error:
        load_data(path, bundled(NAME), module(NAME))
    assert key in str(error.value)


def _truncated(path):
    _save(path, good())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _corrupt(path):
    _save(path, good())
    data = bytearray(path.read_bytes())
    start = data.index(b"\x93NUMPY") + 200  # inside the first member's data
    data[start:start + 400] = b"\xff" * 400
    path.write_bytes(bytes(data))


def _npy(path, array):
    with open(path, "wb") as handle:
        np.save(handle, array, allow_pickle=True)


def _renamed(path):  # a zip of other things
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "hello")


FILES = [
    ("missing", lambda p: None, "does not exist"),
    ("directory", lambda p: p.mkdir(), "directory"),
    ("text", lambda p: p.write_text("t,inputs\n0,1\n"), "not a readable .npz"),
    ("empty", lambda p: p.write_bytes(b""), "not a readable .npz"),
    ("npy", lambda p: _npy(p, np.zeros(3)), "not an .npz"),
    ("pickle", lambda p: _npy(p, np.array([{}], dtype=object)), "npz"),
    ("truncated", _truncated, "data.npz"),
    ("corrupt", _corrupt, "data.npz"),
    ("other-zip", _renamed, "'t'"),
    ("object-archive", lambda p: np.savez(p, **_with(inputs=np.array([None, None]))), "inputs"),
]


@pytest.mark.parametrize(("make", "words"), [c[1:] for c in FILES], ids=[c[0] for c in FILES])
def test_bad_files(tmp_path, make, words):
    path = tmp_path / "data.npz"
    make(path)
    with pytest.raises(DataError, match=r"data\.npz") as error:
        load_data(path, bundled(NAME), module(NAME))
    assert words in str(error.value)


CLI = ["missing-targets", "object-inputs", "nan-inputs", "zero-trajectories", "test-inputs-only",
       "true-theta-short", "true-theta-nan"]


@pytest.mark.parametrize("case", CLI)
def test_train_refuses_bad_data(glep_cli, tmp_path, case):
    arrays = dict((c[0], c[1]) for c in ARRAYS)[case]
    path = _save(tmp_path / "data.npz", arrays)
    result = glep_cli("train", SYSTEMS / f"{NAME}.py", "--data", path, "--out-dir",
                      tmp_path / "runs", "--quiet", "--epochs", "1")
    assert_bad(result, "data.npz")


@pytest.mark.parametrize("make", [_truncated, _corrupt], ids=["truncated", "corrupt"])
def test_train_refuses_broken_archives(glep_cli, tmp_path, make):
    make(tmp_path / "data.npz")
    result = glep_cli("train", SYSTEMS / f"{NAME}.py", "--data", tmp_path / "data.npz",
                      "--out-dir", tmp_path / "runs", "--quiet")
    assert_bad(result, "data.npz")
