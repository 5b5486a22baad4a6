"""The compiled JAX backend against the interpreted NumPy/Torch modules and against diffrax.

Problem: ``systems/coupled_oscillators.py`` (12 states, 17 parameters), the loss ∫c dt + ψ
and its gradient w.r.t. all parameters, one trajectory, float64, RK4 step dt = 0.0025 (its
bundled 2000 steps over 5 s), K = 1e3, 1e4, 1e5 steps (horizon K·dt).

Columns, in one run of this script (after compilation; compile time reported separately;
compiled code: the best of 3 calls, the interpreted modules: one call):

* glep NumPy HEL, glep Torch HEL (β = 1e-4, centered): the interpreted modules;
* glep JAX HEL (the same rule, ``generated/coupled_oscillators_jax.py``) and, for scale,
  glep JAX ``simulate`` (a forward run of the same K);
* diffrax: fixed-step Tsit5 at the same dt with backprop through the solver
  (``RecursiveCheckpointAdjoint``), and adaptive Tsit5 at rtol = atol = 1e-9 with
  ``BacksolveAdjoint`` and with ``RecursiveCheckpointAdjoint``, on the module's own vector
  field and cost kernels (the same loss).

Error: relative to adaptive Tsit5 at rtol = atol = 1e-12 (``RecursiveCheckpointAdjoint``).
Peak memory: the compiled program's buffers (XLA's memory analysis: arguments, outputs
and temporaries) for JAX/diffrax; ``tracemalloc``'s peak for NumPy; not measured for Torch.

Energy row (``--only energy`` runs it alone): ``systems/hopfield_digits.py`` (64-32-10,
hard-sigmoid units), a batch of 256 scikit-learn digits (pixels / 16, one-hot targets), one
C-EP gradient (β = 0.01, asynchronous block relaxation, default tolerance, no
positive-definiteness check, as in training) by the NumPy, Torch and JAX modules; JAX's
compile time separately; agreement with the NumPy module's estimate and error against the
implicit-differentiation reference (NumPy module). Every backend on one thread (BLAS, Torch,
XLA), set before the imports.

    .venv/bin/python bench/compiled.py            # writes bench/results/compiled.md and
                                                  # bench/results/compiled_energy.md
    .venv/bin/python bench/compiled.py --only energy   # the energy row alone
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

from glep.generated import _runtime_jax as runtime  # noqa: E402
from glep.generated import coupled_oscillators_jax as J  # noqa: E402
from glep.generated import coupled_oscillators_numpy as N  # noqa: E402
from glep.generated import coupled_oscillators_torch as T  # noqa: E402

DT = 0.0025
ONLY_ENERGY = sys.argv[1:] == ["--only", "energy"]
KS = () if ONLY_ENERGY else tuple(int(k) for k in sys.argv[1:]) or (1_000, 10_000, 100_000)
ENERGY_OUT = Path(__file__).parent / "results" / "compiled_energy.md"
INTERPRETED_MAX = 10_000  # NumPy/Torch beyond this: minutes per run, not run
OUT = Path(__file__).parent / "results" / "compiled.md"
THETA = jnp.asarray(J.PARAM_VALUES)
Z0 = jnp.asarray(J.INITIAL_STATE, dtype=float)
M = runtime._Module(J.__dict__)


def _loss_of(theta, horizon, solver, controller, adjoint, max_steps):
    """diffrax's loss: the state plus the running-cost integral, one diffeqsolve."""
    c = J.prepare(theta)

    def field(t, y, c):
        z = y[:-1]
        dz = J._vector_field(t, z, c, J.default_inputs(t))
        cost = J._state_running_cost(t, z, c, J.default_targets(t))
        return jnp.concatenate([dz, cost[None]])

    y0 = jnp.concatenate([Z0, jnp.zeros(1)])
    solution = diffrax.diffeqsolve(diffrax.ODETerm(field), solver, 0.0, horizon, DT, y0,
                                   args=c, stepsize_controller=controller, adjoint=adjoint,
                                   max_steps=max_steps)
    end = solution.ys[-1]
    return end[-1] + J._state_terminal_cost(horizon, end[:-1], c)


def diffrax_gradient(horizon, kind, steps):
    """A compiled gradient function of diffrax variant ``kind``."""
    solver = diffrax.Tsit5()
    if kind == "fixed":
        args = (diffrax.ConstantStepSize(), diffrax.RecursiveCheckpointAdjoint(), steps + 8)
    else:
        tol = {"reference": 1e-12}.get(kind, 1e-9)
        adjoint = diffrax.BacksolveAdjoint() if kind == "backsolve" else (
            diffrax.RecursiveCheckpointAdjoint())
        args = (diffrax.PIDController(rtol=tol, atol=tol), adjoint, 1_000_000)
    return jax.jit(jax.value_and_grad(lambda th: _loss_of(th, horizon, solver, *args)))


