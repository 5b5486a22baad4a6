"""Hamiltonians over n identical units with vector and matrix parameters.

The mechanism is a **scalar per-unit template combined with linear maps**: the user writes
the energy of one unit ``i`` with plain scalar symbols (its position ``phi``, momentum
``pi``, one entry of each vector parameter ``A``, ``b``... and one entry ``(B u)_i`` of each
input drive), and the total Hamiltonian is the sum over units,

    H(φ, π, θ, u) = Σ_i h(φ_i, π_i, A_i, b_i, ..., (B u)_i).

Every derivative the learning rules need is a derivative of ``h`` with respect to one
*scalar* symbol, followed (for a matrix parameter or the input) by the chain rule through
the linear drive: ``∂H/∂B = (∂h/∂d) ⊗ u`` and ``∂H/∂u = Bᵀ (∂h/∂d)``. The derivation
therefore never unrolls into n scalar symbols, its cost does not depend on n, and the
printed code is element-wise over the unit axis plus one matrix product per drive.
(SymPy's own ``MatrixSymbol`` calculus is avoided: it silently mis-differentiates
Hadamard products, NOTES.md.)

>>> import sympy as sp
>>> phi, pi, A = sp.symbols("phi pi A")
>>> B = InputMatrix("B")
>>> H = VectorizedHamiltonian(pi**2 / 2 + A * phi**2 / 2 - phi * B.drive, position=phi,
...                           momentum=pi, params=[A, B])
>>> H.force, H.velocity
(-A*phi + B_u, pi)
>>> H.potential_dparams
{A: phi**2/2, B: -phi}
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import sympy as sp

from .errors import NotSeparableError, VectorizedDeclarationError
from .mechanics import gradient


class LogCosh(sp.Function):
    """``log cosh z``, printed in the numerically stable form
    ``|z| + log1p(exp(−2|z|)) − log 2`` (``cosh`` overflows for ``|z| > 710``).

    >>> z = sp.Symbol("z")
    >>> LogCosh(z).diff(z)
    tanh(z)
    >>> LogCosh(0)
    0
    """

    nargs = 1

    @classmethod
    def eval(cls, z):
        if z.is_zero:
            return sp.S.Zero
        if z.could_extract_minus_sign():
            return cls(-z)
        return None

    def fdiff(self, argindex=1):
        return sp.tanh(self.args[0])

    def _eval_rewrite_as_cosh(self, z, **kwargs):
        return sp.log(sp.cosh(z))

    def _eval_is_real(self):
        return self.args[0].is_real


@dataclass(frozen=True)
class InputMatrix:
    """A matrix parameter ``B`` of shape (n, m) that drives each unit by ``(B u)_i``.

    Write ``B.drive`` (a scalar symbol named ``B_u``) in the per-unit Hamiltonian wherever
    ``(B u)_i`` appears; it may enter non-linearly.
    """

    name: str

    @property
    def symbol(self) -> sp.Symbol:
        return sp.Symbol(self.name)

    @property
    def drive(self) -> sp.Symbol:
        return sp.Symbol(f"{self.name}_u")


class VectorizedHamiltonian:
    """``H = Σ_i h(φ_i, π_i, θ_i, (B u)_i)``, separable: ``h = T(π_i, θ) + V(φ_i, θ, drives)``.

    ``params`` lists the learnable parameters in the order a layer exposes them: scalar
    symbols are vector parameters (one value per unit, shape (n,)), :class:`InputMatrix`
    objects are matrix parameters (shape (n, m)).
    """

    def __init__(self, h, *, position: sp.Symbol, momentum: sp.Symbol, params):
        self.expr = sp.sympify(h)
        self.position, self.momentum = position, momentum
        self.params = tuple(params)
        for symbol, what in ((position, "position"), (momentum, "momentum")):
            if not isinstance(symbol, sp.Symbol):
                raise VectorizedDeclarationError(
                    f"the {what} {symbol!r} must be a plain sympy Symbol standing for one "
                    f"unit's {what}"
                )
        for p in self.params:
            if not isinstance(p, (sp.Symbol, InputMatrix)):
                raise VectorizedDeclarationError(
                    f"parameter {p!r} is a {type(p).__name__}: give a sympy Symbol (a vector "
                    f"parameter, one value per unit) or an InputMatrix"
                )
        self.vector_params = tuple(p for p in self.params if isinstance(p, sp.Symbol))
        self.matrices = tuple(p for p in self.params if isinstance(p, InputMatrix))
        self.drives = tuple(m.drive for m in self.matrices)
        names = [position.name, momentum.name, *(p.name for p in self.params),
                 *(d.name for d in self.drives)]
        clash = sorted({n for n in names if names.count(n) > 1})
        if clash:
            raise VectorizedDeclarationError(f"names {clash} are declared twice: rename them")
        known = {position, momentum, *self.vector_params, *self.drives}
        unknown = self.expr.free_symbols - known
        if unknown:
            raise VectorizedDeclarationError(
                f"the Hamiltonian contains {sorted(map(str, unknown))}, declared nowhere: "
                f"list vector parameters in params=[...], and write (B u)_i as B.drive"
            )
        self.kinetic, self.potential = self._split()

    def _split(self):
        terms = sp.Add.make_args(sp.expand(self.expr, deep=False, mul=True, power_base=False,
                                           power_exp=False, log=False, multinomial=True))
        kinetic = sp.Add(*[t for t in terms if self.momentum in t.free_symbols])
        potential = sp.Add(*[t for t in terms if self.momentum not in t.free_symbols])
        if kinetic.free_symbols & ({self.position} | set(self.drives)):
            raise NotSeparableError(
                f"the Hamiltonian does not split as T(π) + V(φ, u): the term {kinetic} couples "
                f"the momentum {self.momentum} to the position or the input; the leapfrog "
                f"(and hence the discrete echo) needs a separable H"
            )
        flipped = kinetic.xreplace({self.momentum: -self.momentum})
        if sp.simplify(flipped - kinetic) != 0:
            raise NotSeparableError(
                f"the kinetic energy {kinetic} is not even in {self.momentum}: the system is "
                f"not time-reversal invariant, so the echo cannot retrace it"
            )
        return kinetic, potential

    # -- per-unit derivatives (scalar symbols: cost independent of n) --------------------

    @cached_property
    def velocity(self) -> sp.Expr:
        """``∂T/∂π_i``: the drift."""
        return gradient(self.kinetic, [self.momentum])[0]

    @cached_property
    def force(self) -> sp.Expr:
        """``−∂V/∂φ_i``: the kick."""
        return -gradient(self.potential, [self.position])[0]

    @cached_property
    def drive_cotangents(self) -> tuple[sp.Expr, ...]:
        """``∂V/∂d_i`` per drive: ``∂H/∂B = (∂V/∂d) ⊗ u`` and ``∂H/∂u = Bᵀ ∂V/∂d``."""
        return tuple(gradient(self.potential, list(self.drives))) if self.drives else ()

    @cached_property
    def potential_dparams(self) -> dict:
        """``∂V/∂θ`` per parameter: per unit for vector parameters, ``∂V/∂d_i`` for a
        matrix (whose full gradient is that times ``u``)."""
        out = {}
        cotangents = dict(zip(self.matrices, self.drive_cotangents))
        for p in self.params:
            out[p.symbol if isinstance(p, InputMatrix) else p] = (
                cotangents[p] if isinstance(p, InputMatrix)
                else gradient(self.potential, [p])[0]
            )
        return out

    @cached_property
    def kinetic_dparams(self) -> dict:
        """``∂T/∂θ`` per vector parameter (matrices never enter T)."""
        return {p: gradient(self.kinetic, [p])[0] for p in self.vector_params}

    @cached_property
    def is_quadratic(self) -> bool:
        """H is a polynomial of degree ≤ 2 in (φ, π) with drives entering linearly (then
        the centered discrete echo is exact at every β)."""
        state = [self.position, self.momentum, *self.drives]
        if not self.expr.is_polynomial(*state):
            return False
        poly = sp.Poly(self.expr, self.position, self.momentum)
        if poly.total_degree() > 2:
            return False
        return all(sp.Poly(self.expr, d).degree() <= 1 for d in self.drives)

    def symbol_names(self) -> list[str]:
        """Every name generated code will use for a declared object."""
        return [self.position.name, self.momentum.name, *(p.name for p in self.params),
                *(d.name for d in self.drives)]
