"""Difference target propagation through the maps of an ff-EBM chain (glep.learn.chain_dtp).

Oracles: the chain's backpropagated-maps gradient (``feed_vjp``, a separate code path),
autograd through the relaxed chain with each fixed point differentiated implicitly (the Torch
module's ``implicit_gradient``), and the maps' weights themselves for the Jacobian matching.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from glep import DataError, RuleError
from glep.cli import main
from glep.codegen.emit import load_module
from glep.learn import checkpoint as ck
from glep.learn.catalog import Classification
from glep.learn.chain_dtp import MapFeedback
from glep.learn.classify import train
from tests.conftest import problem, relative_error


@pytest.fixture(scope="module")
def chain():
    chain = problem("ff_ebm")
    module = load_module(chain, "numpy")
    return chain, module, module.initial_params()


def _flat(grad, names):
    return np.concatenate([np.ravel(grad[k]) for k in names])


def _exact(module, theta, tilt=0.0):
    """Feedback maps V_k = W_kᵀ (+ ``tilt`` times a fixed random matrix)."""
    feedback = MapFeedback(module, seed=0)
    rng = np.random.default_rng(7)
    with torch.no_grad():
        for k in range(2, len(module.BLOCKS) + 1):
            w = theta[module.MAPS[k - 2]["weight"]]
            feedback.omega[f"V{k}"].copy_(torch.as_tensor(w.T + tilt * rng.normal(size=w.T.shape)))
    return feedback


def test_exact_feedback_gives_the_backpropagated_maps_gradient(chain):
    """Affine maps, G_k = F_kᵀ: the difference target is t_{k−1} − o = −β W_kᵀ dC/dx_k at
    every β, so EP+DTP equals EP (backpropagated maps); only rounding (∝ 1/β) remains."""
    _, module, theta = chain
    feedback = _exact(module, theta)
    assert max(feedback.distance(k, theta) for k in (2, 3)) < 1e-15
    for beta in (1e-1, 1e-2, 1e-3, 1e-4):
        dtp = module.gradient(theta, beta=beta, maps=feedback.backward(beta, train=False))
        ep = module.gradient(theta, beta=beta)
        assert relative_error(_flat(dtp["grad"], module.PARAMS),
                              _flat(ep["grad"], module.PARAMS)) < 1e-6, beta


def test_exact_feedback_converges_to_autograd_as_beta_squared(chain):
    """Against the implicit gradient of the chain: the error of EP+DTP (exact feedback) falls
    as β² (centered EP per block), slope measured over β = 0.05 … 0.0125."""
    chain_problem, module, theta = chain
    implicit = load_module(chain_problem, "torch").implicit_gradient(theta)["grad"]
    reference = _flat({k: v.detach().numpy() for k, v in implicit.items()}, module.PARAMS)
    feedback = _exact(module, theta)
    betas = (0.05, 0.025, 0.0125)
    errors = [relative_error(_flat(module.gradient(
        theta, beta=b, tol=1e-12, maps=feedback.backward(b, train=False))["grad"],
        module.PARAMS), reference) for b in betas]
    slope = np.polyfit(np.log(betas), np.log(errors), 1)[0]
    assert 1.8 < slope < 2.2, (slope, errors)
    assert errors[-1] < 5e-3


def test_a_feedback_mismatch_enters_to_first_order(chain):
    """V_k = W_kᵀ + εP: the gap to the backpropagated-maps gradient grows linearly in ε."""
    _, module, theta = chain
    beta = 1e-3
    ep = _flat(module.gradient(theta, beta=beta)["grad"], module.PARAMS)
    tilts = (1e-2, 1e-3, 1e-4)
    gaps = [np.linalg.norm(_flat(module.gradient(theta, beta=beta, maps=_exact(
        module, theta, t).backward(beta, train=False))["grad"], module.PARAMS) - ep)
        for t in tilts]
    slope = np.polyfit(np.log(tilts), np.log(gaps), 1)[0]
    assert abs(slope - 1) < 0.05, (slope, gaps)


def test_ldrl_drives_every_feedback_map_to_jacobian_matching(chain):
    _, module, theta = chain
    x = np.random.default_rng(0).uniform(0, 1, (128, 4))
    states, _ = module.forward(theta, x, np.zeros((128, 3)))
    feedback = MapFeedback(module, seed=0, feedback_iterations=200, feedback_lr=0.005)
    assert min(feedback.distance(k, theta) for k in (2, 3)) > 0.5
    for rate, iterations in ((0.005, 200), (0.0005, 400)):
        feedback.iterations = iterations
        for opt in feedback.optimizers:
            opt.param_groups[0]["lr"] = rate
        for k in (2, 3):
            feedback.learn(k, states[k - 2][..., module.BLOCKS[k - 2].OUTPUT_UNITS], theta)
    assert max(feedback.distance(k, theta) for k in (2, 3)) < 0.05


@pytest.fixture(scope="module")
def toy():
    rng = np.random.default_rng(3)
    x, test_x = rng.uniform(0, 1, (24, 4)), rng.uniform(0, 1, (9, 4))
    return Classification("toy", x, x.argmax(1) % 3, test_x, test_x.argmax(1) % 3,
                          ("a", "b", "c"))


def test_ep_dtp_runs_logs_its_diagnostics_and_resumes_exactly(chain, toy, tmp_path):
    chain_problem = chain[0]
    options = {"rule": "EP+DTP", "epochs": 2, "batch": 8, "lr": "0.05", "beta": 0.1,
               "feedback_iterations": 3, "progress": False}
    full = train(chain_problem, toy, **options, log_path=tmp_path / "full.jsonl")
    assert len(full.diagnostics) == 2
    assert all(len(d["distance"]) == 2 and len(d["angle"]) == 3 for d in full.diagnostics)
    assert full.diagnostics[-1]["angle"][-1] < 1e-6  # the last block sees the same cost
    assert "distance" in (tmp_path / "full.jsonl").read_text().splitlines()[-1]

    class StopAfterEpoch(ck.Stop):  # a signal at the end of the first epoch (3 batches)
        calls = 0

        @property
        def requested(self):
            self.calls += 1
            return self.calls > 4

    first = train(chain_problem, toy, **options, checkpoint_path=tmp_path / "part.json",
                  stop=StopAfterEpoch())
    assert first.interrupted and len(first.accuracies) == 1
    saved = ck.loads((tmp_path / "part.json").read_text(), "part.json")
    second = train(chain_problem, toy, **options, resume=saved)
    for name in full.theta:
        assert np.allclose(second.theta[name], full.theta[name], rtol=0, atol=1e-12), name
    assert second.diagnostics == full.diagnostics


def test_ep_dtp_options_are_checked(chain, toy, capsys):
    with pytest.raises(RuleError, match="choose one of P-EP"):
        train(problem("hopfield_smooth"), toy, rule="EP+DTP", progress=False)
    with pytest.raises(DataError, match="--sigma gives 3 values"):
        MapFeedback(chain[1], sigma="0.1,0.2,0.3")
    assert main(["train", "systems/ff_ebm.py", "--data", "digits", "--rule", "EP",
                 "--sigma", "0.5"]) == 2
    assert "add --rule EP+DTP" in capsys.readouterr().err