def _compiled(fn, *args, **kwargs):
    start = time.perf_counter()
    compiled = fn.lower(*args, **kwargs).compile()
    memory = compiled.memory_analysis()
    bytes_ = (memory.temp_size_in_bytes + memory.argument_size_in_bytes
              + memory.output_size_in_bytes) if memory is not None else float("nan")
    return compiled, time.perf_counter() - start, bytes_


def _timed(run, repeat=3):
    """The output and the best of ``repeat`` timings (the machine is shared)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        out = jax.block_until_ready(run())
        best = min(best, time.perf_counter() - start)
    return out, best


def measure(K):
    horizon = K * DT
    rows, reference = {}, None
    fn = diffrax_gradient(horizon, "reference", K)
    compiled, _, _ = _compiled(fn, THETA)
    reference = np.asarray(compiled(THETA)[1])

    options = {"m": M, "rule": "HEL", "method": "rk4", "steps": K, "centered": True, "kick": True,
               "residual": True, "xfun": None, "yfun": None}
    args = (Z0, THETA, horizon, jnp.asarray(1e-4), None, None)
    compiled, compile_s, memory = _compiled(runtime._gradient_core, *args, **options)
    out, seconds = _timed(lambda: compiled(*args))
    rows["glep JAX HEL"] = (seconds, compile_s, memory, np.asarray(out["theta"]))
    sim_args = (Z0, THETA, horizon, None)
    sim = {"m": M, "steps": K, "method": "rk4", "xfun": None}
    compiled, compile_s, memory = _compiled(runtime._simulate_core, *sim_args, **sim)
    _, seconds = _timed(lambda: compiled(*sim_args))
    rows["glep JAX simulate (forward only)"] = (seconds, compile_s, memory, None)
    for kind, label in (("fixed", "diffrax Tsit5 fixed step, backprop"),
                        ("backsolve", "diffrax Tsit5 1e-9, BacksolveAdjoint"),
                        ("checkpoint", "diffrax Tsit5 1e-9, RecursiveCheckpointAdjoint")):
        compiled, compile_s, memory = _compiled(diffrax_gradient(horizon, kind, K), THETA)
        out, seconds = _timed(lambda c=compiled: c(THETA))
        rows[label] = (seconds, compile_s, memory, np.asarray(out[1]))
    if K <= INTERPRETED_MAX:
        tracemalloc.start()
        start = time.perf_counter()
        g = N.gradient(rule="HEL", horizon=horizon, steps=K)
        seconds = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        rows["glep NumPy HEL"] = (seconds, None, peak, g["theta"])
        torch.set_num_threads(1)
        start = time.perf_counter()
        g = T.gradient(rule="HEL", horizon=horizon, steps=K)
        rows["glep Torch HEL"] = (time.perf_counter() - start, None, None, g["theta"].numpy())
    return rows, reference


def _cell(value, unit):
    if value is None or value != value:
        return "–"
    return {"ms": f"{value * 1e3:.3g} ms", "MB": f"{value / 2**20:.3g} MB"}[unit]


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


def main():
    energy_main()
    if ONLY_ENERGY:
        return
    lines = ["# Compiled backend: coupled oscillators, loss gradient w.r.t. 17 parameters",
             "", f"One run of `{' '.join(['.venv/bin/python', *sys.argv])}`; dt = {DT}, float64, "
             "best of 3 runs after compilation for JAX/diffrax, one run for NumPy/Torch. "
             "Error: relative to adaptive Tsit5 at 1e-12.", ""]
    summary = []
    for K in KS:
        rows, reference = measure(K)
        hel = rows["glep JAX HEL"][0]
        lines += [f"## K = {K:,} steps (horizon {K * DT:g})", "",
                  "| method | time | ÷ JAX HEL | compile | peak memory | relative error |",
                  "|---|---|---|---|---|---|"]
        for label, (seconds, compile_s, memory, grad) in rows.items():
            error = "–" if grad is None else (
                f"{np.linalg.norm(grad - reference) / np.linalg.norm(reference):.2g}")
            lines.append(f"| {label} | {_cell(seconds, 'ms')} | {seconds / hel:.3g} | "
                         f"{_cell(compile_s, 'ms')} | {_cell(memory, 'MB')} | {error} |")
        lines.append("")
        summary.append((K, rows))
        print("\n".join(lines[-len(rows) - 4:]), flush=True)
    OUT.write_text("\n".join(lines) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
