"""The GDU check (glep.verify.gdu): per-step EP updates against per-step BPTT gradients.

The oracle of the BPTT side is autograd through the Euler steps; the theorem (Ernoult et al.
2019) says the two agree as β → 0 with an O(β) error, which the slope in β tests. The
metrics are checked on vectors whose relative RMSE and sign agreement are known."""

from __future__ import annotations

import json

import pytest
import torch

from glep.cli import main
from glep.derive.errors import KindError
from glep.verify.gdu import _row, gdu
from tests.conftest import SYSTEMS, problem

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def worst(report, name) -> float:
    return max(r["rel_rmse"] for r in report["rows"][name] if r["rel_rmse"] is not None)


def test_first_steps_theorem_on_a_smooth_energy():
    """hopfield_smooth relaxes by gradient flow (no box): at β = 1e-3 the per-step updates
    of all parameters equal −∇BPTT_t within 1e-2 relative at every step, and every
    parameter's error falls linearly in β."""
    smooth = problem("hopfield_smooth")
    reports = [gdu(smooth, beta=b, steps=12, step=0.3) for b in (1e-3, 1e-4)]
    assert worst(reports[0], "(all)") < 1e-2
    for name in reports[0]["rows"]:
        assert 9.0 < worst(reports[0], name) / worst(reports[1], name) < 11.0, name
    assert reports[1]["max_rel_rmse"] < 1e-2
    report = gdu(smooth, beta=1e-4, steps=12, step=0.3)
    assert all(r["sign"] == 1.0 for rows in report["rows"].values() for r in rows
               if r["sign"] is not None)
    # summed over a long nudged phase, both sides give the gradient at the fixed point
    total = gdu(smooth, beta=1e-6, steps=300, step=0.3)
    ep = {k: sum(torch.tensor(e[k]) for e in total["ep"]) for k in total["ep"][0]}
    from glep.codegen.emit import load_module

    implicit = load_module(smooth, "numpy").implicit_gradient(
        load_module(smooth, "numpy").initial_params())["grad"]
    for k, v in implicit.items():
        assert abs(float(ep[k]) + float(v)) <= 1e-4 * (1 + abs(float(v))), k


def test_row_metrics_on_known_vectors():
    row = _row(3, torch.tensor([1.0, -2.0, 3.0]), torch.tensor([1.0, 2.0, 3.0]))
    assert row["rel_rmse"] == pytest.approx(4.0 / 14 ** 0.5)
    assert row["sign"] == pytest.approx(2 / 3)
    row = _row(1, torch.tensor([1e-3, 0.0]), torch.tensor([0.0, 0.0]))
    assert row["rel_rmse"] is None and row["ep_norm"] == pytest.approx(1e-3)


@pytest.mark.slow
def test_glep_check_gdu_on_the_conv_energy(tmp_path, capsys):
    figure = tmp_path / "gdu.png"
    code = main(["check", str(SYSTEMS / "conv_hopfield_digits.py"), "--gdu", "--beta", "1e-4",
                 "--steps", "6", "--gdu-figure", str(figure)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "GDU check" in out and "W1" in out and "matches" in out
    assert figure.stat().st_size > 10_000
    assert main(["check", str(SYSTEMS / "conv_hopfield_digits.py"), "--gdu", "--steps", "3",
                 "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report["rows"]) == {"W1", "b1", "W2", "b2", "(all)"} and report["steps"] == 3


def test_gdu_refuses_what_it_cannot_check(capsys):
    with pytest.raises(KindError, match="EnergyProblem"):
        gdu(problem("pendulum"))
    path = str(SYSTEMS / "hopfield_smooth.py")
    assert main(["check", path, "--gdu-figure", "x.png"]) == 2
    assert "add --gdu" in capsys.readouterr().err
    assert main(["check", path, "--gdu", "--rule", "C-EP"]) == 2
    assert "not of --gdu" in capsys.readouterr().err
    assert main(["check", path, "--gdu", "--gdu-figure", "/nonexistent/gdu.png"]) == 2
    assert "--gdu-figure" in capsys.readouterr().err
