"""Layered networks with distinct forward and backward weights: the vector-field setting of
scaled EP (Laborieux et al. 2021, "Scaling Equilibrium Propagation to deep ConvNets by
drastically reducing its gradient estimator bias", §3.3).

Layers ``s_0 = x`` (the input, clamped), ``s_1 … s_L`` (``s_L`` the output), every state in
the box [0, 1]. Layer l reads its lower neighbour through the forward weight ``W_l``
(``n_l × n_{l−1}``) and its upper neighbour through a separate backward weight ``B_l``
(``n_l × n_{l+1}``, l < L):

    a_l(s) = W_l s_{l−1} + B_l s_{l+1} + b_l          (no B_L s_{L+1} term for the output)
    F_l(s) = −s_l + a_l(s) − β ∂C/∂s_l                 the vector field, C = ½‖s_L − y‖²
    ṡ = Π(F(s)) on the box; its fixed points are s_l = ρ(a_l(s)) (free, β = 0), and
    s_L = ρ((a_L + β y)/(1 + β)) for the output under the nudge; ρ = clip(·, 0, 1).

When ``B_l = W_{l+1}ᵀ`` the field is ``−∂E/∂s − β ∂C/∂s`` of the layered Hopfield energy
E = ½Σ‖s_l‖² − Σ s_lᵀW_l s_{l−1} − Σ b_lᵀs_l (``systems/hopfield_digits.py``) and the
fixed point its box-constrained minimum; otherwise ``∂F/∂s`` is not symmetric and F is the
gradient of no energy. The relaxation is the paper's discrete-time dynamics
``s_l ← ρ(a_l(s))``, odd layers then even layers (one sweep), ``free_steps`` sweeps from
rest for the free phase and ``nudged_steps`` from the free state for each nudged phase.

Rules (:mod:`glep.learn.vector_field`):

- ``VF-EP``: the centered (±β) EP-like update read from the primitive function
  Φ = Σ s_lᵀW_l s_{l−1} + Σ s_lᵀB_l s_{l+1} + Σ b_lᵀs_l,
  ΔW_l = (1/2β)(s_l s_{l−1}ᵀ|^{+β} − s_l s_{l−1}ᵀ|^{−β}), Δb_l likewise with s_l,
  ΔB_l = (1/2β)(s_l s_{l+1}ᵀ|^{+β} − …|^{−β}) = ΔW_{l+1}ᵀ. Forward and backward weights get
  the same (transposed) update, and both decay at ``feedback_decay``: their mismatch
  B_l − W_{l+1}ᵀ then shrinks by (1 − η λ) per step (Kolen–Pollack), which is what makes
  the update approach the gradient; with B = Wᵀ it is C-EP of the energy above.
- ``BPTT``: the true gradient of C(s_L) at the end of the free phase, by autograd through
  the ``free_steps`` sweeps (the oracle the angle of VF-EP is measured against).

>>> net = VectorFieldProblem((64, 32, 10), name="demo")
>>> [p for p, _ in net.params], list(net.rules)
(['W1', 'b1', 'W2', 'b2', 'B1'], ['VF-EP', 'BPTT'])
>>> VectorFieldProblem((64,))
Traceback (most recent call last):
...
glep.derive.errors.KindError: VectorFieldProblem(layers=(64,)): give the sizes of the input, \
the hidden layers and the output, e.g. (64, 64, 10)
"""

from __future__ import annotations

import math

from .errors import KindError
from .feedforward import FeedforwardRule, _positive, _whole, rule_lines
from .practicality import Practicality
from .problem import ProblemBase


