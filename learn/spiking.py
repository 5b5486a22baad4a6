"""EqSpike: equilibrium propagation with spiking neurons (docs/eqspike.md).

A runtime over a generated energy module (``glep.codegen.emit.load_module(problem)``) whose
energy is layered (``BLOCK_EXACT``: Hessian blocks a_l·I, no coupling inside a layer) and
whose states are boxed in [0, 1]. Every unit i has a membrane potential u_i and fires
(σ_i = 1) at most once per time step dt, at the rate ρ(u_i) = clip(u_i, 0, 1) per step:
integrate-and-fire (a phase φ_i gains ρ(u_i) per step and fires at 1, losing 1) or
Bernoulli (probability ρ(u_i) per step); an input x_k ∈ [0, 1] fires at the rate x_k. The
membrane integrates its neighbours' spikes:

    u ← u + dt·(v(σ) − u),   v_l(σ) = σ_l − ∂_l F(σ) / (a_l + β c_l),   F = E + βC,

v_l being the exact block update of layer l (it does not depend on layer l's own spikes), so
that in the mean the rates ρ(u) follow the relaxation of F and settle at its minimum in the
box. The synaptic traces T ← T + (dt/τ)(σ − T) (units and inputs) low-pass the spikes; the
weight update reads ∂E/∂θ at the traces (for a layered Hopfield energy: −T_i T_j, the
product of the pre- and post-synaptic traces) averaged over the second half of each phase:

    ĝ = [⟨∂θE(T)⟩_(β_b) − ⟨∂θE(T)⟩_(β_a)] / (β_b − β_a),

centered (β_a, β_b = −β, β) or positive (0, β), the two phases starting from the end of the
free phase and driven by the same noise (the same uniform numbers, or the same phases φ). Its
expectation tends to the rate-based EP estimate as dt → 0 (many spikes per phase) with the
phase long enough to settle.

>>> import glep
>>> from glep.codegen.emit import load_module
>>> module = load_module(glep.load_problem("systems/hopfield_digits.py"))
>>> out = gradient(module, module.initial_params(), beta=0.2, dt=0.1, duration=4.0)
>>> sorted(out["grad"]) == sorted(module.PARAMS) and out["spikes"] > 0
True
"""

from __future__ import annotations

import numpy as np

from glep.derive.errors import DataError, RuleError

#: Time step, phase duration and trace time constant, in membrane time constants.
DEFAULTS = {"dt": 0.05, "duration": 20.0, "tau": 1.0, "neuron": "integrate-and-fire"}
SIDES = {"centered": (-1, 1), "positive": (0, 1)}
NEURONS = ("integrate-and-fire", "bernoulli")


def check_energy(module) -> None:
    """Raise :class:`RuleError` unless ``module`` is a layered energy with states in [0, 1]."""
    if hasattr(module, "BLOCKS"):
        raise RuleError("EqSpike trains a single energy, not an ff-EBM chain: choose EP or BPTT")
    if not getattr(module, "BLOCK_EXACT", False):
        raise RuleError(f"EqSpike needs a layered energy (exact block updates): "
                        f"{getattr(module, 'BLOCK_REASON', None) or 'not a static energy'}")
    if tuple(module.BOX or ()) != (0.0, 1.0):
        raise RuleError(f"EqSpike needs states boxed in [0, 1] (firing probabilities per step), "
                        f"not {module.BOX}: declare the energy with box=(0, 1)")
    if module._COST_CURVATURE is None:
        raise RuleError("EqSpike needs a cost quadratic in each layer (Hessian c·I), "
                        "e.g. ½‖o − y‖²")


def check_options(dt, duration, tau) -> tuple[float, float, float]:
    """``dt`` in (0, 1], ``tau`` ≥ dt, ``duration`` of at least 4 steps; named errors."""
    values = []
    for name, value in (("dt", dt), ("duration", duration), ("tau", tau)):
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = float("nan")
        if isinstance(value, bool) or not (np.isfinite(number) and number > 0):
            raise DataError(f"spike {name}={value!r}: give a finite number > 0")
        values.append(number)
    dt, duration, tau = values
    if dt > 1:
        raise DataError(f"spike dt={dt:g}: at most 1 (the membrane time constant), e.g. 0.05")
    if tau < dt:
        raise DataError(f"spike tau={tau:g} is shorter than dt={dt:g}: give tau >= dt")
    if duration < 4 * dt:
        raise DataError(f"spike duration={duration:g}: at least 4 steps of dt={dt:g}")
    return dt, duration, tau


