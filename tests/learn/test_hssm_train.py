"""HSSMs declared by glep.HSSMProblem and trained by RHEL or BPTT (glep.learn.hssm)."""

from __future__ import annotations

import argparse
import json
import math

import numpy as np
import pytest
import torch

import glep
from glep import DataError, RuleError, VectorizedDeclarationError
from glep.learn import checkpoint as ck
from glep.learn import hssm
from glep.learn.catalog import Classification, load
from tests.conftest import SYSTEMS, relative_error


@pytest.fixture(scope="module")
def units():
    return {name: glep.load_problem(SYSTEMS / f"{name}_hru.py") for name in ("linear",
                                                                             "nonlinear")}


@pytest.fixture(scope="module")
def motions():
    return load("BasicMotions")


def test_bad_declarations_name_the_argument(units):
    unit = units["linear"]
    cases = [({"unit": "linear"}, r"unit=.*HRUProblem"), ({"hidden": 0}, r"hidden=0"),
             ({"units": 2.5}, r"units=2\.5"), ({"blocks": True}, r"blocks=True"),
             ({"dt": 0}, r"dt=0"), ({"dt": math.nan}, r"dt=nan"),
             ({"dt": 2.5}, r"dt=2\.5.*stiffness A.*give dt < 1\.97"),
             ({"dropout": 1.0}, r"dropout=1\.0.*\[0, 1\)"), ({"beta": -1.0}, r"beta=-1\.0"),
             ({"dtype": "float16"}, r"dtype='float16'.*float32"), ({"name": "1x"}, r"name='1x'")]
    for change, words in cases:
        kwargs = {"unit": unit, **change}
        with pytest.raises(VectorizedDeclarationError, match=words):
            glep.HSSMProblem(kwargs.pop("unit"), **kwargs)
    # the nonlinear unit's stiffness is not one parameter: only positivity is kept
    assert glep.HSSMProblem(units["nonlinear"], dt=2.5).bounds == {"A": (1e-3, None)}
    assert glep.HSSMProblem(unit, dt=0.5).bounds == {"A": (1e-3, 3.9 / 0.25)}


def test_bad_training_options_are_refused(units, motions):
    problem = glep.HSSMProblem(units["linear"], hidden=4, units=4, blocks=1)
    data = motions.head(4, 4)
    with pytest.raises(RuleError, match="HEL"):
        hssm.train(problem, data, rule="HEL", progress=False)
    for option, value in (("epochs", 0), ("batch", "x"), ("lr", -1), ("threads", 0),
                          ("device", "nonsense")):
        with pytest.raises(DataError, match=option):
            hssm.train(problem, data, progress=False, **{option: value})
    empty = Classification("empty", data.x, data.y, data.test_x[:0], data.test_y[:0],
                           data.classes)
    with pytest.raises(DataError, match="0 test cases"):
        hssm.train(problem, empty, progress=False)
    with pytest.raises(DataError, match="HSSMProblem"):
        hssm.train(units["linear"], data, progress=False)


def test_one_epoch_smoke_run_writes_its_log_and_checkpoint(units, motions, tmp_path):
    problem = glep.load_problem(SYSTEMS / "hssm_linear.py", {"hidden": 8, "units": 8})
    data = motions.head(16, 16)
    result = hssm.train(problem, data, epochs=1, batch=4, progress=False,
                        checkpoint_path=tmp_path / "c.json", log_path=tmp_path / "log.jsonl")
    assert len(result.accuracies) == 1 and result.step == 4 and not result.interrupted
    same = hssm.train(problem, data, epochs=1, batch=4, progress=False, device="cpu")
    assert all(np.array_equal(same.theta[k], v) for k, v in result.theta.items())
    assert 0.0 <= result.accuracies[0] <= 1.0 and math.isfinite(result.losses[0])
    assert result.health < 1e-3  # the linear unit's echo retraces the forward pass
    (row,) = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert row["epoch"] == 1 and row["test_accuracy"] == result.accuracies[0]
    state = ck.loads((tmp_path / "c.json").read_text(), "c.json")
    assert state["status"] == "complete" and state["step"] == 4
    model = hssm.build(problem, 6, 4)
    assert set(state["params"]) == set(model.state_dict()) == set(result.theta)
    assert all(np.isfinite(v).all() for v in result.theta.values())


def _gradients(model, x, labels, rule):
    model.set_rule(rule)
    model.zero_grad()
    torch.nn.functional.cross_entropy(model(x), labels).backward()
    return {k: p.grad.clone() for k, p in model.named_parameters()}


def _batch(motions, dtype=torch.float64):
    return torch.as_tensor(motions.x[:6, :40], dtype=dtype), torch.as_tensor(motions.y[:6])