class VectorFieldProblem(ProblemBase):
    """A layered network of ``layers`` sizes ``(n_0, n_1, …, n_L)`` with forward weights
    ``W_l``, backward weights ``B_l`` and biases ``b_l``; ``beta`` (the nudge of VF-EP),
    ``free_steps`` and ``nudged_steps`` (sweeps of the relaxation), ``feedback_decay`` (λ,
    the weight decay of ``W_l`` and ``B_l`` under VF-EP) and ``seed`` (initial weights,
    uniform in ±1/√fan-in, ``B_l`` drawn independently of ``W_{l+1}``)."""

    def __init__(self, layers, *, beta: float = 0.2, free_steps: int = 30,
                 nudged_steps: int = 10, feedback_decay: float = 0.02, seed: int = 0,
                 name: str | None = None):
        layers = tuple(layers) if isinstance(layers, tuple | list) else (layers,)
        if len(layers) < 3:
            raise KindError(f"VectorFieldProblem(layers={layers!r}): give the sizes of the "
                            f"input, the hidden layers and the output, e.g. (64, 64, 10)")
        self.layers = tuple(_whole("VectorFieldProblem(layers)", n) for n in layers)
        self.beta = _positive("beta", beta, "VectorFieldProblem")
        self.free_steps = _whole("VectorFieldProblem(free_steps)", free_steps)
        self.nudged_steps = _whole("VectorFieldProblem(nudged_steps)", nudged_steps)
        if not (isinstance(feedback_decay, int | float) and not isinstance(feedback_decay, bool)
                and math.isfinite(feedback_decay) and feedback_decay >= 0):
            raise KindError(f"VectorFieldProblem(feedback_decay={feedback_decay!r}): give a "
                            f"finite number >= 0")
        self.feedback_decay = float(feedback_decay)
        self.seed = _whole("VectorFieldProblem(seed)", seed, 0)
        self.name = name

    @property
    def depth(self) -> int:
        return len(self.layers) - 1

    @property
    def params(self) -> list[tuple[str, tuple]]:
        """``W_l, b_l`` (l = 1 … L), then the backward weights ``B_l`` (l = 1 … L−1)."""
        n = self.layers
        out = []
        for k in range(1, self.depth + 1):
            out += [(f"W{k}", (n[k], n[k - 1])), (f"b{k}", (n[k],))]
        return out + [(f"B{k}", (n[k], n[k + 1])) for k in range(1, self.depth)]

    @property
    def rules(self) -> dict[str, FeedforwardRule]:
        """VF-EP (centered EP-like update, Kolen–Pollack feedback) and BPTT."""
        reads = {f"W{k}": [f"s{k - 1}", f"s{k}"] for k in range(1, self.depth + 1)}
        reads.update({f"B{k}": [f"s{k}", f"s{k + 1}"] for k in range(1, self.depth)})
        ep = Practicality(True, True, True, 3, "O(1)", False, False, True, None,
                          "free and ±β nudged relaxations of the same dynamics, updates "
                          "local to each synapse; a gradient estimate only as far as B "
                          "matches Wᵀ", reads)
        bptt = Practicality(True, False, False, 2, "O(T)", True, False, False, 0,
                            "exact gradient by backpropagation through the free sweeps")
        return {"VF-EP": FeedforwardRule("VF-EP", ep, (
            "s_l ← clip(W_l s_{l−1} + B_l s_{l+1} + b_l, 0, 1)",
            "ΔW_l = (1/2β)(s_l s_{l−1}ᵀ|^{+β} − s_l s_{l−1}ᵀ|^{−β}) − λ W_l",
            "ΔB_l = (1/2β)(s_l s_{l+1}ᵀ|^{+β} − s_l s_{l+1}ᵀ|^{−β}) − λ B_l",
            "Δb_l = (1/2β)(s_l|^{+β} − s_l|^{−β})")),
            "BPTT": FeedforwardRule("BPTT", bptt, (
                "ΔW ∝ −∂C(s_L^T)/∂W through the T free sweeps",))}

    def describe(self, latex: bool = False) -> str:
        """What ``glep derive`` prints: the layers, the field and the weights' shapes."""
        lines = [f"{self.name}: vector field with forward and backward weights, layers "
                 f"{' → '.join(map(str, self.layers))}, states in [0, 1]",
                 "  F_l(s) = −s_l + W_l s_{l−1} + B_l s_{l+1} + b_l − β ∂C/∂s_l,  "
                 "C = ½‖s_L − y‖²"]
        lines += [f"  {name} {shape}" for name, shape in self.params]
        return "\n".join(lines)

    def rules_text(self, latex: bool = False) -> str:
        """What ``glep rules`` prints: every rule's equations and its defaults."""
        lines = [f"{self.name}: β = {self.beta:g}, {self.free_steps} free and "
                 f"{self.nudged_steps} nudged sweeps, feedback decay λ = "
                 f"{self.feedback_decay:g}"]
        return "\n".join(lines + rule_lines(self.rules))

