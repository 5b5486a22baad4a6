"""JAX expression printer: element-wise ``jax.numpy``, broadcasting over leading axes.

>>> import sympy as sp
>>> q, k = sp.symbols("q k")
>>> JaxPrinter().doprint(k * sp.atan2(q, k) + sp.sqrt(q))
'k*jnp.arctan2(q, k) + jnp.sqrt(q)'
"""

from __future__ import annotations

from glep.codegen.printers import ArrayPrinter


class JaxPrinter(ArrayPrinter):
    """Element-wise ``jax.numpy`` printer (``jnp.sin`` ...); NumPy's names throughout."""

    module = "jnp"
