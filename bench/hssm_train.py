"""HSSMs trained by RHEL and by BPTT, paired by seed, through glep.learn.hssm.train (what
``glep train systems/hssm_*.py --compare RHEL,BPTT`` runs): the linear and the nonlinear
unit (systems/hssm_linear.py, systems/hssm_nonlinear.py, their default sizes) on
BasicMotions and JapaneseVowels (aeon's copies), seeds 0, 1, 2, one torch thread.

For every data set and unit: the final test accuracy of each rule (mean ± std over seeds),
the paired difference RHEL − BPTT with its standard error std(ddof=1)/√n, and whether
|difference| ≤ max(2 points, 2 SE). One JSON line per run goes to ``--out`` with suffix
``.jsonl`` (the per-epoch test accuracy included); runs already there with the same settings
are reused, so an interrupted benchmark continues where it stopped (``--fresh`` starts over).

    .venv/bin/python bench/hssm_train.py              # about 15 min on 2 busy cores
    .venv/bin/python bench/hssm_train.py --quick      # 2 epochs, 1 seed, no files
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

import glep
from glep.learn.catalog import load
from glep.learn.hssm import Result, paired_difference, train

ROOT = Path(__file__).resolve().parent.parent
#: Epochs and batch size per data set: BasicMotions (40 cases of 100 steps) plateaus by
#: epoch 10-15 at batch 8; JapaneseVowels (270 cases of 29 steps) runs batch 16.
PLAN = {"BasicMotions": (30, 8), "JapaneseVowels": (25, 16)}
UNITS = ("linear", "nonlinear")
LR = 3e-3


def _key(row) -> tuple:
    return tuple(row.get(k) for k in ("dataset", "unit", "dtype", "beta", "rule", "seed",
                                      "epochs", "batch", "lr"))


def run(datasets, units, seeds, out: Path | None, epochs=None, fresh=False) -> list[dict]:
    rows = []
    jsonl = out.with_suffix(".jsonl") if out else None
    done = {}
    if jsonl and jsonl.is_file() and not fresh:
        done = {_key(r): r for r in map(json.loads, jsonl.read_text().splitlines())}
    elif jsonl:
        jsonl.write_text("")
    for name in datasets:
        data = load(name)
        planned, batch = PLAN[name]
        for unit in units:
            problem = glep.load_problem(ROOT / "systems" / f"hssm_{unit}.py")
            for seed in seeds:
                for rule in ("RHEL", "BPTT"):
                    row = {"dataset": name, "unit": unit, "dtype": problem.dtype,
                           "beta": problem.beta, "rule": rule, "seed": seed,
                           "epochs": epochs or planned, "batch": batch, "lr": LR}
                    if _key(row) in done:
                        rows.append({**done[_key(row)], **row})
                        continue
                    result = train(problem, data, rule=rule, seed=seed, epochs=row["epochs"],
                                   batch=batch, lr=LR, threads=1, progress=False)
                    row.update(test_accuracy=result.accuracies[-1],
                               train_accuracy=result.train_accuracy,
                               seconds=round(result.seconds, 2), health=result.health,
                               curve=result.accuracies)
                    rows.append(row)
                    print(json.dumps({k: v for k, v in row.items() if k != "curve"}),
                          flush=True)
                    if jsonl:
                        with jsonl.open("a", encoding="utf-8") as handle:
                            handle.write(json.dumps(row) + "\n")
    if jsonl:  # the runs of this table only
        jsonl.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return rows


def table(rows, command: str) -> str:
    lines = ["# HSSM: RHEL vs BPTT through `glep train` (glep.learn.hssm.train)", "",
             f"Command: `{command}`", "",
             "Default sizes of systems/hssm_*.py: hidden 32, 32 units, 2 blocks, dt = 0.5; Adam "
             f"{LR:g}, one torch thread, 2 cores shared with other jobs. Test accuracy after "
             "the last epoch; paired: the same seed gives both rules the same initialization "
             "and batch order. Criterion: |RHEL − BPTT| ≤ max(2 points, 2 SE).", "",
             "| data set | unit (dtype, β) | epochs, batch | RHEL test acc. (%) | "
             "BPTT test acc. (%) | RHEL − BPTT (points) | SE | within max(2, 2 SE) | "
             "s/run RHEL / BPTT | max echo health |", "|---|---|---|---|---|---|---|---|---|---|"]
    verdicts = []
    groups = dict.fromkeys((r["dataset"], r["unit"]) for r in rows)
    for dataset, unit in groups:
        mine = [r for r in rows if (r["dataset"], r["unit"]) == (dataset, unit)]
        results = [Result(r["rule"], r["seed"], accuracies=[r["test_accuracy"]]) for r in mine]
        cells = []
        for rule in ("RHEL", "BPTT"):
            acc = 100 * np.array([r["test_accuracy"] for r in mine if r["rule"] == rule])
            each = ", ".join(f"{a:.1f}" for a in acc)
            cells.append(f"{acc.mean():.1f} ± {acc.std():.1f} ({each})")
        seeds, mean, se = paired_difference(results)
        within = abs(mean) <= max(2.0, 2 * se if math.isfinite(se) else 0.0)
        verdicts.append(within)
        secs = [np.mean([r["seconds"] for r in mine if r["rule"] == rule])
                for rule in ("RHEL", "BPTT")]
        health = max((r["health"] for r in mine if r["health"] is not None), default=math.nan)
        beta = mine[0]["beta"] or "default"
        lines.append(f"| {dataset} | {unit} ({mine[0]['dtype']}, {beta}) | {mine[0]['epochs']}, "
                     f"{mine[0]['batch']} | {cells[0]} | {cells[1]} | {mean:+.2f} | {se:.2f} "
                     f"| {'yes' if within else 'NO'} ({len(seeds)} seeds) | "
                     f"{secs[0]:.0f} / {secs[1]:.0f} | {health:.1e} |")
    total = sum(r["seconds"] for r in rows)
    lines += ["", f"Criterion met in {sum(verdicts)} of {len(verdicts)} rows; training time "
                  f"{total / 60:.1f} min in all."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--datasets", nargs="+", default=list(PLAN), choices=list(PLAN))
    p.add_argument("--units", nargs="+", default=list(UNITS), choices=UNITS)
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--epochs", type=int, help="override the epochs of every data set")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "hssm_train.md")
    p.add_argument("--fresh", action="store_true", help="ignore the runs in the .jsonl")
    p.add_argument("--quick", action="store_true", help="2 epochs, seed 0, nothing written")
    args = p.parse_args(argv)
    if args.quick:
        args.epochs, args.seeds, args.out = 2, [0], None
    started = time.perf_counter()
    rows = run(args.datasets, args.units, args.seeds, args.out, args.epochs, args.fresh)
    command = "python bench/hssm_train.py " + " ".join(argv if argv is not None else sys.argv[1:])
    text = table(rows, command.strip())
    print(text)
    print(f"wall time {(time.perf_counter() - started) / 60:.1f} min", file=sys.stderr)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
