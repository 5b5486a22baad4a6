"""ff-EBM chains (:class:`derive.chain.EnergyChain`): emitted modules, checks, ``glep`` handlers.

The chain module embeds each block's generated energy module (rendered by
:mod:`codegen.energy`) and adds the chain on top: ``forward``, ``loss``, the ff-EBM
``gradient`` (C-EP per block, chained backwards through the feedforward maps) and, for
Torch, ``implicit_gradient`` (autograd through the relaxed chain, each fixed point
differentiated implicitly).

>>> from glep.derive.systemfile import load_problem
>>> from pathlib import Path
>>> chain = load_problem(Path(__file__).parent.parent / "systems" / "ff_ebm.py")
>>> from glep.codegen.emit import load_module
>>> module = load_module(chain, "numpy")
>>> sorted(module.gradient(module.initial_params(), beta=1e-3)["grad"]) == sorted(module.PARAMS)
True
"""

from __future__ import annotations

import json

import sympy as sp

from glep.derive.chain import EnergyChain
from glep.derive.errors import CodegenError

from .backends import backend as backend_module
from .energy import _rows, render_energy
from .templating import environment

#: Where a generated energy module's runtime (relaxation, rules) starts.
_RUNTIME_MARKER = "\n# -- relaxation "


def _map_text(chain: EnergyChain, k: int) -> str:
    m = chain.maps[k]
    out, nxt = chain.ports[k][1], chain.ports[k + 1][0]
    parts = [f"{m.weight.name}·{out.name}" if m.weight is not None else out.name]
    if m.bias is not None:
        parts.append(m.bias.name)
    return f"{nxt.name} = {' + '.join(parts)}"


def _shape(symbol) -> tuple:
    if isinstance(symbol, sp.Symbol):
        return ()
    rows, cols = (int(d) for d in symbol.shape)
    return (rows,) if cols == 1 else (rows, cols)


def context(chain: EnergyChain, backend: str, source: str, command: str | None) -> dict:
    blocks, runtimes = [], []
    for problem in chain.block_problems():
        text = render_energy(problem, backend, source, command)
        if "'''" in text or text.endswith("\\"):
            raise CodegenError(f"block {problem.name} cannot be embedded in the chain module")
        # the block's own part (constants, primitives) and the runtime after it, which is
        # the same text for blocks of the same kind: embedded once, shared
        head, marker, runtime = text.partition(_RUNTIME_MARKER)
        if not marker:
            raise CodegenError(f"block {problem.name}: no {_RUNTIME_MARKER.strip()!r} section")
        if marker + runtime not in runtimes:
            runtimes.append(marker + runtime)
        energy = problem.energy
        blocks.append({"source": head, "runtime": runtimes.index(marker + runtime) + 1,
                       "energy_text": sp.sstr(
                           energy.matrix_expr if energy.matrix_expr is not None else energy.expr)})
    specs = [{"weight": m.weight.name if m.weight is not None else None,
              "bias": m.bias.name if m.bias is not None else None} for m in chain.maps]
    shapes = {p.name: _shape(p) for m in chain.maps for p in m.params}
    first = chain.block_problems()[0]
    last = chain.block_problems()[-1]
    values = {}
    for name, value in chain.map_values.items():
        shape = shapes[name]
        values[name] = ([v for r in value for v in r] if len(shape) == 1 else value)
    return {
        "title": chain.name,
        "backend": backend,
        "backend_title": backend_module(backend).TITLE,
        "source": source,
        "command": command or f"glep emit {source}",
        "blocks": blocks,
        "runtimes": runtimes,
        "maps": [{"text": _map_text(chain, k)} for k in range(len(chain.maps))],
        "cost_text": sp.sstr(chain.cost.expr),
        "params": "(" + "".join(f'"{p.name}", ' for p in chain.params).rstrip() + ")",
        "map_specs": "(" + "".join(
            "{" + ", ".join(f'"{k}": {json.dumps(v)}'.replace("null", "None")
                            for k, v in s.items()) + "}, " for s in specs).rstrip() + ")",
        "map_values": "{" + ", ".join(f'"{k}": {v!r}' for k, v in values.items()) + "}",
        "map_shapes": "{" + ", ".join(f'"{k}": {v!r}' for k, v in shapes.items()) + "}",
        "default_inputs": _rows(first.input_values),
        "default_targets": _rows(last.target_values),
        "seed": repr(chain.seed),
    }


def render_chain(chain: EnergyChain, backend: str, source: str,
                 command: str | None = None) -> str:
    """The generated module's source text for an ff-EBM chain."""
    template = environment(backend).get_template("ffebm.py.jinja")
    return template.render(**context(chain, backend, source, command))
