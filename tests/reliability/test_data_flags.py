"""``glep data``: --teacher, --noise, --trajectories, --initial, each checked against an
independent simulation or statistic; bad values and data that do not fit the system are
refused with one message naming the flag, and nothing is written."""

from __future__ import annotations

import numpy as np
import pytest

from .conftest import SYSTEMS, assert_bad, module, system_text

H = SYSTEMS / "harmonic_oscillator.py"  # one input, one target: the position q
CHAIN = SYSTEMS / "chain_identification.py"  # four targets
LADDER = SYSTEMS / "lc_ladder.py"  # targets: capacitor voltages (q_i − q_{i+1})/C_i


def _data(glep_cli, tmp_path, *argv):
    out = tmp_path / "d.npz"
    result = glep_cli("data", *argv, "--out", out)
    assert result.code == 0, result
    with np.load(out) as archive:
        return {k: archive[k] for k in archive.files}


def test_teacher_sets_the_parameters_and_the_targets_are_their_simulation(glep_cli, tmp_path):
    arrays = _data(glep_cli, tmp_path, "identification", H, "--teacher", "k=2.5",
                   "--teacher", " m = 0.7 ", "--trajectories", "3")
    m = module("harmonic_oscillator")
    assert arrays["true_theta"].tolist() == [0.7, 2.5, 0.5 + 0.3 * np.cos(1.3 * 2)]
    states = m.simulate(arrays["z0"], arrays["true_theta"], inputs=arrays["inputs"])
    assert np.array_equal(arrays["targets"][..., 0], states[..., 0].T)
    assert arrays["inputs"].shape == (3, len(arrays["t"]), 1)


def test_the_default_teacher_is_the_documented_one(glep_cli, tmp_path):
    arrays = _data(glep_cli, tmp_path, "identification", CHAIN, "--trajectories", "1")
    names = module("chain_identification").PARAMS
    expected = [1 + 0.4 * np.sin(1.7 * i + 0.3) if name.startswith("k")
                else 0.5 + 0.3 * np.cos(1.3 * i) for i, name in enumerate(names)]
    assert np.allclose(arrays["true_theta"], expected, rtol=1e-15)
    help_text = glep_cli("data", "--help").out
    assert "1 + 0.4 sin(1.7 i + 0.3)" in help_text and "0.5 + 0.3 cos(1.3 i)" in help_text


