"""bench/train_digits.py cannot silently break: a short C-EP run learns the digits."""

from __future__ import annotations

import importlib.util

import pytest

from tests.conftest import ROOT


def _script():
    path = ROOT / "bench" / "train_digits.py"
    spec = importlib.util.spec_from_file_location("train_digits", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_short_centered_ep_run_learns_digits():
    script = _script()
    x_train, x_test, y_train, y_test = script.load_digits_split()
    data = (x_train[:640], x_test, y_train[:640], y_test)
    run = script.train("C-EP", seed=0, epochs=2, data=data, lr=0.02)
    assert run["test_accuracy"] > 0.6  # chance is 0.1
    assert run["history"][-1] == run["test_accuracy"] and run["seconds"] < 60


def test_results_table_lists_every_algorithm():
    script = _script()
    runs = [{"algorithm": a, "seed": s, "test_accuracy": 0.5 + 0.01 * s, "seconds": 2.0}
            for a in script.ALGORITHMS for s in (0, 1)]
    text = script.table(runs, "cmd")
    for algorithm in script.ALGORITHMS:
        assert f"| {algorithm} |" in text
    assert "50.50 ± 0.50" in text
