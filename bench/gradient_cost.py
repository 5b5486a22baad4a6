"""Gradient cost against the number of steps: HEL versus torchdiffeq's adjoint and BPTT.

What is measured, side by side, on ``systems/coupled_oscillators.py`` (6 masses, 12 states,
17 parameters) and ``systems/anharmonic_chain.py`` with n = 32 (64 states, 98 parameters),
for K = 10^3, 10^4, 10^5 steps (``--steps``). The step is the problem's own,
dt = horizon / steps from the file (0.0025 for both), and stays fixed: a run of K steps
covers the horizon K * dt, so longer runs cover more time and "memory against K" is
memory against the length of the trajectory. One trajectory (a 1-D ``z0``: the file's
initial state plus small fixed offsets, so that no coordinate is identically zero), the
file's parameters, float64, torch threads left at their default. The generated modules
are those of ``codegen.emit.load_module(problem, backend)`` (rendered once, executed in
each worker). The methods, all RK4 with the step dt unless said otherwise:

* sim torch / sim numpy: ``simulate(z0, theta, horizon=K dt, steps=K, method="rk4")``,
  one forward simulation with the same integrator (it stores the whole trajectory).
* loss torch: ``loss(z0, theta, ...)``, the forward pass HEL itself makes (the running
  cost and ∫∂c/∂θ carried as extra states, no trajectory stored).
* HEL torch / HEL numpy: ``gradient(z0, theta, rule="HEL", beta=1e-4, ...)`` (centered).
* adj rk4: ``torchdiffeq.odeint_adjoint`` with ``method="rk4", options={"step_size": dt}``
  (torchdiffeq's RK4 is the 3/8 rule: the same order and cost as glep's classic rule) on
  the generated Torch vector field augmented with the running cost as an extra state,
  built as in ``codegen/verify.py:torchdiffeq_reference`` (``prepare(theta)`` inside the
  field, so that its vector-Jacobian products reach θ); gradient with respect to θ and z0.
  Its memory is not quite flat either: torchdiffeq's fixed-grid loop iterates over the
  time-grid tensor (``zip(grid[:-1], grid[1:])`` unbinds it), about 1.2 kB per step.
* adj dopri5: the same with ``method="dopri5"`` and rtol = atol = tol. tol is calibrated
  once per system at the smallest K (at most 10^3): the loosest of 1e-6, 1e-7, ..., 1e-12
  whose θ-gradient error is no larger than HEL's, both measured against odeint_adjoint
  dopri5 at rtol = atol = 1e-13 over the same horizon; it is then kept for every K.
  ``--quick`` skips the calibration and uses the values it gave before (CALIBRATED).
* BPTT: ``gradient(..., rule="BPTT")`` of the Torch module, autograd through glep's RK4.

Each cell (method, system, K) runs in a fresh subprocess (this script with ``--worker``),
one cell at a time. The worker executes the modules and warms the method up on 16 steps;
before each timed run it returns freed heap to the system (``malloc_trim``) and resets the
kernel's peak resident set size (``/proc/self/clear_refs``); the memory reported is the
peak (``VmHWM``) after the run minus the resident size (``VmRSS``) before it: every
tensor, array and autograd buffer the run holds at its worst moment. (Without
``clear_refs`` it falls back to the ``ru_maxrss`` increase, which misses allocations below
the process's earlier peak.) Time is wall-clock, the best of up to 3 runs while a run
takes under 5 s (so several runs at 10^3 steps, one at 10^5); the CPU time of that run is
printed too, and the load average before and after, since other processes share the
cores. A cell whose predicted time (its CPU time per step at the previous K, times K:
the same on an idle or a busy machine) exceeds ``--budget`` seconds (default 180, 30
with ``--quick``), or whose predicted memory exceeds 60 % of the memory then
available, is skipped with a printed note; the worker also runs under an address-space
limit, so that a run that outgrows memory fails instead of waking the OOM killer.
``--budget inf`` runs everything that fits in memory (hours at 10^5 steps).

The gradients are compared at every K where both were measured: HEL (Torch) against
odeint_adjoint rk4 (same order and step: the comparison is of equal work), HEL NumPy
against HEL Torch, BPTT and dopri5 against odeint_adjoint rk4.

Targets: HEL (Torch) time ≤ 3.5x one forward simulation (sim torch); HEL at least 2x
faster than odeint_adjoint rk4 at the same step; HEL's peak memory grows ≤ 1.2x from
10^3 to 10^5 steps (growth under 1 MB, i.e. below ~10 bytes per extra step, counts as
flat), while BPTT's grows with the steps.

Run from the repository root: ``.venv/bin/python bench/gradient_cost.py [--steps 1000
10000 100000] [--quick] [--budget SECONDS]``.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SYSTEMS = {
    "coupled_oscillators": ("systems/coupled_oscillators.py", None),
    "anharmonic_chain": ("systems/anharmonic_chain.py", {"n": 32}),
}
LABELS = {"coupled_oscillators": "coupled oscillators (6 masses)",
          "anharmonic_chain": "anharmonic chain (n = 32)"}
METHODS = ("sim_torch", "loss_torch", "sim_numpy", "HEL_torch", "HEL_numpy", "adj_rk4",
           "adj_dopri5", "BPTT")
HEADS = {"sim_torch": "sim torch", "loss_torch": "loss torch", "sim_numpy": "sim numpy",
         "HEL_torch": "HEL torch", "HEL_numpy": "HEL numpy", "adj_rk4": "adj rk4",
         "adj_dopri5": "adj dopri5", "BPTT": "BPTT"}
GRADIENT_METHODS = ("HEL_torch", "HEL_numpy", "adj_rk4", "adj_dopri5", "BPTT")
BETA = 1e-4
WARMUP_STEPS = 16
MAX_REPEATS = 3
REPEAT_BELOW = 5.0  # seconds: repeat a run while it takes less than this
REFERENCE_TOL = 1e-13
CALIBRATED = {"coupled_oscillators": 1e-9, "anharmonic_chain": 1e-11}  # --quick
MEMORY_SHARE = 0.6  # of MemAvailable: the most a cell may take
TOLERANCES = (1e-6, 1e-7, 1e-8, 1e-9, 1e-10, 1e-11, 1e-12)
CALIBRATION_STEPS = 1000
AGREE = 1e-6  # relative gradient difference accepted as "agrees" (codegen/verify.py)
TARGET_FORWARD = 3.5
TARGET_ADJOINT = 2.0
TARGET_MEMORY = 1.2
DEFAULT_BUDGET = 180.0
QUICK_BUDGET = 30.0


# --------------------------------------------------------------------------------------
# Shared by the parent and the workers


def exec_module(path: Path, name: str):
    """Execute a rendered module source, as ``codegen.emit.load_module`` does."""
    module = types.ModuleType(name)
    exec(compile(path.read_text(), name, "exec"), module.__dict__)
    return module


def modules(source_dir: Path, system: str, backends=("torch", "numpy")):
    return {b: exec_module(source_dir / f"{system}_{b}.py", f"{system}_{b}") for b in backends}


def initial_state(torch_module):
    import torch

    base = torch.tensor(torch_module.INITIAL_STATE, dtype=torch.float64)
    offsets = 0.02 * torch.cos(0.7 * torch.arange(1, len(base) + 1, dtype=torch.float64))
    return base + offsets


def adjoint_gradient(m, z0, theta, horizon, steps, method, tol=None):
    """odeint_adjoint on the generated field + running cost (codegen/verify.py's recipe)."""
    import torch
    from torchdiffeq import odeint_adjoint

    class Augmented(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.theta = torch.nn.Parameter(theta.detach().clone())

        def forward(self, t, state):
            c = m.prepare(self.theta)
            z = state[..., :-1]
            dz = m._vector_field(t, z, c, m.default_inputs(t))
            dc = m._state_running_cost(t, z, c, m.default_targets(t))
            return torch.cat([dz, dc[..., None]], dim=-1)

    func = Augmented()
    z = z0.detach().clone().requires_grad_(True)
    start = torch.cat([z, torch.zeros(1, dtype=torch.float64)])
    times = torch.tensor([0.0, horizon], dtype=torch.float64)
    if method == "rk4":
        step = horizon / steps
        # torchdiffeq builds ceil(T / step + 1) grid points; make sure that is K + 1.
        if math.ceil(float(times[-1] / step + 1)) != steps + 1:
            step *= 1 + 1e-12
        options = {"method": "rk4", "options": {"step_size": step}}
    else:
        options = {"method": "dopri5", "rtol": tol, "atol": tol}
    end = odeint_adjoint(func, start, times, adjoint_params=(func.theta,), **options)[-1]
    c = m.prepare(func.theta)
    loss = end[-1] + m._state_terminal_cost(horizon, end[:-1], c)
    grad_theta, grad_z0 = torch.autograd.grad(loss, [func.theta, z])
    return {"loss": loss.detach(), "theta": grad_theta, "z0": grad_z0}


def runner(method, mods, z0, theta, dt, tol):
    """``run(steps)`` for one method: (simulate/loss output, None) or (None, gradients)."""
    tm, nm = mods.get("torch"), mods.get("numpy")
    z0_np, theta_np = z0.numpy(), theta.numpy()

    def run(steps):
        h = steps * dt
        if method == "sim_torch":
            return tm.simulate(z0, theta, horizon=h, steps=steps, method="rk4"), None
        if method == "sim_numpy":
            return nm.simulate(z0_np, theta_np, horizon=h, steps=steps, method="rk4"), None
        if method == "loss_torch":
            return tm.loss(z0, theta, horizon=h, steps=steps), None
        if method == "HEL_torch":
            return None, tm.gradient(z0, theta, rule="HEL", beta=BETA, horizon=h, steps=steps)
        if method == "HEL_numpy":
            return None, nm.gradient(z0_np, theta_np, rule="HEL", beta=BETA, horizon=h,
                                     steps=steps)
        if method == "BPTT":
            return None, tm.gradient(z0, theta, rule="BPTT", horizon=h, steps=steps)
        if method == "adj_rk4":
            return None, adjoint_gradient(tm, z0, theta, h, steps, "rk4")
        if method == "adj_dopri5":
            return None, adjoint_gradient(tm, z0, theta, h, steps, "dopri5", tol)
        raise ValueError(method)

    return run


def _floats(a):
    import numpy as np

    if hasattr(a, "detach"):
        a = a.detach().numpy()
    return [float(v) for v in np.asarray(a, dtype=float).ravel()]


def _status_mb():
    """VmRSS and VmHWM (peak resident set size since the last reset) in MB."""
    values = {}
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, rest = line.split(":")
                values[key] = int(rest.split()[0]) / 1024.0
    return values


def _reset_peak() -> bool:
    """Return freed heap to the system and restart the peak-RSS count from the current RSS."""
    gc.collect()
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (AttributeError, OSError):
        pass
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def worker(method, system, steps, source_dir, tol, memory_limit) -> dict:
    import torch

    backends = ("torch", "numpy") if method.endswith("numpy") else ("torch",)
    mods = modules(source_dir, system, backends)  # Torch module: INITIAL_STATE as a tensor
    tm = mods["torch"]
    z0 = initial_state(tm)
    theta = torch.tensor(tm.PARAM_VALUES, dtype=torch.float64)
    dt = tm.HORIZON / tm.STEPS
    run = runner(method, mods, z0, theta, dt, tol)
    run(WARMUP_STEPS)  # lazy initialisation (autograd engine, torchdiffeq, einsum paths)
    if memory_limit > 0:  # fail with an allocation error rather than invite the OOM killer
        size = 0.0
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmSize:"):
                    size = int(line.split()[1]) / 1024.0
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        resource.setrlimit(resource.RLIMIT_AS, (int((size + memory_limit) * 2**20), hard))
    times, cpu, increments = [], [], []
    out = None
    resettable = True
    while len(times) < MAX_REPEATS and (not times or times[-1] < REPEAT_BELOW):
        out = None
        resettable = _reset_peak()
        before = _status_mb()["VmRSS"]
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
        start, start_cpu = time.perf_counter(), time.process_time()
        out = run(steps)
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
        if resettable:
            increments.append(_status_mb()["VmHWM"] - before)
        else:  # no clear_refs: the run's peak counts only above every earlier peak
            increments.append(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0 - base)
    best = min(range(len(times)), key=times.__getitem__)
    result = {"time": times[best], "cpu": cpu[best], "runs": len(times),
              "mem": max(increments), "mem_method": "VmHWM" if resettable else "ru_maxrss",
              "threads": torch.get_num_threads()}
    _, grad = out
    if grad is not None:
        result["theta"] = _floats(grad["theta"])
        result["z0"] = _floats(grad["z0"])
    return result


# --------------------------------------------------------------------------------------
# Parent


def relative(a, b) -> float:
    import numpy as np

    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300))


