"""HSSMs as a kind (glep derive / rules / emit) and their training on a small synthetic task:
both rules learn it, paired runs stay together, the table reports the paired difference."""

from __future__ import annotations

import math

import numpy as np
import pytest

import glep
from glep.codegen.emit import render
from glep.codegen.kinds import kind_of
from glep.learn import hssm
from glep.learn.catalog import Classification
from tests.conftest import SYSTEMS


def _two_tones(cases: int, seed: int, length: int = 24):
    """Two classes: a slow or a fast sine on channel 0, noise on channel 1."""
    rng = np.random.default_rng(seed)
    labels = np.arange(cases) % 2
    t = np.arange(length)
    phase = 2 * math.pi * rng.random((cases, 1))
    freq = np.where(labels[:, None] == 0, 0.15, 0.6)
    x = 0.3 * rng.standard_normal((cases, length, 2))
    x[..., 0] += np.sin(freq * t + phase)
    return x, labels


def test_the_hssm_kind_emits_its_units_layer_and_describes_both():
    problem = glep.load_problem(SYSTEMS / "hssm_nonlinear.py", {"units": 4})
    unit = problem.unit
    kind = kind_of(problem)
    assert kind.name == "hssm" and list(kind.rules(problem)) == ["RHEL", "BPTT"]
    for backend in ("numpy", "torch"):  # the only generated code an HSSM runs
        assert (render(problem, backend, "systems/hssm_nonlinear.py")
                == render(unit, backend, "systems/hssm_nonlinear.py"))
    text = kind.describe(problem, False)
    assert "2 × block" in text and "nonlinear_hru layer (4 units" in text
    assert "h = alpha*phi**2/2 + pi**2/2 + LogCosh(A*phi + B_u + b)/A" in text  # the unit's
    rules = kind.rules_text(problem, False)
    assert "by backpropagation" in rules and "== RHEL" in rules and "== BPTT" in rules


@pytest.mark.slow
def test_rhel_and_bptt_runs_learn_and_stay_paired():
    unit = glep.load_problem(SYSTEMS / "linear_hru.py")
    problem = glep.HSSMProblem(unit, hidden=8, units=8, blocks=1, dt=0.5, name="tones")
    data = Classification("two tones", *_two_tones(32, 0), *_two_tones(32, 1), ("slow", "fast"))
    runs = [hssm.train(problem, data, rule=rule, seed=0, epochs=8, batch=8, lr=1e-2,
                       progress=False) for rule in ("RHEL", "BPTT")]
    rhel, bptt = runs
    assert rhel.accuracies[-1] >= 0.9 and bptt.accuracies[-1] >= 0.9  # chance: 0.5
    assert rhel.initial_accuracy == bptt.initial_accuracy  # the same initialization
    # the same batch order, gradients equal up to float32 rounding
    assert abs(rhel.losses[-1] - bptt.losses[-1]) <= 1e-4 * bptt.losses[-1]
    assert rhel.health < 1e-3 and bptt.health is None
    text = hssm.accuracy_table(runs, data, "cmd")
    assert "| RHEL | 1 |" in text and "| BPTT | 1 |" in text
    assert "Paired difference RHEL − BPTT over seeds [0]" in text
