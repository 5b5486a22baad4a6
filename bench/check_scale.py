"""``glep check`` at scale: an anharmonic chain of n = 4, 8, 16, 32, 64 masses.

For each n a fresh process runs ``glep check systems/anharmonic_chain.py --set n=N --json``
(every rule, the default β = 1e-4, the file's 1600 RK4 steps), and the wall time of the
whole command is measured (derivation, emission, references and rules). Printed per n: the
wall and CPU time and the check's own time, each reference's seconds, and each rule's seconds,
relative error, bias slope and verdict; then a summary table. The load average of the
machine is printed next to every run (2 shared cores: times scale with it).

Targets: at n = 32 every rule checked within 120 s; no rule fails at any n.

Run from the repository root::

    .venv/bin/python bench/check_scale.py                  # n = 4 8 16 32 64
    .venv/bin/python bench/check_scale.py --n 4 8 --out -  # print only
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SYSTEM = "systems/anharmonic_chain.py"
RULES = ("CIVP", "CBVP", "PFVP", "HEL", "adjoint")


def load() -> str:
    return "/".join(f"{v:.1f}" for v in os.getloadavg())


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(n: int, timeout: float) -> dict:
    """One ``glep check`` of the n-mass chain in a fresh process."""
    glep = Path(sys.executable).with_name("glep")
    command = [str(glep), "check", SYSTEM, "--set", f"n={n}", "--json"]
    before, start, cpu = load(), time.perf_counter(), _children_cpu()
    try:
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"n": n, "wall": time.perf_counter() - start, "code": None, "load": before,
                "error": f"timed out after {timeout:.0f} s"}
    out = {"n": n, "wall": time.perf_counter() - start, "code": done.returncode,
           "cpu": _children_cpu() - cpu, "load": f"{before} → {load()}"}
    try:
        out["report"] = json.loads(done.stdout)
    except json.JSONDecodeError:
        out["error"] = done.stderr.strip().splitlines()[-1:] or ["no output"]
    return out


def describe(result: dict) -> list[str]:
    n = result["n"]
    cpu = f" (cpu {result['cpu']:.1f} s)" if "cpu" in result else ""
    head = (f"n = {n}: {2 * n} states, {3 * n + 2} parameters; wall {result['wall']:.1f} s"
            f"{cpu}, exit {result['code']}; load average {result['load']}")
    if "report" not in result:
        return [head, f"  {result['error']}"]
    report = result["report"]
    lines = [head + f"; the check itself {report['seconds']:.1f} s"]
    for name, ref in report["reference"].items():
        detail = ref.get("failed") or ref["method"]
        lines.append(f"  reference {name:<18} {ref.get('seconds', 0.0):7.1f} s  {detail}")
    for name, entry in report["rules"].items():
        if not entry["available"]:
            lines.append(f"  {name:<28} {'':>9}    {entry['reason']}")
            continue
        err = "—" if entry["rel_err"] is None else f"{entry['rel_err']:.1e}"
        slope = entry.get("bias_slope")
        slope = "" if slope is None else f"slope {slope:5.2f}"
        verdict = ("ok  " if entry["ok"] else "FAIL") + f"  {entry['verdict']}"
        health = entry.get("health", {})
        extra = "".join(f", {k} {health[k]:.2g}" for k in ("bias", "suggested_beta")
                        if k in health)
        lines.append(f"  {name:<28} {entry['seconds']:7.1f} s  rel_err {err:>8} "
                     f"{slope:<11} {verdict}{extra}")
    return lines


def summary(results) -> list[str]:
    lines = ["", "summary (seconds per rule; wall and cpu: the whole command)",
             f"  {'n':>3} {'wall':>8} {'cpu':>8} {'check':>8} " + " ".join(f"{r:>8}" for r in RULES)
             + "  every rule ok"]
    for result in results:
        report = result.get("report")
        if report is None:
            lines.append(f"  {result['n']:>3} {result['wall']:>8.1f}  {result['error']}")
            continue
        cells = []
        for rule in RULES:
            entry = report["rules"].get(rule, {})
            cells.append(f"{entry.get('seconds', float('nan')):>8.1f}")
        ok = all(e.get("ok", True) for e in report["rules"].values())
        lines.append(f"  {result['n']:>3} {result['wall']:>8.1f} {result['cpu']:>8.1f} "
                     f"{report['seconds']:>8.1f} "
                     + " ".join(cells) + f"  {'yes' if ok else 'NO'}")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[4, 8, 16, 32, 64])
    parser.add_argument("--timeout", type=float, default=7200.0,
                        help="seconds before one check is stopped (default 7200)")
    parser.add_argument("--out", default="bench/results/check_scale.txt",
                        help="the results file ('-': print only)")
    args = parser.parse_args(argv)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                            capture_output=True, text=True).stdout.strip()
    lines = [f"# .venv/bin/python bench/check_scale.py --n {' '.join(map(str, args.n))}",
             f"glep check {SYSTEM} --set n=N --json: default β = 1e-4, 1600 RK4 steps; "
             f"commit {commit}; {os.cpu_count()} cores (shared)", ""]
    print("\n".join(lines), flush=True)
    results = []
    for n in args.n:
        result = run(n, args.timeout)
        results.append(result)
        block = describe(result)
        print("\n".join(block), flush=True)
        lines += block
    tail = summary(results)
    print("\n".join(tail))
    lines += tail
    if args.out != "-":
        (ROOT / args.out).write_text("\n".join(lines) + "\n", encoding="utf-8")
    ok = all(r.get("code") == 0 for r in results)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
