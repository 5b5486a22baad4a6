"""One kind of problem: the services the engine needs of it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Kind:
    """What the engine needs of one kind of problem.

    ``render(problem, backend, source, command)`` is the module's source text;
    ``describe(problem, latex)`` and ``rules_text(problem, latex)`` the text of
    ``glep derive`` and ``glep rules``; ``rules(problem)`` maps each rule's name to its
    derived rule (with a ``practicality`` report).
    """

    name: str
    problem: type
    title: str
    render: Callable
    describe: Callable
    rules: Callable
    rules_text: Callable


def yes(flag) -> str:
    return "yes" if flag else "no"


def _bias(p) -> str:
    """The bias column: the order k of O(β^k), 0 if exact, "none" if not a gradient."""
    return "none" if p.bias_order is None else str(p.bias_order)


def practicality_table(rules, *, width: int, memory: int, bvp: bool) -> list[str]:
    """The practicality rows of ``glep rules``: one per rule, columns of ``Practicality``
    (``memory`` characters of the memory column, cut when ``bvp`` is shown; the bias
    column is the order k of an O(β^k) bias, 0 for exact, "none" for a rule that does not
    estimate the gradient)."""
    out = [f"  {'rule':<{width}} {'avail':<6} {'fwd-only':<9} {'same-sys':<9} {'passes':<7} "
           f"{'memory':<{memory}} {'jacobian':<9} " + (f"{'bvp':<5} " if bvp else "")
           + f"{'local':<6} {'bias':<5} practical"]
    for rule in rules.values():
        p = rule.practicality
        mem = p.memory[:memory] if bvp else p.memory
        out.append(f"  {rule.name:<{width}} {yes(p.available):<6} {yes(p.forward_only):<9} "
                   f"{yes(p.same_system):<9} {p.passes:<7} {mem:<{memory}} "
                   f"{yes(p.needs_jacobian):<9} " + (f"{yes(p.needs_bvp):<5} " if bvp else "")
                   + f"{yes(p.local):<6} {_bias(p):<5} {yes(p.practical)}")
    return out