def test_the_targets_are_what_the_cost_observes(glep_cli, tmp_path):
    """The LC ladder compares capacitor voltages, not charges, with its targets."""
    arrays = _data(glep_cli, tmp_path, "identification", LADDER, "--trajectories", "2")
    states = module("lc_ladder").simulate(arrays["z0"], arrays["true_theta"],
                                          inputs=arrays["inputs"])
    q, capacitance = np.moveaxis(states[..., :3], 0, 1), arrays["true_theta"][3:]
    charges = np.stack([q[..., 0] - q[..., 1], q[..., 1] - q[..., 2], q[..., 2]], axis=-1)
    assert np.allclose(arrays["targets"], charges / capacitance, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("kind", ["identification", "filter"])
def test_noise_is_gaussian_of_the_given_size_and_seeded(glep_cli, tmp_path, kind):
    clean = _data(glep_cli, tmp_path, kind, H, "--trajectories", "40")
    noisy = _data(glep_cli, tmp_path, kind, H, "--trajectories", "40", "--noise", "0.05")
    again = _data(glep_cli, tmp_path, kind, H, "--trajectories", "40", "--noise", "0.05")
    other = _data(glep_cli, tmp_path, kind, H, "--trajectories", "40", "--noise", "0.05",
                  "--seed", "1")
    zero = _data(glep_cli, tmp_path, kind, H, "--trajectories", "40", "--noise", "0")
    assert all(np.array_equal(zero[k], clean[k]) for k in clean)
    assert all(np.array_equal(noisy[k], again[k]) for k in noisy)
    assert not np.array_equal(noisy["targets"], other["targets"])
    keys = ["targets"] + (["test_targets"] if kind == "filter" else [])
    noise = np.concatenate([(noisy[k] - clean[k]).ravel() for k in keys])
    assert noise.size > 10_000
    assert abs(noise.std() - 0.05) <= 0.05 * 0.03  # 3% (the sampling error is ~0.5%)
    assert abs(noise.mean()) <= 0.05 * 0.03
    assert np.array_equal(noisy["inputs"], clean["inputs"])


def test_trajectories_sets_the_size_of_each_kind(glep_cli, tmp_path):
    assert _data(glep_cli, tmp_path, "identification", H, "--trajectories", "5")[
        "targets"].shape[0] == 5
    arrays = _data(glep_cli, tmp_path, "filter", H, "--trajectories", "10")
    assert arrays["inputs"].shape[0] == 8 and arrays["test_inputs"].shape[0] == 2


def test_initial_declared_starts_every_trajectory_from_the_file_s_state(glep_cli, tmp_path):
    arrays = _data(glep_cli, tmp_path, "identification", H, "--trajectories", "3",
                   "--initial", "declared")
    assert np.array_equal(arrays["z0"], np.tile([0.1, 0.3], (3, 1)))
    random = _data(glep_cli, tmp_path, "identification", H, "--trajectories", "3")
    assert np.all(random["z0"][:, 1] == 0) and len(set(random["z0"][:, 0])) == 3


NO_TARGETS = system_text().replace("Cost(running=(q - y) ** 2 / 2, targets=[y])",
                                   "Cost(terminal=q**2)").replace(", targets={y: sp.cos(t) / 2}",
                                                                  "")
QUARTIC = system_text().replace("Cost(running=(q - y) ** 2 / 2", "Cost(running=(q - y) ** 4")

BAD = [
    (["identification", H, "--teacher", "k"], "--teacher"),
    (["identification", H, "--teacher", "=1"], "--teacher"),
    (["identification", H, "--teacher", "k="], "--teacher"),
    (["identification", H, "--teacher", "k=abc"], "--teacher k=abc"),
    (["identification", H, "--teacher", "k=nan"], "--teacher k=nan"),
    (["identification", H, "--teacher", "k=inf"], "--teacher k=inf"),
    (["identification", H, "--teacher", "spring=1"], "not a parameter of harmonic_oscillator"),
    (["identification", H, "--teacher", "k=1", "--teacher", "k=2"], "--teacher gives k twice"),
    (["filter", H, "--teacher", "k=1"], "--teacher"),
    (["filter", H, "--initial", "declared"], "--initial"),
    (["identification", H, "--initial", "zero"], "--initial"),
    *[(["identification", H, "--noise", v], "--noise") for v in ["-0.1", "nan", "inf", "abc", ""]],
    *[(["identification", H, "--trajectories", v], "--trajectories")
      for v in ["0", "-3", "2.5", "1e2", "x", ""]],
    (["filter", H, "--trajectories", "1"], "--trajectories"),
    (["filter", CHAIN], "4 target(s)"),
    (["identification", "{no_targets}"], "has no targets"),
    (["identification", "{quartic}"], "not quadratic in the targets"),
]


@pytest.mark.parametrize(("argv", "fragment"), BAD, ids=[" ".join(map(str, a[2:])) or a[0]
                                                         for a, _ in BAD])
def test_bad_data_flags_are_refused(glep_cli, tmp_path, argv, fragment):
    files = {"{no_targets}": NO_TARGETS, "{quartic}": QUARTIC}
    argv = list(argv)
    for i, value in enumerate(argv):
        if value in files:
            argv[i] = tmp_path / f"{value.strip('{}')}.py"
            argv[i].write_text(files[value])
    out = tmp_path / "d.npz"
    result = glep_cli("data", *argv, "--out", out)
    assert_bad(result, fragment)
    assert fragment.lower() in result.err.strip().splitlines()[-1].lower()  # the last line
    assert not out.exists()