def check_inputs(module, x):
    """``x`` (default: the module's inputs) as a batch of firing probabilities in [0, 1]."""
    x = np.asarray(module.DEFAULT_INPUTS if x is None else x, dtype=np.float64)
    x = x[None] if x.ndim == 1 else x
    if not (np.isfinite(x).all() and x.min() >= 0 and x.max() <= 1):
        raise DataError("EqSpike inputs fire with probability x: give inputs in [0, 1] "
                        "(e.g. pixels divided by 255)")
    return x


def fan_out(module, theta) -> tuple[np.ndarray, np.ndarray]:
    """How many units each unit's and each input's spike reaches (its nonzero couplings)."""
    n, m = module.N, sum(module.INPUT_SIZES)
    hessian = module.energy_hessian(np.zeros((1, n)), theta, np.zeros((1, m)))[0]
    units = (hessian != 0).sum(0) - (np.diag(hessian) != 0)
    probe = np.eye(m)
    coupling = module.energy_gradient(np.zeros((m, n)), theta, probe) - module.energy_gradient(
        np.zeros((m, n)), theta, np.zeros((m, m)))
    return units.astype(np.float64), (coupling != 0).sum(1).astype(np.float64)


class Phase:
    """One phase of the spiking network at strength β: ``run`` advances the state
    ``(u, φ, T, φ_x, T_x)`` and returns the averages over the phase's second half."""

    def __init__(self, module, theta, x, y, beta, dt, duration, tau, fanout, neuron):
        if neuron not in NEURONS:
            raise DataError(f"neuron={neuron!r}: choose one of {', '.join(NEURONS)}")
        self.neuron, self.module, self.theta, self.x, self.y = neuron, module, theta, x, y
        self.beta = beta
        self.dt, self.steps, self.rate = dt, max(4, round(duration / dt)), dt / tau
        curvature = module.layer_curvature(theta)
        if beta != 0:
            curvature = curvature + beta * np.asarray(module._COST_CURVATURE)
        if not (curvature > 0).all():
            raise ArithmeticError("a layer's curvature a_l + βc_l is not positive: reduce |β|")
        self.curvature, self.fanout = curvature, fanout
        #: ∂θE is read every `every` steps of the window (the traces vary on the scale τ)
        self.every = max(1, int(tau / (4 * dt)))

    def run(self, state, seed, record=True, forced=None):
        """``forced``: spike trains ``(units, inputs)`` of shapes (steps, batch, ·) to read
        instead of the neurons' own (a probe of the update, e.g. the STDP window)."""
        m, theta, x = self.module, self.theta, self.x
        u, phase, trace, xphase, xtrace = (a.copy() for a in state)
        rng = np.random.default_rng(seed) if self.neuron == "bernoulli" else None
        half, dtheta, count = self.steps // 2, None, 0
        rates, potentials = np.zeros_like(u), np.zeros_like(u)
        spikes, events = 0.0, 0.0
        for k in range(self.steps):
            if forced is not None:
                s, sx = forced[0][k], forced[1][k]
            elif rng is None:  # integrate-and-fire: the phase gains ρ per step, fires at 1
                phase += np.clip(u, 0.0, 1.0)
                xphase += x
                s, sx = (phase >= 1).astype(np.float64), (xphase >= 1).astype(np.float64)
                phase -= s
                xphase -= sx
            else:
                s = (rng.random(u.shape) < u).astype(np.float64)
                sx = (rng.random(x.shape) < x).astype(np.float64)
            drive = s - m.descent(s, theta, sx, self.y, self.beta) / self.curvature
            u += self.dt * (drive - u)
            trace += self.rate * (s - trace)
            xtrace += self.rate * (sx - xtrace)
            spikes += s.sum() + sx.sum()
            events += float((s @ self.fanout[0]).sum() + (sx @ self.fanout[1]).sum())
            if k >= half:
                rates += s
                potentials += u
                if record and (k - half) % self.every == 0:
                    d = m.energy_dtheta(trace, theta, xtrace)
                    dtheta = d if dtheta is None else {n: dtheta[n] + d[n] for n in d}
                    count += 1
        batch = len(u)
        out = {"rates": rates / (self.steps - half),
               "potentials": potentials / (self.steps - half), "spikes": float(spikes) / batch,
               "events": events / batch}
        if record:
            out["dtheta"] = {n: v / count for n, v in dtheta.items()}
        return (u, phase, trace, xphase, xtrace), out


