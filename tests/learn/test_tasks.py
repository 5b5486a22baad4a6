"""Widened output layers (several units per class) and task sequences for ``glep train``."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import glep
from glep import DataError
from glep.cli import main
from glep.codegen.emit import load_module
from glep.learn import checkpoint as ck
from glep.learn.catalog import load, permuted, tasks
from glep.learn.classify import readout, train, train_tasks
from glep.learn.optimizers import BinaryFlip, Metaplastic
from tests.learn.conftest import StopAfter


@pytest.fixture(scope="module")
def digits():
    return load("digits").head(64, 40)


def _mean_argmax(out, per_class):
    """The readout written out unit by unit: class c owns units c·K … c·K + K − 1."""
    classes = out.shape[-1] // per_class
    means = np.stack([sum(out[..., c * per_class + j] for j in range(per_class)) / per_class
                      for c in range(classes)], axis=-1)
    return means.argmax(-1)


def test_readout_averages_each_class_units():
    out = np.random.default_rng(0).random((50, 30))
    for per_class in (1, 3):
        assert (readout(out, per_class) == _mean_argmax(out, per_class)).all()
    # one large unit loses against a class whose units are all fairly large
    assert readout(np.array([0.95, 0.0, 0.6, 0.6]), 2) == 1


def test_widened_output_is_trained_toward_repeated_targets_and_read_by_mean(digits):
    problem = glep.load_problem("systems/hopfield_digits.py", {"n_out": 20})
    module = load_module(problem, "numpy")
    result = train(problem, digits, epochs=1, batch=32, lr="0.02", output_per_class=2,
                   progress=False)
    out = module.relax(result.theta, digits.test_x, np.zeros((len(digits.test_x), 20)))
    assert result.accuracies[-1] == np.mean(_mean_argmax(out, 2) == digits.test_y)
    # the gradient of one step equals C-EP's with each class's target on both of its units
    first = train(problem, digits.head(32, 8), epochs=1, batch=32, lr="0.02", momentum=0.0,
                  tol=1e-12, output_per_class=2, progress=False)
    theta = module.initial_params(0)
    order = np.random.default_rng([0, 0]).permutation(32)
    y = 0.1 + 0.8 * np.eye(10)[digits.y[order]][:, np.arange(20) // 2]
    grad = module.gradient(theta, digits.x[order], y, beta=0.2, rule="C-EP", tol=1e-12,
                           check=False)["grad"]
    for name, g in grad.items():
        assert np.allclose(first.theta[name], np.asarray(theta[name]) - 0.02 * np.asarray(g),
                           rtol=0, atol=1e-9), name


def test_output_units_that_are_not_a_multiple_of_the_classes_name_the_flag(digits):
    problem = glep.load_problem("systems/hopfield_digits.py", {"n_out": 20})
    with pytest.raises(DataError, match=r"--output-per-class 2\?"):
        train(problem, digits, epochs=1, progress=False)
    with pytest.raises(DataError, match="--output-per-class must be an integer"):
        train(problem, digits, epochs=1, output_per_class=0, progress=False)


def test_permuted_sequence_permutes_the_features_of_the_same_cases():
    base = load("digits")
    seq = tasks("permuted-digits:3")
    assert [t.name for t in seq] == ["digits-p0", "digits-p1", "digits-p2"]
    assert np.array_equal(seq[0].x, base.x) and np.array_equal(seq[0].test_x, base.test_x)
    orders = []
    for task in seq[1:]:
        assert np.array_equal(task.y, base.y) and np.array_equal(task.test_y, base.test_y)
        # each case keeps its pixels, reordered by one permutation shared by all cases
        cases, moved = np.vstack([base.x, base.test_x]), np.vstack([task.x, task.test_x])
        order = np.array([np.flatnonzero((cases == moved[:, [j]]).all(0))[0]
                          for j in range(base.features)])
        assert np.array_equal(task.x, base.x[:, order])
        assert np.array_equal(task.test_x, base.test_x[:, order])
        orders.append(order)
    assert not np.array_equal(orders[0], orders[1])
    assert [t.name for t in tasks("digits,permuted-digits:2")] == ["digits", "digits-p0",
                                                                   "digits-p1"]


@pytest.mark.parametrize("text, words", [
    ("permuted-digits", "permuted-NAME:N"), ("permuted-digits:0", "permuted-NAME:N"),
    ("permuted-digits:two", "permuted-NAME:N"), ("permuted-:2", "permuted-NAME:N"),
    ("permuted-nosuch:2", "unknown data set"), ("digits,mnist1d", "same features")])
def test_bad_sequences_name_the_flag(text, words):
    with pytest.raises(DataError, match=f"--data.*{words}"):
        tasks(text)


def test_a_sequence_carries_parameters_and_momentum_across_tasks(digits):
    """Two tasks of the same cases, one full batch each epoch, are two epochs of one task."""
    problem = glep.load_problem("systems/hopfield_digits.py")
    options = {"epochs": 1, "batch": 64, "lr": "0.02", "progress": False}
    last, rows = train_tasks(problem, [digits, digits], **options)
    both = train(problem, digits, **{**options, "epochs": 2})
    for name in both.theta:
        assert np.allclose(last.theta[name], both.theta[name], rtol=0, atol=1e-12), name
    assert [len(r) for r in rows] == [1, 2]
    assert rows[1] == [both.accuracies[-1]] * 2


def test_glep_train_runs_a_task_sequence_and_tables_every_task(tmp_path, digits, monkeypatch):
    path = tmp_path / "small.npz"
    np.savez(path, x=digits.x, y=digits.y, test_x=digits.test_x, test_y=digits.test_y)
    out = tmp_path / "run"
    code = main(["train", "systems/hopfield_digits.py", "--data", f"permuted-{path}:3",
                 "--epochs", "1", "--batch", "32", "--out-dir", str(out), "--quiet"])
    assert code == 0
    lines = [json.loads(s) for s in (out / "hopfield_digits-C-EP.jsonl").read_text().splitlines()]
    summaries = [line for line in lines if "task" in line]
    assert [s["task"] for s in summaries] == [1, 2, 3]
    assert [len(s["accuracy"]) for s in summaries] == [1, 2, 3]
    assert [line["epoch"] for line in lines if "epoch" in line] == [1, 1, 1]
    # the last task's epoch accuracy is the same test set's accuracy in the summary
    assert lines[-2]["test_accuracy"] == summaries[-1]["accuracy"]["small-p2"]
    table = (out / "hopfield_digits-tasks.md").read_text()
    rows = [line for line in table.splitlines() if line.startswith("| small-p")]
    last = [100 * a for a in summaries[-1]["accuracy"].values()]
    assert len(rows) == 3 and rows[-1] == ("| small-p2 | " + " | ".join(
        f"{a:.1f}" for a in last) + f" | {np.mean(last):.1f} |")
    # stopped in task 2 (as by SIGINT), --resume finishes the sequence: the same parameters,
    # log and table; a finished sequence resumes to the same table at once
    cut = tmp_path / "cut"
    argv = ["train", "systems/hopfield_digits.py", "--data", f"permuted-{path}:3", "--epochs",
            "1", "--batch", "32", "--out-dir", str(cut), "--quiet", "--checkpoint-every", "1"]
    monkeypatch.setattr(ck, "Stop", lambda: StopAfter(8))
    assert main(argv) == 130
    monkeypatch.undo()
    assert json.loads((cut / "hopfield_digits-C-EP-task2-checkpoint.json").read_text())[
        "status"] == "interrupted"
    for _ in range(2):
        assert main(["train", "--resume", str(cut)]) == 0
        assert (cut / "hopfield_digits-C-EP-params.json").read_text() == (
            out / "hopfield_digits-C-EP-params.json").read_text()
        assert _rows(cut / "hopfield_digits-C-EP.jsonl") == _rows(
            out / "hopfield_digits-C-EP.jsonl")
        assert [line for line in (cut / "hopfield_digits-tasks.md").read_text().splitlines()
                if line.startswith("| small-p")] == rows


def _rows(path):
    """The log's lines without their wall-clock seconds."""
    return [{k: v for k, v in json.loads(line).items() if k != "seconds"}
            for line in path.read_text().splitlines()]