def spawn(method, system, steps, source_dir, tol, memory_limit=0.0):
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", method, system,
               str(steps), "--source-dir", str(source_dir), "--tol", repr(tol),
               "--memory-limit", repr(memory_limit)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        lines = (done.stderr or done.stdout or f"exit status {done.returncode}").strip()
        return {"error": lines.splitlines()[-1][:200]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def code_version() -> str:
    """The commit the modules are rendered from (others may be editing the tree)."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                              capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "codegen", "derive"],
                               cwd=ROOT, capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + (" + uncommitted changes in codegen/ or derive/" if dirty else "")


def available_mb() -> float:
    with open("/proc/meminfo") as handle:
        for line in handle:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024.0
    return math.inf


def calibrate(source_dir, system, steps):
    """dopri5 tolerance whose θ-gradient error matches HEL's (reference: dopri5, 1e-12)."""
    import torch

    tm = modules(source_dir, system, ("torch",))["torch"]
    z0 = initial_state(tm)
    theta = torch.tensor(tm.PARAM_VALUES, dtype=torch.float64)
    dt = tm.HORIZON / tm.STEPS
    horizon = steps * dt
    start = time.perf_counter()
    reference = adjoint_gradient(tm, z0, theta, horizon, steps, "dopri5", REFERENCE_TOL)
    reference_time = time.perf_counter() - start
    hel = tm.gradient(z0, theta, rule="HEL", beta=BETA, horizon=horizon, steps=steps)
    hel_error = relative(_floats(hel["theta"]), _floats(reference["theta"]))
    ladder = []
    chosen = TOLERANCES[-1]
    for tol in TOLERANCES:
        g = adjoint_gradient(tm, z0, theta, horizon, steps, "dopri5", tol)
        error = relative(_floats(g["theta"]), _floats(reference["theta"]))
        ladder.append((tol, error))
        if error <= hel_error:
            chosen = tol
            break
    return {"tol": chosen, "hel_error": hel_error, "ladder": ladder, "steps": steps,
            "reference_time": reference_time, "reference": _floats(reference["theta"])}


def value(cells, method, k, key="time"):
    cell = cells.get((method, k))
    if cell is None or "error" in cell:
        return None
    return cell[key]


def fmt(x, spec, width):
    return f"{'-':>{width}}" if x is None else f"{x:>{width}{spec}}"


def print_tables(system, steps_list, cells, notes):
    width = 10
    label = LABELS[system]
    for key, title, spec in (("time", "wall time (s)", ".3f"),
                             ("cpu", "CPU time of the same run (s)", ".3f"),
                             ("mem", "peak memory increment (MB)", ".2f")):
        print(f"\n{label}: {title}")
        header = f"{'K':>7} | " + " ".join(f"{HEADS[m]:>{width}}" for m in METHODS)
        print(header)
        print("-" * len(header))
        for k in steps_list:
            row = []
            for m in METHODS:
                cell = cells.get((m, k))
                if cell is None or "error" in cell:
                    row.append(f"{'skip' if cell is None else 'FAIL':>{width}}")
                else:
                    row.append(fmt(cell[key], spec, width))
            print(f"{k:>7} | " + " ".join(row))
    for note in notes:
        print(f"note: {note}")


def print_agreement(system, steps_list, cells, cal):
    label = LABELS[system]
    pairs = (("HEL_torch", "adj_rk4"), ("HEL_numpy", "HEL_torch"), ("BPTT", "adj_rk4"),
             ("adj_dopri5", "adj_rk4"))
    print(f"\n{label}: gradient agreement (relative 2-norm difference, θ | z0)")
    header = f"{'K':>7} | " + " ".join(
        f"{HEADS[a] + ' vs ' + HEADS[b]:>21}" for a, b in pairs)
    print(header)
    print("-" * len(header))
    agreement = {}
    for k in steps_list:
        row = []
        for a, b in pairs:
            ca, cb = cells.get((a, k)), cells.get((b, k))
            if not ca or not cb or "theta" not in ca or "theta" not in cb:
                row.append(f"{'-':>21}")
                continue
            et, ez = relative(ca["theta"], cb["theta"]), relative(ca["z0"], cb["z0"])
            agreement[(a, b, k)] = (et, ez)
            row.append(f"{et:>11.1e} | {ez:<7.1e}")
        print(f"{k:>7} | " + " ".join(row))
    if cal.get("reference"):
        errors = []
        for m in GRADIENT_METHODS:
            grad = value(cells, m, cal["steps"], "theta")
            if grad is not None:
                errors.append(f"{HEADS[m]} {relative(grad, cal['reference']):.1e}")
        if errors:
            print(f"θ-gradient error at K = {cal['steps']} against odeint_adjoint dopri5 tol "
                  f"{REFERENCE_TOL:g}: " + ", ".join(errors))
    return agreement


def print_ratios(system, steps_list, cells):
    label = LABELS[system]

    def ratio(a, b, k):
        va, vb = value(cells, a, k), value(cells, b, k)
        return None if va is None or vb is None or vb <= 0 else va / vb

    columns = (("HEL t/sim t", "HEL_torch", "sim_torch"),
               ("HEL t/loss t", "HEL_torch", "loss_torch"),
               ("HEL np/sim np", "HEL_numpy", "sim_numpy"),
               ("adj rk4/HEL t", "adj_rk4", "HEL_torch"),
               ("dopri5/HEL t", "adj_dopri5", "HEL_torch"),
               ("BPTT/HEL t", "BPTT", "HEL_torch"),
               ("HEL t/HEL np", "HEL_torch", "HEL_numpy"))
    print(f"\n{label}: time ratios")
    header = f"{'K':>7} | " + " ".join(f"{name:>13}" for name, _, _ in columns)
    print(header)
    print("-" * len(header))
    for k in steps_list:
        print(f"{k:>7} | " + " ".join(fmt(ratio(a, b, k), ".2f", 13) for _, a, b in columns))
    growth = {}
    for m in METHODS:
        ks = [k for k in steps_list if value(cells, m, k, "mem") is not None]
        if len(ks) >= 2:
            lo, hi = ks[0], ks[-1]
            growth[m] = (lo, hi, value(cells, m, lo, "mem"), value(cells, m, hi, "mem"))
    print(f"{label}: peak memory growth, smallest to largest K measured")
    for m, (lo, hi, a, b) in growth.items():
        per_step = (b - a) * 2**20 / (hi - lo)
        print(f"  {HEADS[m]:<10} K {lo:>6} -> {hi:>6}: {a:9.2f} -> {b:9.2f} MB"
              + (f"  ({b / a:6.2f}x)" if a > 0.005 else "  (   -   )")
              + f"  {per_step:9.1f} bytes per extra step")
    return growth


def verdicts(system, s):
    cells, steps_here, label = s["cells"], s["steps"], LABELS[system]

    def common(a, b):
        return [k for k in steps_here
                if value(cells, a, k) is not None and value(cells, b, k) is not None]

    ks = common("HEL_torch", "sim_torch")
    if not ks:
        print(f"target not evaluated: {label}: HEL and a forward simulation not both measured")
    else:
        rs = {k: value(cells, "HEL_torch", k) / value(cells, "sim_torch", k) for k in ks}
        k = ks[-1]
        cpu = value(cells, "HEL_torch", k, "cpu") / value(cells, "sim_torch", k, "cpu")
        verdict = "target met" if rs[k] <= TARGET_FORWARD else "target NOT met"
        print(f"{verdict}: {label}: HEL (Torch) takes {rs[k]:.2f}x one forward simulation "
              f"(sim torch) at K = {k} ({cpu:.2f}x in CPU time); over K: "
              + ", ".join(f"{r:.2f}x" for r in rs.values())
              + f" (target: at most {TARGET_FORWARD:g}x)")
    ks = common("HEL_torch", "adj_rk4")
    if not ks:
        print(f"target not evaluated: {label}: HEL and odeint_adjoint rk4 not both measured")
    else:
        rs = {k: value(cells, "adj_rk4", k) / value(cells, "HEL_torch", k) for k in ks}
        k = ks[-1]
        cpu = value(cells, "adj_rk4", k, "cpu") / value(cells, "HEL_torch", k, "cpu")
        verdict = "target met" if rs[k] >= TARGET_ADJOINT else "target NOT met"
        print(f"{verdict}: {label}: HEL (Torch) is {rs[k]:.2f}x faster than odeint_adjoint "
              f"rk4 at K = {k} ({cpu:.2f}x in CPU time); over K: "
              + ", ".join(f"{r:.2f}x" for r in rs.values())
              + f" (target: at least {TARGET_ADJOINT:g}x)")
    for m in ("HEL_torch", "HEL_numpy"):
        g = s["growth"].get(m)
        if g is None:
            print(f"target not evaluated: {label}: {HEADS[m]} memory measured at fewer than two K")
            continue
        lo, hi, a, b = g
        flat = b - a < 1.0
        ok = flat or (a > 0 and b / a <= TARGET_MEMORY)
        span = lo <= 1000 and hi >= 100000
        verdict = ("target NOT met" if not ok else
                   "target met" if span else "target met so far (10^3 -> 10^5 not measured)")
        how = f"{a:.2f} -> {b:.2f} MB" + (f", {b / a:.2f}x" if a > 0.005 else "")
        print(f"{verdict}: {label}: {HEADS[m]} peak memory {how} from K = {lo} to {hi}"
              f"{' (flat: under 1 MB of growth)' if flat else ''} (target: at most "
              f"{TARGET_MEMORY:g}x from 10^3 to 10^5 steps)")
    g = s["growth"].get("BPTT")
    if g is None:
        print(f"target not evaluated: {label}: BPTT memory measured at fewer than two K")
    else:
        lo, hi, a, b = g
        grows = b > 2 * max(a, 1.0)
        print(f"{'target met' if grows else 'target NOT met'}: {label}: BPTT peak memory "
              f"{a:.1f} -> {b:.1f} MB from K = {lo} to {hi} ({b / max(a, 1e-9):.1f}x for "
              f"{hi / lo:g}x the steps): {'grows' if grows else 'does not grow'} with the steps")
    k = min(steps_here)
    ag = s["agreement"].get(("HEL_torch", "adj_rk4", k))
    if ag is None:
        print(f"check not evaluated: {label}: HEL vs odeint_adjoint rk4 at K = {k}")
    else:
        ok = max(ag) <= AGREE
        print(f"{'check passed' if ok else 'check FAILED'}: {label}: at K = {k} the HEL and "
              f"odeint_adjoint rk4 gradients differ by {ag[0]:.1e} (θ), {ag[1]:.1e} (z0), "
              f"relative (accepted: {AGREE:g})")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", nargs="+", type=int, default=[1000, 10000, 100000],
                        metavar="K")
    parser.add_argument("--quick", action="store_true",
                        help=f"K = 1000 10000 only, cell budget {QUICK_BUDGET:g} s, stored "
                             f"dopri5 tolerances")
    parser.add_argument("--budget", type=float, default=None,
                        help=f"skip a cell predicted to take longer (seconds; default "
                             f"{DEFAULT_BUDGET:g}, --quick {QUICK_BUDGET:g}; inf: run all)")
    parser.add_argument("--systems", nargs="+", choices=list(SYSTEMS), default=list(SYSTEMS),
                        help=argparse.SUPPRESS)
    parser.add_argument("--worker", nargs=3, metavar=("METHOD", "SYSTEM", "K"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--source-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--tol", type=float, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--memory-limit", type=float, default=0.0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        method, system, steps = args.worker
        result = worker(method, system, int(steps), args.source_dir, args.tol,
                        args.memory_limit)
        print(json.dumps(result))
        return 0

    import torch

    from glep.codegen.emit import render
    from glep.derive.systemfile import load_problem

    steps_list = sorted(set([1000, 10000] if args.quick else args.steps))
    budget = args.budget if args.budget is not None else (
        QUICK_BUDGET if args.quick else DEFAULT_BUDGET)
    wall = time.perf_counter()
    print(f"gradient cost: float64, one trajectory, fixed step dt (the file's), horizon K dt, "
          f"K = {', '.join(map(str, steps_list))}; torch threads = {torch.get_num_threads()}; "
          f"cell budget {budget:g} s; load average {os.getloadavg()[0]:.2f}")
    summary = {}
    with tempfile.TemporaryDirectory(prefix="glep-gradient-cost-") as tmp:
        source_dir = Path(tmp)
        for system in args.systems:
            path, overrides = SYSTEMS[system]
            problem = load_problem(ROOT / path, overrides)
            for backend in ("torch", "numpy"):
                (source_dir / f"{system}_{backend}.py").write_text(
                    render(problem, backend, "<memory>"))
            dt = problem.horizon / problem.steps
            print(f"\n=== {LABELS[system]}: {2 * len(problem.system.coords)} states, "
                  f"{len(problem.params)} parameters, dt = {dt:g}, horizon K dt = "
                  + ", ".join(f"{k * dt:g}" for k in steps_list)
                  + f"; modules rendered from {code_version()}", flush=True)

            cal_steps = min(min(steps_list), CALIBRATION_STEPS)
            if args.quick:
                cal = {"tol": CALIBRATED[system], "steps": cal_steps}
                print(f"dopri5: rtol = atol = {cal['tol']:g} from an earlier calibration "
                      f"(run without --quick to recalibrate)", flush=True)
            else:
                cal = calibrate(source_dir, system, cal_steps)
                ladder = ", ".join(f"{tol:g}: {err:.1e}" for tol, err in cal["ladder"])
                print(f"dopri5 calibration at K = {cal_steps}: HEL θ-gradient error "
                      f"{cal['hel_error']:.1e} against odeint_adjoint dopri5 tol "
                      f"{REFERENCE_TOL:g} ({cal['reference_time']:.1f} s); dopri5 error by "
                      f"tol: {ladder}; chosen rtol = atol = {cal['tol']:g}", flush=True)

            cells, notes, per_step, mem_per_step = {}, [], {}, {}
            for k in steps_list:
                for method in METHODS:
                    limit = MEMORY_SHARE * available_mb()
                    if method in mem_per_step and mem_per_step[method] * k > limit:
                        notes.append(f"{HEADS[method]} at K = {k} skipped: predicted "
                                     f"{mem_per_step[method] * k / 1024:.1f} GB of memory "
                                     f"> {limit / 1024:.1f} GB ({MEMORY_SHARE:.0%} of available)")
                        continue
                    if method in per_step and per_step[method] * k > budget:
                        notes.append(f"{HEADS[method]} at K = {k} skipped: predicted "
                                     f"{per_step[method] * k:.0f} s (CPU time per step x K) "
                                     f"> budget {budget:g} s")
                        continue
                    cell = spawn(method, system, k, source_dir, cal["tol"], limit)
                    cells[(method, k)] = cell
                    if "error" in cell:
                        notes.append(f"{HEADS[method]} at K = {k} failed: {cell['error']}")
                        print(f"  K = {k:>6} {HEADS[method]:<10} FAILED: {cell['error']}",
                              flush=True)
                        continue
                    per_step[method] = cell["cpu"] / k  # CPU: load-independent skips
                    if cell["mem"] > 10.0:
                        mem_per_step[method] = cell["mem"] / k
                    print(f"  K = {k:>6} {HEADS[method]:<10} {cell['time']:9.3f} s wall "
                          f"{cell['cpu']:9.3f} s cpu (best of {cell['runs']})  "
                          f"+{cell['mem']:9.2f} MB {cell['mem_method']}", flush=True)
            print_tables(system, steps_list, cells, notes)
            agreement = print_agreement(system, steps_list, cells, cal)
            growth = print_ratios(system, steps_list, cells)
            summary[system] = {"cells": cells, "growth": growth, "agreement": agreement,
                               "steps": steps_list}

    print()
    for system, s in summary.items():
        verdicts(system, s)
    print(f"\ntotal wall time {time.perf_counter() - wall:.0f} s; load average now "
          f"{os.getloadavg()[0]:.2f} (1 min), {os.getloadavg()[1]:.2f} (5 min)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
