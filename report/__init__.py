"""``glep report``: one self-contained HTML page per system — the declaration and derivation
typeset as MathML, every learning rule with its practicality, the numerical check with its
plots, and optionally a training run — viewable offline (no script, no network request).

The page reads what ``glep derive``, ``glep rules`` and ``glep check`` compute; it derives
and checks nothing of its own.
"""

from __future__ import annotations

from glep.codegen.kinds import kind_of

from . import check, derivation, rules, run
from .page import page


def sections_of(problem) -> list:
    """The declaration and derivation sections of ``problem``, by kind (a kind without its
    own typesetting shows the text of ``glep derive``)."""
    kind = kind_of(problem).name
    if kind == "hssm":
        return derivation.hru(problem.unit, problem)
    typeset = {"continuous": derivation.continuous, "energy": derivation.energy,
               "chain": derivation.chain, "hru": derivation.hru,
               "feedforward": derivation.feedforward, "vector_field": derivation.vector_field}
    return typeset.get(kind, derivation.generic)(problem)


def build(problem, report: dict, *, source: str, steps: int | None = None,
          run_dir=None) -> str:
    """The HTML page of ``problem``: ``report`` is its ``glep check --json`` object, ``source``
    names the system file, ``steps`` the integration steps the check used (None: the file's),
    ``run_dir`` a ``glep train`` run directory to include."""
    sections = [*sections_of(problem), rules.section(problem),
                check.section(problem, report, steps)]
    if run_dir is not None:
        sections.append(run.section(run_dir, problem.name))
    kind = kind_of(problem)
    return page(f"{problem.name}: {kind.title}", f"glep report of {source}", sections)
