"""NumPy expression printer: element-wise, broadcasting over leading (batch) axes.

>>> import sympy as sp
>>> q, k = sp.symbols("q k")
>>> NumPyPrinter().doprint(k * sp.sin(q) ** 2 / 2 + sp.sqrt(q))
'(1/2)*k*np.sin(q)**2 + np.sqrt(q)'
"""

from __future__ import annotations

from glep.codegen.printers import ArrayPrinter


class NumPyPrinter(ArrayPrinter):
    """Element-wise NumPy printer (``np.sin`` ...)."""

    module = "np"
