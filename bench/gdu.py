"""The GDU check (``glep check FILE --gdu``, glep.verify.gdu) on the convolutional Hopfield
energy (systems/conv_hopfield_digits.py: 3×3 convolution 1 → 8 channels, 2×2 max pooling,
dense to 10; states in [0, 1]) and on the small smooth energy (systems/hopfield_smooth.py):
EP's per-step updates of the nudged phase against BPTT's per-step gradients over K Euler
steps of the projected gradient flow from the free fixed point, at several β. Per
parameter: the worst step's relative RMSE ‖ΔEP_t + ∇BPTT_t‖/‖∇BPTT_t‖ and the lowest
per-step sign agreement; the error's slope in β (log-log, between the two smallest β) should
be 1. With the box, the theorem holds while the nudge leaves the set of units at the bounds
unchanged: a unit at a bound whose ∂E/∂s is nearly 0 is freed by a larger β (the conv energy
has one, |∂E/∂s| ≈ 4e-5), and the error jumps.

Reproduce the committed table (bench/results/gdu_conv.md) and figure
(docs/figures/gdu_conv.png, the conv energy at β = 1e-4)::

    OMP_NUM_THREADS=1 .venv/bin/python bench/gdu.py
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
TABLE = ROOT / "bench" / "results" / "gdu_conv.md"
FIGURE = ROOT / "docs" / "figures" / "gdu_conv.png"
BETAS = (1e-2, 1e-3, 1e-4, 1e-5)
STEPS = 20


def main() -> int:
    torch.set_num_threads(1)
    from glep import load_problem
    from glep.verify.gdu import gdu, plot

    lines = ["# GDU check: EP's per-step updates against BPTT's per-step gradients", "",
             "Command: `OMP_NUM_THREADS=1 .venv/bin/python bench/gdu.py`", "",
             f"{STEPS} Euler steps of the (projected) gradient flow from the free fixed "
             "point, the system files' inputs, targets and initial parameters; "
             "rel. RMSE: the worst step's ‖ΔEP_t + ∇BPTT_t‖/‖∇BPTT_t‖; sign: the lowest "
             "per-step sign agreement; slope: d log(rel. RMSE)/d log β from β = "
             f"{BETAS[-2]:g} to {BETAS[-1]:g}. The conv energy's states are boxed in [0, 1]: "
             "one unit sits at a bound with |∂E/∂s| ≈ 4e-5, and a nudge β ≥ 1e-3 frees it "
             "(the set of units at the bounds changes, and with it the dynamics the two "
             "sides differentiate); below that the error is O(β).", ""]
    for name, step in (("conv_hopfield_digits", None), ("hopfield_smooth", 0.3)):
        problem = load_problem(ROOT / "systems" / f"{name}.py")
        reports = [gdu(problem, beta=b, steps=STEPS, step=step) for b in BETAS]
        if name == "conv_hopfield_digits":
            plot(reports[2], FIGURE)
        head = " | ".join(f"β = {b:g}: rel. RMSE, sign" for b in BETAS)
        lines += [f"## {name} (ε = {reports[0]['step']:g})", "",
                  f"| parameter | {head} | slope |", "|---|" + "---|" * (len(BETAS) + 1)]
        for param in reports[0]["rows"]:
            cells, worst = [], []
            for r in reports:
                live = [row for row in r["rows"][param] if row["rel_rmse"] is not None]
                worst.append(max(row["rel_rmse"] for row in live))
                cells.append(f"{worst[-1]:.2e}, {min(row['sign'] for row in live):.3f}")
            slope = math.log(worst[-2] / worst[-1]) / math.log(BETAS[-2] / BETAS[-1])
            lines.append(f"| {param} | {' | '.join(cells)} | {slope:.2f} |")
        lines.append("")
    text = "\n".join(lines)
    print(text)
    if "--no-write" not in sys.argv:
        TABLE.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
