"""Vectorized HRU declarations: derived gradients against autograd, errors, size independence."""

from __future__ import annotations

import json
import math

import pytest
import sympy as sp
import torch

from glep.cli import main
from glep.codegen.emit import load_module, render
from glep.derive.errors import NotSeparableError, VectorizedDeclarationError
from glep.derive.hru import HRUProblem
from glep.derive.vectorized import InputMatrix, LogCosh, VectorizedHamiltonian
from tests.conftest import SYSTEMS, problem, relative_error

F64 = torch.float64


def _reference_energy(name, phi, pi, u, A, B, b=None, alpha=None):
    """H written by hand in torch (log cosh via torch.cosh: inputs kept moderate)."""
    drive = u @ B.T
    if name == "linear_hru":
        return (pi**2 / 2 + A * phi**2 / 2 - phi * drive).sum()
    z = A * phi + drive + b
    return (pi**2 / 2 + alpha * phi**2 / 2 + torch.log(torch.cosh(z)) / A).sum()


@pytest.mark.parametrize("name", ["linear_hru", "nonlinear_hru"])
def test_derived_gradients_match_autograd(name):
    module = load_module(problem(name), "torch")
    gen = torch.Generator().manual_seed(7)
    n, m, batch = 6, 4, 3
    phi, pi = (torch.randn(batch, n, generator=gen, dtype=F64, requires_grad=True)
               for _ in range(2))
    u = torch.randn(batch, m, generator=gen, dtype=F64, requires_grad=True)
    params = {}
    for p in module.PARAMS:
        shape = (n, m) if module.PARAM_SHAPES[p] == ("n", "m") else (n,)
        value = torch.rand(shape, generator=gen, dtype=F64) + 0.5
        params[p] = value.requires_grad_()
    H = _reference_energy(name, phi, pi, u, **params)
    wanted = [phi, pi, u, *params.values()]
    grads = dict(zip(["phi", "pi", "u", *params], torch.autograd.grad(H, wanted)))

    vector = [params[p] for p in module.PARAMS if p != "B"]
    B_u = u @ params["B"].T
    with torch.no_grad():
        assert relative_error(module._force(phi, B_u, *vector), -grads["phi"]) < 1e-13
        assert relative_error(module._velocity(pi, *vector), grads["pi"]) < 1e-13
        energy = module.energy(u, torch.cat([phi, pi], -1), tuple(params.values())).sum()
        assert abs(float(energy - H)) < 1e-12 * abs(float(H))
        per_unit = dict(zip(module.PARAMS, module._post_step_gradient(phi, pi, B_u, *vector)))
        for p in module.PARAMS:
            derived = per_unit[p].T @ u if p == "B" else per_unit[p].sum(0)
            assert relative_error(derived, grads[p]) < 1e-13, p
        assert relative_error(per_unit["B"] @ params["B"], grads["u"]) < 1e-13


def test_log_cosh_is_printed_stably():
    module = load_module(problem("nonlinear_hru"), "numpy")
    import numpy as np

    phi = np.array([[1e3, -1e3, 0.3]])
    A, b, alpha = np.ones(3), np.zeros(3), np.zeros(3)
    density = module._energy_density(phi, 0 * phi, 0 * phi, A, b, alpha)
    assert np.all(np.isfinite(density))
    assert density[0, 0] == pytest.approx(1e3 - math.log(2), rel=1e-15)
    assert density[0, 2] == pytest.approx(math.log(math.cosh(0.3)), rel=1e-14)
    z = sp.Symbol("z")
    assert LogCosh(z).diff(z) == sp.tanh(z)
    assert LogCosh(-z) == LogCosh(z)


def test_emitted_source_does_not_grow_with_n():
    path = SYSTEMS / "nonlinear_hru.py"
    from glep.derive.systemfile import load_problem

    small = load_problem(path)
    small.settings["n_units"] = 4
    large = load_problem(path)
    large.settings["n_units"] = 1024
    for backend in ("numpy", "torch"):
        a = render(small, backend, "systems/nonlinear_hru.py")
        b = render(large, backend, "systems/nonlinear_hru.py")
        assert a == b
        assert "range(n" not in a and "for i in" not in a  # no loop over units


def test_declaration_errors():
    phi, pi, A = sp.symbols("phi pi A")
    B = InputMatrix("B")
    with pytest.raises(NotSeparableError, match="does not split"):
        VectorizedHamiltonian(pi**2 * phi / 2, position=phi, momentum=pi, params=[A])
    with pytest.raises(NotSeparableError, match="not even"):
        VectorizedHamiltonian(pi**3 + phi**2, position=phi, momentum=pi, params=[A])
    with pytest.raises(VectorizedDeclarationError, match="declared nowhere"):
        VectorizedHamiltonian(pi**2 + sp.Symbol("w") * phi**2, position=phi, momentum=pi,
                              params=[A, B])
    H = VectorizedHamiltonian(pi**2 / 2 + A * phi**2, position=phi, momentum=pi, params=[A])
    with pytest.raises(VectorizedDeclarationError, match="not a vector parameter"):
        HRUProblem(H, init={sp.Symbol("c"): (0, 1)})
    dt = sp.Symbol("dt")
    clash = VectorizedHamiltonian(pi**2 / 2 + dt * phi**2, position=phi, momentum=pi,
                                  params=[dt])
    with pytest.raises(VectorizedDeclarationError, match="reserved"):
        HRUProblem(clash)


def test_practicality_and_exactness():
    linear, nonlinear = problem("linear_hru"), problem("nonlinear_hru")
    rhel = linear.rules["RHEL"].practicality
    assert rhel.practical and rhel.passes == 3 and rhel.bias_order == 0
    assert nonlinear.rules["RHEL"].practicality.bias_order == 2
    assert not linear.rules["BPTT"].practicality.practical
    assert linear.hamiltonian.is_quadratic and not nonlinear.hamiltonian.is_quadratic


def test_cli_rules_json_and_check(capsys):
    assert main(["rules", str(SYSTEMS / "nonlinear_hru.py"), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["rules"]["RHEL"]["practical"] is True
    assert payload["rules"]["RHEL"]["bias_order"] == 2
    assert main(["check", str(SYSTEMS / "linear_hru.py"), "--json", "--beta", "0.1"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["rules"]["RHEL"]["rel_err"] <= 1e-9
    assert main(["derive", str(SYSTEMS / "linear_hru.py")]) == 0
    assert "leapfrog" in capsys.readouterr().out
