"""The JAX modules' printed kernels: their outputs stacked in groups of at most 8 hold the
same values as one ``jnp.stack``, and a kernel with more than 8 outputs compiles into one
fused loop (XLA:CPU leaves a concatenate of more than 8 operands unfused: one call per
output, the cost that made the compiled learning rules slow)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from tests.conftest import generated

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
jnp = jax.numpy
runtime = pytest.importorskip("glep.generated._runtime_jax")


@pytest.mark.parametrize("count", [1, 7, 8, 9, 16, 17, 64, 65, 100])
@pytest.mark.parametrize("batch", [(), (2, 1), (3,)])
def test_stacked_outputs_equal_one_stack(count, batch):
    rng = np.random.default_rng(count)
    items = [rng.normal(size=batch) for _ in range(count)]
    ref = jnp.zeros(batch)
    got = runtime._stack([jnp.asarray(v) for v in items], ref)
    assert got.shape == (*batch, count)
    np.testing.assert_array_equal(np.asarray(got), np.stack(items, axis=-1))


def test_stack_of_python_numbers_broadcasts_to_the_reference():
    got = runtime._stack([0, 1.5, *range(10)], jnp.zeros((2, 3)))
    assert got.shape == (2, 3, 12) and got.dtype == jnp.float64
    np.testing.assert_array_equal(np.asarray(got[1, 2]), [0, 1.5, *range(10)])


def _unfused_concatenates(fn, *args):
    """Concatenates in the compiled program's entry computation (outside any fusion)."""
    text = jax.jit(fn).lower(*args).compile().as_text()
    entry = text[text.index("\nENTRY"):]
    return len(re.findall(r"= \S+ concatenate\(", entry[:entry.index("\n}")]))


def test_a_kernel_with_many_outputs_compiles_into_fused_loops():
    module = generated("coupled_oscillators", "jax")  # 12 outputs, 17 for ∂H̃/∂θ
    c = module.prepare(jnp.asarray(module.PARAM_VALUES))
    z = jnp.full((2, 12), 0.1)
    x, y, b = jnp.ones(1), jnp.ones(1), jnp.asarray([[1e-4], [-1e-4]])

    def echo_integrand(z):
        field = module._nudged_field(0.0, z, c, x, y, b)
        return jnp.concatenate([field, module._dH_dtheta(0.0, z, c, x)], -1)

    assert _unfused_concatenates(echo_integrand, z) == 0
    def plain(z):  # one jnp.stack of 12: left unfused
        return jnp.stack([z[..., i] * z[..., 0] for i in range(12)], -1)

    assert _unfused_concatenates(plain, z) == 1
