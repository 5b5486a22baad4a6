"""Plots of a report as inline PNG images (base64 data URIs, each with alt text): the
error of every rule against β on log–log axes, the forward run and its echo, the
relaxation of an energy, and training curves."""

from __future__ import annotations

import base64
import html
import io

import numpy as np

#: Resolution of the embedded PNGs (a 6.4 × 3.4 inch figure is 614 × 326 pixels).
DPI = 96


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def image(fig, alt: str, caption: str) -> str:
    """``fig`` as a ``<figure>`` with an inline PNG, its alt text and caption; closes it."""
    plt = _pyplot()
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=DPI)
    plt.close(fig)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return (f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(alt)}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def error_vs_beta(rules: dict) -> str | None:
    """Relative error of each rule at the β values ``glep check`` used, with the least-squares
    slope it fitted (``rules``: the ``rules`` of a check report). None when no rule has errors
    to plot."""
    rows = [(name, e["betas"], e["rel_errs"], e.get("bias_slope")) for name, e in rules.items()
            if e.get("available", True) and e.get("rel_errs")]
    rows = [(n, b, r, s) for n, b, r, s in rows if any(v > 0 for v in r)]
    if not rows:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    described = []
    for name, betas, errors, slope in rows:
        b, e = np.array(betas, float), np.array(errors, float)
        keep = e > 0
        points = ax.loglog(b[keep], e[keep], "o", label=name)[0]
        if slope is not None and keep.sum() >= 2:
            offset = np.mean(np.log(e[keep]) - slope * np.log(b[keep]))
            grid = np.geomspace(b[keep].min(), b[keep].max(), 20)
            ax.loglog(grid, np.exp(offset) * grid**slope, "-", color=points.get_color(),
                      label=f"{name} fit, slope {slope:.2f}")
            described.append(f"{name} slope {slope:.2f}")
        else:
            described.append(f"{name} error {e[0]:.1e}")
    ax.set_xlabel("β (nudging strength)")
    ax.set_ylabel("relative error ‖ĝ − g‖/‖g‖")
    ax.legend(fontsize=7, ncol=2)
    ax.grid(True, which="both", alpha=0.3)
    return image(fig, "Log–log plot of each rule's relative gradient error against β: "
                 + "; ".join(described) + ".",
                 "Relative error of each rule against its reference at the β values of the "
                 "check; lines: least-squares fits, their slope the measured bias order.")


def echo(times, forward, back, retrace, names) -> str:
    """Forward run and echo (the echo drawn against the forward time it retraces) of each
    coordinate in ``names``, and the retrace error over time."""
    plt = _pyplot()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(6.4, 5.0), sharex=True)
    for i, name in enumerate(names):
        line = top.plot(times, forward[:, i], "-", label=f"{name} forward")[0]
        top.plot(times, back[:, i], "--", color=line.get_color(), label=f"{name} echo")
    top.set_ylabel("position")
    top.legend(fontsize=7, ncol=2)
    retrace = np.asarray(retrace, float)
    shown = retrace > 0  # the echo starts on the forward end state: zero there
    bottom.semilogy(np.asarray(times)[shown], retrace[shown])
    bottom.set_xlabel("time")
    bottom.set_ylabel("retrace error")
    bottom.grid(True, which="both", alpha=0.3)
    worst = float(np.max(retrace))
    return image(fig, f"Forward trajectory of {', '.join(names)} (solid) and its echo (dashed), "
                 f"which retraces it; relative retrace error at most {worst:.1e}.",
                 "Top: the forward run and its β = 0 echo (momentum flipped at the end, inputs "
                 "replayed reversed), plotted against the forward time each echo state "
                 "retraces. Bottom: relative distance between them.")


def relaxation(energies, fixed_point: float) -> str:
    """Energy minus its value at the relaxed fixed point, per iteration."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    gap = np.maximum(np.asarray(energies, float) - fixed_point, 1e-300)
    ax.semilogy(np.arange(len(gap)), gap)
    ax.set_xlabel("iteration")
    ax.set_ylabel("E − E(s*)")
    ax.grid(True, which="both", alpha=0.3)
    return image(fig, f"Relaxation of the free phase: the energy falls from {energies[0]:.3g} "
                 f"to {fixed_point:.3g} at the fixed point in {len(gap) - 1} iterations.",
                 "Free relaxation from rest (batch mean): energy above its value at the "
                 "relaxed fixed point s*, per iteration of the module's update.")


def curves(logs: dict) -> str | None:
    """Training curves of a run directory: the loss per logged step of each rule, and the test
    accuracy per epoch where it was logged. ``logs``: rule → list of log records."""
    series = {name: rows for name, rows in logs.items() if rows}
    if not series:
        return None
    accuracy = any("test_accuracy" in r for rows in series.values() for r in rows)
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2 if accuracy else 1, figsize=(6.4, 3.4), squeeze=False)
    for name, rows in series.items():
        steps = [r.get("step", i) for i, r in enumerate(rows)]
        axes[0, 0].semilogy(steps, [r["loss"] for r in rows], label=name)
        if accuracy:
            axes[0, 1].plot([r.get("epoch", i) for i, r in enumerate(rows)],
                            [100 * r.get("test_accuracy", np.nan) for r in rows], label=name)
    axes[0, 0].set_xlabel("step")
    axes[0, 0].set_ylabel("training loss")
    axes[0, 0].legend(fontsize=7)
    if accuracy:
        axes[0, 1].set_xlabel("epoch")
        axes[0, 1].set_ylabel("test accuracy (%)")
    last = "; ".join(f"{n} final loss {rows[-1]['loss']:.3g}" for n, rows in series.items())
    return image(fig, f"Training curves: {last}.", "Training loss per logged step"
                 + (" and test accuracy per epoch" if accuracy else "") + " of each rule.")
