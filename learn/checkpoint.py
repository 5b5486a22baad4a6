"""Crash-safe run directories for ``glep train``: atomic strict-JSON files, checkpoints of the
optimizer state, the run's metadata, a lock, and the signals that stop a run cleanly.

Every file is replaced atomically (a temporary file in the same directory, ``fsync``,
``os.replace``, then ``fsync`` of the directory), so a run killed at any moment — even by
SIGKILL, even in the middle of a write — leaves the previous complete version of each file.
JSON is strict (no ``NaN``/``Infinity``): a non-finite number is refused when written and
when read.

>>> text = dumps({"theta": [1.0, 0.1]})
>>> loads(text, "example")["theta"]
[1.0, 0.1]
>>> loads('{"x": NaN}', "bad.json")
Traceback (most recent call last):
...
glep.learn.checkpoint.RunDirError: bad.json is not strict JSON: NaN is not a number
>>> decode(encode((1, torch.tensor([0.5, 2.0], dtype=torch.float64))))
(1, tensor([0.5000, 2.0000], dtype=torch.float64))
"""

from __future__ import annotations

import base64
import contextlib
import errno
import fcntl
import hashlib
import json
import math
import os
import signal
import sys
import tempfile
import threading
from pathlib import Path

import torch

from glep.derive.errors import DataError

__all__ = [
    "CHECKPOINT_FORMAT", "LOCK_NAME", "METADATA_NAME", "RunDirError", "RunLock", "Stop",
    "atomic_write", "decode", "dumps", "encode", "load_checkpoint", "loads", "read_params",
    "sha256",
]

CHECKPOINT_FORMAT = "glep-train-checkpoint/1"
_UMASK = os.umask(0o022)
os.umask(_UMASK)
METADATA_NAME = "run.json"
LOCK_NAME = "train.lock"


class RunDirError(DataError):
    """A run directory is locked by another run, or its metadata or checkpoint is unusable."""


# -- strict JSON, atomically -------------------------------------------------------------------


def dumps(payload, indent=None) -> str:
    """Strict JSON (``allow_nan=False``): a non-finite number raises ``ValueError``."""
    return json.dumps(payload, allow_nan=False, indent=indent) + "\n"


def _reject_constant(name):
    raise ValueError(f"{name} is not a number")


def loads(text: str, source) -> object:
    """Parse strict JSON; ``NaN``/``Infinity`` or a syntax error raise :class:`RunDirError`
    naming ``source``."""
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except ValueError as error:
        raise RunDirError(f"{source} is not strict JSON: {error}") from None


def atomic_write(path, text: str) -> None:
    """Replace ``path`` by ``text``: temporary file in the same directory, fsync, rename,
    fsync of the directory. A crash leaves either the old or the new file, never a mix."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # as an ordinary open() would (mkstemp gives 0600)
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    except OSError:  # pragma: no cover - some file systems refuse fsync on directories
        pass
    finally:
        os.close(directory)


def remove_stale_temporaries(directory) -> None:
    """Delete temporary files a killed run left behind (``.<name>.<random>.tmp``)."""
    for path in Path(directory).glob(".*.tmp"):
        with contextlib.suppress(OSError):
            path.unlink()


def sha256(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# -- optimizer and scheduler state as JSON -----------------------------------------------------


def encode(value):
    """A ``state_dict`` (tensors, tuples, int keys, numbers) as JSON-compatible data; exact:
    floats are written with ``repr``, so :func:`decode` gives back the same bits."""
    if isinstance(value, torch.Tensor):
        tensor = value.detach().cpu()
        return {"__tensor__": str(tensor.dtype).removeprefix("torch."),
                "shape": list(tensor.shape), "data": tensor.reshape(-1).tolist()}
    if isinstance(value, tuple):
        return {"__tuple__": [encode(v) for v in value]}
    if isinstance(value, list):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        if all(isinstance(k, str) for k in value):
            return {k: encode(v) for k, v in value.items()}
        return {"__items__": [[encode(k), encode(v)] for k, v in value.items()]}
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise TypeError(f"cannot checkpoint a {type(value).__name__}")


def decode(value):
    """The inverse of :func:`encode`."""
    if isinstance(value, list):
        return [decode(v) for v in value]
    if isinstance(value, dict):
        if "__tensor__" in value:
            dtype = getattr(torch, value["__tensor__"])
            return torch.tensor(value["data"], dtype=dtype).reshape(value["shape"])
        if "__tuple__" in value:
            return tuple(decode(v) for v in value["__tuple__"])
        if "__items__" in value:
            return {decode(k): decode(v) for k, v in value["__items__"]}
        return {k: decode(v) for k, v in value.items()}
    return value


def generator_state(generator: torch.Generator) -> str:
    return base64.b64encode(generator.get_state().numpy().tobytes()).decode("ascii")


def set_generator_state(generator: torch.Generator, text: str) -> None:
    raw = bytearray(base64.b64decode(text.encode("ascii"), validate=True))
    generator.set_state(torch.frombuffer(raw, dtype=torch.uint8).clone())


# -- checkpoints and parameter files -----------------------------------------------------------


def _finite(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def load_checkpoint(path, names=None) -> dict:
    """Read and validate a checkpoint: strict JSON, the known format, finite parameters with
    the expected ``names`` (in order) when given."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise RunDirError(f"cannot read the checkpoint {path}: {error.strerror}") from None
    state = loads(text, path)
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise RunDirError(f"{path} is not a glep train checkpoint ({CHECKPOINT_FORMAT})")
    missing = [k for k in ("status", "step", "epoch", "batch", "params", "optimizer",
                           "scheduler", "generator") if k not in state]
    if missing:
        raise RunDirError(f"{path}: the checkpoint has no {missing}")
    params = state["params"]
    if not isinstance(params, dict) or not all(_finite(v) for v in params.values()):
        raise RunDirError(f"{path}: 'params' must map names to finite numbers")
    if names is not None and list(params) != list(names):
        raise RunDirError(f"{path}: the checkpoint's parameters {list(params)} are not the "
                          f"system's {list(names)}")
    return state


