"""L-BFGS: a line-search trial whose simulation blows up counts as +∞ and is backtracked
from; a non-finite loss at an accepted point still stops the run."""

from __future__ import annotations

import json

import numpy as np
import pytest

from glep.codegen.emit import load_module
from glep.derive.systemfile import load_problem
from glep.learn import checkpoint as ck
from glep.learn import datasets
from glep.learn.train import DivergedError, train

#: Two masses between walls joined by Toda-like springs (e^{b s} − 1 − b s)/b²: a long
#: step in an exponent b makes the forces e^{b s} overflow the integration.
TODA = '''
import sympy as sp
from glep import Cost, Lagrangian, Problem

n = 2
t = sp.Symbol("t")
q = [sp.Function(f"q{i}")(t) for i in range(1, n + 1)]
y = [sp.Function(f"y{i}")(t) for i in range(1, n + 1)]
u = sp.Function("u")(t)
b = sp.symbols(f"b0:{n + 1}")
walls = [sp.S.Zero, *q, sp.S.Zero]
stretch = [walls[j + 1] - walls[j] for j in range(n + 1)]
potential = sum((sp.exp(bj * s) - 1 - bj * s) / bj**2 for bj, s in zip(b, stretch))
kinetic = sum(qi.diff(t) ** 2 / 2 for qi in q)
problem = Problem(
    Lagrangian(kinetic - potential + u * q[0], coords=q, params=list(b), inputs=[u]),
    Cost(running=sum((qi - yi) ** 2 for qi, yi in zip(q, y)) / 2, targets=y),
    params={bj: 1.0 for bj in b},
    initial={**{qi: 0.0 for qi in q}, **{qi.diff(t): 0.0 for qi in q}},
    inputs={u: sp.sin(2 * t)}, targets={yi: 0 for yi in y},
    horizon=3.0, steps=60,
)
'''
TEACHER = {"b0": 0.5, "b1": -0.4, "b2": 0.8}


@pytest.fixture(scope="module")
def toda(tmp_path_factory):
    path = tmp_path_factory.mktemp("toda") / "toda.py"
    path.write_text(TODA)
    problem = load_problem(path)
    arrays = datasets.identification(problem, trajectories=4, teacher=TEACHER)
    data = datasets.Trajectories(arrays["t"], arrays["inputs"], arrays["targets"],
                                 arrays["z0"], None, arrays["true_theta"])
    return problem, data


@pytest.fixture
def blowups(toda, monkeypatch):
    """Counts the gradients whose simulation blew up (raised or gave non-finite numbers)."""
    module = load_module(toda[0], "numpy")
    real, count = module.gradient, {"n": 0}

    def gradient(*args, **kwargs):
        try:
            result = real(*args, **kwargs)
        except ArithmeticError:
            count["n"] += 1
            raise
        if not (np.isfinite(result["loss"]) and np.all(np.isfinite(result["theta"]))):
            count["n"] += 1
        return result

    monkeypatch.setattr(module, "gradient", gradient)
    return count


def test_a_trial_step_that_overflows_is_backtracked_and_the_teacher_found(toda, blowups):
    problem, data = toda
    # lr = 30: the first trial moves the exponents by ~17, and e^{17 s} blows the run up
    run = train(problem, data, rule="adjoint", optimizer="lbfgs", lr=30.0, epochs=2,
                batch=4, progress=False)
    assert blowups["n"] >= 1, "no trial blew up: the test does not exercise the line search"
    assert run.rejected == blowups["n"]
    assert run.diverged is None and np.all(np.isfinite(run.losses))
    error = np.linalg.norm(run.theta - data.true_theta) / np.linalg.norm(data.true_theta)
    assert error <= 1e-3, (run.theta, data.true_theta)


def test_a_non_finite_loss_at_an_accepted_point_still_stops_the_run(toda, tmp_path):
    problem, data = toda
    start = [0.5, 60.0, 0.8]  # e^{60 s}: the very first evaluation (not a trial) blows up
    paths = {"params_path": tmp_path / "params.json",
             "checkpoint_path": tmp_path / "checkpoint.json"}
    with pytest.raises(DivergedError, match="non-finite at step 1") as caught, \
            pytest.warns(RuntimeWarning, match="beyond the linear stability limit"):
        train(problem, data, rule="adjoint", optimizer="lbfgs", lr=1.0, epochs=1, batch=4,
              progress=False, init=start, **paths)
    assert caught.value.run.theta.tolist() == start
    assert list(json.loads(paths["params_path"].read_text()).values()) == start
    assert ck.load_checkpoint(paths["checkpoint_path"])["status"] == "diverged"
