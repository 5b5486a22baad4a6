"""Data-parallel training under torchrun equals the single-process run on the same batches."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import glep
from glep.codegen.emit import load_module
from glep.learn.distributed import World

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("_data_parallel.py")


def test_shards_cover_a_batch_once():
    for size in (1, 2, 3):
        for count in (1, 5, 16):
            parts = [World(rank, size).bounds(count) for rank in range(size)]
            covered = [i for start, stop in parts for i in range(start, stop)]
            assert covered == list(range(count))


def _run(tmp_path, kind, ranks):
    out = tmp_path / f"{kind}-{ranks}.json"
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK")}
    env["OMP_NUM_THREADS"] = "1"
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                f"--nproc-per-node={ranks}"] if ranks > 1 else [sys.executable]
    done = subprocess.run([*launcher, str(SCRIPT), kind, str(out)], cwd=ROOT, env=env,
                          timeout=600, capture_output=True, text=True)
    assert done.returncode == 0, f"{kind} on {ranks} ranks: {done.stderr[-3000:]}"
    return json.loads(out.read_text())


@pytest.mark.slow
def test_two_ranks_equal_one_process_for_an_ep_rule(tmp_path):
    one, two = _run(tmp_path, "ep", 1), _run(tmp_path, "ep", 2)
    assert (one.pop("ranks"), two.pop("ranks")) == (1, 2)
    start = load_module(glep.load_problem(ROOT / "systems/hopfield_digits.py")).initial_params(0)
    for name in one:
        assert np.allclose(np.array(two[name]), np.array(one[name]), rtol=0, atol=1e-12), name
        assert not np.allclose(np.array(one[name]), start[name], rtol=0, atol=1e-6), name


@pytest.mark.slow
def test_two_ranks_equal_one_process_for_an_hssm_trained_by_rhel(tmp_path):
    one, two = _run(tmp_path, "hssm", 1), _run(tmp_path, "hssm", 2)
    assert (one.pop("ranks"), two.pop("ranks")) == (1, 2)
    assert one.keys() == two.keys() and len(one) > 5
    for name in one:
        assert np.allclose(np.array(two[name]), np.array(one[name]), rtol=0, atol=1e-12), name


@pytest.mark.slow
def test_two_ranks_equal_one_process_for_a_continuous_system_trained_by_hel(tmp_path):
    one, two = _run(tmp_path, "hel", 1), _run(tmp_path, "hel", 2)
    assert (one.pop("ranks"), two.pop("ranks")) == (1, 2)
    start = load_module(glep.load_problem(ROOT / "systems/chain_identification.py")).PARAM_VALUES
    assert np.allclose(two["theta"], one["theta"], rtol=0, atol=1e-12)
    assert not np.allclose(one["theta"], start, rtol=0, atol=1e-8)
