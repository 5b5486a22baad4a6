"""``glep derive/rules/check`` on energy files: JSON contracts and refusals (exit 2)."""

from __future__ import annotations

import json
import textwrap

import pytest
import sympy as sp

from glep.cli import main
from glep.derive.energy import Energy, EnergyCost, EnergyProblem
from glep.derive.errors import CostError, EnergyError, OutputError, UndeclaredSymbolError
from tests.conftest import SYSTEMS

RULE_KEYS = {
    "available": bool, "forward_only": bool, "same_system": bool, "passes": int,
    "memory": str, "needs_jacobian": bool, "needs_bvp": bool, "local": bool,
    "bias_order": (int, type(None)), "reason": str, "gradient": str,
}
EP_RULES = {"P-EP", "N-EP", "C-EP", "CL", "P-CpL", "N-CpL", "C-CpL", "continual-EP", "ff-EBM"}


def _json(capsys, *args):
    code = main([*args, "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_rules_json_contract(capsys):
    code, report = _json(capsys, "rules", str(SYSTEMS / "hopfield_digits.py"))
    assert code == 0 and report["system"] == "hopfield_digits"
    assert set(report["rules"]) == EP_RULES
    for entry in report["rules"].values():
        for key, kind in RULE_KEYS.items():
            assert isinstance(entry[key], kind), key
    ep = report["rules"]["C-EP"]
    assert ep["available"] and ep["practical"] and ep["bias_order"] == 2 and ep["passes"] == 3
    assert report["rules"]["P-EP"]["bias_order"] == 1
    assert ep["gradient"] == "biased O(β^2)"
    for rule in ("CL", "P-CpL", "N-CpL", "C-CpL"):  # they do not estimate dC/dθ at all
        assert report["rules"][rule]["bias_order"] is None
        assert report["rules"][rule]["gradient"] == "not a gradient estimator"
    assert report["rules"]["C-EP"]["reads"]["W1"] == ["h", "x"]
    assert not report["rules"]["ff-EBM"]["available"]


def test_chain_rules_list_ff_ebm_and_ep_dtp(capsys):
    code, report = _json(capsys, "rules", str(SYSTEMS / "ff_ebm.py"))
    assert code == 0 and set(report["rules"]) == EP_RULES | {"EP+DTP"}
    ff, dtp = report["rules"]["ff-EBM"], report["rules"]["EP+DTP"]
    assert ff["available"] and ff["needs_jacobian"] and not ff["local"]
    assert ff["gradient"] == "biased O(β^2)"
    assert dtp["available"] and not dtp["needs_jacobian"] and dtp["local"]
    assert dtp["gradient"] == "not a gradient estimator" and dtp["passes"] == ff["passes"]
    assert dtp["reads"]["V2"] == ["o1", "x2", "t_x2"] and dtp["reads"]["e2"] == ["x2", "t_x2"]
    assert main(["rules", str(SYSTEMS / "ff_ebm.py")]) == 0
    assert "== EP+DTP:" in capsys.readouterr().out


def test_derive_and_rules_text(capsys):
    assert main(["derive", str(SYSTEMS / "hopfield_digits.py")]) == 0
    out = capsys.readouterr().out
    assert "Exact block-coordinate update" in out and "∂E/∂W1 = -h*x.T" in out
    assert main(["rules", str(SYSTEMS / "hopfield_smooth.py")]) == 0
    assert "C-CpL" in capsys.readouterr().out


def test_check_json_contract(capsys):
    code, report = _json(capsys, "check", str(SYSTEMS / "hopfield_smooth.py"))
    assert code == 0
    assert set(report["reference"]) == {"implicit_differentiation", "finite_difference"}
    assert isinstance(report["loss"], float)
    grad = report["reference"]["implicit_differentiation"]["grad"]
    assert set(grad) == {"w12", "w23", "w1a", "w2a", "w2b", "w3b", "wab", "u11", "u22", "u31",
                         "b_s1", "b_s2", "b_s3", "b_o1", "b_o2"}
    assert report["reference"]["finite_difference"]["rel_err_vs_implicit"] < 1e-7
    for name in ("P-EP", "N-EP", "C-EP", "continual-EP"):
        entry = report["rules"][name]
        assert entry["reference"] == "implicit_differentiation" and entry["ok"], name
    assert report["rules"]["C-EP"]["rel_err"] <= 1e-6
    assert report["rules"]["ff-EBM"]["available"] is False


def test_check_one_rule_on_the_layered_net(capsys):
    code, report = _json(capsys, "check", str(SYSTEMS / "hopfield_digits.py"), "--set",
                         "n_in=6", "--set", "hidden=5", "--set", "n_out=3", "--rule", "C-EP")
    assert code == 0 and list(report["rules"]) == ["C-EP"]
    assert report["saturated_units"] > 0 and report["rules"]["C-EP"]["rel_err"] <= 1e-6
    assert isinstance(report["reference"]["implicit_differentiation"]["grad"]["W1"][0], list)


def _write(tmp_path, body):
    path = tmp_path / "bad.py"
    path.write_text(textwrap.dedent("""\
        import sympy as sp
        from glep.derive.energy import Energy, EnergyCost, EnergyProblem
        s, o, w, y = sp.symbols("s o w y")
    """) + textwrap.dedent(body))
    return str(path)


@pytest.mark.parametrize("body, command, message", [
    ("""problem = EnergyProblem(Energy(-s**2 / 2 + o**2 / 2 - w * s * o - s, [s, o], [w],
                                       outputs=[o]), EnergyCost((o - y)**2 / 2, [y]),
                                params={w: 0.1}, targets={y: 1.0})
     """, ["check"], "diverged"),
    ("""problem = EnergyProblem(Energy(s**4 / 4 - s**2 / 2 + o**2 / 2 - w * s * o, [s, o], [w],
                                       outputs=[o]), EnergyCost((o - y)**2 / 2, [y]),
                                params={w: 0.0}, targets={y: 1.0})
     """, ["check"], "not positive definite"),
    ("""problem = EnergyProblem(Energy(s**2 / 2 + o**2 / 2 - w * s * o - s, [s, o], [w],
                                       outputs=[o]), EnergyCost((s - y)**2 / 2, [y]),
                                params={w: 0.3}, targets={y: 1.0})
     """, ["check", "--rule", "CL"], "non-output states"),
    ("""problem = EnergyProblem(Energy(s**2 / 2 - w * s * o, [s], [w], outputs=[o]),
                                params={w: 0.3})
     """, ["rules"], "not among the states"),
])
def test_bad_energies_exit_2_with_a_clear_message(tmp_path, capsys, body, command, message):
    assert main([command[0], _write(tmp_path, body), *command[1:]]) == 2
    assert message in capsys.readouterr().err


def test_declaration_errors():
    s, o, w, q = sp.symbols("s o w q")
    with pytest.raises(OutputError, match="not among the states"):
        Energy(s**2, [s], [w], outputs=[o])
    with pytest.raises(UndeclaredSymbolError, match="q"):
        Energy(s**2 + q * s, [s], [w])
    with pytest.raises(EnergyError, match="do not mix"):
        Energy(s**2, [s, sp.MatrixSymbol("h", 2, 1)])
    with pytest.raises(EnergyError, match="low < high"):
        Energy(s**2, [s], box=(1, 0))
    with pytest.raises(CostError, match="states and the declared targets"):
        EnergyProblem(Energy(s**2 / 2 - w * s, [s], [w], outputs=[s]),
                      EnergyCost((s - w) ** 2, []), params={w: 1.0})


def test_a_non_layered_energy_has_no_block_update():
    s, o = sp.symbols("s o")
    model = EnergyProblem(Energy(s**4 + o**2 + s * o, [s, o])).model
    assert model.curvature is None and "not quadratic in layer s" in model.block_reason
