"""ff-EBM chains (:class:`glep.EnergyChain`): emitted modules.

Each block is printed as an energy (:mod:`codegen.energy`): its primitives become functions
with a block prefix (``block1_energy_dx``...) and its constants and primitives a record
that the runtime's ``EnergySystem`` relaxes and nudges (``BLOCKS[k]``). The chain on top,
the runtime's ``FFEBM``, gives ``forward``, ``loss``, the ff-EBM ``gradient`` (C-EP per
block, chained backwards through the feedforward maps) and, for Torch,
``implicit_gradient`` (autograd through the relaxed chain, each fixed point differentiated
implicitly).

>>> from glep.derive.systemfile import load_problem
>>> from pathlib import Path
>>> chain = load_problem(Path(__file__).parent.parent / "systems" / "ff_ebm.py")
>>> from glep.codegen.emit import load_module
>>> module = load_module(chain, "numpy")
>>> sorted(module.gradient(module.initial_params(), beta=1e-3)["grad"]) == sorted(module.PARAMS)
True
"""

from __future__ import annotations

import sympy as sp

from glep.derive.chain import EnergyChain

from .energy import (
    RUNTIME_NAMES,
    _rows,
    _shape,
    constants,
    energy_text,
    functions,
    header,
    literal,
    render,
)
from .templating import LINE_LIMIT


def context(chain: EnergyChain, backend: str, source: str, command: str | None) -> dict:
    blocks = []
    for k, problem in enumerate(chain.block_problems(), 1):
        record = {name: literal(value, 4, LINE_LIMIT - len(name) - 4)
                  for name, value in constants(problem).items()}
        blocks.append({"index": k, "energy_text": energy_text(problem.energy),
                       "record": record, "functions": functions(problem.model, backend)})
    shapes = {p.name: _shape(p) for m in chain.maps for p in m.params}
    values = {name: ([v for r in value for v in r] if len(shapes[name]) == 1 else value)
              for name, value in chain.map_values.items()}
    first, last = chain.block_problems()[0], chain.block_problems()[-1]
    items = [
        ("PARAMS", tuple(p.name for p in chain.params)),
        ("MAPS", tuple({"weight": m.weight.name if m.weight is not None else None,
                        "bias": m.bias.name if m.bias is not None else None}
                       for m in chain.maps)),
        ("DEFAULT_INPUTS", _rows(first.input_values)),
        ("DEFAULT_TARGETS", _rows(last.target_values)),
        ("SEED", chain.seed),
        ("_MAP_VALUES", values),
        ("_MAP_SHAPES", shapes),
    ]
    return {
        **header(backend, source, command),
        "title": chain.name,
        "blocks": blocks,
        "maps": [chain.map_text(k) for k in range(len(chain.maps))],
        "cost_text": sp.sstr(chain.cost.expr),
        "constants": [(None, name, literal(value)) for name, value in items],
    }


def render_chain(chain: EnergyChain, backend: str, source: str,
                 command: str | None = None) -> str:
    """The generated module's source text for an ff-EBM chain."""
    return render("ffebm.py.jinja", backend, context(chain, backend, source, command),
                  RUNTIME_NAMES)
