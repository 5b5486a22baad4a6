"""The kinds of problems glep knows: one explicit table, no registration by import.

Each kind maps a problem class to what the rest of the engine needs of it: how it is
rendered into a module (its lowering to kernels and templates), what ``glep derive``
prints, and its learning rules (``glep rules``). Adding a kind is one row in
:data:`KINDS` (see ``codegen/README.md``).

>>> from pathlib import Path
>>> from glep.derive.systemfile import load_problem
>>> kind_of(load_problem(Path(__file__).parents[2] / "systems" / "pendulum.py")).name
'continuous'
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from glep.derive import describe
from glep.derive.chain import EnergyChain, chain_rules
from glep.derive.energy import EnergyProblem
from glep.derive.equilibrium import equilibrium_rules
from glep.derive.errors import DerivationError
from glep.derive.feedforward import FeedforwardProblem
from glep.derive.hru import HRUProblem
from glep.derive.hssm import HSSMProblem
from glep.derive.problem import Problem
from glep.derive.rules import derive_rules
from glep.derive.vector_field import VectorFieldProblem

from ..continuous import render_continuous
from ..energy import render_energy
from ..feedforward import render_feedforward
from ..ffebm import render_chain
from ..hru import render_hru
from ..vector_field import render_vector_field


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


def _hru_rules(problem: HRUProblem) -> dict:
    return problem.rules


#: Every kind glep knows, searched in this order by :func:`kind_of`.
KINDS: tuple[Kind, ...] = (
    Kind("continuous", Problem, "continuous system", render_continuous, describe.continuous,
         derive_rules, describe.continuous_rules),
    Kind("energy", EnergyProblem, "static energy", render_energy, describe.energy,
         equilibrium_rules, describe.energy_rules),
    Kind("chain", EnergyChain, "ff-EBM chain", render_chain, describe.ff_ebm, chain_rules,
         describe.ff_ebm_rules),
    Kind("hru", HRUProblem, "Hamiltonian recurrent unit", render_hru, describe.hru, _hru_rules,
         describe.hru_rules),
    Kind("hssm", HSSMProblem, "Hamiltonian state-space model", lambda p, *a: render_hru(p.unit, *a),
         HSSMProblem.describe, _hru_rules, HSSMProblem.rules_text),
    Kind("feedforward", FeedforwardProblem, "feedforward network", render_feedforward,
         FeedforwardProblem.describe, _hru_rules, FeedforwardProblem.rules_text),
    Kind("vector_field", VectorFieldProblem, "vector-field network", render_vector_field,
         VectorFieldProblem.describe, _hru_rules, VectorFieldProblem.rules_text),
)


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
