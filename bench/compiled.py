"""The compiled JAX backend against the interpreted NumPy/Torch modules and against diffrax.

Continuous systems (``--only continuous`` runs them alone): ``systems/coupled_oscillators.py``
(12 states, 17 parameters) at K = 1e3, 1e4, 1e5 RK4 steps of dt = 0.0025 (its bundled 2000
steps over 5 s; horizon K·dt), and ``systems/anharmonic_chain.py --set n=32`` (64 states, 98
parameters, its own 1600 steps over 4 s): the loss ∫c dt + ψ and its gradient w.r.t. all
parameters, one trajectory, float64.

Columns, in one run of this script (after compilation; compile time reported separately;
times in CPU seconds of the process; compiled code: the best of 3 calls, the interpreted
modules: one call):

* glep NumPy HEL, glep Torch HEL (β = 1e-4, centered): the interpreted modules;
* glep JAX HEL (the same rule, fixed RK4 steps), glep JAX HEL with adaptive steps
  (``method="dopri5"``, rtol = atol calibrated as below) and, for scale, glep JAX
  ``simulate`` (a forward run of the same K);
* diffrax: fixed-step Tsit5 at the same dt with backprop through the solver
  (``RecursiveCheckpointAdjoint``), adaptive Tsit5 with ``BacksolveAdjoint`` and with
  ``RecursiveCheckpointAdjoint``, on the module's own vector field and cost kernels.

Matched accuracy: each adaptive method's rtol = atol is the loosest of 1e-3, 10^-3.5, ...,
1e-12 whose gradient error is at most the fixed-step JAX HEL's (else the most accurate one
tried); the tolerance is an argument of one compiled function, so the search compiles once.
Error: relative to adaptive Tsit5 at rtol = atol = 1e-12 (``RecursiveCheckpointAdjoint``).
Peak memory: the compiled program's buffers (XLA's memory analysis: arguments, outputs
and temporaries) for JAX/diffrax; ``tracemalloc``'s peak for NumPy; not measured for Torch.

HRU rows (``--only hru``: these alone, written to bench/results/compiled_hru.md): the linear
HRU (``systems/linear_hru.py``), n = 64 units, m = 8 inputs, one sequence of K = 1e4 steps,
dt = 0.1, float64, loss ``½ Σ_k ‖R φ_k − y_k‖²`` (R standard normal / 8, y standard normal),
its gradient w.r.t. A, B, u and the initial state: the NumPy layer (RHEL), the Torch layer
(RHEL and BPTT, one thread), the JAX module (RHEL, ``jax.custom_vjp``; with the forward pass
by the sequential and by the parallel scan) and JAX BPTT (``jax.grad`` through the scan, the
error's reference). Then the forward pass alone at K = 1e5: the blocked parallel scan (⌊√K⌋
chunks side by side, joined by ``lax.associative_scan``) against ``lax.scan``.

    .venv/bin/python bench/compiled.py --only hru  # writes bench/results/compiled_hru.md

Energy row (``--only energy`` runs it alone): ``systems/hopfield_digits.py`` (64-32-10,
hard-sigmoid units), a batch of 256 scikit-learn digits (pixels / 16, one-hot targets), one
C-EP gradient (β = 0.01, asynchronous block relaxation, default tolerance, no
positive-definiteness check, as in training) by the NumPy, Torch and JAX modules; JAX's
compile time separately; agreement with the NumPy module's estimate and error against the
implicit-differentiation reference (NumPy module). Every backend on one thread (BLAS, Torch,
XLA), set before the imports.

    .venv/bin/python bench/compiled.py                    # writes compiled.md,
                                                          # compiled_energy.md, compiled_hru.md
    .venv/bin/python bench/compiled.py --only continuous  # one section alone: continuous,
                                                          # energy or hru
"""

from __future__ import annotations

import os
import sys
import time
import tracemalloc
from pathlib import Path

