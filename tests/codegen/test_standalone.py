"""``glep emit --standalone``: one file per module that runs without glep installed (NumPy or
PyTorch only) and computes what the installed module computes."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from glep.cli import main
from tests.conftest import SYSTEMS, generated

#: Run in a fresh interpreter where importing glep fails: the module must not need it.
SCRIPT = textwrap.dedent("""
    import importlib.abc, json, sys
    import numpy as np

    class Blocked(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name.split(".")[0] == "glep":
                raise ImportError("glep is not installed here")

    sys.meta_path.insert(0, Blocked())
    sys.path.insert(0, sys.argv[1])
    m = __import__(sys.argv[2])
    if hasattr(m, "relax"):
        theta = m.initial_params()
        out = m.gradient(theta, m.DEFAULT_INPUTS, m.DEFAULT_TARGETS, beta=1e-3)
    else:
        out = m.gradient(m.INITIAL_STATE, m.PARAM_VALUES, rule="HEL", beta=1e-4)
    grad = out["grad"] if "grad" in out else out["theta"]  # energies: by name; else θ's axis
    grad = {k: np.asarray(v, float).tolist() for k, v in grad.items()} if isinstance(grad, dict) \\
        else np.asarray(grad, float).tolist()
    print(json.dumps({"loss": float(out["loss"]), "grad": grad}))
""")


def _flat(grad):
    if isinstance(grad, dict):
        return np.concatenate([np.ravel(np.asarray(grad[k], float)) for k in sorted(grad)])
    return np.ravel(np.asarray(grad, float))


@pytest.mark.parametrize("system, backend", [
    ("harmonic_oscillator", "numpy"), ("harmonic_oscillator", "torch"),
    ("hopfield_smooth", "numpy")])
def test_a_standalone_module_runs_without_glep_and_agrees(tmp_path, capsys, system, backend):
    assert main(["emit", str(SYSTEMS / f"{system}.py"), "--target", backend, "--standalone",
                 "--out", str(tmp_path)]) == 0
    capsys.readouterr()
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{system}_{backend}.py"]
    run = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path), f"{system}_{backend}"],
                         capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert run.returncode == 0, run.stderr
    alone = json.loads(run.stdout)
    module = generated(system, backend)
    if hasattr(module, "relax"):
        out = module.gradient(module.initial_params(), module.DEFAULT_INPUTS,
                              module.DEFAULT_TARGETS, beta=1e-3)
    else:
        out = module.gradient(module.INITIAL_STATE, module.PARAM_VALUES, rule="HEL", beta=1e-4)
    grad = out["grad"] if "grad" in out else out["theta"]
    if not isinstance(grad, dict):
        grad = np.asarray(grad.detach() if hasattr(grad, "detach") else grad, float)
    else:
        grad = {k: np.asarray(v.detach() if hasattr(v, "detach") else v, float)
                for k, v in grad.items()}
    assert np.isclose(alone["loss"], float(out["loss"]), rtol=1e-12, atol=0)
    assert np.allclose(_flat(alone["grad"]), _flat(grad), rtol=1e-12, atol=1e-15)
