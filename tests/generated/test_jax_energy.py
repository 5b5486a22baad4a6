"""JAX energy modules against the NumPy modules (an independent runtime: Python loops over a
batch) and against implicit differentiation by JAX's own autodiff (``lax.custom_root`` on the
printed energy alone), at float64; convolutional energies; their errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from glep.cli import main
from glep.codegen.emit import load_module
from tests.codegen.test_convolution import _problem as _conv_problem
from tests.conftest import generated, problem, relative_error

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
jnp = jax.numpy

RULES = ("P-EP", "N-EP", "C-EP", "CL", "P-CpL", "N-CpL", "C-CpL")
#: (system, overrides, relaxation method): every method once, a scalar and layered energies,
#: binary synapses; one compilation each serves all the rules (the rule is traced).
CASES = [("hopfield_digits", {}, "async"), ("hopfield_deep", {}, "sync"),
         ("hopfield_smooth", {}, "gradient"), ("binary_hopfield_digits", {}, "async")]


def _modules(name, overrides):
    if not overrides:
        return generated(name, "numpy"), generated(name, "jax")
    p = problem(name, **overrides)
    return load_module(p, "numpy"), load_module(p, "jax")


@pytest.mark.slow
@pytest.mark.parametrize(("name", "overrides", "method"), CASES, ids=[c[0] for c in CASES])
def test_every_estimator_equals_the_numpy_module(name, overrides, method):
    numpy_module, jax_module = _modules(name, overrides)
    theta = numpy_module.initial_params()
    for k, v in jax_module.initial_params().items():  # the same draws
        assert np.array_equal(np.asarray(v), theta[k]), k
    for rule in RULES:  # tol=0: both relax to the float floor
        options = {"rule": rule, "beta": 1e-2, "method": method, "tol": 0}
        got, want = jax_module.gradient(theta, **options), numpy_module.gradient(theta, **options)
        assert abs(got["loss"] - want["loss"]) <= 1e-12 * abs(want["loss"]), rule
        for k in want["grad"]:
            assert relative_error(got["grad"][k], want["grad"][k]) <= 1e-10, (rule, k)
        for phase in ("free", "first", "second"):
            assert np.abs(np.asarray(got["states"][phase]) - want["states"][phase]).max() <= 1e-13


def _autodiff_implicit(module, theta, x, y, z):
    """dC/dθ by jax.grad through lax.custom_root: the root of z − Π(z − ∂E/∂z) (∂E/∂z by
    jax.grad of the printed energy, Π the box), its tangents solved with jax.jacfwd."""
    lo, hi = module.BOX or (-np.inf, np.inf)

    def loss(theta, x, y, z):
        def residual(s):
            return s - jnp.clip(s - jax.grad(lambda s: module.energy(s, theta, x))(s), lo, hi)

        def tangent_solve(g, r):
            return jnp.linalg.solve(jax.jacfwd(g)(r), r)

        s = jax.lax.custom_root(residual, z, lambda f, s0: s0, tangent_solve)
        return module.cost(s, y)

    per_sample = jax.jit(jax.vmap(jax.grad(loss), in_axes=(None, 0, 0, 0)))(theta, x, y, z)
    return {k: v.mean(0) for k, v in per_sample.items()}


@pytest.mark.slow
@pytest.mark.parametrize("name", ["hopfield_digits", "hopfield_smooth"])
def test_the_implicit_reference_equals_autodiff_and_the_numpy_module(name):
    numpy_module, jax_module = _modules(name, {})
    theta = numpy_module.initial_params()
    got, want = jax_module.implicit_gradient(theta), numpy_module.implicit_gradient(theta)
    assert got["saturated"] == want["saturated"]
    theta_j = {k: jnp.asarray(v) for k, v in theta.items()}
    x, y = (jnp.asarray(a) for a in (numpy_module.DEFAULT_INPUTS, numpy_module.DEFAULT_TARGETS))
    oracle = _autodiff_implicit(jax_module, theta_j, x, y, got["state"])
    for k in want["grad"]:
        assert relative_error(got["grad"][k], oracle[k]) <= 1e-10, k
        assert relative_error(got["grad"][k], want["grad"][k]) <= 1e-10, k


@pytest.mark.slow
def test_relaxation_fixed_points_clamping_and_vmap():
    numpy_module, jax_module = _modules("hopfield_digits", {})
    theta = numpy_module.initial_params()
    x, y = np.asarray(numpy_module.DEFAULT_INPUTS), np.asarray(numpy_module.DEFAULT_TARGETS)
    for method in ("async", "sync", "gradient"):
        z, report = jax_module.relax(theta, beta=0.3, method=method, info=True)
        assert report["converged"]
        reference = numpy_module.relax(theta, beta=0.3, method=method)
        assert np.abs(np.asarray(z) - reference).max() <= 1e-13
        # a fixed point of the projected descent, ∂F/∂s by jax.grad of the printed energy + cost
        field = jax.vmap(jax.grad(lambda s, x, y: jax_module.energy(s, theta, x)
                                  + 0.3 * jax_module.cost(s, y)))(z, jnp.asarray(x), jnp.asarray(y))
        assert np.abs(np.asarray(z - jnp.clip(z - field, 0, 1))).max() <= 1e-13
    one = jax_module.relax(theta, x[2], y[2], method="async")  # a batch = its samples, one by one
    assert np.abs(np.asarray(one[0] - jax_module.relax(theta, method="async")[2])).max() <= 1e-15
    mask = np.zeros(numpy_module.N, bool)
    mask[numpy_module.OUTPUT_UNITS] = True
    values = np.where(mask, 0.25, 0.0)
    z = jax_module.relax(theta, clamp=(mask, values), method="async")
    assert np.all(np.asarray(z)[:, mask] == 0.25)
    reference = numpy_module.relax(theta, clamp=(mask, values), method="async")
    assert np.abs(np.asarray(z) - reference).max() <= 1e-13


def test_continual_ep_equals_the_numpy_module():
    numpy_module, jax_module = _modules("hopfield_digits", {})
    theta = numpy_module.initial_params()
    got = jax_module.continual_ep(theta, beta=0.1, eta=0.01, steps=5)[1]
    want = numpy_module.continual_ep(theta, beta=0.1, eta=0.01, steps=5)[1]
    for k in want:
        assert relative_error(got[k], want[k]) <= 1e-10, k


def test_bad_input_says_what_to_do():
    module = generated("hopfield_digits", "jax")
    theta = module.initial_params()
    with pytest.raises(ValueError, match="method='newton': choose"):
        module.relax(theta, method="newton")
    with pytest.raises(ValueError, match=r"theta\['W1'\] has shape \(2, 2\)"):
        module.gradient({**theta, "W1": np.eye(2)})
    with pytest.raises(ValueError, match="unknown rule 'EP'"):
        module.gradient(theta, rule="EP")
    with pytest.raises(ValueError, match="x has shape"):
        module.relax(theta, np.ones((2, 3)))
    with pytest.raises(ValueError, match="beta=nan"):
        module.gradient(theta, beta=float("nan"))
    with pytest.raises(RuntimeError, match="did not converge in 3 iterations"):
        module.relax(theta, max_iterations=3, method="gradient", step=0.01)
    smooth = generated("hopfield_smooth", "jax")
    with pytest.raises(ValueError, match="block updates are not exact"):
        smooth.relax(smooth.initial_params(), method="async")


def test_emit_says_why_it_writes_no_jax_module_for_a_chain(tmp_path, capsys):
    system = Path(__file__).parents[2] / "systems" / "ff_ebm.py"
    assert main(["emit", str(system), "--target", "jax", "--out", str(tmp_path)]) == 0
    assert "the jax backend writes continuous systems without constraints, static energies " \
           "and HRUs only" in capsys.readouterr().err
    assert not list(tmp_path.glob("ff_ebm*"))


@pytest.mark.slow
def test_convolutional_energy_equals_the_numpy_module():
    """Convolutions of inputs and of states (stride, padding, max and average pooling): the
    printed primitives through lax.conv_general_dilated, and the estimators."""
    conv = _conv_problem()  # one problem: it draws its targets
    numpy_module, jax_module = load_module(conv, "numpy"), load_module(conv, "jax")
    theta, x = numpy_module.initial_params(), np.asarray(numpy_module.DEFAULT_INPUTS)
    rng = np.random.default_rng(1)
    z, v = rng.random((2, 3, numpy_module.N))
    for name in ("energy", "energy_gradient", "energy_hessian", "energy_dx"):
        got, want = getattr(jax_module, name)(z, theta, x), getattr(numpy_module, name)(z, theta, x)
        assert np.abs(np.asarray(got) - want).max() <= 1e-13, name
    for name, args in (("energy_dtheta", (z, theta, x)), ("energy_dtheta_jvp", (z, v, theta, x))):
        got, want = getattr(jax_module, name)(*args), getattr(numpy_module, name)(*args)
        for k in want:
            assert np.abs(np.asarray(got[k]) - want[k]).max() <= 1e-13, (name, k)
    for rule in ("C-EP", "P-CpL", "CL"):
        options = {"rule": rule, "beta": 1e-2, "tol": 0}
        got, want = jax_module.gradient(theta, **options), numpy_module.gradient(theta, **options)
        for k in want["grad"]:
            assert relative_error(got["grad"][k], want["grad"][k]) <= 1e-10, (rule, k)
