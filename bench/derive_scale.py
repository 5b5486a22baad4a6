"""Derive + emit time against n: glep versus sympy.physics.mechanics + lambdify.

What is measured, for the anharmonic (FPU-β) chain ``systems/anharmonic_chain.py`` with
n = 4, 16, 64 masses (2n states, 3n + 2 parameters, one input):

* glep: ``load_problem`` (a fresh one each repetition, so no derived quantity is
  reused) followed by ``codegen.emit.render(..., rules=False)`` for both backends,
  "numpy" then "torch", on that same problem: the simulator modules (vector field,
  Hamiltonian form, Jacobians, Hessians, RK4/leapfrog/implicit midpoint), which is what
  the baseline produces too. The derivation happens lazily inside the renders. The full
  modules that ``glep emit`` writes also carry every learning rule (sensitivities,
  adjoint Jacobians...); their time at the largest n is printed after the table.
* baseline: what a user without glep would write on the same Lagrangian:
  ``LagrangesMethod(L, coords)``, ``form_lagranges_equations()``, ``rhs()``, the
  functions of time replaced by plain symbols, then
  ``sympy.lambdify([state, params, inputs], rhs, "numpy", cse=True)``.

SymPy's global cache is cleared before every timed run, the two sides run interleaved in
the same process, and each side keeps its best time over a few repetitions (several for
the small sizes, one for n = 64 where a run takes seconds). Before timing, the generated
NumPy ``vector_field`` and the baseline function are checked to agree at a random point.

Target: glep (load + both renders) at least 5x faster than the baseline at n = 64.

Run from the repository root: ``.venv/bin/python bench/derive_scale.py [--sizes 4 16]``.
"""

from __future__ import annotations

import argparse
import gc
import time
import types
from pathlib import Path

import numpy as np
import sympy as sp
from sympy.core.cache import clear_cache
from sympy.physics.mechanics import LagrangesMethod

from glep.codegen.emit import render
from glep.derive.systemfile import load_problem

ROOT = Path(__file__).resolve().parent.parent
SYSTEM = ROOT / "systems" / "anharmonic_chain.py"
SOURCE = "systems/anharmonic_chain.py"
TARGET_N = 64
TARGET_RATIO = 5.0
BUDGET = 3.0  # seconds per side and size: repeat while under it ...
MAX_REPEATS = 5  # ... up to this many times


def run_glep(n, rules=False):
    """Fresh problem, then render both backends; returns (times, NumPy module source)."""
    clear_cache()
    gc.collect()
    start = time.perf_counter()
    problem = load_problem(SYSTEM, {"n": n})
    loaded = time.perf_counter()
    numpy_source = render(problem, "numpy", SOURCE, rules=rules)
    rendered_numpy = time.perf_counter()
    render(problem, "torch", SOURCE, rules=rules)
    done = time.perf_counter()
    times = {
        "load": loaded - start,
        "numpy": rendered_numpy - loaded,
        "torch": done - rendered_numpy,
        "total": done - start,
    }
    return times, numpy_source


def run_baseline(n):
    """LagrangesMethod on the same Lagrangian, then lambdify; returns (times, function, problem)."""
    problem = load_problem(SYSTEM, {"n": n})  # untimed: only to get the same Lagrangian
    system = problem.system
    clear_cache()
    gc.collect()
    start = time.perf_counter()
    method = LagrangesMethod(system.expr, list(system.coords))
    method.form_lagranges_equations()
    rhs = method.rhs()
    derived = time.perf_counter()
    t = system.time
    plain = {}
    for q, q_plain, v_plain in zip(system.coords, system.q, system.v):
        plain[q.diff(t)] = v_plain  # derivatives first: xreplace matches whole nodes
        plain[q] = q_plain
    plain.update(zip(system.inputs, system.x))
    rhs = rhs.xreplace(plain)
    state, params, inputs = [*system.q, *system.v], list(problem.params), list(system.x)
    function = sp.lambdify([state, params, inputs], list(rhs), "numpy", cse=True)
    done = time.perf_counter()
    times = {"derive": derived - start, "lambdify": done - derived, "total": done - start}
    leftover = rhs.free_symbols - set(state) - set(params) - set(inputs)
    if leftover:
        raise RuntimeError(f"baseline right-hand side still contains {leftover}")
    return times, function, problem


