"""The Equilibrium Propagation family as rule objects (THEORY.md §7).

Every algorithm contrasts two relaxed states A (nudging β_A) and B (β_B):
``ĝ = [∂_θE(B) − ∂_θE(A)] / (β_B − β_A)`` and ``Δθ = −η ĝ``. The rules differ in how the
two states are obtained: nudging the cost (EP), clamping the output (CL), or clamping the
output to a point nudged from the free output (coupled learning, CpL). Continual EP
updates the weights during the nudged phase; ff-EBM chains energy blocks by feedforward
maps: it is declared by a chain of blocks (:class:`glep.EnergyChain`), so it is
listed as unavailable for a single energy.

>>> import sympy as sp
>>> from glep.derive.energy import Energy, EnergyCost, EnergyProblem
>>> s, o, w, y = sp.symbols("s o w y")
>>> problem = EnergyProblem(Energy(s**2 / 2 + o**2 / 2 - w * s * o - s, [s, o], [w],
...                                outputs=[o]), EnergyCost((o - y) ** 2 / 2, [y]),
...                         params={w: 0.3}, targets={y: 1.0})
>>> rules = equilibrium_rules(problem)
>>> rules["C-EP"].practicality.bias_order, rules["C-EP"].practicality.passes
(2, 3)
>>> rules["C-EP"].contrast[w], rules["C-EP"].practicality.reads
(-o*s, {'w': ['o', 's']})
"""

from __future__ import annotations

from dataclasses import dataclass

from .energy import EnergyProblem
from .practicality import Practicality
from .rules import Phase

ENERGY_RULES = ("P-EP", "N-EP", "C-EP", "CL", "P-CpL", "N-CpL", "C-CpL", "continual-EP",
                "ff-EBM")
#: The seven contrastive algorithms of the comparative study.
CONTRASTIVE = ENERGY_RULES[:7]


@dataclass(frozen=True)
class EquilibriumRule:
    """An EP-family rule: its two contrasted states (phases), estimator and practicality."""

    name: str
    title: str
    phases: tuple[Phase, ...]
    first: tuple[str, str]  # (state A, β_A)
    second: tuple[str, str]  # (state B, β_B)
    estimator: str
    contrast: dict  # parameter → ∂E/∂θ, the quantity contrasted between A and B
    practicality: Practicality

    @property
    def available(self) -> bool:
        return self.practicality.available


def _relax(state: str, nudging: str, boundary: str = "from the free state") -> Phase:
    return Phase(state, "relaxation", boundary, nudging, "as given")


FREE = _relax("free", "none", "from rest")
PLUS = _relax("nudged +β", "+β C")
MINUS = _relax("nudged −β", "−β C")
CLAMPED = _relax("clamped", "output units held at y; hidden relaxed")
CPL_PLUS = _relax("clamped +β", "output held at o⋆ − β ∂C/∂o(o⋆); hidden relaxed")
CPL_MINUS = _relax("clamped −β", "output held at o⋆ + β ∂C/∂o(o⋆); hidden relaxed")

#: name → (title, phases, A, B, bias order, estimator)
_TABLE = {
    "P-EP": ("positive Equilibrium Propagation", (FREE, PLUS), ("free", "0"), ("s^+β", "+β"), 1,
             "exact gradient of the lower bound (𝓔(β) − 𝓔(0))/β ≤ C"),
    "N-EP": ("negative Equilibrium Propagation", (FREE, MINUS), ("s^−β", "−β"), ("free", "0"),
             1, "exact gradient of the upper bound (𝓔(0) − 𝓔(−β))/β ≥ C"),
    "C-EP": ("centered Equilibrium Propagation", (FREE, MINUS, PLUS), ("s^−β", "−β"),
             ("s^+β", "+β"), 2, "ĝ_C = ½(ĝ_P + ĝ_N)"),
    "CL": ("contrastive learning", (FREE, CLAMPED), ("free", "0"), ("clamped to y", "1"), None,
           "gradient of min_h E(h, y) − min E, not of C (O(1) bias)"),
    "P-CpL": ("positive coupled learning", (FREE, CPL_PLUS), ("free", "0"),
              ("clamped +β", "+β"), None, "β → 0: J_oᵀ S c, the gradient J_oᵀ c only if S = I"),
    "N-CpL": ("negative coupled learning", (FREE, CPL_MINUS), ("clamped −β", "−β"),
              ("free", "0"), None, "β → 0: J_oᵀ S c, the gradient J_oᵀ c only if S = I"),
    "C-CpL": ("centered coupled learning", (FREE, CPL_MINUS, CPL_PLUS), ("clamped −β", "−β"),
              ("clamped +β", "+β"), None, "β → 0: J_oᵀ S c, the gradient J_oᵀ c only if S = I"),
}


