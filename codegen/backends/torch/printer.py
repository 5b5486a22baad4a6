"""PyTorch expression printer: element-wise, every symbol a tensor, sums of products fused
into ``torch.addcmul`` chains (small batches are kernel-launch bound).

>>> import sympy as sp
>>> q = sp.Symbol("q")
>>> TorchPrinter().doprint(sp.exp(-q) * sp.pi)
'3.141592653589793*torch.exp(-q)'
"""

from __future__ import annotations

from typing import ClassVar

import sympy as sp

from glep.codegen.printers import ArrayPrinter


class TorchPrinter(ArrayPrinter):
    """Element-wise Torch printer; every symbol is a tensor, constants are Python floats."""

    module = "torch"
    names: ClassVar[dict[str, str]] = {
        "asin": "asin",
        "acos": "acos",
        "atan": "atan",
        "asinh": "asinh",
        "acosh": "acosh",
        "atanh": "atanh",
        "atan2": "atan2",
    }


    def chain(self, expr):
        """The non-numeric terms, in the order the ``addcmul`` chain adds them."""
        return [t for t in self._as_ordered_terms(expr) if not t.is_number]

    def _print_Add(self, expr, order=None):
        """Sums of products as chains of fused ``torch.addcmul`` / ``torch.add(alpha=)``:
        one kernel launch per term instead of two (small batches are launch-bound)."""
        others = self.chain(expr)
        if len(others) < 2:
            return super()._print_Add(expr, order=order)
        out = self.print_sum(expr, len(others))
        numbers = [t for t in self._as_ordered_terms(expr, order=order) if t.is_number]
        if numbers:
            out = f"{out} + {self._print(sp.Add(*numbers))}"
        return out

    def _add(self, out, term):
        if out is None:
            return self._print(term)
        coefficient, factors = term.as_coeff_mul()
        coefficient *= sp.Mul(*[f for f in factors if f.is_number])
        factors = [f for f in factors if not f.is_number]
        scale = "" if coefficient == 1 else f", {{}}={float(coefficient)!r}"
        if len(factors) >= 2:
            first, rest = self._print(factors[0]), self._print(sp.Mul(*factors[1:]))
            return f"torch.addcmul({out}, {first}, {rest}{scale.format('value')})"
        return f"torch.add({out}, {self._print(factors[0])}{scale.format('alpha')})"
