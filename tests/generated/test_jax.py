"""The JAX backend against the NumPy module (an independent runtime and integrator loop) and
against Torch's autograd (BPTT), at float64; its errors; glep without JAX."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import generated, relative_error

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)

GENERATED = Path(__file__).resolve().parents[2] / "generated"
SYSTEMS = sorted(p.stem.removesuffix("_jax") for p in GENERATED.glob("[!_]*_jax.py")
                 if "_continuous_api" in p.read_text(encoding="utf-8"))  # energies: test_jax_energy
RULES = [("HEL", "rk4"), ("PFVP", "rk4"), ("adjoint", "rk4"), ("BPTT", "rk4"), ("HEL", "leapfrog")]


def _setting(module):
    """A short run (compile time does not depend on it) at the module's own horizon."""
    return {"horizon": module.HORIZON, "steps": max(40, int(module.HORIZON / 0.05))}


def _reference(name, rule, method, **options):
    """The NumPy module's gradient; for BPTT, Torch's autograd through its RK4/leapfrog."""
    if rule == "BPTT":
        g = generated(name, "torch").gradient(rule="BPTT", method=method, **options)
        return {k: g[k].numpy() for k in ("loss", "theta", "z0")}
    return generated(name, "numpy").gradient(rule=rule, method=method, **options)


def _compare(name, rule, method):
    jax_module = generated(name, "jax")
    options = _setting(jax_module) | ({} if rule == "BPTT" else {"beta": 1e-2})
    got = jax_module.gradient(rule=rule, method=method, **options)
    reference = _reference(name, rule, method, **options)
    for key in ("loss", "theta", "z0"):
        assert relative_error(np.asarray(got[key]), reference[key]) <= 1e-10, (name, rule, key)
    if rule != "BPTT":
        for key, value in reference["health"].items():
            assert abs(got["health"][key] - value) <= 1e-9 * max(1.0, abs(value)), (name, key)


def _available(name):
    module = generated(name, "numpy")
    methods = ["rk4"] + ["leapfrog"] * module._LEAPFROG_RULE
    return [(r, m) for r, m in RULES if m in methods and module.RULES.get(r, None) is None]


def _one_rule_each():
    """Every system with one of its rules, the rules taken in turn so that each is checked
    on several systems (compiling is the cost: one compilation per system and rule)."""
    cases, turn = [], 0
    for name in SYSTEMS:
        rules = _available(name)
        while RULES[turn % len(RULES)] not in rules:
            turn += 1
        cases.append((name, *RULES[turn % len(RULES)]))
        turn += 1
    return cases


@pytest.mark.slow
@pytest.mark.parametrize(("name", "rule", "method"), _one_rule_each())
def test_every_system_matches_numpy(name, rule, method):
    _compare(name, rule, method)


def test_simulate_matches_numpy_and_batches_like_vmap():
    module, reference = generated("pendulum", "jax"), generated("pendulum", "numpy")
    z0 = np.array([[0.3, 0.0], [1.0, -0.5], [-0.2, 0.4]])
    for method in ("rk4", "leapfrog", "implicit_midpoint"):
        got = module.simulate(z0, steps=30, method=method)
        assert relative_error(got, reference.simulate(z0, steps=30, method=method)) <= 1e-12
    one = jax.vmap(lambda z: module.loss(z, steps=30))(jax.numpy.asarray(z0))
    assert relative_error(one, module.loss(z0, steps=30)) <= 1e-14
    assert relative_error(module.loss(z0, steps=30), reference.loss(z0, steps=30)) <= 1e-12


def test_bad_input_and_refused_rules_say_what_to_do():
    module = generated("pendulum", "jax")
    with pytest.raises(ValueError, match="CIVP is not in the JAX backend"):
        module.gradient(rule="CIVP")
    with pytest.raises(ValueError, match="z0 has shape"):
        module.simulate([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="beta is"):
        module.gradient(beta=-1.0)
    with pytest.raises(module.IntegrationError, match="blew up"):
        module.simulate([1e200, 0.0], steps=5)


def test_bptt_agrees_with_torch_at_float64_dtype():
    assert generated("pendulum", "jax").simulate(steps=3).dtype == np.float64
    assert torch.get_default_dtype() == torch.float32  # the JAX switch leaves Torch alone


def test_glep_without_jax_imports_and_the_jax_modules_say_how_to_install():
    code = (
        "import sys; sys.modules['jax'] = None\n"
        "import glep\n"
        "from glep.generated import pendulum_numpy, pendulum_torch\n"
        "print(pendulum_numpy.simulate(steps=2).shape)\n"
        "try:\n"
        "    from glep.generated import pendulum_jax\n"
        "except ImportError as error:\n"
        "    print(error)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines() == ["(3, 2)",
                                       "glep's JAX modules need JAX: pip install 'glep[jax]'"]


@pytest.mark.slow
def test_a_batch_of_states_with_sampled_inputs_matches_numpy():
    rng = np.random.default_rng(0)
    module, reference = generated("oscillator_filter", "jax"), generated("oscillator_filter")
    z0 = 0.1 * rng.normal(size=(3, len(module.STATE)))
    options = {"rule": "HEL", "steps": 60, "beta": 1e-2,
               "inputs": rng.normal(size=(3, 21, len(module.INPUTS)))}
    got, expected = module.gradient(z0, **options), reference.gradient(z0, **options)
    for key in ("loss", "theta", "z0"):
        assert relative_error(np.asarray(got[key]), expected[key]) <= 1e-10, key
