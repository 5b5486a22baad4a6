"""The STDP window of EqSpike: the mean weight update of one synapse as a function of the
spike-time difference Δ = t_post − t_pre of one pre/post spike pair, computed by the model
(learn/spiking.py: its traces and its update read ∂E/∂θ at the traces) on forced spike trains.

The synapse is W1[0, 0] of ``systems/hopfield_digits.py`` (pre: input 0, post: hidden unit 0;
every other unit silent). A pair placed in the +β phase of the centered rule potentiates it, in
the −β phase depresses it (the positive rule: nudged phase vs free phase, twice the size); the
mean over the pair's position in the averaging window (the phase's second half; the traces do
not depend on β when the spikes are forced, so the −β window is the +β one negated) is compared
with the continuous-time value ±(1/2β)·dt²/(τD)·exp(−|Δ|/τ) (D: the phase duration). The
window is symmetric in Δ: EqSpike's rule is contrastive Hebbian with an exponential window
of width τ, its sign set by the phase.

Reproduce bench/results/train/eqspike_stdp.md and docs/figures/eqspike_stdp.png (~1 min)::

    .venv/bin/python bench/eqspike_stdp.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "results" / "train" / "eqspike_stdp.md"
FIGURE = ROOT / "docs" / "figures" / "eqspike_stdp.png"
DT, DURATION, BETA, TAUS, POSITIONS = 0.05, 30.0, 0.2, (0.5, 1.0, 2.0), 20


def window(module, theta, tau, sign):
    """Δ (time) and the mean update of W1[0, 0] for a pair in the phase at strength sign·β."""
    from glep.learn import spiking

    steps = round(DURATION / DT)
    lags = np.arange(-round(3 * tau / DT), round(3 * tau / DT) + 1)
    half, margin = steps // 2, round(3 * tau / DT)
    every = max(1, int(tau / (4 * DT)))  # the update reads the traces every `every` steps
    batch = len(lags) * POSITIONS
    units = np.zeros((steps, batch, module.N))
    inputs = np.zeros((steps, batch, sum(module.INPUT_SIZES)))
    for i, lag in enumerate(lags):  # both spikes in the window, the later one 3τ from its end;
        # the positions spread over the window and over the read-out's period
        stride = (steps - margin - abs(lag) - half) // POSITIONS // every * every
        first = half + np.arange(POSITIONS) * stride + np.arange(POSITIONS) % every
        for j, start in enumerate(first):
            inputs[start + max(0, -lag), i * POSITIONS + j, 0] = 1.0
            units[start + max(0, lag), i * POSITIONS + j, 0] = 1.0
    x = np.zeros((batch, sum(module.INPUT_SIZES)))
    y = np.zeros((batch, sum(module.TARGET_SIZES)))
    fanout = spiking.fan_out(module, theta)
    phase = spiking.Phase(module, theta, x, y, sign * BETA, DT, DURATION, tau, fanout,
                          "integrate-and-fire")
    rest = tuple(np.zeros_like(a) for a in (units[0], units[0], units[0], x, x))
    _, out = phase.run(rest, 0, forced=(units, inputs))
    # centered rule: ĝ = [⟨∂θE⟩(+β) − ⟨∂θE⟩(−β)] / 2β, update −ĝ; ∂E/∂W1[0, 0] = −T_h0·T_x0
    update = sign * -out["dtheta"]["W1"][:, 0, 0] / (2 * BETA)
    return lags * DT, update.reshape(len(lags), POSITIONS).mean(1)


def analytic(delta, tau, sign):
    return sign * DT ** 2 / (tau * DURATION) * np.exp(-np.abs(delta) / tau) / (2 * BETA)


def main():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import glep
    from glep.codegen.emit import load_module

    module = load_module(glep.load_problem(ROOT / "systems" / "hopfield_digits.py"))
    theta = module.initial_params(0)
    lines = ["# EqSpike: the STDP window (mean update of one synapse per pre/post spike pair)", "",
             "Command: `.venv/bin/python bench/eqspike_stdp.py`", "",
             f"dt = {DT}, phase duration D = {DURATION}, β = {BETA} (centered rule); a pair at "
             f"Δ = t_post − t_pre, averaged over {POSITIONS} positions in the averaging window.",
             "", "| τ | phase | ΔW at Δ = 0 (model) | continuous-time value | max relative "
             "deviation over |Δ| ≤ 3τ | ΔW(+τ)/ΔW(−τ) |", "|---|---|---|---|---|---|"]
    fig, ax = plt.subplots(figsize=(6.4, 4))
    for tau in TAUS:
        plus = window(module, theta, tau, 1)
        for sign, name in ((1, "+β"), (-1, "−β")):  # the −β phase: the same traces, sign −
            delta, update = plus[0], sign * plus[1]
            ref = analytic(delta, tau, sign)
            deviation = np.max(np.abs(update - ref)) / np.max(np.abs(ref))
            at = {d: update[np.argmin(np.abs(delta - d))] for d in (0.0, tau, -tau)}
            lines.append(f"| {tau:g} | {name} | {at[0.0]:.3e} | {ref[np.argmin(np.abs(delta))]:.3e}"
                         f" | {deviation:.3f} | {at[tau] / at[-tau]:.3f} |")
            ax.plot(delta, update, ".", ms=3, color=f"C{TAUS.index(tau)}",
                    label=f"model, τ = {tau:g}" if sign > 0 else None)
            ax.plot(delta, ref, "-", lw=0.8, color="k", label="±(1/2β)·dt²/(τD)·e^(−|Δ|/τ)"
                    if sign > 0 and tau == TAUS[0] else None)
    ax.axhline(0, color="grey", lw=0.5)
    ax.set_xlabel("Δ = t_post − t_pre (membrane time constants)")
    ax.set_ylabel("mean ΔW per pair (per unit learning rate)")
    ax.set_title("EqSpike STDP window: +β phase (above), −β phase (below)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    FIGURE.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(FIGURE, dpi=120)
    text = "\n".join(lines) + "\n"
    OUT.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
