"""Numerical regression: the generated modules still give the recorded numbers.

``gradients.json`` (written by ``record.py`` from the generated modules at the commit
before the code generator's refactor) holds, per module, a list of calls and everything
they returned. Each test repeats one stored call on the module of that name in
``generated/`` (or in ``$GLEP_REGRESSION_GENERATED`` when set), loaded by file path, and
requires every recorded array to agree norm-wise, ‖new − old‖ / max(‖old‖, tiny) ≤ 1e-12,
with the same shape and the same set of outputs. A missing module or a missing output is a
failure, never a skip.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.regression import calls

FIXTURE = Path(__file__).with_name("gradients.json")
GENERATED = Path(os.environ.get("GLEP_REGRESSION_GENERATED")
                 or Path(__file__).parents[2] / "generated")


def _load_fixture() -> dict:
    fixture = json.loads(FIXTURE.read_text())
    if fixture.get("format") != 1 or not fixture.get("modules"):
        raise ValueError(f"{FIXTURE}: not a regression fixture of format 1, or empty")
    return fixture


_FIXTURE = _load_fixture()
_CASES = [(name, label) for name, data in _FIXTURE["modules"].items()
          for label in data["entries"]]


def _inputs(name: str) -> dict:
    return {k: calls.decode(v) for k, v in _FIXTURE["modules"][name]["inputs"].items()}


def test_fixture_covers_both_backends_of_every_recorded_system():
    names = set(_FIXTURE["modules"])
    systems = {name.rsplit("_", 1)[0] for name in names}
    assert names == {f"{s}_{b}" for s in systems for b in ("numpy", "torch")}
    assert len(_CASES) >= len(names)
    assert all(_FIXTURE["modules"][name]["entries"] for name in names)


@pytest.mark.parametrize("name", sorted(_FIXTURE["modules"]))
def test_recorded_module_exists(name):
    path = GENERATED / f"{name}.py"
    assert path.is_file(), f"{path} is missing (recorded in {FIXTURE.name})"


@pytest.mark.parametrize(("name", "label"), _CASES, ids=[f"{n}::{lb}" for n, lb in _CASES])
def test_regression(name, label):
    entry = _FIXTURE["modules"][name]["entries"][label]
    module = calls.load_module(GENERATED / f"{name}.py")
    call = {k: entry[k] for k in ("family", "kind", "kwargs", "raises") if k in entry}
    outputs = calls.run(module, name, call, _inputs(name))
    recorded = entry["outputs"]
    assert sorted(outputs) == sorted(recorded), (
        f"{name} {label}: outputs {sorted(outputs)} != recorded {sorted(recorded)}")
    failures = {}
    for key, data in recorded.items():
        problem = calls.compare(outputs[key], calls.decode(data))
        if problem is not None:
            failures[key] = problem
    assert not failures, f"{name} {label}: {failures}"
