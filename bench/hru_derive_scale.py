"""Derive + emit time of the vectorized HRU systems at n = 4 and n = 1024 units.

The HRU Hamiltonians are declared per unit (``systems/linear_hru.py``,
``systems/nonlinear_hru.py``) and the number of units is a runtime argument of the emitted
layer, so neither the derivation nor the emitted source depends on n (a test checks the
source; this script measures the time). Each measurement runs in a fresh subprocess (no
SymPy or hoisting cache carried over): load the system file with ``n_units`` set, derive,
and render the NumPy and Torch modules; best of ``--repeat`` runs. Printed: seconds at each
n and the ratio n = 1024 / n = 4 (target: at most 1.5).

Run from the repository root: ``.venv/bin/python bench/hru_derive_scale.py``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

WORKER = r"""
import hashlib, json, sys, time
sys.path.insert(0, {root!r})
start = time.perf_counter()
from glep.codegen.emit import render
from glep.derive.systemfile import load_problem
imported = time.perf_counter()
problem = load_problem({path!r})
problem.settings["n_units"] = {n}
sources = [render(problem, backend, "bench") for backend in ("numpy", "torch")]
done = time.perf_counter()
digest = hashlib.sha256("".join(sources).encode()).hexdigest()[:12]
print(json.dumps({{"seconds": done - imported, "lines": sum(s.count("\n") for s in sources),
                   "digest": digest}}))
"""


def measure(path: Path, n: int, repeat: int) -> dict:
    best = None
    for _ in range(repeat):
        code = WORKER.format(root=str(ROOT), path=str(path), n=n)
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              check=True)
        result = json.loads(done.stdout.strip().splitlines()[-1])
        if best is None or result["seconds"] < best["seconds"]:
            best = result
    return best


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", nargs=2, type=int, default=[4, 1024])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    small, large = args.sizes
    print(f"{'system':<16} {'n':>6} {'derive+emit s':>14} {'lines':>7}  digest")
    for name in ("linear_hru", "nonlinear_hru"):
        path = ROOT / "systems" / f"{name}.py"
        results = {n: measure(path, n, args.repeat) for n in (small, large)}
        for n, r in results.items():
            print(f"{name:<16} {n:>6} {r['seconds']:>14.3f} {r['lines']:>7}  {r['digest']}")
        ratio = results[large]["seconds"] / results[small]["seconds"]
        same = results[large]["digest"] == results[small]["digest"]
        verdict = "met" if ratio <= 1.5 else "NOT met"
        print(f"{name:<16} ratio n={large} / n={small}: {ratio:.2f} (target ≤ 1.5: {verdict}); "
              f"emitted source {'identical' if same else 'DIFFERENT'}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
