"""Feedforward-tied energy-based models (ff-EBM, THEORY.md §7): energy blocks joined by
feedforward maps.

A chain ``x_1 = input``, ``s⋆_k = argmin_s E_k(s; θ_k, x_k)``, ``x_{k+1} = F_{k+1}(o⋆_k; ω_{k+1})``
(``o_k`` the output layer of block k), cost ``C(s⋆_K, y)`` on the last block. Learning runs
backwards over the blocks: centered EP inside block k, nudged by the real cost (last block)
or by the linearized cost ``δ_kᵀ o`` (the error signal of block k+1); the input gradient
``dC/dx_k ≈ [∂_xE_k(s^{+β}) − ∂_xE_k(s^{−β})]/(2β)`` is backpropagated through ``F_k`` to
``ω_k`` and to ``o_{k−1}`` (``δ_{k−1}``). One block (no maps) is centered EP exactly.

Maps are affine: ``F(o) = W o + b`` with a learnable weight ``W`` and bias ``b`` (either may
be left out; neither: the identity).

>>> import sympy as sp
>>> from glep.derive.energy import Energy, EnergyCost
>>> s, o, w, x, y = sp.symbols("s o w x y")
>>> block = Energy(s**2 / 2 + o**2 / 2 - w * s * o - x * s, [s, o], [w], [x], outputs=[o])
>>> chain = EnergyChain([block], [], EnergyCost((o - y) ** 2 / 2, [y]), params={w: 0.3},
...                     inputs={x: 1.0}, targets={y: 0.5}, name="one")
>>> [p.name for p in chain.block_problems()]
['one_block1']
>>> chain_rules(chain)["ff-EBM"].available, chain_rules(chain)["C-EP"].available
(True, False)
"""

from __future__ import annotations

from dataclasses import replace

import sympy as sp

from .energy import Energy, EnergyCost, EnergyProblem, _finite, size_of
from .equilibrium import ENERGY_RULES, EquilibriumRule, _relax
from .errors import EnergyError, ParameterValueError
from .practicality import Practicality
from .problem import ProblemBase
from .variables import check_unique, usable_name


class FeedForward:
    """An affine map ``x_{k+1} = W o_k + b`` between two blocks (``weight``/``bias``: a
    MatrixSymbol (layered) or Symbol (scalar), or None; both None: the identity)."""

    def __init__(self, weight=None, bias=None):
        self.weight = weight
        self.bias = bias

    @property
    def params(self) -> tuple:
        return tuple(p for p in (self.weight, self.bias) if p is not None)


def _one(items, what: str, k: int):
    if len(items) != 1:
        raise EnergyError(f"block {k} of an ff-EBM chain has {len(items)} {what} layers: give "
                          f"exactly one (the feedforward maps read and write one layer)")
    return items[0]


