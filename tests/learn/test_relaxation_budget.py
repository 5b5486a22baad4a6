"""``max_iterations`` (``glep train --max-iterations``) reaches every relaxation of an EP-family
estimate and of an ff-EBM chain, on every backend; a relaxation that runs out of it during
training is one clear error naming the flag."""

from __future__ import annotations

import numpy as np
import pytest

import glep
from glep.cli import main
from glep.codegen.emit import load_module


@pytest.mark.parametrize("backend", ["numpy", "torch", "jax"])
def test_the_budget_reaches_the_nudged_phases(backend):
    module = load_module(glep.load_problem("systems/hopfield_smooth.py"), backend)
    theta = module.initial_params(0)
    free = module.relax(theta)
    # the free state given: only the nudged phases relax, and 3 sweeps do not reach tol
    with pytest.raises(RuntimeError, match="did not converge in 3 iterations"):
        module.gradient(theta, rule="C-EP", beta=0.05, z_free=free, max_iterations=3)
    plain = module.gradient(theta, rule="C-EP", beta=0.05)["grad"]
    ample = module.gradient(theta, rule="C-EP", beta=0.05, max_iterations=10_000)["grad"]
    for name in plain:
        assert np.array_equal(np.asarray(ample[name]), np.asarray(plain[name])), name


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_the_budget_reaches_a_chains_blocks(backend):
    module = load_module(glep.load_problem("systems/ff_ebm.py"), backend)
    theta = module.initial_params(0)
    for call in (module.forward, module.loss, module.gradient):
        with pytest.raises(RuntimeError, match="did not converge in 1 iterations"):
            call(theta, max_iterations=1)
    assert np.isfinite(module.loss(theta, max_iterations=10_000))


def test_training_with_a_budget(tmp_path, capsys):
    ok = ["train", "systems/hopfield_digits.py", "--data", "digits", "--rule", "C-EP",
          "--epochs", "1", "--quiet"]
    assert main([*ok, "--max-iterations", "500", "--out-dir", str(tmp_path / "a")]) == 0
    capsys.readouterr()
    assert main([*ok, "--max-iterations", "2", "--out-dir", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert "--max-iterations" in err and "did not converge in 2" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