for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")  # one thread each (the machine is shared), as Torch below
os.environ.setdefault("XLA_FLAGS",
                      "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

import diffrax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from glep import load_module  # noqa: E402
from glep.derive.systemfile import load_problem  # noqa: E402
from glep.generated import _runtime_jax as runtime  # noqa: E402
from glep.generated import coupled_oscillators_jax as J  # noqa: E402
from glep.generated import coupled_oscillators_numpy as N  # noqa: E402
from glep.generated import coupled_oscillators_torch as T  # noqa: E402
from glep.generated import linear_hru_jax, linear_hru_numpy, linear_hru_torch  # noqa: E402

DT = 0.0025
ONLY = sys.argv[sys.argv.index("--only") + 1] if "--only" in sys.argv else None
KS = tuple(int(k) for k in sys.argv[1:] if k.isdigit()) or (1_000, 10_000, 100_000)
ENERGY_OUT = Path(__file__).parent / "results" / "compiled_energy.md"
CHAIN_N = 32
INTERPRETED_MAX = 10_000  # NumPy/Torch beyond this: minutes per run, not run
ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "compiled.md"
FIXED, ADAPTIVE = "glep JAX HEL (RK4, fixed dt)", "glep JAX HEL, adaptive (dopri5)"
TOLERANCES = 10.0 ** -np.arange(3, 12.25, 0.5)


def _loss_of(m, z0, theta, tolerance, horizon, solver, controller, adjoint, max_steps):
    """diffrax's loss: the state plus the running-cost integral, one diffeqsolve."""
    c = m.prepare(theta)

    def field(t, y, c):
        z = y[:-1]
        dz = m._vector_field(t, z, c, m.default_inputs(t))
        cost = m._state_running_cost(t, z, c, m.default_targets(t))
        return jnp.concatenate([dz, cost[None]])

    if controller is None:
        controller = diffrax.PIDController(rtol=tolerance, atol=tolerance)
    y0 = jnp.concatenate([z0, jnp.zeros(1)])
    solution = diffrax.diffeqsolve(diffrax.ODETerm(field), solver, 0.0, horizon, DT, y0,
                                   args=c, stepsize_controller=controller, adjoint=adjoint,
                                   max_steps=max_steps)
    end = solution.ys[-1]
    return end[-1] + m._state_terminal_cost(horizon, end[:-1], c)


def diffrax_gradient(m, z0, horizon, kind, steps):
    """A compiled-on-first-call ``(theta, tolerance) -> (loss, dC/dθ)`` of diffrax variant
    ``kind`` (the tolerance is traced: one compilation for every tolerance)."""
    if kind == "fixed":
        args = (diffrax.ConstantStepSize(), diffrax.RecursiveCheckpointAdjoint(), steps + 8)
    else:
        adjoint = (diffrax.BacksolveAdjoint() if kind == "backsolve"
                   else diffrax.RecursiveCheckpointAdjoint())
        args = (None, adjoint, 1_000_000)
    return jax.jit(jax.value_and_grad(
        lambda th, tol: _loss_of(m, z0, th, tol, horizon, diffrax.Tsit5(), *args)))


def _compiled(fn, *args, **kwargs):
    start = time.perf_counter()
    compiled = fn.lower(*args, **kwargs).compile()
    memory = compiled.memory_analysis()
    bytes_ = (memory.temp_size_in_bytes + memory.argument_size_in_bytes
              + memory.output_size_in_bytes) if memory is not None else float("nan")
    return compiled, time.perf_counter() - start, bytes_


def _timed(run, repeat=3):
    """The output and the best of ``repeat`` timings in CPU seconds of this process (on a
    shared, loaded machine the wall time measures the other users)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        out = jax.block_until_ready(run())
        best = min(best, time.process_time() - start)
    return out, best


def _error(grad, reference):
    return float(np.linalg.norm(np.asarray(grad) - reference) / np.linalg.norm(reference))


def calibrate(gradient_at, target, reference):
    """The loosest tolerance of TOLERANCES whose gradient error is at most ``target`` (else
    the most accurate one tried), and that error."""
    best = (None, float("inf"))
    for tolerance in TOLERANCES:
        error = _error(gradient_at(tolerance), reference)
        best = min(best, (tolerance, error), key=lambda pair: pair[1])
        if error <= target:
            return tolerance, error
    return best


def measure(J, N, T, K):
    """The rows of one system at K steps: label → (seconds, compile s, bytes, gradient, note)."""
    horizon, M = K * DT, runtime._Module(J.__dict__)
    theta, z0 = jnp.asarray(J.PARAM_VALUES, float), jnp.asarray(J.INITIAL_STATE, float)
    rows = {}
    compiled, _, _ = _compiled(diffrax_gradient(J, z0, horizon, "checkpoint", K), theta, 1e-12)
    reference = np.asarray(compiled(theta, 1e-12)[1])

    options = {"m": M, "rule": "HEL", "method": "rk4", "steps": K, "centered": True, "kick": True,
               "residual": True, "xfun": None, "yfun": None}
    args = (z0, theta, horizon, jnp.asarray(1e-4), None, None)
    compiled, compile_s, memory = _compiled(runtime._gradient_core, *args, **options)
    out, seconds = _timed(lambda: compiled(*args))
    target = _error(out["theta"], reference)
    rows[FIXED] = (seconds, compile_s, memory, np.asarray(out["theta"]), "")

    adaptive = {**options, "method": "dopri5", "steps": K}
    control = jnp.asarray([1e-8, 1e-8, DT])
    compiled, compile_s, memory = _compiled(runtime._gradient_core, *args, control, **adaptive)

    def adaptive_at(tolerance):
        return compiled(*args, jnp.asarray([tolerance, tolerance, DT]))

    tolerance, _ = calibrate(lambda tol: adaptive_at(tol)["theta"], target, reference)
    out, seconds = _timed(lambda: adaptive_at(tolerance))
    steps = int(out["health"]["steps"])
    rows[ADAPTIVE] = (seconds, compile_s, memory, np.asarray(out["theta"]),
                      f"tol {tolerance:.1e}, {steps} steps")
    sim_args = (z0, theta, horizon, None)
    sim = {"m": M, "steps": K, "method": "rk4", "xfun": None}
    compiled, compile_s, memory = _compiled(runtime._simulate_core, *sim_args, **sim)
    _, seconds = _timed(lambda: compiled(*sim_args))
    rows["glep JAX simulate (forward only)"] = (seconds, compile_s, memory, None, "")
    for kind, label in (("fixed", "diffrax Tsit5 fixed step, backprop"),
                        ("backsolve", "diffrax Tsit5 adaptive, BacksolveAdjoint"),
                        ("checkpoint", "diffrax Tsit5 adaptive, RecursiveCheckpointAdjoint")):
        fn = diffrax_gradient(J, z0, horizon, kind, K)
        compiled, compile_s, memory = _compiled(fn, theta, 1e-8)
        tolerance, note = 1e-8, ""
        if kind != "fixed":
            tolerance, _ = calibrate(lambda tol, c=compiled: c(theta, tol)[1], target, reference)
            note = f"tol {tolerance:.1e}"
        out, seconds = _timed(lambda c=compiled, tol=tolerance: c(theta, tol))
        rows[label] = (seconds, compile_s, memory, np.asarray(out[1]), note)
    if K <= INTERPRETED_MAX:
        tracemalloc.start()
        start = time.process_time()
        g = N.gradient(rule="HEL", horizon=horizon, steps=K)
        seconds = time.process_time() - start
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        rows["glep NumPy HEL"] = (seconds, None, peak, g["theta"], "")
        torch.set_num_threads(1)
        start = time.process_time()
        g = T.gradient(rule="HEL", horizon=horizon, steps=K)
        rows["glep Torch HEL"] = (time.process_time() - start, None, None, g["theta"].numpy(), "")
    return rows, reference


def _cell(value, unit):
    if value is None or value != value:
        return "–"
    return {"ms": f"{value * 1e3:.3g} ms", "MB": f"{value / 2**20:.3g} MB"}[unit]


def _hru_setting(K, n=64, m=8, seed=0):
    rng = np.random.default_rng(seed)
    params = {"A": rng.uniform(0.0, 1.0, n), "B": rng.normal(size=(n, m)) / m**0.5}
    return (params, rng.normal(size=(K, m)), 0.5 * rng.normal(size=2 * n),
            rng.normal(size=(n, n)) / 8, rng.normal(size=(K, n)))


def measure_hru(K=10_000, dt=0.1):
    """The linear HRU's gradient by every layer: {label: (seconds, compile, memory, grads)}."""
    params, u, state, R, y = _hru_setting(K)
    rows = {}
    for rule, scan in (("bptt", "sequential"), ("rhel", "sequential"), ("rhel", "parallel")):
        def loss(p, u, s, rule=rule, scan=scan):
            phi = linear_hru_jax.forward(p, u, s, dt=dt, beta=1.0, rule=rule, scan=scan)
            return 0.5 * ((phi @ R.T - y) ** 2).sum()

        args = ({k: jnp.asarray(v) for k, v in params.items()}, jnp.asarray(u), jnp.asarray(state))
        compiled, compile_s, memory = _compiled(jax.jit(jax.grad(loss, argnums=(0, 1, 2))), *args)
        (g, g_u, g_s), seconds = _timed(lambda c=compiled, a=args: c(*a))
        label = f"glep JAX {rule.upper()}" + (", parallel scan" if scan == "parallel" else "")
        rows[label] = (seconds, compile_s, memory, {**g, "u": g_u, "state": g_s})
    layer = linear_hru_numpy.LinearHRU(64, 8, dt=dt, beta=1.0)
    layer.A, layer.B = params["A"], params["B"]
    tracemalloc.start()
    start = time.perf_counter()
    phi = layer.forward(u[None], state[None])
    g = layer.backward((phi @ R.T - y[None]) @ R)
    seconds, peak = time.perf_counter() - start, tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    rows["glep NumPy RHEL"] = (seconds, None, peak, {k: v[0] if k in ("u", "state") else v
                                                     for k, v in g.items()})
    torch.set_num_threads(1)
    for rule in ("rhel", "bptt"):
        layer = linear_hru_torch.LinearHRU(64, 8, dt=dt, beta=1.0, rule=rule, dtype=torch.float64)
        with torch.no_grad():
            layer.A.copy_(torch.from_numpy(params["A"]))
            layer.B.copy_(torch.from_numpy(params["B"]))
        u_t = torch.from_numpy(u[None]).requires_grad_()
        s_t = torch.from_numpy(state[None]).requires_grad_()
        start = time.perf_counter()
        phi = layer(u_t, s_t)
        (0.5 * ((phi @ torch.from_numpy(R).T - torch.from_numpy(y)) ** 2).sum()).backward()
        rows[f"glep Torch {rule.upper()}"] = (time.perf_counter() - start, None, None, {
            "A": layer.A.grad, "B": layer.B.grad, "u": u_t.grad[0], "state": s_t.grad[0]})
    return rows


def measure_hru_scan(K=100_000, dt=0.1):
    """The linear HRU's forward pass at K steps: {scan: (seconds, compile, memory)}."""
    params, u, state, _, _ = _hru_setting(K)
    args = ({k: jnp.asarray(v) for k, v in params.items()}, jnp.asarray(u), jnp.asarray(state))
    compiled, out = {}, {}
    for scan in ("sequential", "parallel"):
        run = jax.jit(lambda p, u, s, scan=scan: linear_hru_jax.simulate(p, u, s, dt=dt, scan=scan))
        compiled[scan] = _compiled(run, *args)
    best = dict.fromkeys(compiled, float("inf"))
    for _ in range(7):  # interleaved, best of 7 each: the shared machine's load varies
        for scan, (c, _, _) in compiled.items():
            out[scan], seconds = _timed(lambda c=c: c(*args), repeat=1)
            best[scan] = min(best[scan], seconds)
    rows = {scan: (best[scan], *compiled[scan][1:]) for scan in compiled}
    difference = float(jnp.abs(out["parallel"][0] - out["sequential"][0]).max()
                       / jnp.abs(out["sequential"][0]).max())
    return rows, difference


def _hru_error(grads, reference):
    keys = ("A", "B", "u", "state")
    return max(float(np.linalg.norm(np.asarray(grads[k]) - np.asarray(reference[k]))
                     / np.linalg.norm(np.asarray(reference[k]))) for k in keys)


def hru_main():
    out = OUT.with_name("compiled_hru.md")
    rows = measure_hru()
    reference = rows["glep JAX BPTT"][3]
    rhel = rows["glep JAX RHEL"][0]
    lines = ["# Compiled backend: linear HRU (n = 64, m = 8), gradient w.r.t. A, B, u, state",
             "", f"One run of `{' '.join(['.venv/bin/python', *sys.argv])}` (load average at the "
             f"start {', '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores, a "
             "shared machine); one sequence, dt = 0.1, "
             "β = 1, float64; best of 3 runs after compilation for JAX (forward passes: best of 7, "
             "interleaved), one run for NumPy/Torch "
             "(Torch on one thread). Error: the largest relative error over A, B, u and state, "
             "against JAX BPTT.", "", "## Gradient, K = 10,000 steps", "",
             "| method | time | ÷ JAX RHEL | compile | peak memory | relative error |",
             "|---|---|---|---|---|---|"]
    for label, (seconds, compile_s, memory, grads) in rows.items():
        lines.append(f"| {label} | {_cell(seconds, 'ms')} | {seconds / rhel:.3g} | "
                     f"{_cell(compile_s, 'ms')} | {_cell(memory, 'MB')} | "
                     f"{_hru_error(grads, reference):.2g} |")
    print("\n".join(lines), flush=True)
    scans, difference = measure_hru_scan()
    sequential = scans["sequential"][0]
    lines += ["", "## Forward pass, K = 100,000 steps: parallel scan against sequential scan", "",
              "| forward pass | time | ÷ sequential | compile | peak memory |",
              "|---|---|---|---|---|"]
    for scan, (seconds, compile_s, memory) in scans.items():
        name = {"sequential": "`lax.scan`", "parallel": "blocked, `lax.associative_scan`"}[scan]
        lines.append(f"| {scan} ({name}) | {_cell(seconds, 'ms')} | {seconds / sequential:.3g} | "
                     f"{_cell(compile_s, 'ms')} | {_cell(memory, 'MB')} |")
    lines += ["", f"Positions, parallel against sequential: largest difference {difference:.2g} "
              "relative to the largest position.", ""]
    print("\n".join(lines[-len(scans) - 6:]), flush=True)
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out}")


