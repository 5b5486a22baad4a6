"""Crash-safe ``glep train``: SIGKILL at random moments leaves a loadable checkpoint,
SIGTERM/SIGINT leave a final one and exit 143/130, ``--resume`` reproduces the
uninterrupted run, a locked run directory is refused, divergence keeps finite parameters."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from glep.cli import main
from glep.learn import checkpoint as ck
from tests.learn.conftest import (
    NAME,
    PARAMS,
    SYSTEM,
    assert_reproduces,
    files,
    log_rows,
    spawn,
    strict_json,
    train_argv,
    wait_for,
)

TRIALS = 10


@pytest.mark.slow
def test_sigkill_at_random_moments_always_leaves_a_loadable_checkpoint(
        tmp_path, data_file, reference):
    rng = random.Random(20240607)
    # kills land anywhere in the first 90 % of the run (as long as the reference run took)
    span = 0.9 * max(reference["seconds"], 0.2)
    trials = [{"out_dir": str(tmp_path / f"trial{i}"), "delay": round(rng.uniform(0, span), 3),
               "checkpoint": files(".")["checkpoint"].name,
               "argv": train_argv(data_file, tmp_path / f"trial{i}", "--checkpoint-every", "1")}
              for i in range(TRIALS)]
    config = tmp_path / "trials.json"
    config.write_text(json.dumps({"trials": trials}))
    done = subprocess.run([sys.executable, str(Path(__file__).with_name("_killer.py")),
                           str(config)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    results = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(results) == TRIALS
    killed = [r for r in results if r["killed"]]
    assert len(killed) >= TRIALS // 2, results  # most kills land in the middle of training
    for result in results:
        paths = files(result["out_dir"])
        raw = strict_json(paths["checkpoint"])  # strict JSON, complete (not half-written)
        state = ck.load_checkpoint(paths["checkpoint"], PARAMS)
        assert list(state["params"]) == PARAMS
        assert all(np.isfinite(list(state["params"].values())))
        assert raw["status"] in ("running", "complete"), result
        if not result["killed"]:
            assert raw["status"] == "complete"
    # a killed run resumes (taking over the dead run's lock) and ends where the
    # uninterrupted run ends; also the leftovers of a write cut short are cleaned up
    for result in killed[:2]:
        assert main(["train", "--resume", result["out_dir"], "--quiet"]) == 0
        assert_reproduces(result["out_dir"], reference)
        assert not list(Path(result["out_dir"]).glob(".*.tmp"))


@pytest.mark.slow
def test_sigterm_writes_a_final_checkpoint_and_a_second_run_is_refused(
        tmp_path, data_file, capsys):
    out = tmp_path / "run"
    paths = files(out)
    process = spawn(train_argv(data_file, out, "--epochs", "50"))
    wait_for(lambda: log_rows(paths["log"]) >= 1, process, what="the first step")
    # a second run into the same directory: refused, naming the directory, lock and PID
    assert main(train_argv(data_file, out)) == 2
    err = capsys.readouterr().err
    assert str(out) in err and f"PID {process.pid}" in err and ck.LOCK_NAME in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    # the same for --resume while the run is alive
    assert main(["train", "--resume", str(out), "--quiet"]) == 2
    assert f"PID {process.pid}" in capsys.readouterr().err
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 143, err
    assert "SIGTERM" in err and f"--resume {out}" in err and "Traceback" not in err
    state = ck.load_checkpoint(paths["checkpoint"], PARAMS)
    assert state["status"] == "interrupted" and state["signal"] == signal.SIGTERM
    assert state["step"] == log_rows(paths["log"]) >= 1  # the step in progress was finished
    assert strict_json(paths["params"]) == state["params"]


@pytest.mark.slow
def test_sigint_then_resume_reproduces_the_uninterrupted_run(tmp_path, data_file, reference):
    out = tmp_path / "run"
    paths = files(out)
    process = spawn(train_argv(data_file, out))
    wait_for(lambda: log_rows(paths["log"]) >= 2, process, what="two steps")
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "SIGINT" in err and "Traceback" not in err
    state = ck.load_checkpoint(paths["checkpoint"], PARAMS)
    assert state["status"] == "interrupted" and 2 <= state["step"] < 24
    assert main(["train", "--resume", str(out)]) == 0
    assert_reproduces(out, reference)
    # a finished run resumes to the same result at once
    assert main(["train", "--resume", str(out), "--quiet"]) == 0
    assert_reproduces(out, reference)


def test_resume_refuses_conflicting_options(reference, capsys):
    assert main(["train", "--resume", str(reference["dir"]), "--lr", "0.5"]) == 2
    err = capsys.readouterr().err
    assert "--lr 0.5 conflicts with the recorded --lr 0.01" in err and "Traceback" not in err
    assert main(["train", "--resume", str(reference["dir"]), "--rule", "adjoint"]) == 2
    assert "--rule" in capsys.readouterr().err
    assert main(["train", "--resume", str(reference["dir"]), "--epochs", "2", "--quiet",
                 "--checkpoint-every", "5"]) == 0  # same value / options free on resume
    capsys.readouterr()
    assert main(["train", "--resume", str(reference["dir"] / "nowhere")]) == 2
    assert "--resume" in capsys.readouterr().err


def test_divergence_keeps_the_last_finite_parameters(tmp_path, data_file, capsys):
    out = tmp_path / "run"
    paths = files(out)
    code = main(train_argv(data_file, out, "--lr", "1e200", "--epochs", "1"))
    assert code == 1
    err = capsys.readouterr().err
    assert "diverged" in err and "non-finite" in err and str(paths["params"]) in err
    params = strict_json(paths["params"])
    assert list(params) == PARAMS and all(np.isfinite(list(params.values())))
    state = ck.load_checkpoint(paths["checkpoint"], PARAMS)
    assert state["status"] == "diverged" and "lower --lr" in state["reason"]
    # the kept parameters are the last whose loss and gradient were finite
    from glep.codegen.emit import load_module
    from glep.derive.systemfile import load_problem
    from glep.learn.datasets import load_data

    problem = load_problem(SYSTEM)
    module = load_module(problem)
    data = load_data(data_file, problem)
    result = module.gradient(data.z0[:8], np.array(list(params.values())), steps=50,
                             inputs=data.inputs[:8], targets=data.targets[:8])
    assert np.isfinite(result["loss"]) and np.all(np.isfinite(result["theta"]))
    rows = [json.loads(line) for line in paths["log"].read_text().splitlines()]
    assert all(np.isfinite(r["loss"]) for r in rows)
    # a diverged run is not resumed: start again, lower, from its last finite parameters
    assert main(["train", "--resume", str(out)]) == 2
    assert f"--init {paths['params']}" in capsys.readouterr().err


def test_init_starts_from_given_parameters(tmp_path, data_file, capsys):
    start = tmp_path / "start.json"
    start.write_text(json.dumps({"m": 1.5, "k": 2.5, "w": 0.25}))
    out = tmp_path / "run"
    assert main(train_argv(data_file, out, "--init", str(start), "--epochs", "1",
                           "--checkpoint-every", "100")) == 0
    meta = strict_json(out / ck.METADATA_NAME)
    assert meta["init"] == {"m": 1.5, "k": 2.5, "w": 0.25}
    first = json.loads(files(out)["log"].read_text().splitlines()[0])
    capsys.readouterr()
    default = tmp_path / "default"
    assert main(train_argv(data_file, default, "--epochs", "1")) == 0
    assert first["loss"] != json.loads(files(default)["log"].read_text().splitlines()[0])["loss"]


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ({"m": 1.0, "k": 2.0, "w": 0.5, "q": 1.0}, "unknown parameter 'q'"),
        ({"m": 1.0, "k": 2.0}, "missing parameter(s) ['w']"),
        ({"m": 1.0, "k": [2.0, 3.0], "w": 0.5}, "parameter 'k' has 2 values"),
        ({"m": 1.0, "k": "2", "w": 0.5}, "parameter 'k' must be a finite number"),
        ('{"m": NaN, "k": 2.0, "w": 0.5}', "not strict JSON"),
        ([1.0, 2.0, 0.5], "expected a JSON object"),
    ],
)
def test_bad_init_file_names_the_file_and_the_key(tmp_path, data_file, capsys, content,
                                                  fragment):
    start = tmp_path / "start.json"
    start.write_text(content if isinstance(content, str) else json.dumps(content))
    assert main(train_argv(data_file, tmp_path / "run", "--init", str(start))) == 2
    err = capsys.readouterr().err
    assert f"--init {start}" in err and fragment in err and "Traceback" not in err
    assert not files(tmp_path / "run")["log"].exists()  # refused before training


def test_a_stale_lock_of_a_dead_process_is_taken_over(tmp_path, data_file):
    out = tmp_path / "run"
    out.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    (out / ck.LOCK_NAME).write_text(f"{dead}\n")
    assert main(train_argv(data_file, out, "--epochs", "1", "--batch", "96")) == 0
    assert ck.load_checkpoint(files(out)["checkpoint"], PARAMS)["status"] == "complete"


def test_checkpoints_are_written_every_n_steps(tmp_path, data_file, monkeypatch):
    writes = []
    real = ck.atomic_write

    def recording(path, text):
        if Path(path).name == f"{NAME}-HEL-checkpoint.json":
            writes.append(json.loads(text)["step"])
        real(path, text)

    monkeypatch.setattr(ck, "atomic_write", recording)
    assert main(train_argv(data_file, tmp_path / "run", "--epochs", "1",
                           "--checkpoint-every", "5")) == 0
    assert writes == [0, 5, 10, 12]  # start, every 5 gradients, end
