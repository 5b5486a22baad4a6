"""Shared helpers: bundled problems and their generated modules."""

from __future__ import annotations

import functools
import importlib
from pathlib import Path

import numpy as np
import pytest

from glep.derive.problem import Problem
from glep.derive.systemfile import load_problem

ROOT = Path(__file__).resolve().parent.parent
SYSTEMS = ROOT / "systems"
ALL_SYSTEMS = sorted(p.stem for p in SYSTEMS.glob("*.py") if not p.name.startswith("_"))
#: Static energies (derive.energy) are tested in their own files; BUNDLED are the dynamical
#: systems (derive.Problem), the ones the Lagrangian/Hamiltonian tests run over.
ENERGIES = sorted(n for n in ALL_SYSTEMS if "EnergyProblem(" in (SYSTEMS / f"{n}.py").read_text())
BUNDLED = [n for n in ALL_SYSTEMS
           if isinstance(load_problem(SYSTEMS / f"{n}.py"), Problem) and n not in ENERGIES]
#: The bundled systems declared by a Lagrangian (SymPy's LagrangesMethod is their oracle) and
#: by a Hamiltonian.
LAGRANGIANS = [n for n in BUNDLED if load_problem(SYSTEMS / f"{n}.py").system.kind == "lagrangian"]
HAMILTONIANS = [n for n in BUNDLED if n not in LAGRANGIANS]


@functools.cache
def problem(name: str, **overrides):
    """A bundled problem (cached: derivations are kept on its objects)."""
    return load_problem(SYSTEMS / f"{name}.py", overrides)


def generated(name: str, backend: str = "numpy"):
    """The committed generated module of a bundled system."""
    return importlib.import_module(f"glep.generated.{name}_{backend}")


def relative_error(estimate, reference) -> float:
    """Norm-wise relative error ‖ĝ − g‖ / ‖g‖ (THEORY.md §0)."""
    estimate = np.asarray(estimate, dtype=float)
    reference = np.asarray(reference, dtype=float)
    return float(np.linalg.norm(estimate - reference) / np.linalg.norm(reference))


@pytest.fixture
def one_torch_thread():
    """Torch on one thread for the test (small tensors run fastest so; restored after)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