def energy_rows(batch=256, beta=0.01):
    """The energy row: one C-EP gradient of hopfield_digits on a batch of digits."""
    from sklearn.datasets import load_digits

    from glep.generated import hopfield_digits_jax as EJ
    from glep.generated import hopfield_digits_numpy as EN
    from glep.generated import hopfield_digits_torch as ET

    data = load_digits()
    x, y = data.data[:batch] / 16.0, np.eye(10)[data.target[:batch]]
    theta = EN.initial_params()
    options = {"rule": "C-EP", "beta": beta, "check": False}
    reference = EN.implicit_gradient(theta, x, y)["grad"]
    theta_j = {k: jnp.asarray(v) for k, v in theta.items()}
    start = time.perf_counter()
    jax.block_until_ready(EJ.gradient(theta_j, x, y, **options)["grad"])
    compile_s = time.perf_counter() - start
    torch.set_num_threads(1)
    theta_t = {k: torch.as_tensor(v) for k, v in theta.items()}
    x_t, y_t = torch.as_tensor(x), torch.as_tensor(y)
    runs = {"glep NumPy": lambda: EN.gradient(theta, x, y, **options)["grad"],
            "glep Torch": lambda: ET.gradient(theta_t, x_t, y_t, **options)["grad"],
            "glep JAX": lambda: jax.block_until_ready(
                EJ.gradient(theta_j, x, y, **options)["grad"])}
    rows = {}
    for label, run in runs.items():
        grad, seconds = _timed(run)
        rows[label] = (seconds, compile_s if label == "glep JAX" else None,
                       {k: np.asarray(v) for k, v in grad.items()})
    return rows, reference


