"""The HSSM training loop (codegen/hssm.py) on a small synthetic task: both rules learn it,
paired runs stay together, and the results table reports the paired difference."""

from __future__ import annotations

import math

import pytest
import torch

from glep.learn import hssm


def _two_tones(cases: int, seed: int, length: int = 24):
    """Two classes: a slow or a fast sine on channel 0, noise on channel 1."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(cases) % 2
    t = torch.arange(length, dtype=torch.float32)
    phase = 2 * math.pi * torch.rand(cases, 1, generator=g)
    freq = torch.where(labels[:, None] == 0, 0.15, 0.6)
    tone = torch.sin(freq * t + phase)
    noise = 0.3 * torch.randn(cases, length, 2, generator=g)
    x = noise + torch.stack([tone, torch.zeros_like(tone)], -1)
    return x, labels


@pytest.mark.slow
def test_rhel_and_bptt_runs_learn_and_stay_paired():
    x_train, y_train = _two_tones(32, 0)
    x_test, y_test = _two_tones(32, 1)
    data = (x_train, y_train, x_test, y_test, [0, 1])
    settings = dict(seed=0, hidden=8, units=8, blocks=1, dt=0.5, epochs=6, batch=8, lr=1e-2,
                    progress=False)
    runs = [hssm.train(data, rule=rule, **settings) for rule in ("rhel", "bptt")]
    rhel, bptt = runs
    assert rhel["test_accuracy"] >= 0.9 and bptt["test_accuracy"] >= 0.9  # chance: 0.5
    # same initialization and batch order, gradients equal up to float32 rounding
    assert abs(rhel["final_loss"] - bptt["final_loss"]) <= 1e-4 * bptt["final_loss"]
    assert rhel["max_health"] < 1e-3
    text = hssm.table(runs, "two tones", "cmd")
    assert "| RHEL | 1 |" in text and "| BPTT | 1 |" in text
    assert "Paired difference RHEL − BPTT over seeds [0]" in text
