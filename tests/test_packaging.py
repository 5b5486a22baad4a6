"""The distribution ships one import package, ``glep``, and works from a built wheel."""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_wheel_installs_one_package_that_works_from_elsewhere(tmp_path):
    source = tmp_path / "source"  # setuptools builds in the source tree: build a copy
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".venv", ".git", "build", "*.egg-info", "__pycache__", "runs", ".pytest_cache"))
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation",
         "-q", "-w", str(wheels)],
        check=True, capture_output=True, text=True,
    )
    (wheel,) = wheels.glob("glep-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = Path(subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True).stdout.strip())
    # the test environment's dependencies (numpy, sympy, torch...), but not its editable glep:
    # a path listed in a .pth file is not a site directory, so its own .pth files are not read
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
                    "-q", str(wheel)], check=True, capture_output=True, text=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    def run(*args):
        return subprocess.run(args, cwd=elsewhere, capture_output=True, text=True)

    api = run(python, "-c", "import glep; print(glep.__file__); print(glep.Lagrangian.__name__)")
    assert api.returncode == 0, api.stderr
    location, name = api.stdout.split()
    assert Path(location).is_relative_to(site) and name == "Lagrangian"
    system = site / "glep" / "systems" / "pendulum.py"
    derived = run(venv / "bin" / "glep", "derive", str(system))
    assert derived.returncode == 0, derived.stderr
    assert "Euler–Lagrange equations" in derived.stdout
    emitted = run(python, "-c", "import glep; p = glep.load_problem(" + repr(str(system))
                  + "); print(glep.load_module(p).simulate(steps=4).shape)")
    assert emitted.returncode == 0, emitted.stderr
    assert emitted.stdout.strip() == "(5, 2)"
    for old in ("derive", "codegen", "generated", "systems"):
        refused = run(python, "-c", f"import {old}")
        assert refused.returncode != 0 and "ModuleNotFoundError" in refused.stderr, old