def _flat(grad):
    return np.concatenate([np.ravel(grad[k]) for k in sorted(grad)])


def energy_main():
    rows, reference = energy_rows()
    base, ref = rows["glep NumPy"], _flat(reference)
    lines = ["# Compiled backend: a layered energy on digits, C-EP gradient, batch 256", "",
             f"One run of `{' '.join(['.venv/bin/python', *sys.argv])}` (see the header of "
             "bench/compiled.py): hopfield_digits 64-32-10, β = 0.01, async block relaxation, "
             "float64, best of 3 runs (JAX after compilation); NumPy's BLAS, Torch and XLA "
             "on one thread each.", "",
             "| module | time | ÷ JAX | compile | vs NumPy estimate | vs implicit reference |",
             "|---|---|---|---|---|---|"]
    jax_s = rows["glep JAX"][0]
    for label, (seconds, compile_s, grad) in rows.items():
        agree = np.linalg.norm(_flat(grad) - _flat(base[2])) / np.linalg.norm(_flat(base[2]))
        error = np.linalg.norm(_flat(grad) - ref) / np.linalg.norm(ref)
        lines.append(f"| {label} | {_cell(seconds, 'ms')} | {seconds / jax_s:.3g} | "
                     f"{_cell(compile_s, 'ms')} | {agree:.2g} | {error:.2g} |")
    print("\n".join(lines), flush=True)
    ENERGY_OUT.write_text("\n".join(lines) + "\n")
    print(f"wrote {ENERGY_OUT}")


