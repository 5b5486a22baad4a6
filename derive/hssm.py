"""Hamiltonian state-space models (HSSMs): a stack of Hamiltonian recurrent units (THEORY.md §5)
declared by its unit and its sizes.

An HSSM reads a sequence ``u`` of shape (length, channels): a linear encoder to ``hidden``
features, then ``blocks`` residual blocks, each LayerNorm → an HRU layer of ``units`` units
(the declared :class:`~glep.derive.hru.HRUProblem`, stepped by leapfrog with time step
``dt``) → a readout ``C φ + D ⊙ x`` → GELU → GLU → dropout, plus the block's input; then the
mean over time and a linear classifier (logits). The HRU layers learn by RHEL (the discrete
echo) or BPTT, the unit's rules; the ordinary layers in between by backpropagation, with
the echo nudged by the gradient that reaches each HRU layer.

>>> import sympy as sp
>>> from glep.derive.vectorized import InputMatrix, VectorizedHamiltonian
>>> phi, pi, A = sp.symbols("phi pi A")
>>> B = InputMatrix("B")
>>> unit = HRUProblem(VectorizedHamiltonian(pi**2 / 2 + A * phi**2 / 2 - phi * B.drive,
...                                         position=phi, momentum=pi, params=[A, B]),
...                   name="demo", positive=[A])
>>> model = HSSMProblem(unit, hidden=16, units=8, dt=0.5)
>>> list(model.rules), model.bounds
(['RHEL', 'BPTT'], {'A': (0.001, 15.6)})
>>> HSSMProblem(unit, blocks=0)
Traceback (most recent call last):
...
glep.derive.errors.VectorizedDeclarationError: HSSMProblem(blocks=0): give a whole number >= 1
"""

from __future__ import annotations

import math
from functools import cached_property

import sympy as sp

from . import describe as text
from .errors import VectorizedDeclarationError
from .hru import HRUProblem
from .problem import ProblemBase

#: Lower bound kept on the unit's positive parameters while training.
POSITIVE_FLOOR = 1e-3
#: δ² k must stay below 4 for a leapfrog with stiffness k; the bound keeps a margin.
LEAPFROG_LIMIT = 3.9
DTYPES = ("float32", "float64")


