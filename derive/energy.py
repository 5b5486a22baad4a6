"""Static energies ``E(s, θ, x)``: declarations, and what relaxation and learning need.

THEORY.md §7: ``F = E + βC``, ``s^β = argmin_s F``, ``dC/dθ = d/dβ ∂_θE(s^β)`` at β = 0.

Two forms share one interface:

- **scalar**: states, parameters and inputs are plain Symbols; the energy is any smooth
  expression (derivatives are exact SymPy calculus, one symbol per unit);
- **layered**: every state, input and target is a column ``MatrixSymbol`` (a layer) and
  parameters are ``MatrixSymbol`` weights and biases; the energy is built from quadratic
  and bilinear forms (``h.T*W*x``...), the forms SymPy's matrix calculus differentiates
  reliably (NOTES.md). Layers are never unrolled into scalar symbols, so a 64-32-10 network
  derives as fast as a 3-2-1 one; tests check every matrix formula against autograd.

Each state is a *layer* (a scalar state is a layer of one unit). When the energy is
quadratic in each layer given the others, with a Hessian block ``a·I``, the exact
block-coordinate update of a layer is one Newton step, clipped to the box when declared:
``s_l ← clip(s_l − ∇_l F / a_l)``; when the layer graph (an edge per interacting pair) is
two-coloured, the asynchronous schedule (colour 0, then colour 1: "even" and "odd" layers,
whatever the declaration order) minimizes F exactly block by block.

>>> import sympy as sp
>>> s1, s2, w, x = sp.symbols("s1 s2 w x")
>>> energy = Energy(s1**2 / 2 + s2**2 / 2 - w * s1 * s2 - x * s1, states=[s1, s2],
...                 params=[w], inputs=[x], outputs=[s2])
>>> problem = EnergyProblem(energy, EnergyCost((s2 - sp.Symbol("y")) ** 2 / 2,
...                         targets=[sp.Symbol("y")]), params={w: 0.5}, inputs={x: 1.0},
...                         targets={sp.Symbol("y"): 0.2})
>>> model = problem.model
>>> model.gradient
(s1 - s2*w - x, -s1*w + s2)
>>> model.dtheta
(-s1*s2,)
>>> model.block_reason is None, model.curvature
(True, (1, 1))
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from functools import cached_property

import sympy as sp
from sympy.matrices.expressions.matexpr import MatrixExpr

from . import convolution
from .binary import binarize
from .errors import (
    CostError,
    EnergyError,
    OutputError,
    ParameterValueError,
    SignalError,
    UndeclaredSymbolError,
)
from .problem import ProblemBase
from .problem import finite_value as _finite
from .variables import check_unique, usable_name

Leaf = sp.Symbol | sp.MatrixSymbol
METHODS = ("gradient", "sync", "async")


def size_of(symbol) -> int:
    """Units of a layer: 1 for a Symbol, ``n`` for an ``n×1`` MatrixSymbol."""
    return 1 if isinstance(symbol, sp.Symbol) else int(symbol.shape[0])


def shape_of(symbol) -> tuple[int, ...]:
    """Array shape of a parameter: ``()``, ``(n,)`` for a column, ``(n, m)`` for a matrix."""
    if isinstance(symbol, sp.Symbol):
        return ()
    rows, cols = (int(d) for d in symbol.shape)
    return (rows,) if cols == 1 else (rows, cols)


def _leaves(items, what: str, layered: bool, column: bool) -> tuple:
    items = tuple(items)
    for item in items:
        if layered:
            ok = isinstance(item, sp.MatrixSymbol) and all(
                isinstance(d, (int, sp.Integer)) for d in item.shape
            ) and (not column or item.shape[1] == 1)
            hint = f"sympy.MatrixSymbol('{item}', n, 1)" if column else "a sympy.MatrixSymbol"
        else:
            ok = isinstance(item, sp.Symbol)
            hint = f"sympy.Symbol('{item}')"
        if not ok:
            form = "layered (MatrixSymbol states)" if layered else "scalar (Symbol states)"
            raise EnergyError(
                f"{what} {item!r} does not fit a {form} energy: declare it as {hint} "
                f"with integer dimensions, and do not mix Symbol and MatrixSymbol states"
            )
        if not usable_name(item.name):
            raise EnergyError(
                f"{what} name {item.name!r} cannot be used in generated code: rename it "
                f"(letters, digits and underscores, no leading underscore)"
            )
    return items


def _symbols_of(expr) -> set:
    if isinstance(expr, MatrixExpr) or expr.has(sp.MatrixSymbol):
        return set(expr.atoms(sp.MatrixSymbol)) | {
            s for s in expr.free_symbols if isinstance(s, sp.Symbol)
        }
    return set(expr.free_symbols)


def _scalar_form(expr, what: str, layered: bool):
    """The energy as SymPy differentiates it: a scalar (``Trace`` of a 1×1 form)."""
    expr = sp.sympify(expr)
    if isinstance(expr, MatrixExpr):
        if expr.shape != (1, 1):
            raise EnergyError(f"{what} has shape {expr.shape}: it must be a scalar (1×1) form")
        return sp.Trace(expr)
    if layered and not expr.has(sp.MatrixSymbol):
        raise EnergyError(f"{what} = {expr} uses no layer: write it with the MatrixSymbols")
    return expr


class Energy:
    """An energy ``E(s, θ, x)`` to minimize over the states ``s``.

    ``outputs`` are the states a cost reads (the output layer); ``box=(0, 1)`` clips every
    state to the box (hard sigmoid), making relaxation a projected minimization.
    ``binary=[W1, h]`` makes weight matrices ``α·sign`` and state layers binary neurons
    (:mod:`glep.derive.binary`).
    """

    def __init__(self, expr, states, params=(), inputs=(), outputs=(), box=None, binary=()):
        states = tuple(states)
        if not states:
            raise EnergyError("an energy needs at least one state: states=[s1, ...]")
        self.layered = isinstance(states[0], sp.MatrixSymbol)
        self.states = _leaves(states, "state", self.layered, True)
        self.params = _leaves(params, "parameter", self.layered, False)
        self.inputs = _leaves(inputs, "input", self.layered, True)
        self.expr = _scalar_form(expr, "the energy", self.layered)
        self.matrix_expr = sp.sympify(expr) if isinstance(expr, MatrixExpr) else None
        outputs = tuple(outputs)
        strangers = [o for o in outputs if o not in self.states]
        if strangers:
            raise OutputError(
                f"outputs {[str(o) for o in strangers]} are not among the states "
                f"{[str(s) for s in self.states]}: list output units in states=[...] too"
            )
        self.outputs = outputs
        declared = set(self.states) | set(self.params) | set(self.inputs)
        unknown = sorted(str(s) for s in _symbols_of(self.expr) - declared)
        if unknown:
            raise UndeclaredSymbolError(
                f"the energy contains {', '.join(unknown)}, declared nowhere: list them in "
                f"states=, params= or inputs= (or replace them by numbers)"
            )
        if box is not None:
            try:
                lo, hi = (float(b) for b in box)
            except (TypeError, ValueError):
                raise EnergyError(f"box={box!r}: give two numbers (low, high)") from None
            if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
                raise EnergyError(f"box={box!r}: give finite bounds with low < high")
            box = (lo, hi)
        self.box = box
        found = binarize(self.expr, self.states, self.params, binary)
        self.expr, self.scales, self.binary_layers = found.expr, found.scales, found.layers
        if self.matrix_expr is not None:
            self.matrix_expr = self.matrix_expr.subs({w: a * w for w, a in self.scales.items()})
        self.params += tuple(self.scales.values())
        check_unique([s.name for s in self.states + self.params + self.inputs],
                     "energy declaration")


class EnergyCost:
    """The cost ``C(s, y)`` of the relaxed state, compared with targets ``y``."""

    def __init__(self, expr, targets=()):
        self.expr = sp.sympify(expr)
        self.targets = tuple(targets)


@dataclass(frozen=True)
class Layer:
    """One block of the flat state (or input, target) vector."""

    symbol: Leaf
    name: str
    size: int
    offset: int


def _layers(symbols) -> tuple[Layer, ...]:
    out, offset = [], 0
    for s in symbols:
        out.append(Layer(s, s.name, size_of(s), offset))
        offset += size_of(s)
    return tuple(out)


def _flatten(value, size: int, what: str) -> list[list[float]]:
    """A signal value → batch rows of ``size`` floats (a number or a list for one unit)."""
    if isinstance(value, (numbers.Number, sp.Number)):
        rows = [[value]]
    else:
        value = list(value)
        if size == 1 and all(isinstance(v, (numbers.Number, sp.Number)) for v in value):
            rows = [[v] for v in value]
        elif all(isinstance(v, (numbers.Number, sp.Number)) for v in value):
            rows = [value]
        else:
            rows = [list(v) for v in value]
    for row in rows:
        if len(row) != size:
            raise SignalError(f"{what} has rows of {len(row)} values: give {size} per sample")
    return [[_finite(v, what, SignalError) for v in row] for row in rows]


def _signals(given, layers, what) -> list[list[float]]:
    given = {(k.name if hasattr(k, "name") else str(k)): v for k, v in dict(given or {}).items()}
    known = {layer.name for layer in layers}
    unknown = sorted(set(given) - known)
    if unknown:
        raise SignalError(f"{what}s gives values for {unknown}, which are not declared {what}s")
    missing = [layer.name for layer in layers if layer.name not in given]
    if missing:
        raise SignalError(f"no {what} value for {missing}: add it to {what}s={{...}}")
    blocks = [_flatten(given[layer.name], layer.size, f"{what} {layer.name}") for layer in layers]
    batch = max((len(b) for b in blocks), default=1)
    if any(len(b) not in (1, batch) for b in blocks):
        raise SignalError(f"{what}s have different batch sizes: give one row or {batch} rows")
    rows = []
    for i in range(batch):
        rows.append([v for b in blocks for v in b[i if len(b) > 1 else 0]])
    return rows


class EnergyProblem(ProblemBase):
    """An energy, a cost and the numbers needed to relax and learn.

    ``params`` maps each parameter to a number (scalar), a list (column) or nested lists
    (matrix); matrix parameters left out are drawn by the generated ``initial_params(seed)``
    (uniform in ±1/√fan-in). ``inputs``/``targets`` give one sample or a batch of rows.
    ``relaxation`` is the default method (``gradient``, ``sync`` or ``async``), ``step``
    the gradient-flow step, ``max_iterations`` the relaxation budget.
    """

    def __init__(self, energy: Energy, cost: EnergyCost | None = None, *, params=None,
                 inputs=None, targets=None, relaxation: str = "gradient", step: float = 0.5,
                 max_iterations: int = 100_000, seed: int = 0, name: str | None = None):
        if not isinstance(energy, Energy):
            raise EnergyError(f"energy is a {type(energy).__name__}: give a derive.Energy")
        self.energy = energy
        self.cost = cost
        self.name = name
        self.seed = int(seed)
        if relaxation not in METHODS:
            raise EnergyError(f"relaxation={relaxation!r}: choose from {METHODS}")
        self.relaxation = relaxation
        self.step = _finite(step, "step", EnergyError)
        if self.step <= 0:
            raise EnergyError(f"step={self.step}: give a positive gradient-flow step")
        self.max_iterations = int(max_iterations)
        self.targets = tuple(cost.targets) if cost is not None else ()
        _leaves(self.targets, "target", energy.layered, True)
        self.target_layers = _layers(self.targets)
        if cost is not None:
            cost_expr = _scalar_form(cost.expr, "the cost", energy.layered)
            allowed = set(energy.states) | set(self.targets)
            unknown = sorted(str(s) for s in _symbols_of(cost_expr) - allowed)
            if unknown:
                raise CostError(
                    f"the cost contains {', '.join(unknown)}: it may use the states and the "
                    f"declared targets only (parameters belong to the energy)"
                )
            self.cost_expr = cost_expr
        else:
            self.cost_expr = sp.S.Zero
        self.param_values = self._param_values(params or {})
        self.input_values = _signals(inputs, _layers(energy.inputs), "input")
        self.target_values = _signals(targets, self.target_layers, "target")

    def _param_values(self, values) -> dict[str, object]:
        by_name = {(k.name if hasattr(k, "name") else str(k)): v for k, v in dict(values).items()}
        known = {p.name: p for p in self.energy.params}
        unknown = sorted(set(by_name) - set(known))
        if unknown:
            raise ParameterValueError(
                f"params gives values for {unknown}, which are not parameters of the energy "
                f"(declared: {sorted(known)})"
            )
        out = {}
        for name, symbol in known.items():
            shape = shape_of(symbol)
            if name not in by_name:
                if not shape and symbol not in self.energy.scales.values():
                    raise ParameterValueError(
                        f"no value for parameter {name}: add it to params={{...}}"
                    )
                continue  # drawn by initial_params(seed) (a binary weight's scale: mean |W|)
            value = by_name[name]
            if not shape:
                out[name] = _finite(value, f"parameter {name}")
                continue
            rows = [list(r) if not isinstance(r, numbers.Number) else [r] for r in value]
            flat = [v for r in rows for v in r]
            count = math.prod(shape)
            if len(flat) != count:
                raise ParameterValueError(f"parameter {name} has {len(flat)} values: give "
                                          f"{count} for shape {shape}")
            flat = [_finite(v, f"parameter {name}") for v in flat]
            out[name] = flat if len(shape) == 1 else [
                flat[i * shape[1]:(i + 1) * shape[1]] for i in range(shape[0])
            ]
        return out

    @cached_property
    def model(self) -> EnergyModel:
        return EnergyModel.derive(self)


def _transpose(expr):
    return expr.T if isinstance(expr, MatrixExpr) else expr


def _is_zero(expr) -> bool:
    if isinstance(expr, MatrixExpr):
        return expr.is_ZeroMatrix or isinstance(expr, sp.ZeroMatrix)
    return expr == 0


def _diff(expr, variable):
    """``∂expr/∂variable``, zero where the variable does not occur (SymPy's matrix calculus
    leaves those unevaluated); matrix results in the standard (numerator) layout."""
    if variable not in _symbols_of(expr):
        return sp.S.Zero
    out = expr.diff(variable)
    if isinstance(out, MatrixExpr):
        out = out.doit()
    return out


def directional(expr, tangent: dict):
    """The derivative of a multilinear matrix expression along ``tangent`` (state →
    direction), by the product rule; ``None`` when it vanishes."""
    if isinstance(expr, sp.MatrixSymbol):
        return tangent.get(expr)
    if isinstance(expr, (sp.Transpose, sp.Trace)):
        inner = directional(expr.arg, tangent)
        return None if inner is None else type(expr)(inner)
    if isinstance(expr, sp.Mul) and expr.has(sp.MatrixSymbol):  # a scalar factor times a form
        terms = [sp.Mul(*expr.args[:i], d, *expr.args[i + 1:]) for i, d in
                 enumerate(directional(f, tangent) for f in expr.args) if d is not None]
        return sp.Add(*terms) if terms else None
    if isinstance(expr, sp.MatAdd):
        terms = [t for t in (directional(a, tangent) for a in expr.args) if t is not None]
        return sp.MatAdd(*terms).doit() if terms else None
    if isinstance(expr, sp.MatMul):
        terms = []
        for i, factor in enumerate(expr.args):
            if not isinstance(factor, MatrixExpr):
                continue
            d = directional(factor, tangent)
            if d is not None:
                terms.append(sp.MatMul(*expr.args[:i], d, *expr.args[i + 1:]).doit())
        return sp.MatAdd(*terms).doit() if terms else None
    if isinstance(expr, (sp.Identity, sp.ZeroMatrix)) or not isinstance(expr, MatrixExpr):
        return None
    if isinstance(expr, convolution.Operator):
        return expr.directional(tangent, directional)
    raise EnergyError(
        f"the layered form cannot differentiate {type(expr).__name__} ({expr}): write the "
        f"energy with sums, products and transposes of layers and weights"
    )


def _identity_coefficient(block):
    """``a`` when a Hessian block is ``a·I`` (``a`` free of states), else ``None``."""
    if isinstance(block, MatrixExpr):
        block = block.doit()
        if isinstance(block, sp.Identity):
            return sp.S.One
        if isinstance(block, sp.MatMul):
            matrices = [a for a in block.args if isinstance(a, MatrixExpr)]
            if len(matrices) == 1 and isinstance(matrices[0], sp.Identity):
                return sp.Mul(*[a for a in block.args if not isinstance(a, MatrixExpr)])
        return None
    return block


def layer_colours(count: int, hessian: dict) -> tuple[tuple[int, ...], tuple | None]:
    """A two-colouring of the layer graph (an edge per non-zero off-diagonal Hessian block),
    found breadth-first from each uncoloured layer in declaration order (colour 0 first), and
    ``None``; or, when an odd cycle forbids one, the declaration parity and an offending pair.
    Layers of one colour do not interact: updating a colour at a time is exact."""
    colours: list = [None] * count
    for root in range(count):
        if colours[root] is not None:
            continue
        colours[root], queue = 0, [root]
        for i in queue:
            for j in sorted(b for a, b in hessian if a == i and b != i):
                if colours[j] is None:
                    colours[j] = 1 - colours[i]
                    queue.append(j)
                elif colours[j] == colours[i]:
                    return tuple(k % 2 for k in range(count)), (i, j)
    return tuple(colours), None


@dataclass(frozen=True)
class EnergyModel:
    """Everything relaxation, the EP family and implicit differentiation print.

    Per-layer tuples follow ``layers``; ``hessian`` maps ``(l, m)`` to the non-zero block
    ``∂²E/∂s_l∂s_m`` (rows: layer l). ``dtheta_jvp`` is ``vᵀ ∂²E/∂s∂θ`` in the directions
    ``directions`` (one per layer), the contraction implicit differentiation needs.
    """

    layered: bool
    layers: tuple[Layer, ...]
    input_layers: tuple[Layer, ...]
    target_layers: tuple[Layer, ...]
    params: tuple
    outputs: tuple[int, ...]  # indices of output layers
    box: tuple[float, float] | None
    energy: object
    gradient: tuple
    hessian: dict
    dtheta: tuple
    directions: tuple
    dtheta_jvp: tuple
    dx: tuple
    cost: object
    cost_gradient: tuple
    curvature: tuple | None  # a_l of E's diagonal blocks a_l·I (None: not block-exact)
    colours: tuple[int, ...]  # per layer: 0 or 1, no interacting pair alike (async schedule)
    cost_curvature: tuple | None  # the same for the cost
    block_reason: str | None
    cost_reads: tuple[str, ...]  # states the cost depends on
    reads: dict[str, list[str]]

    @property
    def n(self) -> int:
        return sum(layer.size for layer in self.layers)

    @classmethod
    def derive(cls, problem: EnergyProblem) -> EnergyModel:
        energy = problem.energy
        states = energy.states
        features = convolution.stand_ins(energy.expr) if energy.layered else {}
        E = energy.expr.xreplace({f: u for u, f in features.items()})
        cotangent = convolution.cotangents(E, features, _diff)

        def diff(expr, wrt):
            return convolution.chain(_diff(expr, wrt), cotangent, features, wrt)

        layers = _layers(states)
        gradient = tuple(diff(E, s) for s in states)
        hessian = {}
        for i, g in enumerate(_diff(E, s) for s in states):
            for j, s in enumerate(states):
                block = _diff(g, s)
                if not _is_zero(block):
                    hessian[(i, j)] = _transpose(block)
        convolution.couple(hessian, cotangent, features, states, _diff, _transpose)
        dtheta = tuple(diff(E, p) for p in energy.params)
        if energy.layered:
            directions = tuple(sp.MatrixSymbol(f"v_{s.name}", size_of(s), 1) for s in states)
            tangent = dict(zip(states, directions))
            tangent.update(convolution.tangents(features, tangent))
            jvp = []
            for d in dtheta:
                out = directional(d, tangent) if not _is_zero(d) else None
                jvp.append(sp.S.Zero if out is None else out)
            dtheta_jvp = tuple(jvp)
        else:
            directions = tuple(sp.Symbol(f"v_{s.name}") for s in states)
            dtheta_jvp = tuple(
                sp.Add(*[v * _diff(d, s) for v, s in zip(directions, states)])
                for d in dtheta
            )
        dx = tuple(diff(E, x) for x in energy.inputs)
        C = problem.cost_expr
        cost_gradient = tuple(_diff(C, s) for s in states)
        cost_states = _symbols_of(C) & set(states)
        reason = None
        curvature = []
        for i, s in enumerate(states):
            a = _identity_coefficient(hessian.get((i, i), sp.S.Zero))
            if a is None or a == 0 or _symbols_of(a) & set(states):
                reason = (f"the energy is not quadratic in layer {s.name} with a Hessian block "
                          f"a·I given its neighbours")
                break
            curvature.append(a)
        colours, clash = layer_colours(len(states), hessian)
        if reason is None and clash is not None:
            i, j = clash
            reason = (f"layers {states[i].name} and {states[j].name} interact within an odd "
                      f"cycle of the layer graph: no two-colouring makes even/odd updates exact")
        cost_curvature = []
        for i, s in enumerate(states):
            block = _diff(cost_gradient[i], s)
            a = _identity_coefficient(block) if not _is_zero(block) else sp.S.Zero
            if a is None or _symbols_of(a):
                cost_curvature = None
                break
            for j, other in enumerate(states):
                if j != i and not _is_zero(_diff(cost_gradient[i], other)):
                    cost_curvature = None
                    break
            if cost_curvature is None:
                break
            cost_curvature.append(a)

        def back(e):
            return convolution.restore(e, features)

        E = back(E)
        gradient, dtheta, dtheta_jvp, dx = (tuple(map(back, e))
                                            for e in (gradient, dtheta, dtheta_jvp, dx))
        hessian = {k: back(v) for k, v in hessian.items()}
        reads = {
            p.name: sorted(s.name for s in _symbols_of(d) - set(energy.params))
            for p, d in zip(energy.params, dtheta)
        }
        return cls(
            layered=energy.layered,
            layers=layers,
            input_layers=_layers(energy.inputs),
            target_layers=problem.target_layers,
            params=energy.params,
            outputs=tuple(states.index(o) for o in energy.outputs),
            box=energy.box,
            energy=E,
            gradient=gradient,
            hessian=hessian,
            dtheta=dtheta,
            directions=directions,
            dtheta_jvp=dtheta_jvp,
            dx=dx,
            cost=C,
            cost_gradient=cost_gradient,
            curvature=tuple(curvature) if reason is None else None,
            colours=colours,
            cost_curvature=tuple(cost_curvature) if cost_curvature is not None else None,
            block_reason=reason,
            cost_reads=tuple(s.name for s in states if s in cost_states),
            reads=reads,
        )