def table(title, rows, reference):
    """One system and K: the rows' table, times relative to the fixed-step JAX HEL."""
    hel = rows[FIXED][0]
    lines = [title, "",
             "| method | time | ÷ JAX HEL | compile | peak memory | relative error | note |",
             "|---|---|---|---|---|---|---|"]
    for label, (seconds, compile_s, memory, grad, note) in rows.items():
        error = "–" if grad is None else f"{_error(grad, reference):.2g}"
        lines.append(f"| {label} | {_cell(seconds, 'ms')} | {seconds / hel:.3g} | "
                     f"{_cell(compile_s, 'ms')} | {_cell(memory, 'MB')} | {error} | {note} |")
    return [*lines, ""]


def targets(results):
    """The targets' ratios from the rows of every system and K."""
    lines = ["## Targets", ""]
    for (name, K), rows in results.items():
        hel, adaptive = rows[FIXED], rows[ADAPTIVE]
        forward = rows["glep JAX simulate (forward only)"][0]
        fastest = min((v[0], k) for k, v in rows.items() if k.startswith("diffrax"))
        ours = min(hel[0], adaptive[0])
        line = (f"- {name}, K = {K:,}: JAX HEL ÷ forward simulate = {hel[0] / forward:.2f} "
                f"(target ≤ 2.5); best JAX HEL (fixed {_cell(hel[0], 'ms')}, adaptive "
                f"{_cell(adaptive[0], 'ms')}) ÷ fastest diffrax ({fastest[1]}, "
                f"{_cell(fastest[0], 'ms')}) = {ours / fastest[0]:.2f} (target ≤ 2)")
        if "glep NumPy HEL" in rows:
            ratio = rows["glep NumPy HEL"][0] / hel[0]
            line += f"; NumPy HEL ÷ JAX HEL = {ratio:.0f} (target ≥ 100)"
        lines.append(line)
    memory = [rows[FIXED][2] for (name, _), rows in results.items()
              if name == "coupled oscillators"]
    if len(memory) > 1:
        lines.append(f"- JAX HEL peak memory, coupled oscillators, K = {KS[0]:,} → {KS[-1]:,}: "
                     f"{_cell(memory[0], 'MB')} → {_cell(memory[-1], 'MB')} "
                     "(target: growth ≤ 1.2× or under 1 MB)")
    return [*lines, ""]


