"""``glep train`` on energies and ff-EBM chains: dispatch by kind, options checked up front."""

from __future__ import annotations

import json

import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from glep.cli import main

DIGITS = "systems/hopfield_digits.py"

BAD = [
    ("--rule", "HEL"), ("--compare", "C-EP,C-EP"), ("--lr", "0"), ("--lr", "W9=0.1"),
    ("--lr", "W1=0.1"), ("--momentum", "1.5"), ("--weight-decay", "-1"),
    ("--schedule", "step"), ("--optimizer", "lbfgs"), ("--method", "newton"),
    ("--tol", "0"), ("--max-iterations", "0"), ("--targets", "0.1"), ("--seed", "0,x"),
    ("--epochs", "0"), ("--batch", "0"), ("--beta", "nan"), ("--threads", "0"),
]


@pytest.mark.parametrize(("flag", "value"), BAD)
def test_a_bad_option_is_refused_up_front(tmp_path, capsys, flag, value):
    out = tmp_path / "runs"
    code = main(["train", DIGITS, "--data", str(tmp_path / "missing.npz"), flag, value,
                 "--out-dir", str(out)])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert flag in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert not out.exists()


def test_energy_options_are_refused_for_a_continuous_system(tmp_path, capsys):
    code = main(["train", "systems/harmonic_oscillator.py", "--data", str(tmp_path / "d.npz"),
                 "--momentum", "0.5", "--out-dir", str(tmp_path / "runs")])
    assert code == 2 and "--momentum" in capsys.readouterr().err


def test_a_device_is_refused_for_kinds_that_train_on_the_cpu(tmp_path, capsys):
    for system in ("systems/harmonic_oscillator.py", "systems/dtp_digits.py"):
        assert main(["train", system, "--data", "digits", "--device", "cuda",
                     "--out-dir", str(tmp_path / "runs")]) == 2
        assert "--device cuda" in capsys.readouterr().err


def test_data_that_is_missing_or_unknown_is_named(tmp_path, capsys):
    assert main(["train", DIGITS, "--out-dir", str(tmp_path / "a")]) == 2
    assert "--data" in capsys.readouterr().err
    assert main(["train", DIGITS, "--data", "cifar10", "--out-dir", str(tmp_path / "b")]) == 2
    assert "cifar10" in capsys.readouterr().err


def test_one_command_writes_the_table_the_figure_and_resumes(tmp_path, capsys):
    out = tmp_path / "runs"
    args = ["train", DIGITS, "--data", "digits", "--compare", "c-ep,BPTT", "--epochs", "1",
            "--out-dir", str(out), "--quiet"]
    with threadpool_limits(2, user_api="blas"):
        assert main(args) == 0
        assert {pool["num_threads"] for pool in threadpool_info()
                if pool["user_api"] == "blas"} == {1}  # --threads' default reaches NumPy's BLAS
    table = (out / "hopfield_digits-accuracy.md").read_text()
    assert "| C-EP | 1 |" in table and "| BPTT | 1 |" in table
    assert "glep train systems/hopfield_digits.py --data digits" in table
    assert (out / "hopfield_digits-accuracy.png").stat().st_size > 1000
    text = (out / "hopfield_digits-C-EP.jsonl").read_text()
    log = [json.loads(line) for line in text.splitlines()]
    assert [row["epoch"] for row in log] == [1] and 0.3 < log[0]["test_accuracy"] <= 1
    params = json.loads((out / "hopfield_digits-C-EP-params.json").read_text())
    assert set(params) == {"W1", "b1", "W2", "b2"}
    capsys.readouterr()
    assert main(["train", "--resume", str(out), "--quiet"]) == 0  # complete: nothing to redo
    assert main(["train", DIGITS, "--resume", str(out), "--quiet"]) == 0  # FILE may be named
    assert main(["train", "systems/hopfield_deep.py", "--resume", str(out)]) == 2
    assert "conflicts with the recorded" in capsys.readouterr().err
    again = json.loads((out / "hopfield_digits-C-EP-params.json").read_text())
    assert again == params


def test_targets_in_the_wrong_order_are_refused(tmp_path, capsys):
    assert main(["train", DIGITS, "--data", "digits", "--targets", "0.9,0.1",
                 "--out-dir", str(tmp_path / "runs")]) == 2
    assert "--targets" in capsys.readouterr().err