@pytest.mark.parametrize("how, optimizer", [("stop", "flip"), ("crash", "flip"),
                                             ("crash", "metaplastic")])
def test_an_interrupted_sequence_resumes_in_its_task_to_the_uninterrupted_result(
        digits, tmp_path, monkeypatch, how, optimizer):
    """Interrupted in task 2 of 3 (a stop request, or an exception after the last checkpoint
    as by SIGKILL), ``resume=True`` continues task 2 with its parameters, optimizer state
    (flip momenta, metaplastic Adam moments) and log, and ends where the uninterrupted
    sequence ends."""
    problem = glep.load_problem("systems/binary_hopfield_digits.py")
    sequence = permuted(digits, 3)
    options = {"epochs": 2, "batch": 16, "lr": "0.02,alpha_W1=1e-5,alpha_W2=1e-5",
               "optimizer": optimizer, "gamma": "0.05", "tau": "1e-4", "meta": "1.35",
               "progress": False, "checkpoint_every": 3}
    stepped = BinaryFlip if optimizer == "flip" else Metaplastic

    def run(name, **extra):
        return train_tasks(problem, sequence, **options, **extra,
                           log_path=tmp_path / f"{name}.jsonl",
                           checkpoint_path=tmp_path / f"{name}-checkpoint.json")

    full, full_rows = run("full")
    steps = []  # 8 steps per task: the 14th is in task 2, after its epoch 1 line
    if how == "stop":
        first, _ = run("cut", stop=StopAfter(20))
        assert first.interrupted
    else:
        original = stepped.step

        def step(self, closure=None):
            steps.append(1)
            if len(steps) == 14:
                raise RuntimeError("killed")
            return original(self, closure)

        monkeypatch.setattr(stepped, "step", step)
        with pytest.raises(RuntimeError, match="killed"):
            run("cut")
        monkeypatch.setattr(stepped, "step", original)
    saved = [json.loads((tmp_path / f"cut-task{k}-checkpoint.json").read_text())
             for k in (1, 2)]
    assert saved[0]["status"] == "complete" and saved[1]["status"] != "complete"
    assert 0 < saved[1]["step"] < 8 and not (tmp_path / "cut-task3-checkpoint.json").exists()
    last, rows = run("cut", resume=True)
    for name in full.theta:
        assert np.array_equal(last.theta[name], full.theta[name]), name
    assert rows == full_rows and [len(r) for r in rows] == [1, 2, 3]
    state, reference = (s["flip" if optimizer == "flip" else "optimizer"]["state"][0]
                        for s in (last.state, full.state))
    key = "momentum" if optimizer == "flip" else "exp_avg"
    assert torch.equal(state[key], reference[key]) and state[key].abs().sum() > 0
    assert _rows(tmp_path / "cut.jsonl") == _rows(tmp_path / "full.jsonl")
