"""Hamiltonian Recurrent Units: the leapfrog map, the discrete echo and RHEL (THEORY.md §5).

An HRU is a separable vectorized Hamiltonian (:mod:`derive.vectorized`) stepped by
leapfrog, one input ``u_k`` per step (drift–kick–drift, time step δ):

    φ½ = φ + (δ/2) ∂T/∂π(π);   π' = π − δ ∂V/∂φ(φ½, θ, u_k);   φ' = φ½ + (δ/2) ∂T/∂π(π').

**Discrete echo.** Start from ``Σz Φ_K + β Σx g_K`` (momentum flipped, the cotangent of the
last output added to the momentum), run the same leapfrog with the inputs in reverse order,
and after the step that consumes ``u_k`` (which lands on the flip of ``Φ_{k−1}``) add
``β g_{k−1}`` to the momentum (no nudge after the last step). ``g_k`` is any given cotangent
sequence ``∂C/∂φ_k`` (the gradient of whatever follows the layer).

**Estimator (exact H½ form).** With ``H½`` the step's energy at its interior sub-states
(``∂V/∂θ`` at the half-step position, the mean of ``∂T/∂θ`` at the momenta before and after
the kick),

    dC/dθ   = −(δ/2β) Σ_steps [∇_θ H½(e(+β)) − ∇_θ H½(e(−β))]
    dC/du_k = −(δ/2β) [∇_u H½(e_k(+β)) − ∇_u H½(e_k(−β))]
    dC/dΦ_0 = Σx (e_K(+β) − e_K(−β)) / 2β

equal to BPTT through the same leapfrog as β → 0, exactly at every β for a quadratic H.

>>> import sympy as sp
>>> from glep.derive.vectorized import InputMatrix, VectorizedHamiltonian
>>> phi, pi, A = sp.symbols("phi pi A")
>>> B = InputMatrix("B")
>>> H = VectorizedHamiltonian(pi**2 / 2 + A * phi**2 / 2 - phi * B.drive, position=phi,
...                           momentum=pi, params=[A, B])
>>> unit = HRUProblem(H, name="demo")
>>> unit.leapfrog.new_position
dt*pi/2 + dt*(dt*(-A*(dt*pi/2 + phi) + B_u) + pi)/2 + phi
>>> unit.half_step_gradient
{A: phi_half**2/2, B: -phi_half}
>>> unit.rules["RHEL"].practicality.bias_order
0
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import sympy as sp

from .errors import VectorizedDeclarationError
from .practicality import Practicality
from .problem import ProblemBase
from .rules import Phase, Rule
from .vectorized import InputMatrix, VectorizedHamiltonian

#: The time step δ and the interior sub-states of one leapfrog step, as printed symbols.
DT = sp.Symbol("dt")
HALF_POSITION = sp.Symbol("phi_half")
NEW_MOMENTUM = sp.Symbol("pi_new")
RESERVED = frozenset({
    "dt", "phi_half", "pi_new", "u", "state", "beta", "torch", "np", "nn", "math", "warnings",
    "self", "ctx", "grad", "sign", "scale", "n_units", "n_inputs", "rule", "dtype",
})


@dataclass(frozen=True)
class Leapfrog:
    """One drift–kick–drift step of a separable H, as expressions of ``(φ, π, drives, δ)``."""

    half_position: sp.Expr
    new_momentum: sp.Expr
    new_position: sp.Expr


class HRUProblem(ProblemBase):
    """A Hamiltonian recurrent unit: a vectorized separable Hamiltonian plus defaults.

    ``init`` maps a vector parameter to the ``(low, high)`` range of its uniform
    initialization (default ``(0, 1)``); matrices start as N(0, 1/m). ``positive`` lists
    vector parameters that must stay positive (an HSSM reparametrizes them). ``settings``
    are the sizes of the reference problem used by ``glep check`` (``n_units``,
    ``n_inputs``, ``steps``, ``dt``, ``batch``).
    """

    def __init__(self, hamiltonian: VectorizedHamiltonian, *, name: str | None = None,
                 init=None, positive=(), settings=None):
        if not isinstance(hamiltonian, VectorizedHamiltonian):
            raise VectorizedDeclarationError(
                f"an HRU needs a derive.vectorized.VectorizedHamiltonian, got "
                f"{type(hamiltonian).__name__}"
            )
        self.hamiltonian = hamiltonian
        self.name = name
        clash = sorted(set(hamiltonian.symbol_names()) & RESERVED)
        if clash:
            raise VectorizedDeclarationError(
                f"names {clash} are reserved by the generated layer: rename them"
            )
        vector = set(hamiltonian.vector_params)
        self.init = {}
        for p, bounds in dict(init or {}).items():
            if p not in vector:
                raise VectorizedDeclarationError(
                    f"init gives a range for {p}, which is not a vector parameter "
                    f"(declared: {sorted(map(str, vector))})"
                )
            low, high = (float(v) for v in bounds)
            if not low <= high:
                raise VectorizedDeclarationError(f"init range of {p} is empty: ({low}, {high})")
            self.init[p] = (low, high)
        for p in hamiltonian.vector_params:
            self.init.setdefault(p, (0.0, 1.0))
        self.positive = tuple(positive)
        for p in self.positive:
            if p not in vector:
                raise VectorizedDeclarationError(f"positive lists {p}, not a vector parameter")
        defaults = {"n_units": 5, "n_inputs": 3, "steps": 60, "dt": 0.3, "batch": 2}
        defaults.update(settings or {})
        self.settings = defaults

    # -- the leapfrog map ----------------------------------------------------------------

    @cached_property
    def leapfrog(self) -> Leapfrog:
        h = self.hamiltonian
        phi, pi = h.position, h.momentum
        half = phi + DT / 2 * h.velocity
        kicked = pi + DT * h.force.xreplace({phi: half})
        new = half + DT / 2 * h.velocity.xreplace({pi: kicked})
        return Leapfrog(half, kicked, new)

    @cached_property
    def half_step_gradient(self) -> dict:
        """``∂H½/∂θ`` per parameter, over the interior sub-states ``phi_half``, ``pi`` (before
        the kick) and ``pi_new`` (after it). For a matrix ``B`` this is ``∂V/∂(Bu)_i``;
        the gradient is its outer product with ``u_k`` (and ``Bᵀ`` times it for ``u_k``)."""
        h = self.hamiltonian
        at_half = {h.position: HALF_POSITION}
        out = {}
        for p in h.params:
            key = p.symbol if isinstance(p, InputMatrix) else p
            value = h.potential_dparams[key].xreplace(at_half)
            if not isinstance(p, InputMatrix):
                kinetic = h.kinetic_dparams[p]
                value += (kinetic + kinetic.xreplace({h.momentum: NEW_MOMENTUM})) / 2
            out[key] = value
        return out

    @cached_property
    def post_step_gradient(self) -> dict:
        """``∂H/∂θ`` at the step's end state (φ', π'): only approximate, kept to show why
        the H½ form is needed (THEORY.md §5)."""
        h = self.hamiltonian
        out = {}
        for p in h.params:
            key = p.symbol if isinstance(p, InputMatrix) else p
            value = h.potential_dparams[key]
            if not isinstance(p, InputMatrix):
                value += h.kinetic_dparams[p]
            out[key] = value
        return out

    # -- rules -----------------------------------------------------------------------------

    def _reads(self) -> dict[str, list[str]]:
        h = self.hamiltonian
        reads = {}
        for key, expr in self.half_step_gradient.items():
            names = sorted(s.name for s in expr.free_symbols
                           if s not in set(h.vector_params))
            if any(key == m.symbol for m in h.matrices):
                names = sorted({*names, "u_j"})
            reads[str(key)] = [f"{n}_i" if n != "u_j" else n for n in names]
        return reads

    @cached_property
    def rules(self) -> dict[str, Rule]:
        """RHEL (the discrete echo) and BPTT through the same leapfrog, with practicality."""
        h = self.hamiltonian
        bias = 0 if h.is_quadratic else 2
        reads = self._reads()
        echo_phases = tuple(
            Phase(f"echo {sign}β", "forward (echo)", f"Σz Φ_K {sign} β Σx g_K (momentum flipped)",
                  f"{sign}β g_k added to the momentum after each step", "reversed in time")
            for sign in ("+", "−")
        )
        rhel = Rule(
            name="RHEL",
            title="Recurrent Hamiltonian Echo Learning (discrete echo, exact H½ estimator)",
            phases=(Phase("free", "forward", "Φ_0", "none"), *echo_phases),
            estimator={
                "centered": "dC/dθ = −(δ/2β) Σ_steps [∇θ H½(e(+β)) − ∇θ H½(e(−β))]",
                "inputs": "dC/du_k = −(δ/2β) [∇u H½(e_k(+β)) − ∇u H½(e_k(−β))]",
            },
            bulk=dict(self.half_step_gradient),
            residual={},
            initial_state_gradient={"dC/dΦ_0": "Σx (e_K(+β) − e_K(−β)) / 2β"},
            practicality=Practicality(
                available=True, forward_only=True, same_system=True, passes=3,
                memory="O(1) in K (no stored states)", needs_jacobian=False,
                needs_bvp=False, local=True, bias_order=bias,
                reason="" if bias == 0 else "bias O(β²): H is not quadratic",
                reads=reads,
            ),
        )
        bptt = Rule(
            name="BPTT",
            title="Backpropagation through time through the same leapfrog (reference)",
            phases=(Phase("free", "forward", "Φ_0", "none"),
                    Phase("adjoint", "backward (adjoint)", "λ_K = g_K", "g_k added", "stored")),
            estimator={"exact": "dC/dθ = Σ_k λ_kᵀ ∂Φ_k/∂θ (reverse-mode autodiff)"},
            bulk=dict(self.half_step_gradient),
            residual={},
            initial_state_gradient={"dC/dΦ_0": "λ_0"},
            practicality=Practicality(
                available=True, forward_only=False, same_system=False, passes=2,
                memory="O(K) (every state stored)", needs_jacobian=True, needs_bvp=False,
                local=False, bias_order=0,
                reason="runs a different (transposed, backward-in-time) system and stores "
                       "the whole trajectory",
                reads={k: ["every state of the trajectory"] for k in reads},
            ),
        )
        return {"RHEL": rhel, "BPTT": bptt}

    @property
    def default_beta(self) -> dict[str, float]:
        """β per compute dtype: the total nudge, for a cotangent sequence normalized to
        ``Σ_k ‖g_k‖ = 1``.

        An exact rule (quadratic H) has no bias, so β only trades round-off: the free
        trajectory's, divided by β in the centered difference, against that of ``∂θH`` at
        states of size β, and the echo's retrace error, which grows with β.
        ``bench/hru_beta.py`` measured float32 over β ∈ [0.1, 10⁴], three settings,
        K = 200 and 20 000: worst error 2.0e-2 at β = 1, 2.0e-4 at β = 100 (tied with
        300, whose retrace error is 2.4× larger). In float64 β = 1 is within 2e-11.
        An O(β²) rule balances bias against round-off (measured: n = 64, K = 1000, δ = 0.1).
        """
        if self.hamiltonian.is_quadratic:
            return {"float32": 100.0, "float64": 1.0}
        return {"float32": 2e-2, "float64": 1e-3}
