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