def read_params(path, names) -> list[float]:
    """Parameters from a JSON file ``{name: value}`` (as ``glep train`` writes them), in the
    order of ``names``; every name must be there, once, with one finite number."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise DataError(f"--init {path}: cannot read it: {error.strerror}") from None
    try:
        values = loads(text, f"--init {path}")
    except RunDirError as error:
        raise DataError(str(error)) from None
    if not isinstance(values, dict):
        raise DataError(f"--init {path}: expected a JSON object {{name: value}} naming the "
                        f"parameters {list(names)}")
    for key, value in values.items():
        if key not in names:
            raise DataError(f"--init {path}: unknown parameter {key!r}; the system's "
                            f"parameters are {list(names)}")
        if isinstance(value, list):
            raise DataError(f"--init {path}: parameter {key!r} has {len(value)} values; "
                            f"expected one number")
        if not _finite(value):
            raise DataError(f"--init {path}: parameter {key!r} must be a finite number, "
                            f"got {value!r}")
    missing = [name for name in names if name not in values]
    if missing:
        raise DataError(f"--init {path}: missing parameter(s) {missing} (the file has "
                        f"{len(values)} of the system's {len(names)})")
    return [float(values[name]) for name in names]


# -- the lock ----------------------------------------------------------------------------------


class RunLock:
    """An exclusive ``fcntl.flock`` on ``<run dir>/train.lock``, which holds the owner's PID.

    The kernel drops the lock when its process dies (even by SIGKILL), so a lock file left
    by a dead run is simply taken over; a live owner makes :meth:`acquire` raise
    :class:`RunDirError` naming the directory, the lock file and the PID.
    """

    def __init__(self, directory):
        self.directory = Path(directory)
        self.path = self.directory / LOCK_NAME
        self.fd = None

    def acquire(self) -> RunLock:
        self.directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            if error.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                os.close(fd)
                raise
            owner = os.pread(fd, 64, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise RunDirError(
                f"{self.directory} is in use by another glep train (PID {owner}; lock "
                f"{self.path}): wait for it to finish, or choose another --out-dir"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self.fd, 0)
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()


# -- stopping on SIGINT / SIGTERM --------------------------------------------------------------


class Stop:
    """While entered, SIGINT and SIGTERM ask the training loop to stop after the current step
    (``signum`` records which); a second signal stops at once (``KeyboardInterrupt``).
    Re-entrant; the previous handlers come back on exit. Outside the main thread (where
    Python cannot install handlers) it does nothing."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.signum: int | None = None
        self._depth = 0
        self._previous = {}

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def _handle(self, signum, frame):
        if self.signum is not None:
            raise KeyboardInterrupt
        self.signum = signum
        sys.stderr.write(f"\nglep: {signal.Signals(signum).name} received: finishing the "
                         f"current step and writing a checkpoint (again to stop at once)\n")
        sys.stderr.flush()

    def __enter__(self):
        if self._depth == 0 and threading.current_thread() is threading.main_thread():
            for signum in self.SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        self._depth += 1
        return self

    def __exit__(self, *exc):
        self._depth -= 1
        if self._depth == 0:
            for signum, handler in self._previous.items():
                signal.signal(signum, handler)
            self._previous.clear()
