"""Data sets of input/target trajectories: the ``.npz`` format and the bundled generators.

A data set is an ``.npz`` file with these keys (B trajectories, N + 1 samples on a
uniform grid over the problem's horizon, m inputs, k targets):

- ``t``: ``(N + 1,)`` the sample times, ``t[0] = 0``, ``t[-1]`` = the horizon;
- ``inputs``: ``(B, N + 1, m)`` input samples (``(B, N + 1)`` when m = 1);
- ``targets``: ``(B, N + 1, k)`` target samples (``(B, N + 1)`` when k = 1);
- ``z0`` (optional): ``(B, state)`` initial states (default: the problem's own);
- ``test_inputs``, ``test_targets``, ``test_z0`` (optional): a held-out set;
- ``true_theta`` (optional): parameters that generated the data, for reporting.

Between samples, inputs and targets are read through the generated module's Catmull–Rom
spline, which is symmetric under time reversal (an echo sees the reversed signal exactly).

>>> rng = np.random.default_rng(0)
>>> band_limited(rng, np.linspace(0, 4, 401), count=3, highest=2.0).shape
(3, 401)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from glep.codegen.emit import load_module
from glep.derive.errors import DataError

from .options import integer, number
from .progress import Progress

REQUIRED = ("t", "inputs", "targets")


@dataclass
class Trajectories:
    """A validated data set (NumPy arrays, float64)."""

    t: np.ndarray
    inputs: np.ndarray
    targets: np.ndarray
    z0: np.ndarray
    test: tuple[np.ndarray, np.ndarray, np.ndarray] | None
    true_theta: np.ndarray | None

    @property
    def size(self) -> int:
        return self.inputs.shape[0]


def _numeric(value, name, path):
    """``value`` as a float64 array; refuses objects, strings, complex numbers, booleans."""
    array = np.asarray(value)
    if array.dtype.kind not in "iuf":
        raise DataError(
            f"{path}: '{name}' has dtype {array.dtype}: store real numbers (float64)"
        )
    return array.astype(float)


def _channels(array, name, count, samples, path):
    array = _numeric(array, name, path)
    if array.ndim == 2 and count == 1:
        array = array[..., None]
    if array.ndim != 3 or array.shape[1] != samples or array.shape[2] != count:
        raise DataError(
            f"{path}: '{name}' has shape {array.shape}; expected (trajectories, {samples}, "
            f"{count}) — one row per trajectory, {samples} samples (the length of 't'), "
            f"{count} channel(s)"
        )
    if array.shape[0] == 0:
        raise DataError(f"{path}: '{name}' has no trajectories: give at least one")
    if not np.all(np.isfinite(array)):
        raise DataError(f"{path}: '{name}' contains NaN or infinite values: clean the data")
    return array


def _read(path) -> dict:
    """Every array of the archive, read now (a corrupt member fails here, not mid-training)."""
    with open(path, "rb") as handle:
        try:
            archive = np.load(handle, allow_pickle=False)
        except Exception as error:  # not an npz, truncated, a pickle...
            raise DataError(f"{path} is not a readable .npz file: {type(error).__name__}: "
                            f"{error}; create one with glep data ...") from None
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise DataError(f"{path} is a single .npy array, not an .npz archive with the "
                            f"keys {list(REQUIRED)}: save it with numpy.savez")
        arrays = {}
        with archive:
            for key in archive.files:
                try:
                    arrays[key] = archive[key]
                except ValueError as error:
                    if "allow_pickle" in str(error):
                        raise DataError(f"{path}: '{key}' is an object array (pickled Python "
                                        f"objects): store real numbers (float64)") from None
                    raise DataError(f"{path}: '{key}' cannot be read: {error}") from None
                except Exception as error:  # corrupt member
                    raise DataError(f"{path}: '{key}' cannot be read ({type(error).__name__}: "
                                    f"{error}): the file is corrupt; regenerate it") from None
    return arrays


def load_data(path, problem, module=None) -> Trajectories:
    """Read and validate a data set for ``problem``; every error says what to fix."""
    path = Path(path)
    if path.is_dir():
        raise DataError(f"data file {path} is a directory: give an .npz file")
    if not path.is_file():
        raise DataError(f"data file {path} does not exist: create one with glep data ...")
    archive = _read(path)
    missing = [key for key in REQUIRED if key not in archive]
    if missing:
        raise DataError(
            f"{path} has no {missing}: a data set needs the keys {list(REQUIRED)} "
            f"(see learn/datasets.py for the format; it has {sorted(archive)})"
        )
    module = module or load_module(problem, "numpy")
    t = _numeric(archive["t"], "t", path)
    if t.ndim != 1 or len(t) < 3 or not np.all(np.isfinite(t)):
        raise DataError(f"{path}: 't' must be a 1-D array of at least 3 finite sample times")
    spacing = np.diff(t)
    if abs(t[0]) > 1e-12 or np.ptp(spacing) > 1e-9 * max(1.0, t[-1]):
        raise DataError(f"{path}: 't' must be a uniform grid starting at 0")
    if abs(t[-1] - problem.horizon) > 1e-9 * problem.horizon:
        raise DataError(
            f"{path}: the grid ends at t = {t[-1]:g} but the problem's horizon is "
            f"{problem.horizon:g}: resample the data or change the horizon"
        )
    samples = len(t)
    inputs = _channels(archive["inputs"], "inputs", len(module.INPUTS), samples, path)
    targets = _channels(archive["targets"], "targets", len(module.TARGETS), samples, path)
    if inputs.shape[0] != targets.shape[0]:
        raise DataError(
            f"{path}: {inputs.shape[0]} input trajectories but {targets.shape[0]} target "
            f"trajectories: give one target per input"
        )
    z0 = _initial(archive, "z0", inputs.shape[0], module, path)
    test = None
    test_keys = [k for k in ("test_inputs", "test_targets") if k in archive]
    if len(test_keys) == 1:
        other = ({"test_inputs", "test_targets"} - set(test_keys)).pop()
        raise DataError(f"{path} has '{test_keys[0]}' but no '{other}': a held-out set needs "
                        f"both (or neither)")
    if "test_z0" in archive and not test_keys:
        raise DataError(f"{path} has 'test_z0' but no 'test_inputs'/'test_targets'")
    if test_keys:
        test_inputs = _channels(archive["test_inputs"], "test_inputs", len(module.INPUTS),
                                samples, path)
        test_targets = _channels(archive["test_targets"], "test_targets", len(module.TARGETS),
                                 samples, path)
        if test_inputs.shape[0] != test_targets.shape[0]:
            raise DataError(
                f"{path}: {test_inputs.shape[0]} test_inputs trajectories but "
                f"{test_targets.shape[0]} test_targets trajectories: give one per input"
            )
        test = (test_inputs, test_targets,
                _initial(archive, "test_z0", test_inputs.shape[0], module, path))
    true_theta = None
    if "true_theta" in archive:
        true_theta = _numeric(archive["true_theta"], "true_theta", path)
        if true_theta.shape != (len(module.PARAMS),):
            raise DataError(
                f"{path}: 'true_theta' has shape {true_theta.shape}; expected "
                f"({len(module.PARAMS)},), one value per parameter {module.PARAMS}"
            )
        if not np.all(np.isfinite(true_theta)):
            raise DataError(f"{path}: 'true_theta' contains NaN or infinite values")
    return Trajectories(t, inputs, targets, z0, test, true_theta)


def _initial(archive, key, count, module, path):
    if key not in archive:
        return np.tile(np.asarray(module.INITIAL_STATE, dtype=float), (count, 1))
    z0 = _numeric(archive[key], key, path)
    if z0.shape != (count, len(module.STATE)):
        raise DataError(
            f"{path}: '{key}' has shape {z0.shape}; expected ({count}, {len(module.STATE)}) "
            f"in the state coordinates {module.STATE}"
        )
    if not np.all(np.isfinite(z0)):
        raise DataError(f"{path}: '{key}' contains NaN or infinite values")
    return z0


def band_limited(rng, t, count, highest, components=8, amplitude=1.0):
    """Random forces: sums of sinusoids with frequencies below ``highest`` (rad/s)."""
    frequencies = rng.uniform(0.1, highest, size=(count, components, 1))
    phases = rng.uniform(0, 2 * np.pi, size=(count, components, 1))
    weights = rng.normal(size=(count, components, 1)) / np.sqrt(components)
    return amplitude * (weights * np.sin(frequencies * t + phases)).sum(axis=1)


def default_teacher(names) -> np.ndarray:
    """The teacher of ``glep data identification`` unless ``--teacher`` says otherwise: a
    parameter whose name starts with ``k`` (a spring) gets ``1 + 0.4 sin(1.7 i + 0.3)``, any
    other ``0.5 + 0.3 cos(1.3 i)``, i its index in PARAMS."""
    return np.array([1.0 + 0.4 * np.sin(1.7 * i + 0.3) if name.startswith("k")
                     else 0.5 + 0.3 * np.cos(1.3 * i) for i, name in enumerate(names)])


def _teacher(problem, names, given) -> np.ndarray:
    teacher = default_teacher(names)
    for name, value in dict(given or {}).items():
        if name not in names:
            raise DataError(f"--teacher {name}: not a parameter of {problem.name}; its "
                            f"parameters are {list(names)}")
        try:
            teacher[list(names).index(name)] = number("teacher", value)
        except DataError:
            raise DataError(f"--teacher {name}={value}: give a finite number") from None
    return teacher


def _observed(rng, targets, noise):
    """``targets`` with Gaussian observation noise of standard deviation ``noise``."""
    noise = number("noise", noise, low=0, low_open=False)
    return targets + noise * rng.normal(size=targets.shape) if noise else targets


def identification(problem, *, trajectories=64, seed=0, teacher=None, noise=0.0,
                   initial="random", progress=True) -> dict:
    """A teacher (the system with the parameters :func:`default_teacher` gives, overridden
    by name in ``teacher``) driven by band-limited forces on every input; the targets are
    what its running cost observes (:func:`glep.learn.observation.observation`: every
    position of a chain that compares them all), plus Gaussian noise of standard deviation
    ``noise``. ``initial``: ``"random"`` starts each trajectory from random positions
    (N(0, 0.6²), so every spring of a chain is stretched into its anharmonic range) at
    zero velocity or momentum; ``"declared"`` from the system file's initial state. The
    teacher runs through the same generated RK4 at the problem's steps, eight trajectories at
    a time under a progress bar (on a terminal, with ``progress``)."""
    from .observation import observation

    module = load_module(problem, "numpy")
    trajectories = integer("trajectories", trajectories, 1)
    if initial not in ("random", "declared"):
        raise DataError(f"--initial must be random or declared, got {initial!r}")
    seen = observation(problem, module)
    if initial == "random" and hasattr(module, "tangent"):
        raise DataError(f"{problem.name} is constrained: random initial displacements would leave "
                        f"its constraint manifold; use --initial declared or write a data file "
                        f"with z0 on the manifold")
    rng = np.random.default_rng(seed)
    t = np.linspace(0.0, problem.horizon, problem.steps + 1)
    theta = _teacher(problem, module.PARAMS, teacher)
    channels = len(module.INPUTS)
    forces = band_limited(rng, t, trajectories * channels, highest=2.0, amplitude=1.5)
    inputs = np.moveaxis(forces.reshape(trajectories, channels, len(t)), 1, 2)
    n = len(module.STATE) // 2
    if initial == "random":
        z0 = np.concatenate([rng.normal(0.0, 0.6, size=(trajectories, n)),
                             np.zeros((trajectories, n))], axis=1)
    else:
        z0 = np.tile(np.asarray(module.INITIAL_STATE, dtype=float), (trajectories, 1))
    runs = []  # (N + 1, B, state), in groups of eight trajectories
    with Progress(trajectories, f"simulating {problem.name}", progress) as bar:
        for first in range(0, trajectories, 8):
            runs.append(module.simulate(z0[first:first + 8], theta,
                                        inputs=inputs[first:first + 8]))
            bar.update(min(first + 8, trajectories))
    states = np.concatenate(runs, axis=1)
    targets = np.moveaxis(seen(t[:, None], states, theta), 0, 1)
    return {"t": t, "inputs": inputs, "targets": _observed(rng, targets, noise), "z0": z0,
            "true_theta": theta}


def linear_filter(problem, *, trajectories=128, test=None, seed=0, noise=0.0) -> dict:
    """Random forces and, as targets, a fixed band-pass (Butterworth) filter of them (plus
    Gaussian noise of standard deviation ``noise``); ``test`` of the ``trajectories``
    (default a quarter) are held out. The system needs one input and one target."""
    from scipy import signal

    module = load_module(problem, "numpy")
    if len(module.INPUTS) != 1 or len(module.TARGETS) != 1:
        raise DataError(
            f"glep data filter makes one input force and one target (a band-pass filter of "
            f"it); {problem.name} has {len(module.INPUTS)} input(s) {list(module.INPUTS)} and "
            f"{len(module.TARGETS)} target(s) {list(module.TARGETS)}: use glep data "
            f"identification, or a system with one input and one target")
    trajectories = integer("trajectories", trajectories, 2)
    test = max(1, trajectories // 4) if test is None else test
    rng = np.random.default_rng(seed)
    t = np.linspace(0.0, problem.horizon, problem.steps + 1)
    forces = band_limited(rng, t, trajectories, highest=3.0)
    dt = t[1] - t[0]
    nyquist = np.pi / dt
    b, a = signal.butter(2, [0.4 / nyquist, 1.5 / nyquist], btype="band")
    outputs = _observed(rng, signal.lfilter(b, a, forces, axis=-1), noise)
    train = trajectories - test
    return {
        "t": t,
        "inputs": forces[:train, :, None],
        "targets": outputs[:train, :, None],
        "test_inputs": forces[train:, :, None],
        "test_targets": outputs[train:, :, None],
    }


GENERATORS = {"identification": identification, "filter": linear_filter}


def fir_baseline(data: Trajectories, taps: int) -> dict:
    """Least-squares FIR filter with ``taps`` coefficients (fitted on the training set)."""

    def design(inputs):
        u = inputs[..., 0]
        columns = [np.pad(u, ((0, 0), (k, 0)))[:, : u.shape[1]] for k in range(taps)]
        return np.stack(columns, axis=-1).reshape(-1, taps)

    x = design(data.inputs)
    coefficients, *_ = np.linalg.lstsq(x, data.targets[..., 0].ravel(), rcond=None)
    out = {"train_mse": float(np.mean((x @ coefficients - data.targets[..., 0].ravel()) ** 2))}
    if data.test is not None:
        xt = design(data.test[0])
        out["test_mse"] = float(np.mean((xt @ coefficients - data.test[1][..., 0].ravel()) ** 2))
    return out