def _rest(module, x, seed):
    """Potentials and traces at 0; integrate-and-fire phases uniform in [0, 1) (seeded)."""
    rng = np.random.default_rng([seed, 2])
    zeros = np.zeros((len(x), module.N))
    return (zeros, rng.random(zeros.shape), zeros.copy(), rng.random(x.shape), np.zeros_like(x))


def free_rates(module, theta, x=None, *, dt=DEFAULTS["dt"], duration=DEFAULTS["duration"],
               tau=DEFAULTS["tau"], neuron=DEFAULTS["neuron"], seed=0) -> dict:
    """The free phase from rest: ``{"rates", "potentials", "spikes", "events"}`` (rates: spike
    counts per step over the phase's second half; potentials: their mean there; spikes,
    events: per example)."""
    check_energy(module)
    dt, duration, tau = check_options(dt, duration, tau)
    x = check_inputs(module, x)
    phase = Phase(module, theta, x, None, 0.0, dt, duration, tau, fan_out(module, theta),
                  neuron)
    return phase.run(_rest(module, x, seed), [seed, 0], record=False)[1]


def predict(module, theta, x, **options) -> np.ndarray:
    """The output units' mean potentials in the free phase (their arg-max is the class: a
    spike count, at a resolution of one spike in the window, can tie)."""
    return free_rates(module, theta, x, **options)["potentials"][..., module.OUTPUT_UNITS]


def gradient(module, theta, x=None, y=None, *, beta=0.2, sides="centered",
             dt=DEFAULTS["dt"], duration=DEFAULTS["duration"], tau=DEFAULTS["tau"],
             neuron=DEFAULTS["neuron"], seed=0) -> dict:
    """The spike-based EP estimate of dC/dθ: a free phase from rest, then the two phases of
    ``sides`` (centered: −β, +β; positive: 0, +β) from its end with the same noise.

    Returns ``{"loss", "grad", "rates", "spikes", "events"}``: the cost at the free-phase
    rates, the estimate (batch mean), the free rates, and the spikes and synaptic events
    (spikes × fan-out) per example over the three phases.
    """
    check_energy(module)
    dt, duration, tau = check_options(dt, duration, tau)
    if sides not in SIDES:
        raise DataError(f"sides={sides!r}: choose centered or positive")
    try:
        beta = float(beta)
    except (TypeError, ValueError):
        beta = float("nan")
    if not (np.isfinite(beta) and beta > 0):
        raise DataError(f"beta={beta!r}: give a finite number > 0")
    x = check_inputs(module, x)
    y = np.asarray(module.DEFAULT_TARGETS if y is None else y, dtype=np.float64)
    y = np.broadcast_to(y[None] if y.ndim == 1 else y, (len(x), sum(module.TARGET_SIZES)))
    fanout = fan_out(module, theta)

    def phase(strength):
        return Phase(module, theta, x, y, strength * beta, dt, duration, tau, fanout, neuron)

    start, free = phase(0).run(_rest(module, x, seed), [seed, 0], record=False)
    a, b = SIDES[sides]
    first, second = (phase(s).run(start, [seed, 1])[1] for s in (a, b))
    grad = {k: (second["dtheta"][k] - first["dtheta"][k]).mean(0) / ((b - a) * beta)
            for k in module.PARAMS}
    return {"loss": float(module.cost(free["rates"], y).mean()), "grad": grad,
            "rates": free["rates"],
            "spikes": free["spikes"] + first["spikes"] + second["spikes"],
            "events": free["events"] + first["events"] + second["events"]}
