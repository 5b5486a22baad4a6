"""``glep check`` verdicts that can fail: a nudge that leaves the basin, a wrong bias slope,
rules that do not estimate the gradient."""

from __future__ import annotations

import sympy as sp

from glep import Energy, EnergyCost, EnergyProblem
from glep.derive.practicality import Practicality
from glep.verify import check
from glep.verify.common import judge


def _double_well():
    """A tilted double well: the free state sits near s = −1, the target at +1."""
    s, x, y, w = sp.symbols("s x y w")
    return EnergyProblem(
        Energy((s**2 - 1) ** 2 / 4 - w * x * s, states=[s], params=[w], inputs=[x],
               outputs=[s]),
        EnergyCost((s - y) ** 2 / 2, targets=[y]),
        params={w: -0.05}, inputs={x: [1.0]}, targets={y: [1.0]},
        relaxation="gradient", step=0.1,
    )


def test_a_nudge_that_jumps_to_the_other_basin_fails_the_check_and_says_so():
    report = check(_double_well(), rules=["P-EP", "C-EP"], beta=0.5)
    for rule in ("P-EP", "C-EP"):
        entry = report["rules"][rule]
        assert not entry["ok"]
        assert "left the free phase's basin" in entry["verdict"]


def test_the_same_double_well_passes_at_a_small_beta():
    report = check(_double_well(), rules=["P-EP", "N-EP", "C-EP"], beta=1e-3)
    assert all(report["rules"][rule]["ok"] for rule in ("P-EP", "N-EP", "C-EP"))


def test_the_cli_exits_1_on_a_basin_change(tmp_path, capsys):
    from glep.cli import main

    path = tmp_path / "double_well.py"
    path.write_text(
        "import sympy as sp\n"
        "from glep import Energy, EnergyCost, EnergyProblem\n"
        "s, x, y, w = sp.symbols('s x y w')\n"
        "problem = EnergyProblem(\n"
        "    Energy((s**2 - 1) ** 2 / 4 - w * x * s, states=[s], params=[w], inputs=[x],\n"
        "           outputs=[s]),\n"
        "    EnergyCost((s - y) ** 2 / 2, targets=[y]),\n"
        "    params={w: -0.05}, inputs={x: [1.0]}, targets={y: [1.0]},\n"
        "    relaxation='gradient', step=0.1)\n"
    )
    assert main(["check", str(path), "--rule", "C-EP", "--beta", "0.5"]) == 1
    assert "basin" in capsys.readouterr().out
    assert main(["check", str(path), "--rule", "C-EP", "--beta", "1e-3"]) == 0


def test_contrastive_learning_is_reported_as_not_a_gradient_estimator():
    from tests.conftest import problem

    report = check(problem("hopfield_smooth"), rules=["CL", "C-EP"])
    assert report["rules"]["CL"]["gradient"] == "not a gradient estimator"
    assert report["rules"]["CL"]["rel_err"] > 0.1  # far from the gradient, and not failed
    assert report["rules"]["CL"]["ok"]
    assert report["rules"]["C-EP"]["gradient"] == "biased O(β^2)"


def test_judge_fails_an_exact_rule_off_its_reference_and_a_wrong_bias_slope():
    exact = Practicality(True, False, False, 2, "O(T)", True, False, False, 0, "")
    assert not judge(exact, [1e-4], [1e-3])["ok"]
    assert judge(exact, [1e-4], [1e-8])["ok"]
    second = Practicality(True, True, True, 3, "O(1)", False, False, True, 2, "")
    # an O(β²) rule whose error does not shrink with β is not what was derived
    assert not judge(second, [1e-2, 5e-3, 2.5e-3], [1e-3, 9e-4, 8.5e-4])["ok"]
    assert judge(second, [1e-2, 5e-3, 2.5e-3], [1e-3, 2.5e-4, 6.3e-5])["ok"]
