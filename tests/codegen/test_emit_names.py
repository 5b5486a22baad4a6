"""Emitted modules: names that keep variants apart, the Torch ``VectorField``'s parameters,
and rule names that are case-insensitive in the generated API."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from glep.cli import main
from glep.codegen.emit import load_module
from glep.derive.systemfile import load_problem
from tests.conftest import SYSTEMS, generated

CHAIN = SYSTEMS / "anharmonic_chain.py"
LC = Path(__file__).resolve().parents[1] / "derive" / "systems" / "lc_readout.py"


def _emit(*args) -> int:
    return main(["emit", *map(str, args), "--target", "numpy"])


def test_set_overrides_name_the_module_and_variants_do_not_overwrite(tmp_path, capsys):
    assert _emit(CHAIN, "--set", "n=4", "--out", tmp_path) == 0
    assert _emit(CHAIN, "--set", "n=5", "--out", tmp_path) == 0
    four = tmp_path / "anharmonic_chain_n4_numpy.py"
    five = tmp_path / "anharmonic_chain_n5_numpy.py"
    assert four.is_file() and five.is_file()
    assert "_N = 4\n" in four.read_text() and "_N = 5\n" in five.read_text()
    assert "Regenerate with: glep emit systems/anharmonic_chain.py --set n=4\n" in four.read_text()
    assert _emit(CHAIN, "--set", "n=4", "--out", tmp_path, "--check") == 0
    four.write_text(four.read_text() + "# edited\n")
    assert _emit(CHAIN, "--set", "n=4", "--out", tmp_path, "--check") == 1
    assert "anharmonic_chain_n4_numpy.py (differs" in capsys.readouterr().err


def test_set_values_that_are_not_identifiers_still_give_a_module_name(tmp_path):
    """A float, a negative number and a word in --set all make a Python module name."""
    system = tmp_path / "spring.py"
    system.write_text(
        "import sympy as sp\nfrom glep import Lagrangian, Problem\n"
        "k0 = 1.5\nshift = -2\nlabel = 'a'\nt = sp.Symbol('t')\nq = sp.Function('q')(t)\n"
        "k = sp.Symbol('k')\n"
        "problem = Problem(Lagrangian(q.diff(t)**2 / 2 - k * q**2 / 2, [q], [k]),"
        " params={k: k0}, initial={q: shift, q.diff(t): 0}, horizon=1.0, steps=10)\n")
    assert _emit(system, "--set", "k0=0.25", "--set", "shift=-1", "--set", "label=b-c",
                 "--out", tmp_path) == 0
    (module,) = tmp_path.glob("spring_*_numpy.py")
    assert module.stem == "spring_k00p25_shiftm1_labelb_c_numpy" and module.stem.isidentifier()


def test_explicit_name(tmp_path, capsys):
    assert _emit(CHAIN, "--set", "n=4", "--name", "chain4", "--out", tmp_path) == 0
    text = (tmp_path / "chain4_numpy.py").read_text()
    assert "--set n=4 --name chain4" in text
    assert _emit(CHAIN, "--set", "n=4", "--name", "chain4", "--out", tmp_path, "--check") == 0
    assert _emit(CHAIN, LC, "--name", "both", "--out", tmp_path) == 2
    assert "exactly one file" in capsys.readouterr().err
    for bad in ("my-chain", "4chain", "class"):
        assert _emit(CHAIN, "--name", bad, "--out", tmp_path) == 2
        err = capsys.readouterr().err
        assert "--name" in err and "Traceback" not in err


def test_vector_field_parameters_are_the_dynamics_in_params_order():
    module = generated("oscillator_filter", "torch")
    field = module.VectorField()
    names = [name.removeprefix("params.") for name, _ in field.named_parameters()]
    assert names == [p for p in module.PARAMS if not p.startswith("w")]
    assert names[:3] == ["m1", "m2", "m3"]  # PARAMS order, not alphabetical
    assert torch.equal(field.theta(), torch.tensor(module.PARAM_VALUES, dtype=torch.float64))
    # the field is the NumPy module's, and its gradient reaches every dynamics parameter
    z = torch.linspace(-0.3, 0.4, 12, dtype=torch.float64)
    out = field(torch.tensor(0.7, dtype=torch.float64), z)
    numpy = generated("oscillator_filter", "numpy")
    expected = numpy.vector_field(0.7, z.numpy(), np.array(numpy.PARAM_VALUES),
                                  numpy.default_inputs(0.7))
    np.testing.assert_allclose(out.detach().numpy(), expected, rtol=1e-13, atol=1e-15)
    out.square().sum().backward()
    assert all(p.grad is not None for p in field.parameters())


def test_a_parameter_shared_by_dynamics_and_cost_stays_in_the_vector_field():
    module = load_module(load_problem(LC), "torch")
    names = [name.removeprefix("params.") for name, _ in module.VectorField().named_parameters()]
    assert names == ["L1", "L2", "L3", "C1", "C2", "C3"]


@pytest.mark.parametrize("spelling", ["hel", "Hel", "ADJOINT"])
def test_generated_gradient_rule_names_are_case_insensitive(spelling):
    module = generated("harmonic_oscillator", "numpy")
    canonical = next(r for r in module.RULES if r.lower() == spelling.lower())
    ours = module.gradient(rule=spelling, steps=200)["theta"]
    theirs = module.gradient(rule=canonical, steps=200)["theta"]
    np.testing.assert_array_equal(ours, theirs)
    with pytest.raises(ValueError, match="unknown rule 'helx'"):
        module.gradient(rule="helx")
    torch_module = generated("harmonic_oscillator", "torch")
    assert torch.equal(torch_module.gradient(rule="bptt", steps=50)["theta"],
                       torch_module.gradient(rule="BPTT", steps=50)["theta"])
