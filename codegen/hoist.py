"""Loop-invariant code motion: parameter-only subexpressions are computed once per run.

Inside an integrator the parameters do not change, so every maximal subexpression that
depends on the parameters alone (``1/m1``, ``c1/m1``, ``l1*l2*m2``...) is replaced by a
constant ``_cK``, computed once by the generated ``prepare(theta)``. Within a sum or a
product, the parameter-only factors are gathered into one constant.

>>> import sympy as sp
>>> q, m, k = sp.symbols("q m k")
>>> definitions, (body,) = hoist([[-k * q / m]], {m, k})
>>> definitions
[(_c0, -k/m)]
>>> body
[_c0*q]
>>> r = sp.Symbol("r")
>>> hoist([[k * (2 * q - 2 * r) / 2]], {k})[1]
[[_c0*(q - r)]]
"""

from __future__ import annotations

import sympy as sp

PREFIX = "_c"


def _pull_content(product: sp.Mul) -> sp.Expr:
    """``c*(2*q1 - 2*q2)/2`` → ``c*(q1 - q2)``: move each sum's rational content out."""
    coefficient, factors = sp.S.One, []
    for factor in product.args:
        if isinstance(factor, sp.Add):
            content, factor = factor.primitive()
            coefficient *= content
        factors.append(factor)
    return sp.Mul(coefficient, *factors) if coefficient != 1 else product


def hoist(functions, invariants, prefix: str = PREFIX):
    """Rewrite lists of expressions so that invariant subexpressions become constants.

    Returns ``(definitions, rewritten)``: ``definitions`` lists ``(constant, expression)``
    in order of first use; ``rewritten`` mirrors ``functions``.
    """
    invariants = set(invariants)
    table: dict[sp.Expr, sp.Symbol] = {}
    definitions: list[tuple[sp.Symbol, sp.Expr]] = []

    def constant(expr):
        if expr not in table:
            symbol = sp.Symbol(f"{prefix}{len(table)}")
            table[expr] = symbol
            definitions.append((symbol, expr))
        return table[expr]

    def invariant(expr) -> bool:
        free = expr.free_symbols
        return bool(free) and free <= invariants

    def walk(expr):
        if expr.is_Atom:
            return constant(expr) if expr in invariants else expr
        if invariant(expr):
            return constant(expr)
        if isinstance(expr, sp.Mul):
            expr = _pull_content(expr)
        if isinstance(expr, (sp.Add, sp.Mul)):
            fixed = [a for a in expr.args if invariant(a)]
            if fixed:  # numeric coefficients join the parameter-only group
                fixed += [a for a in expr.args if a.is_number]
            rest = [walk(a) for a in expr.args if a not in fixed]
            if fixed:
                rest.append(constant(expr.func(*fixed)))
            return expr.func(*rest)
        return expr.func(*(walk(a) for a in expr.args))

    rewritten = [[walk(sp.sympify(e)) for e in exprs] for exprs in functions]
    return definitions, rewritten