def continuous_main():
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    lines = ["# Compiled backend: continuous systems, loss gradient w.r.t. all parameters",
             "", f"One run of `{' '.join(['.venv/bin/python', *sys.argv])}` (load average at "
             f"the start {load} on {os.cpu_count()} cores, a shared machine); dt = {DT}, float64, "
             "times in CPU seconds of the process (wall time on a loaded machine measures the "
             "others), best of 3 runs after compilation for JAX/diffrax, one run for NumPy/Torch; "
             "compile times are wall time. Error: "
             "relative to adaptive Tsit5 at 1e-12. Adaptive rows: rtol = atol calibrated to the "
             "fixed-step JAX HEL's error (see the script's header).", ""]
    results = {}
    for K in KS:
        rows, reference = measure(J, N, T, K)
        results["coupled oscillators", K] = rows
        title = f"## Coupled oscillators, K = {K:,} steps (horizon {K * DT:g})"
        lines += table(title, rows, reference)
        print("\n".join(lines[-len(rows) - 4:]), flush=True)
    chain = load_problem(ROOT / "systems" / "anharmonic_chain.py", {"n": CHAIN_N})
    modules = [load_module(chain, backend) for backend in ("jax", "numpy", "torch")]
    K = modules[0].STEPS
    rows, reference = measure(*modules, K)
    results[f"anharmonic chain n = {CHAIN_N}", K] = rows
    title = (f"## Anharmonic chain, n = {CHAIN_N} ({len(modules[0].STATE)} states, "
             f"{len(modules[0].PARAMS)} parameters), K = {K:,} steps (horizon {K * DT:g})")
    lines += table(title, rows, reference)
    print("\n".join(lines[-len(rows) - 4:]), flush=True)
    lines += targets(results)
    print("\n".join(targets(results)))
    OUT.write_text("\n".join(lines) + "\n")
    print(f"wrote {OUT}")


def main():
    energy_main()
    continuous_main()
    hru_main()


if __name__ == "__main__":
    sections = {"continuous": continuous_main, "energy": energy_main, "hru": hru_main}
    if ONLY not in (None, *sections):
        sys.exit(f"--only {ONLY}: the sections that run alone are {', '.join(sections)}")
    sections[ONLY]() if ONLY else main()
