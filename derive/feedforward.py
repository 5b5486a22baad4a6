"""Feedforward networks trained by difference target propagation with learned feedback
(DTP with the Local Difference Reconstruction Loss, L-DRL; Ernoult et al. 2022).

A network ``s_n = F_n(s_{n−1})``, ``n = 1 … N``, of dense and 2-D convolutional layers, each
followed by the declared activation (the last one is linear: its states are the logits of
the cost). Every layer but the first has a feedback layer ``G_n`` mapping ``s_n``'s space back
onto ``s_{n−1}``'s: its shapes are the forward layer's transposed (a dense ``V_n`` of shape
``(in, out)``, a transposed convolution with ``F_n``'s kernel, stride and padding) plus a
bias ``c_n``, with no activation: its Jacobian ``V_nᵀ`` can then equal ``J_Fᵀ`` wherever
layer n is linear (the logits) and its average over the data elsewhere, where an
activation after it would scale its rows by a factor F_n's Jacobian does not have. The
rules, with a cost ℓ per example:

    first target:  t_N = s_N − β ∂ℓ/∂s_N
    difference TP: t_{n−1} = s_{n−1} + G_n(t_n) − G_n(s_n)
    forward loss:  L_n^F = ½‖s_n − t_n‖²        (θ_n only: s_{n−1}, t_n held)
    L-DRL:         L_n^G = −2 (σε)ᵀ[G_n(F_n(s_{n−1} + σε)) − G_n(s_n)] + ‖G_n(s_n + ση) − G_n(s_n)‖²

E[L_n^G] ≈ σ²(‖J_G − J_Fᵀ‖²_F − ‖J_F‖²_F): trained feedback matches the transposed Jacobian,
and then ``t_n − s_n ≈ −β ∂L/∂s_n`` and ``∇_θ L_n^F ≈ β ∇_θ L``. ``BP`` is backpropagation
through the same network. Training is :mod:`glep.learn.dtp`.

>>> net = FeedforwardProblem([Conv2d(4, 3, stride=2, padding=1), Dense(10)], (1, 8, 8),
...                          name="demo")
>>> net.shapes, [p for p, _ in net.params]
([(1, 8, 8), (4, 4, 4), (10,)], ['W1', 'b1', 'W2', 'b2'])
>>> [p for p, _ in net.feedback_params], list(net.rules)
(['V2', 'c2'], ['DTP', 'BP'])
>>> FeedforwardProblem([Dense(3)], (4,), activation="cubic")
Traceback (most recent call last):
...
glep.derive.errors.KindError: FeedforwardProblem(activation='cubic'): choose one of tanh, \
elu, relu, sigmoid, identity
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .errors import KindError
from .practicality import Practicality
from .problem import ProblemBase

ACTIVATIONS = ("tanh", "elu", "relu", "sigmoid", "identity")
COSTS = ("cross_entropy", "squared_error")


def _whole(what: str, value, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise KindError(f"{what}={value!r}: give a whole number >= {low}")
    return value


@dataclass(frozen=True)
class Dense:
    """A dense layer with ``units`` outputs (its input is flattened)."""

    units: int

    def __post_init__(self):
        _whole("Dense(units)", self.units)

    def out_shape(self, shape: tuple) -> tuple:
        return (self.units,)

    def weight_shape(self, shape: tuple) -> tuple:
        return (self.units, math.prod(shape))

    def text(self, shape) -> str:
        return f"dense {math.prod(shape)} → {self.units}"


@dataclass(frozen=True)
class Conv2d:
    """A 2-D convolution with ``channels`` output channels, a square ``kernel``, ``stride``
    and zero ``padding``; its input has shape (channels, height, width)."""

    channels: int
    kernel: int
    stride: int = 1
    padding: int = 0

    def __post_init__(self):
        for what, low in (("channels", 1), ("kernel", 1), ("stride", 1), ("padding", 0)):
            _whole(f"Conv2d({what})", getattr(self, what), low)

    def out_shape(self, shape: tuple) -> tuple:
        if len(shape) != 3:
            raise KindError(f"Conv2d reads (channels, height, width), got a state of shape "
                            f"{shape}: put convolutions before dense layers")
        side = [(n + 2 * self.padding - self.kernel) // self.stride + 1 for n in shape[1:]]
        if min(side) < 1:
            raise KindError(f"Conv2d(kernel={self.kernel}) does not fit a {shape[1]}×{shape[2]} "
                            f"input: give a smaller kernel or more padding")
        return (self.channels, *side)

    def weight_shape(self, shape: tuple) -> tuple:
        return (self.channels, shape[0], self.kernel, self.kernel)

    def text(self, shape) -> str:
        return (f"conv {self.kernel}×{self.kernel} stride {self.stride} padding "
                f"{self.padding}: {shape} → {self.out_shape(shape)}")


@dataclass(frozen=True)
class FeedforwardRule:
    """A learning rule of a feedforward network: its name, practicality and equations."""

    name: str
    practicality: Practicality
    equations: tuple[str, ...]


class FeedforwardProblem(ProblemBase):
    """A feedforward network of ``layers`` (:class:`Dense`, :class:`Conv2d`) on inputs of
    ``input_shape`` (``(features,)`` or ``(channels, height, width)``), the hidden layers'
    ``activation``, a ``cost`` per example (``cross_entropy`` on the logits, or
    ``squared_error``), the L-DRL defaults: ``beta`` (first target), ``sigma`` (the noise of
    each feedback layer, one number or one per layer 2 … N), ``feedback_iterations`` per
    batch and ``feedback_lr``, and ``seed`` (initial weights)."""

    def __init__(self, layers, input_shape, *, activation: str = "tanh",
                 cost: str = "cross_entropy", beta: float = 0.7, sigma=0.1,
                 feedback_iterations: int = 20, feedback_lr: float = 0.05, seed: int = 0,
                 name: str | None = None):
        self.layers = tuple(layers)
        if not self.layers or not all(isinstance(x, Dense | Conv2d) for x in self.layers):
            raise KindError("FeedforwardProblem(layers=...): give a list of Dense(units) and "
                            "Conv2d(channels, kernel, stride, padding), the last one Dense")
        if not isinstance(self.layers[-1], Dense):
            raise KindError("FeedforwardProblem(layers=...): the last layer gives the logits: "
                            "make it Dense(classes)")
        shape = tuple(input_shape) if isinstance(input_shape, tuple | list) else (input_shape,)
        if len(shape) not in (1, 3):
            raise KindError(f"FeedforwardProblem(input_shape={input_shape!r}): give "
                            f"(features,) or (channels, height, width)")
        for n in shape:
            _whole("FeedforwardProblem(input_shape)", n)
        self.shapes = [shape]
        for layer in self.layers:
            self.shapes.append(layer.out_shape(self.shapes[-1]))
        for what, value, choices in (("activation", activation, ACTIVATIONS),
                                     ("cost", cost, COSTS)):
            if value not in choices:
                raise KindError(f"FeedforwardProblem({what}={value!r}): choose one of "
                                f"{', '.join(choices)}")
        self.activation, self.cost = activation, cost
        self.beta = _positive("beta", beta)
        count = len(self.layers) - 1
        sigmas = list(sigma) if isinstance(sigma, tuple | list) else [sigma] * count
        if len(sigmas) != count:
            raise KindError(f"FeedforwardProblem(sigma={sigma!r}): give one number or one per "
                            f"feedback layer ({count}: layers 2 … {len(self.layers)})")
        self.sigma = [_positive("sigma", s) for s in sigmas]
        self.feedback_iterations = _whole("FeedforwardProblem(feedback_iterations)",
                                          feedback_iterations, 0)
        self.feedback_lr = _positive("feedback_lr", feedback_lr)
        self.seed = _whole("FeedforwardProblem(seed)", seed, 0)
        self.name = name

    @property
    def params(self) -> list[tuple[str, tuple]]:
        """The forward parameters ``W_n, b_n`` and their shapes."""
        out = []
        for n, (layer, shape) in enumerate(zip(self.layers, self.shapes), start=1):
            weight = layer.weight_shape(shape)
            out += [(f"W{n}", weight), (f"b{n}", weight[:1])]
        return out

    @property
    def feedback_params(self) -> list[tuple[str, tuple]]:
        """The feedback parameters ``V_n`` (the shape of ``W_n``: read transposed) and
        ``c_n`` (the shape of ``s_{n−1}``'s channels or features), n = 2 … N."""
        out = []
        for n in range(2, len(self.layers) + 1):
            weight = self.layers[n - 1].weight_shape(self.shapes[n - 1])
            out += [(f"V{n}", weight), (f"c{n}", self.shapes[n - 1][:1])]
        return out

    @property
    def rules(self) -> dict[str, FeedforwardRule]:
        """DTP (L-DRL feedback, difference targets) and backpropagation."""
        reads = {f"W{n}": [f"s{n - 1}", f"s{n}", f"t{n}"] for n in range(1, len(self.layers) + 1)}
        dtp = Practicality(True, True, False, 1 + self.feedback_iterations, "O(1)", False,
                           False, True, 1,
                           "targets carried down by trained feedback layers (a second, "
                           "feedback network), updates local to each layer", reads)
        bp = Practicality(True, False, False, 2, "O(1)", True, False, False, 0,
                          "exact gradient through the transposed Jacobians of the network")
        return {"DTP": FeedforwardRule("DTP", dtp, (
            "t_N = s_N − β ∂ℓ/∂s_N", "t_{n−1} = s_{n−1} + G_n(t_n) − G_n(s_n)",
            "ΔW_n ∝ −∇_{W_n} ½‖F_n(s_{n−1}) − t_n‖²",
            "L_n^G = −2 (σε)ᵀ[G_n(F_n(s_{n−1} + σε)) − G_n(s_n)] + ‖G_n(s_n + ση) − G_n(s_n)‖²")),
            "BP": FeedforwardRule("BP", bp, ("ΔW_n ∝ −∂ℓ/∂W_n by the chain rule",))}

    def describe(self, latex: bool = False) -> str:
        """What ``glep derive`` prints: the layers, the feedback layers and their shapes."""
        lines = [f"{self.name}: feedforward network ({self.activation} hidden layers, "
                 f"{self.cost} cost on the logits)"]
        for n, (layer, shape) in enumerate(zip(self.layers, self.shapes), start=1):
            lines.append(f"  F{n}: {layer.text(shape)}   W{n} {layer.weight_shape(shape)}")
        for n in range(2, len(self.layers) + 1):
            kind = "dense" if isinstance(self.layers[n - 1], Dense) else "transposed conv"
            lines.append(f"  G{n}: {kind} {self.shapes[n]} → {self.shapes[n - 1]}   V{n} "
                         f"{self.layers[n - 1].weight_shape(self.shapes[n - 1])} read "
                         f"transposed, + c{n}")
        return "\n".join(lines)

    def rules_text(self, latex: bool = False) -> str:
        """What ``glep rules`` prints: every rule's equations and its defaults."""
        lines = [f"{self.name}: β = {self.beta:g}, σ = {', '.join(f'{s:g}' for s in self.sigma)}"
                 f", {self.feedback_iterations} feedback iterations per batch at rate "
                 f"{self.feedback_lr:g}"]
        return "\n".join(lines + rule_lines(self.rules))


def rule_lines(rules: dict) -> list[str]:
    """Each rule's equations and practicality, as ``glep rules`` prints them."""
    lines = []
    for rule in rules.values():
        lines += [f"{rule.name}:", *(f"  {e}" for e in rule.equations),
                  f"  practical: {'yes' if rule.practicality.practical else 'no'} "
                  f"({rule.practicality.reason})"]
    return lines


def _positive(what: str, value, owner: str = "FeedforwardProblem") -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not (ok and value > 0):
        raise KindError(f"{owner}({what}={value!r}): give a finite number > 0")
    return float(value)
