"""ff-EBM chains (THEORY.md §7): C-EP per block, chained backwards through feedforward maps.

Oracles: autograd through the relaxed chain with each fixed point differentiated implicitly
(restricted Hessian solve), central finite differences of the chain's loss, and centered EP
on the same energy as a plain EnergyProblem (one block).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import sympy as sp

from glep.cli import main
from glep.codegen.emit import load_module
from glep.derive.chain import EnergyChain, FeedForward
from glep.derive.energy import Energy, EnergyCost
from glep.derive.errors import EnergyError
from glep.verify.chain import finite_difference, per_parameter_cosine
from tests.conftest import SYSTEMS, problem, relative_error


def _numpy(grad):
    return {k: v.detach().numpy() if hasattr(v, "detach") else np.asarray(v)
            for k, v in grad.items()}


@pytest.fixture(scope="module")
def chain():
    chain = problem("ff_ebm")
    numpy_module = load_module(chain, "numpy")
    torch_module = load_module(chain, "torch")
    theta = numpy_module.initial_params()
    implicit = _numpy(torch_module.implicit_gradient(theta)["grad"])
    return chain, numpy_module, torch_module, theta, implicit


@pytest.mark.slow  # the chain module is rendered and derived once (~5 s)
def test_three_blocks_match_autograd_through_the_chain(chain):
    _, module, _, theta, implicit = chain
    assert len(module.BLOCKS) == 3 and len(module.MAPS) == 2
    states, _ = module.forward(theta)
    saturated = sum(int((~block.unsaturated(z)).sum()) for block, z in zip(module.BLOCKS, states))
    assert saturated > 0  # the restricted Hessian matters
    grad = module.gradient(theta, beta=1e-3)["grad"]
    cosine = per_parameter_cosine(grad, implicit)
    assert set(cosine) == set(module.PARAMS)
    assert min(cosine.values()) >= 0.9999, cosine
    assert relative_error(np.concatenate([np.ravel(grad[k]) for k in module.PARAMS]),
                          np.concatenate([np.ravel(implicit[k]) for k in module.PARAMS])) < 1e-4


@pytest.mark.slow  # the chain module is rendered and derived once (~5 s)
def test_implicit_reference_matches_finite_differences(chain):
    _, module, _, theta, implicit = chain
    subset = ("e2", "e3", "d1")
    fd = finite_difference(module, theta, names=subset)
    for name in subset:
        assert relative_error(fd[name], implicit[name]) < 1e-6, name


@pytest.mark.slow  # the chain module is rendered and derived once (~5 s)
def test_torch_and_numpy_estimators_agree(chain):
    _, module, torch_module, theta, _ = chain
    a = module.gradient(theta, beta=1e-3)["grad"]
    b = _numpy(torch_module.gradient(theta, beta=1e-3)["grad"])
    for name in module.PARAMS:
        np.testing.assert_allclose(a[name], b[name], rtol=1e-9, atol=1e-12)


def _digits_energy():
    base = problem("hopfield_digits", n_in=6, hidden=5, n_out=3, samples=4)
    return base


def test_one_block_is_centered_ep_exactly():
    base = _digits_energy()
    energy = base.energy
    chain = EnergyChain([energy], [], base.cost, params=dict(base.param_values),
                        inputs={energy.inputs[0]: base.input_values},
                        targets={base.targets[0]: base.target_values}, relaxation="async",
                        name="one_block")
    module = load_module(chain, "numpy")
    reference = load_module(base, "numpy")
    theta = reference.initial_params()
    for beta in (1e-3, 0.1):
        ff = module.gradient(theta, beta=beta)
        ep = reference.gradient(theta, rule="C-EP", beta=beta)
        assert ff["loss"] == ep["loss"]
        for name in reference.PARAMS:
            np.testing.assert_array_equal(ff["grad"][name], ep["grad"][name])


def test_identity_map_between_two_blocks():
    s, o, t, p, w, v, x, y = sp.symbols("s o t p w v x y")
    first = Energy(s**2 / 2 + o**2 / 2 + sp.log(sp.cosh(o)) / 4 - w * s * o - x * s,
                   [s, o], [w], [x], outputs=[o])
    u = sp.Symbol("u")
    second = Energy(t**2 / 2 + p**2 / 2 - v * t * p - u * t, [t, p], [v], [u], outputs=[p])
    chain = EnergyChain([first, second], [FeedForward()], EnergyCost((p - y) ** 2 / 2, [y]),
                        params={w: 0.4, v: -0.3}, inputs={x: [1.0, -0.5]},
                        targets={y: [0.2, 0.7]}, name="identity")
    module = load_module(chain, "numpy")
    theta = module.initial_params()
    implicit = _numpy(load_module(chain, "torch").implicit_gradient(theta)["grad"])
    fd = finite_difference(module, theta)
    grad = module.gradient(theta, beta=1e-4)["grad"]
    for name in ("w", "v"):
        assert relative_error(implicit[name], fd[name]) < 1e-6
        assert relative_error(grad[name], implicit[name]) < 1e-5  # O(β²) bias


def test_bad_chains_are_refused():
    base = _digits_energy()
    with pytest.raises(EnergyError, match="FeedForward maps"):
        EnergyChain([base.energy, base.energy], [], base.cost)
    x, o = sp.symbols("x o")
    with pytest.raises(EnergyError, match="exactly one"):
        EnergyChain([Energy(o**2 / 2 - x * o, [o], inputs=[x])], [], EnergyCost(o**2))


def test_cli_reports_ff_ebm_available(capsys):
    path = str(SYSTEMS / "ff_ebm.py")
    small = ["--set", "n_blocks=2", "--set", "hidden=3", "--set", "width=2",
             "--set", "samples=2"]
    assert main(["rules", path, "--json", *small]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["rules"]["ff-EBM"]["available"] and report["rules"]["ff-EBM"]["bias_order"] == 2
    assert not report["rules"]["C-EP"]["available"]
    assert report["rules"]["ff-EBM"]["reads"]["V2"] == ["o1", "δ_x2"]
    assert main(["check", path, "--json", "--beta", "1e-3", *small]) == 0
    report = json.loads(capsys.readouterr().out)
    entry = report["rules"]["ff-EBM"]
    assert entry["available"] and entry["ok"] and entry["min_cosine"] >= 0.9999
    assert report["reference"]["finite_difference"]["rel_err_vs_implicit"] < 1e-6
