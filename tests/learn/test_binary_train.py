"""glep train with binary synapses: the flip rule and metaplastic Adam as --optimizer, their
state in checkpoints, and their options on the command line."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import glep
from glep import DataError
from glep.cli import main
from glep.learn import checkpoint as ck
from glep.learn.catalog import load
from glep.learn.classify import train
from glep.learn.optimizers import BinaryFlip, Metaplastic
from tests.learn.conftest import StopAfter

SYSTEM = "systems/binary_hopfield_digits.py"
RATES = "0.02,alpha_W1=1e-5,alpha_W2=1e-5"


@pytest.fixture(scope="module")
def binary():
    return glep.load_problem(SYSTEM), load("digits").head(320, 200)


def test_flip_learns_keeps_signs_and_resumes_exactly(binary, tmp_path):
    problem, data = binary
    options = {"rule": "C-EP", "epochs": 2, "batch": 16, "lr": RATES, "optimizer": "flip",
               "gamma": "1e-2,W2=2e-2", "tau": "1e-4", "progress": False}
    full = train(problem, data, **options, checkpoint_path=tmp_path / "full.json",
                 log_path=tmp_path / "log.jsonl")
    assert full.accuracies[-1] > full.initial_accuracy + 0.3
    initial = glep.load_module(problem, "numpy").initial_params(0)
    for w in ("W1", "W2"):
        assert set(np.unique(full.theta[w])) == {-1.0, 1.0}
        assert 0 < (full.theta[w] != initial[w]).sum()  # some weights flipped
    logged = [json.loads(line)["flips"] for line in
              (tmp_path / "log.jsonl").read_text().splitlines()]
    flipped = sum(int((full.theta[w] != initial[w]).sum()) for w in ("W1", "W2"))
    assert logged[-1] >= flipped > 0 and logged == sorted(logged)  # running totals
    saved = json.loads((tmp_path / "full.json").read_text())
    assert "momentum" in json.dumps(saved["flip"])
    first = train(problem, data, **options, checkpoint_path=tmp_path / "part.json",
                  stop=StopAfter(25), checkpoint_every=1)
    assert first.interrupted
    second = train(problem, data, **options,
                   resume=ck.loads((tmp_path / "part.json").read_text(), "part.json"))
    for name in full.theta:
        assert np.array_equal(second.theta[name], full.theta[name]), name
    assert second.accuracies == full.accuracies


def test_metaplastic_trains_hidden_weights_whose_signs_the_energy_reads(binary, tmp_path,
                                                                          monkeypatch):
    problem, data = binary
    module = glep.load_module(problem, "numpy")
    seen = []
    original = module.gradient

    def spy(theta, *args, **kwargs):
        seen.append({k: np.array(v) for k, v in theta.items()})
        return original(theta, *args, **kwargs)

    monkeypatch.setattr(module, "gradient", spy)
    result = train(problem, data, rule="C-EP", epochs=1, batch=32, lr="0.005,alpha_W1=1e-5,"
                   "alpha_W2=1e-5", optimizer="metaplastic", meta="1.35,W1=0.5",
                   progress=False, checkpoint_path=tmp_path / "c.json")
    assert all(set(np.unique(t["W1"])) <= {-1.0, 1.0} for t in seen)
    hidden = ck.loads((tmp_path / "c.json").read_text(), "c.json")
    w_h = np.array(hidden["params"]["W1"])
    assert not set(np.unique(w_h)) <= {-1.0, 1.0}  # real-valued hidden weights
    assert np.array_equal(np.sign(w_h), result.theta["W1"])  # the network's weights: signs
    state = ck.decode(hidden["optimizer"])
    metas = sorted({g["meta"] for g in state["param_groups"]})
    assert metas == [0.5, 1.35]


def test_optimizer_options_are_checked(binary):
    problem, data = binary
    plain = glep.load_problem("systems/hopfield_digits.py")
    with pytest.raises(DataError, match="binary weights, and this energy has none"):
        train(plain, data, epochs=1, optimizer="flip", progress=False)
    for options, words in [({"optimizer": "flip", "gamma": "2"}, "--gamma"),
                           ({"optimizer": "flip", "tau": "-1"}, "--tau"),
                           ({"optimizer": "flip", "gamma": "b1=0.1"}, "--gamma names 'b1'"),
                           ({"optimizer": "metaplastic", "meta": "-1"}, "--meta"),
                           ({"optimizer": "lbfgs"}, "--optimizer")]:
        with pytest.raises(DataError, match=words):
            train(problem, data, epochs=1, progress=False, **options)


def test_cli_flip_run_and_help(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    shown = capsys.readouterr().out
    for flag in ("--gamma", "--tau", "--meta", "flip, metaplastic"):
        assert flag in shown
    argv = ["train", SYSTEM, "--data", "digits", "--optimizer", "flip", "--epochs", "1",
            "--batch", "64", "--lr", RATES, "--quiet"]
    assert main([*argv, "--gamma", "1e-2", "--tau", "1e-4", "--out-dir", str(tmp_path)]) == 0
    assert "test accuracy" in capsys.readouterr().out
    assert json.loads((tmp_path / "run.json").read_text())["options"]["gamma"] == "1e-2"
    assert main([*argv, "--gamma", "0", "--out-dir", str(tmp_path / "bad")]) == 2
    assert "--gamma" in capsys.readouterr().err


def test_optimizers_are_torch_optimizers_usable_by_the_trainer():
    w = torch.nn.Parameter(torch.ones(2, 2))
    assert isinstance(BinaryFlip([w]), torch.optim.Optimizer)
    assert isinstance(Metaplastic([w]), torch.optim.Optimizer)