class EnergyChain(ProblemBase):
    """A chain of energy blocks joined by feedforward maps, with a cost on the last block.

    ``maps[k]`` feeds block k's output layer into block k+1's input layer (so
    ``len(maps) == len(blocks) − 1``). ``params``: values for every parameter (matrices
    left out are drawn by the generated ``initial_params(seed)``); ``inputs``: the first
    block's input; ``targets``: the cost's targets. ``relaxation``, ``step``,
    ``max_iterations`` apply to every block.
    """

    def __init__(self, blocks, maps, cost: EnergyCost, *, params=None, inputs=None,
                 targets=None, relaxation: str = "gradient", step: float = 0.5,
                 max_iterations: int = 100_000, seed: int = 0, name: str | None = None):
        blocks, maps = tuple(blocks), tuple(maps)
        if not blocks or not all(isinstance(b, Energy) for b in blocks):
            raise EnergyError("an ff-EBM chain needs blocks=[derive.Energy(...), ...]")
        if len(maps) != len(blocks) - 1 or not all(isinstance(m, FeedForward) for m in maps):
            raise EnergyError(f"{len(blocks)} blocks need {len(blocks) - 1} FeedForward maps "
                              f"(one between consecutive blocks), got {len(maps)}")
        if cost is None:
            raise EnergyError("an ff-EBM chain needs a cost on its last block")
        if len({b.layered for b in blocks}) != 1:
            raise EnergyError("mix of layered and scalar blocks: declare every block alike")
        self.layered = blocks[0].layered
        self.blocks, self.maps, self.cost = blocks, maps, cost
        self.name, self.seed = name, int(seed)
        ports = [(_one(b.inputs, "input", k + 1), _one(b.outputs, "output", k + 1))
                 for k, b in enumerate(blocks)]
        self.ports = ports
        for k, m in enumerate(maps):
            out, nxt = ports[k][1], ports[k + 1][0]
            for p in m.params:
                kind = sp.MatrixSymbol if self.layered else sp.Symbol
                if not isinstance(p, kind) or not usable_name(p.name):
                    raise EnergyError(f"map parameter {p!r}: declare it as a {kind.__name__} "
                                      f"with a usable name")
            w, b = m.weight, m.bias
            if self.layered:
                if w is not None and tuple(w.shape) != (size_of(nxt), size_of(out)):
                    raise EnergyError(f"map {k + 1} weight {w.name} has shape {w.shape}: "
                                      f"give ({size_of(nxt)}, {size_of(out)}) to map "
                                      f"{out.name} onto {nxt.name}")
                if w is None and size_of(nxt) != size_of(out):
                    raise EnergyError(f"identity map {k + 1}: {out.name} has {size_of(out)} "
                                      f"units but {nxt.name} has {size_of(nxt)}")
                if b is not None and tuple(b.shape) != (size_of(nxt), 1):
                    raise EnergyError(f"map {k + 1} bias {b.name} has shape {b.shape}: give "
                                      f"({size_of(nxt)}, 1)")
        names = [p.name for b in blocks for p in b.params] + [
            p.name for m in maps for p in m.params]
        check_unique(names, "ff-EBM chain parameters")
        params = {(k.name if hasattr(k, "name") else str(k)): v
                  for k, v in dict(params or {}).items()}
        unknown = sorted(set(params) - set(names))
        if unknown:
            raise ParameterValueError(f"params gives values for {unknown}, which are not "
                                      f"parameters of the chain (declared: {sorted(names)})")
        last = len(blocks) - 1
        self._problem_args = []
        for k, b in enumerate(blocks):
            own = {p.name: params[p.name] for p in b.params if p.name in params}
            x, _ = ports[k]
            zero = [0.0] * size_of(x)
            self._problem_args.append(dict(
                energy=b, cost=cost if k == last else None, params=own,
                inputs=inputs if k == 0 else {x: zero if size_of(x) > 1 else 0.0},
                targets=targets if k == last else None, relaxation=relaxation, step=step,
                max_iterations=max_iterations, seed=self.seed + k))
        self._problems = [EnergyProblem(a.pop("energy"), a.pop("cost"), **a)
                          for a in self._problem_args]
        self.map_values = {}
        for m in maps:
            for p in m.params:
                if p.name not in params:
                    if isinstance(p, sp.Symbol):
                        raise ParameterValueError(f"no value for map parameter {p.name}: add "
                                                  f"it to params={{...}}")
                    continue
                value = params[p.name]
                if isinstance(p, sp.Symbol):
                    self.map_values[p.name] = _finite(value, f"parameter {p.name}")
                else:
                    rows = [list(r) if not isinstance(r, (int, float)) else [r] for r in value]
                    self.map_values[p.name] = [[_finite(v, f"parameter {p.name}") for v in r]
                                               for r in rows]

    def map_text(self, k: int) -> str:
        """``x2 = V2·o1 + e2``: the map out of block ``k`` (0-based)."""
        m = self.maps[k]
        out, nxt = self.ports[k][1], self.ports[k + 1][0]
        parts = [f"{m.weight.name}·{out.name}" if m.weight is not None else out.name]
        if m.bias is not None:
            parts.append(m.bias.name)
        return f"{nxt.name} = {' + '.join(parts)}"

    def block_problems(self) -> list[EnergyProblem]:
        """One EnergyProblem per block (the last one carries the cost), named after the chain."""
        for k, problem in enumerate(self._problems):
            problem.name = f"{self.name or 'chain'}_block{k + 1}"
        return self._problems

    @property
    def params(self) -> tuple:
        return tuple(p for b in self.blocks for p in b.params) + tuple(
            p for m in self.maps for p in m.params)


