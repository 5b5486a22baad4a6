"""The EP-trained metaplastic BNN on permuted tasks, through ``glep train``'s task sequences.

``systems/binary_hopfield_digits.py`` (n_in-H-10, binary weights α·sign read from hidden
weights, α fixed; hard-sigmoid neurons) trained by C-EP with a random sign of β, the
optimizer :class:`glep.Metaplastic` (Adam, lr 0.005) with m ∈ ``--metas`` on the hidden
weights, over ``--data permuted-BASE:N`` (``--base digits`` by default, for time; with
``--base mnist5k`` the tasks of ``bench/continual.py``: the same permutations), ``--epochs``
per task, no task boundary given to the optimizer. Each run is::

    glep train systems/binary_hopfield_digits.py --set n_in=64 --set hidden=H \\
        --data permuted-digits:N --optimizer metaplastic --meta M --random-sign \\
        --lr 0.005,alpha_W1=1e-12,alpha_W2=1e-12 --epochs E --out-dir RUNS/metaM

(a run directory that already holds its ``-tasks.md`` table is read, not run again). The
table (accuracy on each task after the last, and the mean) replaces the section "EP-trained"
of ``bench/results/train/continual.md`` for its base data set (digits: "EP-trained
metaplastic BNN"; mnist5k: "..., permuted mnist5k"), the other sections kept. Reproduce::

    .venv/bin/python bench/continual_ep.py --base digits --epochs 3 --hidden 64 --metas 0 1.35
"""

from __future__ import annotations

import argparse
import json
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "results" / "train" / "continual.md"
HEADING = "## EP-trained metaplastic BNN"
NAME = "binary_hopfield_digits"


def command(meta, args) -> list[str]:
    n_in = 64 if args.base == "digits" else 784
    return ["train", str(ROOT / "systems" / f"{NAME}.py"), "--set", f"n_in={n_in}", "--set",
            f"hidden={args.hidden}", "--data", f"permuted-{args.base}:{args.tasks}",
            "--optimizer",
            "metaplastic", "--meta", f"{meta:g}", "--random-sign", "--lr",
            "0.005,alpha_W1=1e-12,alpha_W2=1e-12", "--epochs", str(args.epochs), "--out-dir",
            str(Path(args.runs) / f"meta{meta:g}"), "--quiet"]


def replace_section(text: str, title: str, section: str) -> str:
    """``text`` without its section headed by the line ``title`` (up to the next ``## ``
    heading), ``section`` appended; the other sections are kept."""
    if f"\n{title}\n" in text:
        before, rest = text.split(f"\n{title}\n", 1)
        text = before + ("\n## " + rest.split("\n## ", 1)[1] if "\n## " in rest else "")
    return text.rstrip("\n") + "\n\n" + section


def run(meta, args) -> dict:
    """The last task summary of the run's log (runs ``glep train`` unless it is there)."""
    from glep.cli import main

    out = Path(args.runs) / f"meta{meta:g}"
    if not (out / f"{NAME}-tasks.md").is_file():
        if main(command(meta, args)) != 0:
            raise SystemExit(f"m = {meta:g}: glep train failed")
    lines = (out / f"{NAME}-C-EP.jsonl").read_text(encoding="utf-8").splitlines()
    summaries = [json.loads(s) for s in lines if '"task"' in s]
    epochs = [json.loads(s) for s in lines if '"epoch"' in s]
    return {**summaries[-1], "seconds": epochs[-1]["seconds"] if epochs else 0.0}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", choices=("digits", "mnist5k"), default="digits",
                        help="the data set the permuted tasks are made of")
    parser.add_argument("--tasks", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=3, help="epochs per task")
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--metas", type=float, nargs="+", default=[0.0, 1.35])
    parser.add_argument("--runs", default="runs/continual_ep", help="the run directories")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    with ProcessPoolExecutor(args.jobs) as pool:
        found = dict(zip(args.metas, pool.map(run, args.metas, [args] *
                                              len(args.metas))))
    given = " ".join(argv if argv is not None else sys.argv[1:])
    title = HEADING if args.base == "digits" else f"{HEADING}, permuted {args.base}"
    lines = [title, "", f"Command: `python bench/continual_ep.py {given}`",
             "", f"C-EP (random sign of β, batch 32) on n_in-{args.hidden}-10 with binary "
             f"weights (α fixed), Metaplastic (Adam lr 0.005) on the hidden weights, "
             f"{args.epochs} epochs per task through `glep train --data "
             f"permuted-{args.base}:{args.tasks}`; seed 0; test accuracy (%) after the last "
             f"task.",
             "", "| network | " + " | ".join(f"task {k + 1}" for k in range(args.tasks))
             + " | mean | seconds (last task's run) |", "|---" * (args.tasks + 3) + "|"]
    for meta, summary in found.items():
        acc = [100 * a for a in summary["accuracy"].values()]
        lines.append(f"| EP BNN m = {meta:g} | " + " | ".join(f"{a:.1f}" for a in acc)
                     + f" | {sum(acc) / len(acc):.1f} | {summary['seconds']:.0f} |")
    if 0.0 in found and 1.35 in found:
        gap = (sum(found[1.35]["accuracy"].values()) - sum(found[0.0]["accuracy"].values())) \
            / args.tasks
        lines += ["", f"Mean accuracy after the last task, m = 1.35 minus m = 0: "
                  f"{100 * gap:+.1f} points."]
    section = "\n".join(lines) + "\n"
    print(section)
    OUT.write_text(replace_section(OUT.read_text(encoding="utf-8"), title, section),
                   encoding="utf-8")


if __name__ == "__main__":
    main()
