"""EqSpike (learn/spiking.py): the spike-based update and the free-phase rates against the
rate-based EP estimate and fixed point of the emitted module (its own relaxation), as the
spikes per phase grow; the fan-out against the layer sizes; bad input; ``glep train``."""

from __future__ import annotations

import numpy as np
import pytest

from glep import DataError, RuleError
from glep.cli import main
from glep.codegen.emit import load_module
from glep.learn import spiking
from glep.learn.catalog import Classification
from tests.conftest import problem, relative_error

#: (dt, phase duration): spikes per phase grow 4× from one setting to the next.
SETTINGS = ((0.08, 10.0), (0.04, 20.0), (0.02, 40.0))
BETA = 0.5


def _flat(grad):
    return np.concatenate([np.ravel(grad[k]) for k in sorted(grad)])


@pytest.fixture(scope="module")
def net():
    """8-6-3 layered Hopfield energy, 64 random inputs in [0, 1], targets 0.1 / 0.9."""
    module = load_module(problem("hopfield_digits", n_in=8, hidden=6, n_out=3), "numpy")
    theta = module.initial_params(0)
    rng = np.random.default_rng(0)
    x = rng.random((64, 8))
    y = 0.1 + 0.8 * np.eye(3)[rng.integers(0, 3, 64)]
    return module, theta, x, y


def _sweep(net, neuron, settings, sides="centered"):
    module, theta, x, y = net
    rule = {"centered": "C-EP", "positive": "P-EP"}[sides]
    reference = module.gradient(theta, x, y, rule=rule, beta=BETA)["grad"]
    fixed_point = module.relax(theta, x, y)
    errors, rate_errors, spikes = [], [], []
    for dt, duration in settings:
        out = spiking.gradient(module, theta, x, y, beta=BETA, sides=sides, dt=dt,
                               duration=duration, neuron=neuron, seed=1)
        errors.append(relative_error(_flat(out["grad"]), _flat(reference)))
        rate_errors.append(relative_error(out["rates"], fixed_point))
        spikes.append(out["spikes"])
    slope = np.polyfit(np.log(spikes), np.log(errors), 1)[0]
    rate_slope = np.polyfit(np.log(spikes), np.log(rate_errors), 1)[0]
    return errors, slope, rate_errors, rate_slope


def test_integrate_and_fire_update_converges_to_rate_based_centered_ep(net):
    errors, slope, rate_errors, rate_slope = _sweep(net, "integrate-and-fire", SETTINGS)
    assert slope < -0.5 and errors[-1] <= 1e-2, (errors, slope)
    assert rate_slope < -0.5 and rate_errors[-1] <= 1e-2, (rate_errors, rate_slope)


def test_one_sided_update_converges_to_rate_based_positive_ep(net):
    errors, slope, _, _ = _sweep(net, "integrate-and-fire", SETTINGS[1:], sides="positive")
    assert slope < 0 and errors[-1] <= 1e-2, (errors, slope)


@pytest.mark.slow
def test_bernoulli_update_and_rates_converge_as_a_power_law(net):
    """Stochastic neurons: the error falls roughly as (spikes per phase)^(-1/2)."""
    settings = (*SETTINGS[::2], (0.01, 80.0))
    errors, slope, rate_errors, rate_slope = _sweep(net, "bernoulli", settings)
    assert slope < -0.25 and errors[-1] <= 3e-2, (errors, slope)
    assert rate_slope < -0.25 and rate_errors[-1] <= 4e-2, (rate_errors, rate_slope)


def test_fan_out_counts_the_couplings_of_each_layer(net):
    module, theta, _, _ = net
    units, inputs = spiking.fan_out(module, theta)
    assert units.tolist() == [3.0] * 6 + [6.0] * 3  # hidden → outputs, output → hidden
    assert inputs.tolist() == [6.0] * 8
    out = spiking.free_rates(module, theta, np.zeros((2, 8)), dt=0.1, duration=2.0)
    assert out["spikes"] >= 0 and out["events"] >= 3 * out["spikes"]


def test_bad_input_is_refused_with_named_errors(net):
    module, theta, x, y = net
    with pytest.raises(DataError, match=r"inputs in \[0, 1\]"):
        spiking.gradient(module, theta, 2 * x, y)
    for options, words in [({"dt": 0}, "dt=0"), ({"dt": 2.0}, "at most 1"),
                           ({"tau": 0.01, "dt": 0.1}, "tau >= dt"),
                           ({"duration": 0.1, "dt": 0.1}, "at least 4 steps"),
                           ({"neuron": "lif"}, "neuron='lif'"), ({"sides": "both"}, "sides"),
                           ({"beta": -1}, "beta")]:
        with pytest.raises(DataError, match=words):
            spiking.gradient(module, theta, x[:2], y[:2], **options)
    smooth = load_module(problem("hopfield_smooth"), "numpy")
    with pytest.raises(RuleError, match="EqSpike needs"):
        spiking.gradient(smooth, smooth.initial_params())


@pytest.mark.slow
def test_glep_train_eqspike_reports_spikes_per_example(tmp_path, capsys):
    rng = np.random.default_rng(0)
    x = rng.random((48, 64))
    labels = rng.integers(0, 10, 48)
    data = tmp_path / "tiny.npz"
    Classification("tiny", x, labels, x[:16], labels[:16], tuple("0123456789"))
    np.savez(data, x=x, y=labels, test_x=x[:16], test_y=labels[:16])
    code = main(["train", "systems/hopfield_digits.py", "--data", str(data), "--rule",
                 "eqspike", "--epochs", "1", "--batch", "16", "--spike-dt", "0.1",
                 "--spike-time", "4", "--out-dir", str(tmp_path / "run"), "--quiet"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "EqSpike: training:" in out and "synaptic events per example" in out
    assert main(["train", "systems/hopfield_digits.py", "--data", str(data), "--rule",
                 "EqSpike", "--spike-dt", "2", "--out-dir", str(tmp_path / "bad")]) == 2
    assert "--spike-dt" in capsys.readouterr().err


@pytest.mark.slow
def test_three_layer_free_rates_converge_to_the_fixed_point_as_the_phase_grows():
    """hopfield_deep (8-6-5-3): its slowest mode relaxes in ~30 membrane time constants, so
    the rates settle with the phase duration (dt fixed), to the module's ``relax``."""
    module = load_module(problem("hopfield_deep", n_in=8, hidden1=6, hidden2=5, n_out=3))
    theta = module.initial_params(0)
    rng = np.random.default_rng(0)
    x = rng.random((64, 8))
    fixed_point = module.relax(theta, x, np.zeros((64, 3)))
    errors = [relative_error(spiking.free_rates(module, theta, x, dt=0.05, duration=duration,
                                                seed=1)["rates"], fixed_point)
              for duration in (40.0, 160.0)]
    assert errors[1] < errors[0] / 4 and errors[1] <= 1e-2, errors
