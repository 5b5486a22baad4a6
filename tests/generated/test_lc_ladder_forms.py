"""The LC ladder declared twice — a Lagrangian in charges (systems/lc_ladder.py) and a
Hamiltonian in charges and fluxes (systems/lc_ladder_fluxes.py): one circuit, one gradient."""

from __future__ import annotations

import numpy as np

from glep.codegen.emit import load_module
from glep.derive.systemfile import load_problem


def _modules():
    return (load_module(load_problem("systems/lc_ladder.py"), "numpy"),
            load_module(load_problem("systems/lc_ladder_fluxes.py"), "numpy"))


def test_the_two_declarations_move_alike():
    lagrangian, hamiltonian = _modules()
    rng = np.random.default_rng(1)
    q0, v0 = rng.normal(size=3), rng.normal(size=3)
    theta = np.array([1.0, 1.3, 0.8, 0.9, 1.1, 1.2])
    flux0 = theta[:3] * v0  # φ = L q̇
    a = lagrangian.simulate(np.concatenate([q0, v0]), theta, steps=800)
    b = hamiltonian.simulate(np.concatenate([q0, flux0]), theta, steps=800)
    assert np.allclose(a[..., :3], b[..., :3], rtol=0, atol=1e-10)  # charges
    assert np.allclose(theta[:3] * a[..., 3:], b[..., 3:], rtol=0, atol=1e-10)  # fluxes


def test_hel_in_charges_and_fluxes_equals_the_lagrangian_adjoint():
    """From rest (q̇0 = 0 ⟺ φ0 = 0, so holding either fixed is the same), the Hamiltonian
    declaration's echo gives the Lagrangian declaration's adjoint gradient."""
    lagrangian, hamiltonian = _modules()
    theta = np.array([1.0, 1.3, 0.8, 0.9, 1.1, 1.2])
    targets = 0.1 * np.ones((3,))
    options = {"steps": 800, "targets": lambda t: targets + 0.05 * np.sin(t)}
    reference = lagrangian.gradient(np.zeros(6), theta, rule="adjoint", **options)
    echo = hamiltonian.gradient(np.zeros(6), theta, rule="HEL", beta=1e-4, **options)
    error = np.linalg.norm(echo["theta"] - reference["theta"]) / np.linalg.norm(
        reference["theta"])
    assert error <= 1e-6 and np.linalg.norm(reference["theta"]) > 1e-3
