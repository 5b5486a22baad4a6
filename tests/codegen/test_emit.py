"""Emission is deterministic, lint-clean, checked, and safe with awkward names."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import sympy as sp

from glep.cli import main
from glep.codegen.backends.numpy.printer import NumPyPrinter
from glep.codegen.emit import load_module, render
from glep.codegen.printers import eliminate_common
from glep.derive import Hamiltonian, Lagrangian, Problem
from glep.derive.errors import CodegenError
from tests.conftest import ROOT, SYSTEMS


def _emit_in_subprocess(out, seed):
    env = {**os.environ, "PYTHONHASHSEED": str(seed)}
    files = [str(p) for p in sorted(SYSTEMS.glob("[!_]*.py"))]
    subprocess.run(
        [sys.executable, "-m", "glep.cli", "emit", *files, "--out", str(out)],
        check=True,
        env=env,
        cwd=ROOT,
        capture_output=True,
    )


def test_emitting_twice_gives_byte_identical_files(tmp_path):
    _emit_in_subprocess(tmp_path / "a", 1)
    _emit_in_subprocess(tmp_path / "b", 2)
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "b").iterdir())
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
        # and equal to what is committed
        assert (tmp_path / "a" / name).read_bytes() == (ROOT / "generated" / name).read_bytes()


def test_generated_files_pass_ruff():
    ruff = shutil.which("ruff", path=os.path.dirname(sys.executable)) or shutil.which("ruff")
    result = subprocess.run(
        [ruff, "check", "--no-cache", "generated"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout


def test_check_names_stale_and_missing_files(tmp_path, capsys):
    out = tmp_path / "generated"
    shutil.copytree(ROOT / "generated", out)
    assert main(["emit", "--check", "--out", str(out)]) == 0
    stale = out / "pendulum_numpy.py"
    stale.write_text(stale.read_text() + "# edited by hand\n")
    (out / "double_pendulum_torch.py").unlink()
    (out / "orphan_numpy.py").write_text("")
    assert main(["emit", "--check", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "pendulum_numpy.py (differs" in err
    assert "double_pendulum_torch.py (missing)" in err
    assert "orphan_numpy.py (no bundled system" in err


def test_set_overrides_a_module_level_setting(tmp_path):
    assert main(["emit", str(SYSTEMS / "anharmonic_chain.py"), "--set", "n=3",
                 "--target", "numpy", "--out", str(tmp_path)]) == 0
    text = (tmp_path / "anharmonic_chain_n3_numpy.py").read_text()
    assert "STATE = (\"q1\", \"q2\", \"q3\", \"q1_dot\"" in text
    assert "Regenerate with: glep emit systems/anharmonic_chain.py --set n=3" in text


def test_derive_prints_equations_and_properties(capsys):
    assert main(["derive", str(SYSTEMS / "coupled_oscillators.py")]) == 0
    out = capsys.readouterr().out
    assert "Euler–Lagrange equations" in out
    assert "time-reversal invariant: yes" in out
    assert "separable H = T(p) + V(q): yes" in out
    assert main(["derive", str(SYSTEMS / "pendulum.py"), "--latex"]) == 0
    assert "\\frac" in capsys.readouterr().out


def test_symbols_named_like_module_arguments_are_renamed():
    t = sp.Symbol("t")
    x, z = sp.Function("x")(t), sp.Function("z")(t)
    px, pz = sp.Function("p_x")(t), sp.Function("p_z")(t)
    theta = sp.Symbol("theta")
    H = Hamiltonian((px**2 + pz**2) / 2 + theta * (x**2 + z**2) / 2, [x, z], [px, pz], [theta])
    problem = Problem(H, params={theta: 4.0}, initial={x: 1.0, z: 0.0, px: 0.0, pz: 2.0},
                      horizon=np.pi, steps=2000, name="renamed")
    module = load_module(problem, "numpy")
    end = module.simulate(method="leapfrog")[-1]
    # period π for ω = 2: back to the start
    np.testing.assert_allclose(end, [1.0, 0.0, 0.0, 2.0], atol=1e-5)


def test_unsupported_expressions_raise_codegen_error():
    q = sp.Symbol("q")
    with pytest.raises(CodegenError, match="cannot print the function f"):
        NumPyPrinter().doprint(sp.Function("f")(q))
    with pytest.raises(CodegenError, match="Piecewise"):
        NumPyPrinter().doprint(sp.Piecewise((q, q > 0)))  # no otherwise piece
    with pytest.raises(CodegenError, match="reserved prefix"):
        eliminate_common([sp.Symbol("_t0") + q])


def test_unprintable_lagrangian_fails_before_writing(tmp_path):
    t = sp.Symbol("t")
    q = sp.Function("q")(t)
    problem = Problem(Lagrangian(q.diff(t) ** 2 / 2 - sp.besselj(0, q), [q], []),
                      params={}, initial={q: 0, q.diff(t): 0}, horizon=1, steps=1, name="bessel")
    with pytest.raises(CodegenError, match="besselj"):
        render(problem, "numpy", "bessel.py")
