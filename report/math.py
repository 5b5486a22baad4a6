"""Equations as MathML (sympy's presentation printer), so that a browser typesets them with
no script and no network: ``q̇`` for a first time derivative, ``q`` for a coordinate ``q(t)``.

>>> import sympy as sp
>>> t = sp.Symbol("t")
>>> q = sp.Function("q")(t)
>>> html = equation(sp.Symbol("L"), q.diff(t) ** 2 / 2)
>>> html.startswith('<math display="block"') and "&#729;" in html
True
>>> presentation(sp.Symbol("p_theta1"))
'<msub><mi>p</mi><msub><mi>&#952;</mi><mi>1</mi></msub></msub>'
"""

from __future__ import annotations

import html

import sympy as sp
from sympy.core.function import AppliedUndef
from sympy.printing.conventions import split_super_sub
from sympy.printing.mathml import MathMLPresentationPrinter

#: Dots over a symbol for its first and second time derivative.
DOTS = {1: "&#729;", 2: "&#168;"}


class _Printer(MathMLPresentationPrinter):
    """Functions of one variable printed as their name; their first and second derivatives
    with respect to it as dotted names (Newton's notation, as in physics texts)."""

    def _name(self, function):
        return self._print(sp.Symbol(type(function).__name__))

    def _print_Symbol(self, sym, style="plain"):
        """A subscript that is itself a name with a subscript (``p_theta1``) printed as one:
        p with subscript θ₁."""
        name, supers, subs = split_super_sub(sym.name)
        if supers or len(subs) != 1 or split_super_sub(subs[0])[0] == subs[0]:
            return super()._print_Symbol(sym, style)
        node = self.dom.createElement("msub")
        node.appendChild(self._print(sp.Symbol(name)))
        node.appendChild(self._print(sp.Symbol(subs[0])))
        return node

    def _print_Function(self, e):
        if isinstance(e, AppliedUndef) and len(e.args) == 1 and e.args[0].is_Symbol:
            return self._name(e)
        return super()._print_Function(e)

    def _print_Derivative(self, e):
        f, counts = e.expr, e.variable_count
        if (isinstance(f, AppliedUndef) and len(f.args) == 1 and len(counts) == 1
                and counts[0][0] == f.args[0] and counts[0][1] in DOTS):
            over = self.dom.createElement("mover")
            over.setAttribute("accent", "true")
            over.appendChild(self._name(f))
            dot = self.dom.createElement("mo")
            dot.appendChild(self.dom.createTextNode(DOTS[counts[0][1]]))
            over.appendChild(dot)
            return over
        return super()._print_Derivative(e)


def presentation(expr) -> str:
    """The MathML (no ``<math>`` wrapper) of ``expr``; what sympy cannot print is shown as its
    text inside the formula."""
    try:
        text = _Printer().doprint(sp.sympify(expr))
    except (TypeError, ValueError, AttributeError, NotImplementedError, sp.SympifyError):
        text = f"<mtext>{html.escape(str(expr))}</mtext>"
    return text.replace("&dd;", "d")


def block(*parts: str) -> str:
    """``parts`` (MathML fragments) in one displayed formula."""
    return f'<math display="block"><mrow>{"".join(parts)}</mrow></math>'


def relation(lhs, rhs, symbol: str = "=") -> str:
    """``lhs symbol rhs`` as MathML fragments (``lhs`` may be a text label)."""
    left = presentation(lhs) if not isinstance(lhs, str) else f"<mi>{html.escape(lhs)}</mi>"
    return f"{left}<mo>{html.escape(symbol)}</mo>{presentation(rhs)}"


def equation(lhs, rhs, symbol: str = "=") -> str:
    """One displayed equation ``lhs = rhs``."""
    return block(relation(lhs, rhs, symbol))


def formula(expr) -> str:
    """One displayed expression."""
    return block(presentation(expr))


def inline(expr) -> str:
    """An expression inside a sentence or a table cell."""
    return f"<math><mrow>{presentation(expr)}</mrow></math>"
