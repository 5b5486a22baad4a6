"""Training cost: time per epoch and peak memory of HEL, the adjoint and BPTT.

What is measured, on the two bundled training tasks (``glep data identification`` on
``systems/chain_identification.py`` and ``glep data filter`` on
``systems/oscillator_filter.py``, generated in memory with seed 0): one epoch of
``glep.learn.train.train`` (Adam, batch 16, the file's integration steps) with each rule,
from the same initialization and batch order. HEL and the adjoint run through the
generated NumPy module, BPTT through autograd in the generated Torch module (what
``glep train`` does). Every measurement runs in a fresh subprocess, so the peak memory
(``ru_maxrss`` after the epoch minus after loading) belongs to that rule alone.

Printed: seconds per epoch, peak memory increment, and ratios to HEL.

Run from the repository root: ``.venv/bin/python bench/train_cost.py [--quick]``
(``--quick``: a quarter of each data set).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TASKS = {
    "identification": ROOT / "systems" / "chain_identification.py",
    "filter": ROOT / "systems" / "oscillator_filter.py",
}
RULES = ("HEL", "adjoint", "BPTT")


def worker(task: str, rule: str, fraction: float) -> dict:
    sys.path.insert(0, str(ROOT))
    from glep.derive.systemfile import load_problem
    from glep.learn import datasets
    from glep.learn.train import train

    problem = load_problem(TASKS[task])
    arrays = datasets.GENERATORS[task](problem, seed=0)
    count = max(16, int(len(arrays["inputs"]) * fraction))
    data = datasets.Trajectories(arrays["t"], arrays["inputs"][:count],
                                 arrays["targets"][:count],
                                 arrays.get("z0", None) if "z0" in arrays else None,
                                 None, None)
    if data.z0 is None:
        import numpy as np

        from glep.codegen.emit import load_module

        module = load_module(problem, "numpy")
        data.z0 = np.tile(np.asarray(module.INITIAL_STATE), (count, 1))
    else:
        data.z0 = data.z0[:count]
    # warm up on one trajectory (templates, imports, first calls) without raising the peak
    one = datasets.Trajectories(data.t, data.inputs[:1], data.targets[:1], data.z0[:1], None,
                                None)
    train(problem, one, rule=rule, epochs=1, batch=1, progress=False)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    run = train(problem, data, rule=rule, epochs=1, batch=16, lr=1e-3, progress=False)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"seconds": seconds, "memory_mb": (after - before) / 1024, "steps": len(run.losses),
            "first_loss": run.losses[0]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--worker", nargs=3, metavar=("TASK", "RULE", "FRACTION"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        task, rule, fraction = args.worker
        print(json.dumps(worker(task, rule, float(fraction))))
        return 0
    fraction = 0.25 if args.quick else 1.0
    print(f"one training epoch (Adam, batch 16){', quick: 1/4 of the data' if args.quick else ''}")
    header = (f"{'task':<15} {'rule':<8} {'steps':>5} {'s/epoch':>9} {'peak MB':>8} "
              f"{'time/HEL':>9} {'mem/HEL':>8}")
    print(header)
    print("-" * len(header))
    for task in TASKS:
        results = {}
        for rule in RULES:
            out = subprocess.run(
                [sys.executable, __file__, "--worker", task, rule, str(fraction)],
                capture_output=True, text=True, check=True, cwd=ROOT,
            )
            results[rule] = json.loads(out.stdout.strip().splitlines()[-1])
        hel = results["HEL"]
        for rule, r in results.items():
            print(f"{task:<15} {rule:<8} {r['steps']:>5} {r['seconds']:>9.2f} "
                  f"{r['memory_mb']:>8.1f} {r['seconds'] / hel['seconds']:>8.2f}x "
                  f"{r['memory_mb'] / max(hel['memory_mb'], 0.1):>7.1f}x")
        losses = {rule: r["first_loss"] for rule, r in results.items()}
        spread = max(losses.values()) / min(losses.values()) - 1
        print(f"{'':<15} first-step losses agree to {spread:.1e} (same start, same batch)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
