"""Binary synapses and binary neurons for layered energies (Laydevant et al. 2021).

``Energy(..., binary=[W1, W2, h])`` makes each listed weight matrix binary and each listed
state layer emit binary activations:

- **binary weights**: the energy uses ``α_W·W`` with ``W`` a matrix of signs ±1 and ``α_W``
  a scalar parameter per layer, named ``alpha_<W>`` (the substitution ``W → α_W·W`` is made in
  the energy before derivation, so ∂E/∂α_W and the EP estimates for α are derived like any
  parameter's). ``initial_params`` draws ``W`` as for a float layer, then sets
  ``α_W = mean|W|`` and ``W ← sign(W)``. The gradient the generated module returns for ``W``
  is dC/dW = α_W·dC/dW_eff, the direction the flip rule (:class:`glep.BinaryFlip`) follows;
  α_W and the biases take ordinary optimizer steps (or stay fixed).
- **binary activations**: a binary layer keeps a pre-activation ``s ∈ [0, 1]`` (the energy
  must box its states and be quadratic with Hessian blocks ``a·I``) but its neighbours and the
  parameter updates read ``H(s − ½)`` (a cost reads ``s``: keep output layers continuous).
  The relaxation is
  ``s ← Π(s − γ_n[a·s − I(H(s_±1))])``, i.e. with ``step = γ_n`` and ``a = 1``,
  ``s ← (1 − γ_n)s + γ_n·clip(W·H(s_+1) + W_−1ᵀ·H(s_−1) + b)`` (the paper's γ_n = 0.5:
  ``relaxation="gradient", step=0.5``); the EP estimates contrast ∂E/∂θ at the binary states.
  The dynamics have no energy gradient to differentiate, so implicit differentiation does
  not apply to these energies.

>>> import sympy as sp
>>> x, h = sp.MatrixSymbol("x", 3, 1), sp.MatrixSymbol("h", 2, 1)
>>> W = sp.MatrixSymbol("W", 2, 3)
>>> energy = binarize(h.T * h / 2 - h.T * W * x, [h], [W], [W])
>>> energy.expr, energy.scales
(-h.T*(alpha_W*W)*x + (1/2)*h.T*h, {W: alpha_W})
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from .errors import EnergyError


@dataclass(frozen=True)
class Binarized:
    """An energy expression with its binary weights scaled: ``scales`` maps each binary
    weight to its scale symbol α; ``layers`` are the states that emit binary activations."""

    expr: object
    scales: dict
    layers: tuple


def binarize(expr, states, params, binary) -> Binarized:
    """Substitute ``W → α_W·W`` for the binary weights among ``binary``; collect its states."""
    try:
        binary = tuple(binary)
    except TypeError:
        raise EnergyError(f"binary={binary!r}: give a list of weight matrices and state "
                          f"layers, e.g. binary=[W1, W2, h]") from None
    if binary and not all(isinstance(s, sp.MatrixSymbol) for s in states):
        raise EnergyError("binary=[...] applies to layered energies: declare the states as "
                          "sympy.MatrixSymbol layers")
    scales = {}
    for item in binary:
        if item in states:
            continue
        if item not in params or not isinstance(item, sp.MatrixSymbol) or 1 in item.shape:
            raise EnergyError(f"binary lists {item!r}, which is neither a declared weight matrix "
                              f"(params=, two dimensions > 1) nor a state layer (states=)")
        scales[item] = sp.Symbol(f"alpha_{item.name}")
    expr = sp.sympify(expr).subs({w: a * w for w, a in scales.items()})
    return Binarized(expr, scales, tuple(s for s in states if s in binary))


def constants(energy, model) -> dict:
    """The generated module's binary constants (none for an energy without ``binary``):
    ``_BINARY_SCALES`` (weight name → scale name) and ``_BINARY_UNITS`` (a 0/1 mask over
    the state units that emit binary activations, or None)."""
    scales = getattr(energy, "scales", {})
    layers = getattr(energy, "binary_layers", ())
    if not scales and not layers:
        return {}
    if layers and (model.box != (0.0, 1.0) or model.curvature is None):
        raise EnergyError("binary activations H(s − ½) need states boxed in (0, 1) and an energy "
                          "quadratic in each layer (Hessian blocks a·I): declare box=(0, 1)")
    units = [int(layer.symbol in layers) for layer in model.layers for _ in range(layer.size)]
    return {"_BINARY_SCALES": {w.name: a.name for w, a in scales.items()},
            "_BINARY_UNITS": units if layers else None}