def check_agreement(numpy_source, baseline, problem) -> float:
    """Max relative difference of the two vector fields at a random point."""
    module = types.ModuleType("bench_generated")
    exec(compile(numpy_source, "bench_generated", "exec"), module.__dict__)
    rng = np.random.default_rng(0)
    z = rng.normal(scale=0.5, size=len(module.STATE))
    theta = np.asarray(module.PARAM_VALUES) * rng.uniform(0.5, 1.5, size=len(module.PARAMS))
    x = rng.normal(size=len(module.INPUTS))
    ours = module.vector_field(0.0, z, theta, x)
    theirs = np.asarray(baseline(list(z), list(theta), list(x)), dtype=float)
    return float(np.max(np.abs(ours - theirs)) / max(1.0, np.max(np.abs(theirs))))


def best(runs, key="total"):
    return min(runs, key=lambda r: r[key])


def measure(n):
    glep_runs, base_runs = [], []
    glep_spent = base_spent = 0.0
    agreement = None
    while len(glep_runs) < MAX_REPEATS and (
        not glep_runs or (glep_spent < BUDGET and base_spent < BUDGET)
    ):
        times, numpy_source = run_glep(n)
        glep_runs.append(times)
        glep_spent += times["total"]
        times, baseline, base_problem = run_baseline(n)
        base_runs.append(times)
        base_spent += times["total"]
        if agreement is None:
            agreement = check_agreement(numpy_source, baseline, base_problem)
    return best(glep_runs), best(base_runs), len(glep_runs), agreement


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", type=int, default=[4, 16, 64], metavar="N")
    args = parser.parse_args(argv)

    # Warm up imports, templates and lambdify's namespaces outside the timings.
    run_glep(2)
    run_baseline(2)

    print("derive + emit, anharmonic chain (seconds; best of the repetitions shown)")
    header = (
        f"{'n':>4} {'reps':>4} | {'glep load':>9} {'numpy':>7} {'torch':>7} {'total':>7} | "
        f"{'sympy LM':>8} {'lambdify':>8} {'total':>7} | {'ratio':>6} {'ratio*':>6} "
        f"| {'agree':>7}"
    )
    print(header)
    print("-" * len(header))
    ratios = {}
    for n in args.sizes:
        ours, theirs, reps, agreement = measure(n)
        ratio = theirs["total"] / ours["total"]
        ratio_numpy_only = theirs["total"] / (ours["load"] + ours["numpy"])
        ratios[n] = ratio
        print(
            f"{n:>4} {reps:>4} | {ours['load']:>9.3f} {ours['numpy']:>7.3f} {ours['torch']:>7.3f} "
            f"{ours['total']:>7.3f} | {theirs['derive']:>8.3f} {theirs['lambdify']:>8.3f} "
            f"{theirs['total']:>7.3f} | {ratio:>5.2f}x {ratio_numpy_only:>5.2f}x | "
            f"{agreement:>7.1e}",
            flush=True,
        )
    print()
    print("glep total = fresh load_problem + render numpy + render torch (derivation is")
    print("  lazy, so most of it lands in the first render, 'numpy').")
    print("sympy LM = LagrangesMethod + form_lagranges_equations + rhs; lambdify includes")
    print("  replacing functions of time by symbols.")
    print("ratio = baseline total / glep total; ratio* = baseline total / glep (load + numpy")
    print("  render only), i.e. like for like with a baseline that emits only NumPy.")
    print("agree = max relative difference of the two vector fields at a random point.")
    print()
    largest = max(args.sizes)
    full, _ = run_glep(largest, rules=True)
    print(f"full modules with every learning rule (as glep emit writes them), n = {largest}: "
          f"{full['total']:.3f} s")
    print()
    if TARGET_N in ratios:
        verdict = "target met" if ratios[TARGET_N] >= TARGET_RATIO else "target NOT met"
        print(
            f"{verdict}: at n = {TARGET_N} glep is {ratios[TARGET_N]:.2f}x faster than the "
            f"baseline (target: at least {TARGET_RATIO:g}x)"
        )
    else:
        print(f"target not evaluated: n = {TARGET_N} was not among --sizes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
