"""Shared set-up of the crash-safety tests: a data set made by ``glep data``, the training
options every test uses, and the reference (uninterrupted) run they are compared with."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from glep.cli import main
from glep.learn import checkpoint as ck
from tests.conftest import ROOT, SYSTEMS

SYSTEM = SYSTEMS / "harmonic_oscillator.py"
NAME = "harmonic_oscillator"
PARAMS = ["m", "k", "w"]
#: 2 epochs × 12 batches of 8 (96 training trajectories), 50 RK4 steps: ≈ 1 s of training.
OPTIONS = ["--epochs", "2", "--batch", "8", "--steps", "50", "--seed", "3", "--quiet"]


class StopAfter(ck.Stop):
    """A stop request (as by SIGINT) after the training loop has asked ``calls`` times."""

    def __init__(self, calls):
        super().__init__()
        self.calls, self.limit = 0, calls

    @property
    def requested(self):
        self.calls += 1
        return self.calls > self.limit


def files(run_dir, rule="HEL"):
    stem = Path(run_dir) / f"{NAME}-{rule}"
    return {"checkpoint": Path(f"{stem}-checkpoint.json"), "params": Path(f"{stem}-params.json"),
            "log": Path(f"{stem}.jsonl")}


def strict_json(path):
    """Parse ``path`` as strict JSON (NaN/Infinity refused)."""

    def refuse(name):
        raise AssertionError(f"{path}: non-strict constant {name}")

    return json.loads(Path(path).read_text(encoding="utf-8"), parse_constant=refuse)


def train_argv(data, out_dir, *extra):
    return ["train", str(SYSTEM), "--data", str(data), *OPTIONS, "--out-dir", str(out_dir),
            *extra]


def spawn(argv, **kwargs):
    """``glep ARGV`` in a subprocess (the installed command line, ``python -m glep.cli``)."""
    return subprocess.Popen([sys.executable, "-m", "glep.cli", *argv], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            **kwargs)


def wait_for(condition, process=None, timeout=120.0, what="a condition"):
    deadline = time.monotonic() + timeout
    while not condition():
        if process is not None and process.poll() is not None:
            raise AssertionError(f"the process exited ({process.returncode}) before {what}: "
                                 f"{process.stderr.read()}")
        if time.monotonic() > deadline:
            if process is not None:
                os.kill(process.pid, signal.SIGKILL)
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def log_rows(path) -> int:
    path = Path(path)
    return path.read_text(encoding="utf-8").count("\n") if path.is_file() else 0


@pytest.fixture(scope="session")
def data_file(tmp_path_factory):
    out = tmp_path_factory.mktemp("data") / "filter.npz"
    assert main(["data", "filter", str(SYSTEM), "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="session")
def reference(tmp_path_factory, data_file):
    """The uninterrupted run: its directory, final parameters and log."""
    out = tmp_path_factory.mktemp("reference")
    assert main(train_argv(data_file, out)) == 0
    paths = files(out)
    state = ck.load_checkpoint(paths["checkpoint"], PARAMS)
    assert state["status"] == "complete" and state["step"] == 24
    return {"dir": out, "params": strict_json(paths["params"]), "seconds": state["elapsed"],
            "losses": [json.loads(line)["loss"] for line in
                       paths["log"].read_text().splitlines()]}


def assert_reproduces(run_dir, reference):
    paths = files(run_dir)
    params = strict_json(paths["params"])
    assert list(params) == PARAMS
    for name in PARAMS:
        assert abs(params[name] - reference["params"][name]) <= 1e-12 * max(
            1.0, abs(reference["params"][name])), name
    losses = [json.loads(line)["loss"] for line in paths["log"].read_text().splitlines()]
    assert losses == pytest.approx(reference["losses"], rel=1e-12, abs=0)
    assert ck.load_checkpoint(paths["checkpoint"], PARAMS)["status"] == "complete"