def _whole(name: str, value, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise VectorizedDeclarationError(
            f"HSSMProblem({name}={value!r}): give a whole number >= {low}")
    return value


def _real(name: str, value, low: float, high: float = math.inf, low_open: bool = True,
          hint: str = "") -> float:
    number = value if isinstance(value, int | float) and not isinstance(value, bool) else None
    inside = number is not None and math.isfinite(number) and number < high and (
        number > low if low_open else number >= low)
    if not inside:
        bounds = f"{'(' if low_open else '['}{low:g}, {high:g})"
        raise VectorizedDeclarationError(
            f"HSSMProblem({name}={value!r}): give a finite number in {bounds}{hint}")
    return float(number)


class HSSMProblem(ProblemBase):
    """An HSSM over the recurrent unit ``unit`` (an :class:`HRUProblem`).

    ``hidden``: features between the blocks; ``units``: HRU units per layer; ``blocks``: HRU
    layers; ``dt``: their leapfrog time step; ``dropout``: after each block's GLU, in [0, 1);
    ``beta``: RHEL's nudging strength (``None``: the unit's default for ``dtype``);
    ``dtype``: ``"float32"`` or ``"float64"``. The unit's positive parameters are kept
    ≥ :data:`POSITIVE_FLOOR`, and a parameter that is the unit's stiffness ∂²V/∂φ² below
    3.9/δ² (a leapfrog is stable for δ² k < 4): :attr:`bounds`.
    """

    def __init__(self, unit: HRUProblem, *, hidden: int = 32, units: int = 32,
                 blocks: int = 2, dt: float = 0.5, dropout: float = 0.0,
                 beta: float | None = None, dtype: str = "float32", name: str | None = None):
        if not isinstance(unit, HRUProblem):
            raise VectorizedDeclarationError(
                f"HSSMProblem(unit=...): got a {type(unit).__name__}; give an HRUProblem, "
                f"e.g. glep.load_problem('systems/linear_hru.py')")
        self.unit = unit
        self.hidden = _whole("hidden", hidden, 1)
        self.units = _whole("units", units, 1)
        self.blocks = _whole("blocks", blocks, 1)
        self.dt = _real("dt", dt, 0.0)
        self.dropout = _real("dropout", dropout, 0.0, 1.0, low_open=False)
        self.beta = None if beta is None else _real("beta", beta, 0.0,
                                                    hint=" (or None: the unit's default)")
        if dtype not in DTYPES:
            raise VectorizedDeclarationError(
                f"HSSMProblem(dtype={dtype!r}): choose one of {', '.join(DTYPES)}")
        self.dtype = dtype
        if name is not None and not (isinstance(name, str) and name.isidentifier()):
            raise VectorizedDeclarationError(
                f"HSSMProblem(name={name!r}): give a Python identifier (letters, digits, "
                f"underscores) or None (the system file's name)")
        self.name = name
        starts = {str(p): bounds[1] for p, bounds in unit.init.items()}
        for param, (_, high) in self.bounds.items():
            if high is not None and starts.get(param, 0.0) > high:
                raise VectorizedDeclarationError(
                    f"HSSMProblem(dt={dt!r}): the unit's stiffness {param} starts up to "
                    f"{starts[param]:g} and the leapfrog needs dt² {param} < "
                    f"{LEAPFROG_LIMIT:g}: give dt < "
                    f"{math.sqrt(LEAPFROG_LIMIT / starts[param]):.3g}")

    @cached_property
    def bounds(self) -> dict[str, tuple[float | None, float | None]]:
        """Parameter name → ``(low, high)`` kept after every optimizer step (``None``: no
        bound): the unit's positive parameters, and its stiffness when that is one of them."""
        h = self.unit.hamiltonian
        stiffness = sp.diff(h.potential, h.position, 2)
        out = {str(p): (POSITIVE_FLOOR, None) for p in self.unit.positive}
        if stiffness in set(h.vector_params):
            low = out.get(str(stiffness), (None, None))[0]
            out[str(stiffness)] = (low, LEAPFROG_LIMIT / self.dt**2)
        return out

    @property
    def rules(self) -> dict:
        """The HRU layers' rules: RHEL and BPTT (:attr:`HRUProblem.rules`)."""
        return self.unit.rules

    def architecture(self) -> str:
        """The layers, one per line."""
        return "\n".join([
            f"  encoder: Linear(channels → {self.hidden})",
            f"  {self.blocks} × block: LayerNorm → {self.unit.name} layer ({self.units} units, "
            f"leapfrog dt = {self.dt:g}) → readout Cφ + D⊙x → GELU → GLU → dropout "
            f"{self.dropout:g} → + the block's input",
            f"  mean over time → classifier: Linear({self.hidden} → classes); {self.dtype}"])

    def describe(self, latex: bool = False) -> str:
        """What ``glep derive`` prints: the architecture, then the unit's derivation."""
        return (f"{self.name}: Hamiltonian state-space model\n{self.architecture()}\n\n"
                f"its recurrent unit, {text.hru(self.unit, latex)}")

    def rules_text(self, latex: bool = False) -> str:
        """What ``glep rules`` prints: the unit's RHEL and BPTT (the other layers
        backpropagate whatever gradient reaches them)."""
        return (f"{self.name}: the HRU layers learn by RHEL or BPTT (below); the encoder, "
                f"norms, readouts, GLUs and classifier by backpropagation, and each layer's "
                f"echo is nudged by the gradient reaching it\n\n"
                f"{text.hru_rules(self.unit, latex)}")