def test_rhel_gradient_of_the_linear_hssm_is_the_bptt_gradient(units, motions):
    problem = glep.HSSMProblem(units["linear"], hidden=8, units=6, blocks=2, dtype="float64")
    torch.manual_seed(0)
    model = hssm.build(problem, 6, 4)
    x, labels = _batch(motions)
    reference = _gradients(model, x, labels, "bptt")  # autograd through the leapfrog
    assert all(math.isnan(h.health) for h in model.hrus)  # no echo has run yet
    estimate = _gradients(model, x, labels, "rhel")
    assert all(h.health <= 1e-10 for h in model.hrus)  # the echo ran, and retraced
    assert all(h.beta == 1.0 for h in model.hrus)  # exact at any β: the default is large
    for name, value in reference.items():
        assert float(value.norm()) > 0, name
        assert relative_error(estimate[name], value) <= 1e-8, name


def test_rhel_gradient_of_the_nonlinear_hssm_has_a_beta_squared_bias(units, motions):
    problem = glep.HSSMProblem(units["nonlinear"], hidden=8, units=6, blocks=2,
                               dtype="float64")
    torch.manual_seed(1)
    model = hssm.build(problem, 6, 4)
    x, labels = _batch(motions)
    reference = _gradients(model, x, labels, "bptt")
    flat = torch.cat([g.reshape(-1) for g in reference.values()])
    errors = []
    for beta in (2e-2, 1e-2, 5e-3):
        for h in model.hrus:
            h.beta = beta
        estimate = _gradients(model, x, labels, "rhel")
        errors.append(relative_error(torch.cat([g.reshape(-1) for g in estimate.values()]),
                                     flat))
    ratios = [errors[i] / errors[i + 1] for i in range(2)]
    assert all(3.5 <= r <= 4.5 for r in ratios), (errors, ratios)  # halving β: bias / 4
    assert errors[-1] <= 1e-5, errors


def test_a_resumed_run_is_the_uninterrupted_run(units, motions, tmp_path):
    problem = glep.HSSMProblem(units["linear"], hidden=8, units=6, blocks=2, dropout=0.2,
                               dtype="float64")
    data = motions.head(12, 8)
    options = dict(rule="RHEL", seed=3, epochs=2, batch=4, lr=1e-2, progress=False)
    full = hssm.train(problem, data, **options)

    class StopAfter(ck.Stop):  # a signal part-way through the second epoch
        def __init__(self):
            super().__init__()
            self.calls = 0

        @property
        def requested(self):
            self.calls += 1
            return self.calls > 7

    torch.manual_seed(123)  # the caller's random state does not enter a run
    first = hssm.train(problem, data, **options, checkpoint_path=tmp_path / "part.json",
                       stop=StopAfter(), checkpoint_every=1)
    assert first.interrupted and 3 < first.step < full.step
    saved = ck.loads((tmp_path / "part.json").read_text(), "part.json")
    assert saved["status"] == "interrupted"
    torch.rand(5)
    second = hssm.train(problem, data, **options, resume=saved)
    assert second.step == full.step and second.accuracies == full.accuracies
    for name, value in full.theta.items():
        assert relative_error(second.theta[name], value) <= 1e-12, name
    with pytest.raises(ck.RunDirError, match="rule 'RHEL'"):
        hssm.train(problem, data, **{**options, "rule": "BPTT"}, resume=saved)


def test_train_command_writes_the_run_directory(tmp_path, monkeypatch, motions):
    problem = glep.load_problem(SYSTEMS / "hssm_linear.py", {"hidden": 4, "units": 4,
                                                             "blocks": 1})
    monkeypatch.setattr("glep.learn.catalog.load", lambda name, seed=0: motions.head(8, 8))
    args = argparse.Namespace(file="systems/hssm_linear.py", data="BasicMotions", rule=None,
                              compare="rhel,BPTT", epochs="1", batch="4", lr=None,
                              seed="0,1", threads="1", out_dir=str(tmp_path / "run"),
                              checkpoint_every=None, resume=None, quiet=True)
    assert hssm.train_command(args, problem, "hssm_linear") == 0
    run = tmp_path / "run"
    for label in ("RHEL-seed0", "RHEL-seed1", "BPTT-seed0", "BPTT-seed1"):
        assert (run / f"hssm_linear-{label}.jsonl").is_file()
        assert ck.loads((run / f"hssm_linear-{label}-checkpoint.json").read_text(),
                        label)["status"] == "complete"
        params = json.loads((run / f"hssm_linear-{label}-params.json").read_text())
        assert np.shape(params["blocks.0.hru.B"]) == (4, 4)
    table = (run / "hssm_linear-accuracy.md").read_text()
    assert "| RHEL | 2 |" in table and "| BPTT | 2 |" in table
    assert "Paired difference RHEL − BPTT over seeds [0, 1]" in table
    assert (run / "hssm_linear-accuracy.png").stat().st_size > 0
    args.epochs = "0"
    with pytest.raises(DataError, match="epochs"):
        hssm.train_command(args, problem, "hssm_linear")


def test_glep_check_on_an_hssm_checks_its_unit(capsys):
    from glep.cli import main

    assert main(["check", "systems/hssm_linear.py", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["system"] == "linear_hru" and report["rules"]
    assert all(rule["ok"] for rule in report["rules"].values() if rule.get("available", True))