def chain_rules(chain: EnergyChain) -> dict[str, EquilibriumRule]:
    """The rule objects for a chain: ff-EBM; the single-energy rules do not apply."""
    reads = {}
    for problem in chain.block_problems():
        reads.update(problem.model.reads)
    ports = chain.ports
    for k, m in enumerate(chain.maps):
        if m.weight is not None:
            reads[m.weight.name] = [ports[k][1].name, f"δ_{ports[k + 1][0].name}"]
        if m.bias is not None:
            reads[m.bias.name] = [f"δ_{ports[k + 1][0].name}"]
    why = ("an ff-EBM chain: the single-energy rules apply inside each block (ff-EBM runs "
           "C-EP there), not to the chain; use ff-EBM")
    rules = {}
    for name in ENERGY_RULES[:-1]:
        rules[name] = EquilibriumRule(
            name, name, (), ("—", "—"), ("—", "—"), "not applicable to a chain", {},
            Practicality(False, True, True, 0, "O(1)", False, False, True, 0, why, {}))
    contrast = {}
    for problem in chain.block_problems():
        contrast.update(zip(problem.energy.params, problem.model.dtheta))
    blocks = len(chain.blocks)
    rules["ff-EBM"] = EquilibriumRule(
        "ff-EBM", "feedforward-tied energy-based model",
        (_relax("free", "none; blocks relaxed in order, x_{k+1} = F_{k+1}(o⋆_k)", "from rest"),
         *(_relax(f"block {k} nudged {sign}β", f"{sign}β C" if k == blocks else
                  f"{sign}β δ_{k}ᵀo_{k} (error from block {k + 1})")
           for k in range(blocks, 0, -1) for sign in ("−", "+"))),
        ("s_k^−β", "−β"), ("s_k^+β", "+β"),
        "per block: ĝ_θk = [∂θE_k(s^+β) − ∂θE_k(s^−β)]/(2β); dC/dx_k = [∂xE_k(s^+β) − "
        "∂xE_k(s^−β)]/(2β), backpropagated through F_k to ω_k and δ_{k−1} = ∂F_k/∂o_{k−1}ᵀ "
        "dC/dx_k, the linearized cost of block k−1; bias O(β²) per block",
        contrast,
        Practicality(True, forward_only=True, same_system=False, passes=1 + 2 * blocks,
                     memory="O(1)", needs_jacobian=True, needs_bvp=False, local=False,
                     bias_order=2,
                     reason="the feedforward maps are differentiated (backpropagation "
                            "between blocks): C-EP inside each block, autograd through F_k",
                     reads=reads),
    )
    dtp_reads = dict(reads)
    for k, m in enumerate(chain.maps):
        for q in (m.weight, m.bias):
            if q is not None:
                dtp_reads[q.name] = [*([ports[k][1].name] if q is m.weight else []),
                                     ports[k + 1][0].name, f"t_{ports[k + 1][0].name}"]
    ff_ebm = rules["ff-EBM"]
    rules["EP+DTP"] = replace(
        ff_ebm, name="EP+DTP",
        title="ff-EBM with difference target propagation through the maps",
        estimator="per block: ĝ_θk as in ff-EBM; target of map k's output t_k = x_k − β "
        "dC/dx_k; difference target t_{k−1} = o_{k−1} + G_k(t_k) − G_k(x_k) through a learned "
        "feedback map G_k (L-DRL), δ_{k−1} = (o_{k−1} − t_{k−1})/β; map update ∇_ω "
        "½‖F_k(o_{k−1}) − t_k‖²/β; the gradient of C only when J_G = J_Fᵀ",
        practicality=replace(
            ff_ebm.practicality, needs_jacobian=False, local=True, bias_order=None,
            reason="no Jacobian of the maps: errors travel through learned feedback maps G_k "
                   "(trained by L-DRL), every map descends its own target loss; the "
                   "feedforward maps are separate devices from the blocks",
            reads=dtp_reads))
    return rules


__all__ = ["EnergyChain", "FeedForward", "chain_rules"]