def availability(problem: EnergyProblem) -> dict[str, str | None]:
    """Rule → ``None`` if it applies to ``problem``, else the reason why not."""
    model = problem.model
    general = None if problem.cost is not None else (
        "the problem declares no cost: add cost=EnergyCost(...)")
    reasons: dict[str, str | None] = dict.fromkeys(ENERGY_RULES, general)
    output_names = {model.layers[i].name for i in model.outputs}
    clamp = None
    if not model.outputs:
        clamp = "no outputs declared: give Energy(..., outputs=[...]) to clamp them"
    elif set(model.cost_reads) - output_names:
        others = sorted(set(model.cost_reads) - output_names)
        clamp = (f"the cost depends on non-output states {others}: clamping the outputs "
                 f"cannot nudge them; declare them as outputs or use EP")
    for rule in ("P-CpL", "N-CpL", "C-CpL"):
        reasons[rule] = reasons[rule] or clamp
    target_size = sum(layer.size for layer in model.target_layers)
    output_size = sum(model.layers[i].size for i in model.outputs)
    cl = clamp or (None if target_size == output_size else
                   f"CL clamps the outputs to the targets, but there are {output_size} output "
                   f"units and {target_size} target values")
    reasons["CL"] = reasons["CL"] or cl
    reasons["ff-EBM"] = reasons["ff-EBM"] or (
        "a single energy block: ff-EBM needs a chain of energy blocks joined by feedforward "
        "maps, declared with glep.EnergyChain (with one block it is C-EP)")
    return reasons


def _contrast(problem: EnergyProblem) -> dict:
    return dict(zip(problem.energy.params, problem.model.dtheta))


def _practicality(reason, passes, bias, reads, why="", **flags) -> Practicality:
    fields = dict(forward_only=True, same_system=True, needs_jacobian=False, needs_bvp=False,
                  local=True)
    fields.update(flags)
    return Practicality(available=reason is None, passes=passes, memory="O(1)",
                        bias_order=bias, reason=reason or why, reads=reads, **fields)


def equilibrium_rules(problem: EnergyProblem) -> dict[str, EquilibriumRule]:
    """The rule objects of every EP-family algorithm for an energy problem."""
    reasons = availability(problem)
    contrast = _contrast(problem)
    reads = problem.model.reads
    rules = {}
    for name, (title, phases, first, second, bias, note) in _TABLE.items():
        estimator = (f"ĝ = [∂θE({second[0]}) − ∂θE({first[0]})] / ({second[1]} − "
                     f"({first[1]})); {note}")
        why = "" if bias is not None else note
        rules[name] = EquilibriumRule(
            name, title, phases, first, second, estimator, contrast,
            _practicality(reasons[name], len(phases), bias, reads, why),
        )
    rules["continual-EP"] = EquilibriumRule(
        "continual-EP", "continual Equilibrium Propagation (weights move during the nudged phase)",
        (FREE, _relax("nudged +β", "+β C; θ updated at every step")),
        ("s_t", "0"), ("s_{t+1}", "+β"),
        "θ_{t+1} = θ_t − (η/β)[∂θE(s_{t+1}, θ_t) − ∂θE(s_t, θ_t)]; Σ_t Δθ_t = −η ĝ_P + O(η²K/β)",
        contrast,
        _practicality(reasons["continual-EP"], 2, 1, reads),
    )
    rules["ff-EBM"] = EquilibriumRule(
        "ff-EBM", "feedforward-tied energy-based model", (FREE, MINUS, PLUS),
        ("s_k^−β", "−β"), ("s_k^+β", "+β"),
        "C-EP inside each block, nudged by the next block's error; dC/dx_k backpropagated "
        "through the feedforward maps",
        contrast,
        _practicality(reasons["ff-EBM"], 3, 2, reads, same_system=False, local=False),
    )
    return rules
