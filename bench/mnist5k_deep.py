"""C-EP against backprop through the relaxation, two hidden layers, mnist5k, 3 seeds.

``systems/hopfield_deep.py`` at 784-128-64-10 (hard-sigmoid units, asynchronous relaxation),
mnist5k (4,000 train / 1,000 test), 15 epochs, batch 32, SGD with momentum 0.9, per-layer
learning rates, cosine schedule, random-sign β (C-EP). Each (rule, seed) is one
``glep train`` process (one thread each), ``--jobs`` of them at a time, in
``OUT/<rule>-seed<seed>``; the table is read back from their JSON-lines logs and written to
``bench/results/train/mnist5k_deep.md``. Criterion: C-EP ≥ 93 % and within 1.5 points of
backprop through the relaxation (BPTT).

    .venv/bin/python bench/mnist5k_deep.py [--jobs 6] [--out /tmp/mnist5k_deep] [--table-only]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULT = ROOT / "bench" / "results" / "train" / "mnist5k_deep.md"
RULES, SEEDS = ("C-EP", "BPTT"), (0, 1, 2)
COMMAND = ("glep train systems/hopfield_deep.py --set n_in=784 --set hidden1=128 "
           "--set hidden2=64 --data mnist5k --epochs 15 --random-sign --schedule cosine "
           "--lr 0.01,W1=0.04,b1=0.04,W2=0.02,b2=0.02 --quiet")


def run(rule: str, seed: int, out: Path) -> None:
    glep = Path(sys.executable).with_name("glep")
    args = [str(glep), *COMMAND.split()[1:], "--rule", rule, "--seed", str(seed),
            "--out-dir", str(out / f"{rule}-seed{seed}")]
    subprocess.run(args, cwd=ROOT, check=True)


def last(out: Path, rule: str, seed: int) -> dict:
    log = out / f"{rule}-seed{seed}" / f"hopfield_deep-{rule}.jsonl"
    return json.loads(log.read_text(encoding="utf-8").splitlines()[-1])


def table(out: Path) -> str:
    lines = ["# mnist5k, two hidden layers: C-EP vs backprop through the relaxation", "",
             f"One `{COMMAND} --rule RULE --seed SEED` per rule and seed "
             "(`.venv/bin/python bench/mnist5k_deep.py`), 784-128-64-10, 4,000 train / 1,000 "
             "test, test accuracy after the 15th epoch.", "",
             "| rule | runs | test accuracy (%) | per seed | seconds per run |",
             "|---|---|---|---|---|"]
    means = {}
    for rule in RULES:
        rows = [last(out, rule, seed) for seed in SEEDS]
        accuracies = [100 * r["test_accuracy"] for r in rows]
        means[rule] = statistics.mean(accuracies)
        lines.append(f"| {rule} | {len(rows)} | {means[rule]:.2f} ± "
                     f"{statistics.stdev(accuracies):.2f} | "
                     f"{', '.join(f'{a:.1f}' for a in accuracies)} | "
                     f"{statistics.mean(r['seconds'] for r in rows):.0f} |")
    gap = means["C-EP"] - means["BPTT"]
    met = means["C-EP"] >= 93 and abs(gap) <= 1.5
    lines += ["", f"C-EP − BPTT = {gap:+.2f} points; criterion (C-EP ≥ 93 %, within 1.5 "
              f"points): {'met' if met else 'missed'}."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=6)
    parser.add_argument("--out", type=Path, default=Path("/tmp/mnist5k_deep"))
    parser.add_argument("--table-only", action="store_true",
                        help="only read the logs of an earlier run in --out")
    args = parser.parse_args(argv)
    if not args.table_only:
        with ThreadPoolExecutor(args.jobs) as pool:
            for job in [pool.submit(run, rule, seed, args.out)
                        for rule in RULES for seed in SEEDS]:
                job.result()
    text = table(args.out)
    RESULT.write_text(text, encoding="utf-8")
    print(text + f"wrote {RESULT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
