"""Batched RK4 simulation: glep's generated Torch module versus torchdiffeq + lambdify.

What is measured, on ``systems/double_pendulum.py`` and ``systems/coupled_oscillators.py``:
a batch of 256 random float64 initial states integrated with RK4 for 500 equal steps over
the problem's horizon, without autograd (``torch.no_grad()``), torch threads left at their
default.

* generated: ``codegen.emit.load_module(problem, "torch").simulate(z0, theta,
  horizon=..., steps=500, method="rk4")`` with the problem's own inputs.
* baseline: what a user without glep would write: the vector field of
  ``derive.model.Model.from_problem(problem)`` (expressions over plain Symbols),
  each component lambdified separately with ``modules="torch"``, the results stacked
  with ``torch.stack``; the inputs are the problem's default input expressions, also
  lambdified to torch; integrated with ``torchdiffeq.odeint(func, z0, t, method="rk4",
  options={"step_size": dt})`` on the same 501-point grid.
* for information: the generated NumPy module's ``simulate`` on the same batch.

First the end points are compared. The vector fields must agree to rounding; the
trajectories differ by O(dt^4) because torchdiffeq's "rk4" is the 3/8 rule while glep's
is the classic rule (an estimate of glep's own RK4 error, 500 versus 1000 steps, is
printed for scale). Then each variant is timed, interleaved, best of several repetitions.

Target: the generated Torch ``simulate`` at least 3x faster than torchdiffeq on both
systems.

Run from the repository root: ``.venv/bin/python bench/simulate.py``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import sympy as sp
import torch
from torchdiffeq import odeint

from glep.codegen.emit import load_module
from glep.derive.model import Model
from glep.derive.systemfile import load_problem

ROOT = Path(__file__).resolve().parent.parent
SYSTEMS = ("double_pendulum", "coupled_oscillators")
BATCH = 256
STEPS = 500
REPEATS = 5
TARGET_RATIO = 3.0
DTYPE = torch.float64


def baseline_field(problem, model):
    """``func(t, z)`` for torchdiffeq, built with per-component ``lambdify(..., "torch")``."""
    args = (model.time, *model.state, *model.params, *model.inputs)
    components = [sp.lambdify(args, e, modules="torch") for e in model.vector_field]
    signals = []
    for signal in model.input_signals:
        if signal.expression is None:
            raise RuntimeError("this benchmark needs inputs given as expressions of time")
        expr = signal.expression.xreplace({problem.system.time: model.time})
        signals.append(sp.lambdify(model.time, expr, modules="torch"))
    theta = [torch.tensor(v, dtype=DTYPE) for v in model.param_values]

    def func(t, z):
        x = [s(t) for s in signals]
        columns = z.unbind(-1)
        values = [f(t, *columns, *theta, *x) for f in components]
        values = [torch.as_tensor(v, dtype=z.dtype).expand(z.shape[:-1]) for v in values]
        return torch.stack(values, dim=-1)

    return func


def best_time(run, repeats=REPEATS):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def bench(name):
    problem = load_problem(ROOT / "systems" / f"{name}.py")
    model = Model.from_problem(problem)
    generated = load_module(problem, "torch")
    generated_np = load_module(problem, "numpy")
    func = baseline_field(problem, model)

    horizon = float(generated.HORIZON)
    dt = horizon / STEPS
    grid = torch.linspace(0.0, horizon, STEPS + 1, dtype=DTYPE)
    generator = torch.Generator().manual_seed(0)
    initial = torch.tensor(generated.INITIAL_STATE, dtype=DTYPE)
    z0 = initial + 0.3 * torch.randn(BATCH, len(generated.STATE), generator=generator, dtype=DTYPE)
    theta = torch.tensor(generated.PARAM_VALUES, dtype=DTYPE)
    z0_np, theta_np = z0.numpy(), theta.numpy()

    def run_generated():
        return generated.simulate(z0, theta, horizon=horizon, steps=STEPS, method="rk4")

    def run_baseline():
        return odeint(func, z0, grid, method="rk4", options={"step_size": dt})

    def run_numpy():
        return generated_np.simulate(z0_np, theta_np, horizon=horizon, steps=STEPS, method="rk4")

    with torch.no_grad():
        t0 = torch.tensor(0.3, dtype=DTYPE)
        field_ours = generated.vector_field(t0, z0, theta, generated.default_inputs(t0))
        field_diff = float((field_ours - func(t0, z0)).abs().max())
        ours, theirs, ours_np = run_generated(), run_baseline(), run_numpy()
        fine = generated.simulate(z0, theta, horizon=horizon, steps=2 * STEPS, method="rk4")
        checks = {
            "field": field_diff,
            "end": float((ours[-1] - theirs[-1]).abs().max()),
            "numpy": float(np.abs(ours_np[-1] - ours[-1].numpy()).max()),
            "error": float((ours[-1] - fine[-1]).abs().max()),
            "shape": tuple(ours.shape) == tuple(theirs.shape) == (STEPS + 1, *z0.shape),
        }
        # Interleave the repetitions so that machine noise hits all variants alike.
        times = {"baseline": [], "torch": [], "numpy": []}
        for _ in range(REPEATS):
            times["baseline"].append(best_time(run_baseline, 1))
            times["torch"].append(best_time(run_generated, 1))
            times["numpy"].append(best_time(run_numpy, 1))
    return len(generated.STATE), checks, {k: min(v) for k, v in times.items()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args(argv)
    print(
        f"RK4, batch {BATCH}, {STEPS} steps, float64, no grad, torch threads = "
        f"{torch.get_num_threads()}; best of {REPEATS}"
    )
    results = {}
    for name in SYSTEMS:
        results[name] = bench(name)

    print("\ncorrectness (max abs difference)")
    header = (
        f"{'system':<20} {'field':>9} {'end: torchdiffeq':>17} {'glep rk4 err':>13} "
        f"{'end: numpy':>11} {'shapes':>6}"
    )
    print(header)
    print("-" * len(header))
    for name, (_, c, _) in results.items():
        print(
            f"{name:<20} {c['field']:>9.1e} {c['end']:>17.1e} {c['error']:>13.1e} "
            f"{c['numpy']:>11.1e} {'ok' if c['shape'] else 'BAD':>6}"
        )
    print("field: vector fields at z0; end: torchdiffeq: trajectory end points (3/8 rule vs")
    print("classic RK4); glep rk4 err: glep 500 vs 1000 steps; end: numpy: NumPy vs Torch module")

    print("\ntime (seconds)")
    header = (
        f"{'system':<20} {'states':>6} {'torchdiffeq':>11} {'glep torch':>10} {'glep numpy':>10} "
        f"| {'tdq/torch':>9} {'tdq/numpy':>9}"
    )
    print(header)
    print("-" * len(header))
    verdicts = []
    for name, (n_state, _, t) in results.items():
        ratio = t["baseline"] / t["torch"]
        ratio_np = t["baseline"] / t["numpy"]
        print(
            f"{name:<20} {n_state:>6} {t['baseline']:>11.4f} {t['torch']:>10.4f} "
            f"{t['numpy']:>10.4f} | {ratio:>8.2f}x {ratio_np:>8.2f}x"
        )
        verdicts.append((name, ratio))
    print()
    for name, ratio in verdicts:
        verdict = "target met" if ratio >= TARGET_RATIO else "target NOT met"
        print(
            f"{verdict}: {name}: generated Torch rk4 is {ratio:.2f}x faster than torchdiffeq "
            f"(target: at least {TARGET_RATIO:g}x)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
