"""Convolution and pooling in layered energies: the feature ``P(W ⋆ s)`` and its adjoints.

A layered energy couples two layers through a 2-D convolution followed by an optional
non-overlapping pooling, e.g. the deep convolutional Hopfield energy

    E = Σ_l ½‖s_l‖² − Σ_l ⟨s_(l+1), P(W_l ⋆ s_l)⟩ − Σ_l ⟨b_l, s_l⟩,

declared with :func:`conv`: ``- h.T * conv(W1, x, image=(1, 8, 8), kernel=3, padding=1,
pool="max")``. A layer ``s`` of ``C·H·W`` units is an image (C, H, W) in row-major order and
the weight ``W`` a ``(C_out, C·k·k)`` matrix (a ``(C_out, C, k, k)`` kernel). The map
``s ↦ P(W ⋆ s)`` is linear (no pooling, average pooling) or piecewise linear (max pooling,
linear between changes of the arg-max switches); the derivation never unrolls it:

- the energy is differentiated with each feature replaced by a stand-in symbol ``U`` (SymPy's
  matrix calculus), which must enter linearly: ``G = ∂E/∂U`` is free of the features;
- the chain rule then adds ``Jᵀ G`` to ``∂E/∂s`` (:class:`Adjoint`: unpooling with the
  switches, transposed convolution) and ``∂⟨G, P(W ⋆ s)⟩/∂W`` to ``∂E/∂W`` (:class:`WeightGrad`);
- the Hessian gains ``Jᵀ ∂G/∂s_j`` and its transpose (:class:`Jacobian`: ``J = ∂P(W⋆s)/∂s``
  at the current switches; the feature's own second derivative vanishes almost everywhere).

The nodes below are SymPy matrix expressions that the layered printer lowers to the backend's
convolution (``codegen/convolution.py``).
"""

from __future__ import annotations

from collections import namedtuple

import sympy as sp
from sympy.matrices.expressions.matexpr import MatrixExpr

from .errors import EnergyError

POOLS = {None: 0, "max": 1, "avg": 2}
Spec = namedtuple("Spec", "channels height width kernel stride padding pool size")


def spec_of(node) -> Spec:
    """The geometry of a convolution node (its last argument)."""
    return Spec(*(int(v) for v in node.args[-1]))


def geometry(spec: Spec) -> tuple[int, int, int, int]:
    """``(conv height, conv width, feature height, feature width)`` of a convolution."""
    conv_h = (spec.height + 2 * spec.padding - spec.kernel) // spec.stride + 1
    conv_w = (spec.width + 2 * spec.padding - spec.kernel) // spec.stride + 1
    size = spec.size if spec.pool else 1
    return conv_h, conv_w, conv_h // size, conv_w // size


class Operator(MatrixExpr):
    """A convolution node: arguments ``(W, s, ..., spec)``."""

    def __new__(cls, *args):
        return super().__new__(cls, *args)

    @property
    def weight(self):
        return self.args[0]

    @property
    def source(self):
        return self.args[1]

    def features(self) -> int:
        _, _, fh, fw = geometry(spec_of(self))
        return int(self.weight.shape[0]) * fh * fw

    def _feature_text(self, printer, layer) -> str:
        spec = spec_of(self)
        text = (f"conv({printer._print(self.weight)}, {printer._print(layer)}, "
                f"k={spec.kernel}, stride={spec.stride}, pad={spec.padding})")
        pool = {1: "maxpool", 2: "avgpool"}.get(spec.pool)
        return f"{pool}{spec.size}({text})" if pool else text

    def _sympystr(self, printer):
        g = printer._print(self.args[2]) if len(self.args) > 3 else ""
        return {Feature: "{f}", Adjoint: "J[{f}]ᵀ({g})", Jacobian: "J[{f}]",
                WeightGrad: "∂/∂W⟨{g}, {f}⟩"}[type(self)].format(
            f=self._feature_text(printer, self.args[3] if len(self.args) > 4 else self.source),
            g=g)


class Feature(Operator):
    """``P(W ⋆ s)``, a column of ``C_out·H'·W'`` units."""

    @property
    def shape(self):
        return (sp.Integer(self.features()), sp.Integer(1))

    def directional(self, tangent, along):
        ds = tangent.get(self.source)
        return None if ds is None else Jacobian(self.weight, self.source, self.args[-1]) * ds


class Adjoint(Operator):
    """``Jᵀ g``: ``g`` (a feature-sized column) unpooled with the switches of ``W ⋆ s`` and
    convolved back (transposed convolution); a column of ``s``'s size."""

    @property
    def shape(self):
        return self.source.shape

    def directional(self, tangent, along):
        dg = along(self.args[2], tangent)
        return None if dg is None else Adjoint(self.weight, self.source, dg, self.args[-1])


class WeightGrad(Operator):
    """``∂⟨g, P(W ⋆ v)⟩/∂W`` with the switches of ``W ⋆ s`` (arguments ``W, s, g, v``), per
    sample; ``W``'s shape."""

    @property
    def shape(self):
        return self.weight.shape

    def directional(self, tangent, along):
        w, s, g, v, spec = self.args
        terms = [WeightGrad(w, s, dg, v, spec) for dg in [along(g, tangent)] if dg is not None]
        terms += [WeightGrad(w, s, g, dv, spec) for dv in [tangent.get(v)] if dv is not None]
        return sp.MatAdd(*terms) if terms else None


