"""The kinds of problems glep knows: one explicit table, no registration by import.

Each kind maps a problem class to what the rest of the engine needs of it: how it is
rendered into a module (its lowering to kernels and templates), what ``glep derive``
prints, and its learning rules (``glep rules``). Adding a kind is one module in this
folder and one row in :data:`KINDS` (see ``codegen/README.md``).

>>> from pathlib import Path
>>> from glep.derive.systemfile import load_problem
>>> kind_of(load_problem(Path(__file__).parents[2] / "systems" / "pendulum.py")).name
'continuous'
"""

from __future__ import annotations

from glep.derive.errors import DerivationError

from . import chain, continuous, energy, hru
from .kind import Kind

#: Every kind glep knows, searched in this order by :func:`kind_of`.
KINDS: tuple[Kind, ...] = (continuous.KIND, energy.KIND, chain.KIND, hru.KIND)


def kind_of(problem) -> Kind:
    """The kind of ``problem`` (the most derived class that has one)."""
    for cls in type(problem).__mro__:
        for kind in KINDS:
            if kind.problem is cls:
                return kind
    raise DerivationError(
        f"glep does not know problems of type {type(problem).__name__}: declare a "
        f"{', '.join(k.problem.__name__ for k in KINDS)}"
    )