class Jacobian(Operator):
    """``J = ∂P(W ⋆ s)/∂s`` at the switches of ``W ⋆ s``, per sample."""

    @property
    def shape(self):
        return (sp.Integer(self.features()), self.source.shape[0])

    def directional(self, tangent, along):
        return None  # piecewise constant in s


def conv(weight, layer, *, image, kernel, stride=1, padding=0, pool=None, pool_size=2):
    """The feature ``P(W ⋆ s)`` of ``layer`` (a column MatrixSymbol holding an ``image`` =
    (channels, height, width)) for a ``weight`` MatrixSymbol of shape (C_out, channels·k·k):
    ``kernel`` k, ``stride``, zero ``padding``, then ``pool`` (None, "max" or "avg") over
    non-overlapping ``pool_size``² windows."""
    if not (isinstance(layer, sp.MatrixSymbol) and layer.shape[1] == 1):
        raise EnergyError(f"conv: layer {layer!r} must be a column MatrixSymbol (a state or an "
                          f"input), e.g. sympy.MatrixSymbol('x', 64, 1)")
    try:
        channels, height, width = (int(v) for v in image)
        numbers = [int(v) for v in (kernel, stride, padding, pool_size)]
    except (TypeError, ValueError):
        raise EnergyError(f"conv: image={image!r}, kernel={kernel!r}, stride={stride!r}, "
                          f"padding={padding!r}, pool_size={pool_size!r}: give integers, image "
                          f"as (channels, height, width)") from None
    if min(channels, height, width, numbers[0], numbers[1], numbers[3]) < 1 or numbers[2] < 0:
        raise EnergyError(f"conv: image={image!r}, kernel, stride and pool_size must be >= 1 "
                          f"and padding >= 0")
    if channels * height * width != int(layer.shape[0]):
        raise EnergyError(f"conv: image={image!r} has {channels * height * width} units but "
                          f"layer {layer} has {layer.shape[0]}: give its (channels, height, width)")
    if pool not in POOLS:
        raise EnergyError(f"conv: pool={pool!r}: choose None, 'max' or 'avg'")
    spec = Spec(channels, height, width, *numbers[:3], POOLS[pool], numbers[3])
    taps = channels * numbers[0] ** 2
    if not (isinstance(weight, sp.MatrixSymbol) and weight.shape[1] == taps):
        raise EnergyError(f"conv: weight {weight!r} must be a MatrixSymbol of shape (C_out, "
                          f"{taps}) = (output channels, channels·kernel²)")
    conv_h, conv_w, _, _ = geometry(spec)
    if conv_h < 1 or conv_w < 1:
        raise EnergyError(f"conv: kernel={kernel} is larger than the padded {image!r} image: "
                          f"use a smaller kernel or more padding")
    if pool and (conv_h % spec.size or conv_w % spec.size):
        raise EnergyError(f"conv: the {conv_h}×{conv_w} convolution output does not split into "
                          f"pool_size={pool_size} windows: choose a pool_size dividing both")
    return Feature(weight, layer, sp.Tuple(*spec))


# -- the chain rule through the features ---------------------------------------------------


def stand_ins(expr) -> dict:
    """Stand-in symbol ``U`` → :class:`Feature` for every feature of ``expr``."""
    features = sorted(expr.atoms(Feature), key=sp.default_sort_key)
    return {sp.MatrixSymbol(f"_feature{k}", f.shape[0], 1): f for k, f in enumerate(features)}


def cotangents(energy, features, diff) -> dict:
    """``U → G = ∂E/∂U`` (a column), checked free of every feature."""
    out = {}
    for u, feature in features.items():
        g = diff(energy, u)
        if set(features) & g.atoms(sp.MatrixSymbol):
            raise EnergyError(f"the convolution feature {feature} enters the energy nonlinearly: "
                              f"couple it linearly to a layer, as - s.T * conv(...)")
        out[u] = g
    return out


def chain(base, cotangent: dict, features: dict, wrt):
    """``base`` (∂E'/∂wrt with the stand-ins) plus the features' chain-rule terms."""
    terms = [] if base == 0 else [base]
    for u, f in features.items():
        if f.source == wrt:
            terms.append(Adjoint(f.weight, f.source, cotangent[u], f.args[-1]))
        if f.weight == wrt:
            terms.append(WeightGrad(f.weight, f.source, cotangent[u], f.source, f.args[-1]))
    return sp.S.Zero if not terms else terms[0] if len(terms) == 1 else sp.MatAdd(*terms)


def couple(hessian: dict, cotangent: dict, features: dict, states, diff, transpose) -> None:
    """Add ``Jᵀ ∂G/∂s_j`` to the Hessian block (source, j) and its transpose to (j, source)."""
    for u, f in features.items():
        if f.source not in states:
            continue
        a = states.index(f.source)
        jac = Jacobian(f.weight, f.source, f.args[-1])
        for j, s in enumerate(states):
            d = diff(cotangent[u], s)
            if d == 0:
                continue
            block = (jac.T * transpose(d)).doit()
            for key, term in (((a, j), block), ((j, a), block.T.doit())):
                hessian[key] = term if key not in hessian else (hessian[key] + term).doit()


def tangents(features: dict, tangent: dict) -> dict:
    """The stand-ins' directions ``J ds`` along ``tangent``."""
    return {u: f.directional(tangent, None) for u, f in features.items()
            if f.source in tangent}


def restore(expr, features: dict):
    """``expr`` with the stand-ins replaced by their features."""
    back = {u: f for u, f in features.items()}
    return expr.xreplace(back) if features and isinstance(expr, sp.Basic) else expr
