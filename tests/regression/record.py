"""Record the numerical regression fixture of the generated modules.

    python tests/regression/record.py --generated DIR --out FILE

For every generated module in DIR (``<system>_numpy.py`` and ``<system>_torch.py``), this
runs the calls that :func:`tests.regression.calls.plan` lists and stores each call (its
kind and keyword arguments), the arrays it needs and everything it returns, in float64 at
full precision, in FILE (JSON; ``float.__repr__`` round-trips exactly):

* continuous systems (``simulate``/``gradient``/``RULES``): the primitives (vector field,
  Hamiltonian, canonical field and Jacobian, canonical coordinates, leapfrog frequency,
  Torch ``VectorField``) at a fixed time and states; ``simulate`` with every method of
  METHODS (final state and 11 states along the run, at grid indices round(i·steps/10));
  ``loss``; ``echo_retrace`` (time-reversible systems); ``gradient`` (its ``loss``,
  ``theta``, ``z0``) for every available rule of RULES plus BPTT in Torch, β = 1e-3,
  centered and one-sided (CIVP, PFVP, HEL), without the boundary residual and without the
  momentum kick (CIVP, and HEL or else PFVP), with ``method="leapfrog"`` for HEL (and
  BPTT) where METHODS has it, for a batch of two initial states (HEL or PFVP, adjoint)
  and with sampled (spline) inputs and targets. CBVP is NumPy only: in Torch the call is
  recorded as raising ValueError. Every call passes ``steps = max(20, STEPS // 20)``
  (stored with the call) so that the whole fixture runs in about a minute;
  ``boundary_value_loss`` is not called separately (CBVP's ``loss`` is the same number);
* static energies (Hopfield): ``initial_params``; energy, its gradient, Hessian,
  ∂E/∂θ, its JVP, ∂E/∂x, the cost and its gradient, ``descent``, ``iterate`` (and
  ``layer_curvature`` where block updates are exact) at a fixed seeded state; ``relax``
  with every relaxation method; ``gradient`` for every two-state rule of RULES (and
  C-EP with the other relaxations, C-EP and C-CpL from rest); ``implicit_gradient``;
  ``continual_ep`` (20 steps, the "continual-EP" rule); ``predict``;
* ff-EBM: ``initial_params``, ``forward``, ``loss``, ``gradient``, ``implicit_gradient``
  (Torch), ``predict``, ``feed`` and ``feed_vjp``;
* HRU layers: ``energy``, ``leapfrog_step``, ``simulate``, ``echo`` (both estimators),
  ``health``, and the layer's forward pass and the gradients of Σ output² (RHEL, and BPTT
  in Torch) at fixed parameters, inputs and initial state; in Torch also the layer's
  seeded initialization.

The fixture freezes the numbers of the generated modules at one commit (the one before the
code generator's refactor); ``test_regression.py`` repeats every stored call and requires
agreement to 1e-12 norm-wise. Re-record it only deliberately, when a change of the numbers
is intended and understood, never to make a failing test pass.

At 1e-12 the numbers depend on the libraries: NumPy 2.3.5 (the version the data sets' numba
accepts) moves 29 calls of that commit's own modules by 1e-12…1e-11 against NumPy 2.4.6. After
such a change of environment, record that commit's modules again in the new environment::

    git archive 5461ac5 generated | tar -x -C /tmp/before
    python tests/regression/record.py --generated /tmp/before/generated --out gradients.json

and put back the entries listed under ``restopped``: groups of calls whose numbers changed on
purpose since, each with why and how the new numbers were checked, recorded from the modules
after that change.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
import warnings
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make ``tests.regression`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.regression import calls

ROOT = Path(__file__).resolve().parents[2]


def module_names(generated: Path) -> list[str]:
    """Every generated module of DIR, ``<system>_numpy`` and ``<system>_torch``."""
    names = sorted(p.stem for p in generated.glob("*.py")
                   if p.stem.endswith(("_numpy", "_torch")))
    if not names:
        raise SystemExit(f"no generated modules in {generated}")
    return names


def record_module(generated: Path, name: str, log) -> dict:
    module = calls.load_module(generated / f"{name}.py")
    planned, inputs = calls.plan(name, module)
    entries = {}
    for label, call in planned.items():
        start = time.perf_counter()
        outputs = calls.run(module, name, call, inputs)
        seconds = time.perf_counter() - start
        entry = {"family": call["family"], "kind": call["kind"], "kwargs": call["kwargs"]}
        if "raises" in call:
            entry["raises"] = call["raises"]
        entry["seconds"] = round(seconds, 3)
        entry["outputs"] = {k: calls.encode(v) for k, v in sorted(outputs.items())}
        entries[label] = entry
        log(f"  {label}: {seconds:.2f}s, {len(outputs)} array(s)")
    return {"inputs": {k: calls.encode(v) for k, v in sorted(inputs.items())},
            "entries": entries}


def dump(fixture: dict) -> str:
    """JSON with one line per stored call (diff-friendly, compact)."""

    def line(value):
        return json.dumps(value, separators=(",", ":"), allow_nan=True)

    head = {k: v for k, v in fixture.items() if k != "modules"}
    parts = ["{"]
    for key, value in head.items():
        parts.append(f" {line(key)}: {line(value)},")
    parts.append(' "modules": {')
    modules = list(fixture["modules"].items())
    for i, (name, data) in enumerate(modules):
        parts.append(f"  {line(name)}: {{")
        parts.append(f"   \"inputs\": {line(data['inputs'])},")
        parts.append('   "entries": {')
        entries = list(data["entries"].items())
        for j, (label, entry) in enumerate(entries):
            comma = "," if j < len(entries) - 1 else ""
            parts.append(f"    {line(label)}: {line(entry)}{comma}")
        parts.append("   }")
        parts.append("  }" + ("," if i < len(modules) - 1 else ""))
    parts.append(" }")
    parts.append("}")
    return "\n".join(parts) + "\n"


def source_of(generated: Path) -> dict:
    """The git commit DIR was checked out at, and whether DIR differs from it."""

    def git(*args):
        return subprocess.run(["git", "-C", str(generated), *args], capture_output=True,
                              text=True, check=True).stdout.strip()

    try:
        return {"commit": git("rev-parse", "HEAD"),
                "modified": bool(git("status", "--porcelain", "--", "."))}
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "modified": None}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--generated", type=Path, default=ROOT / "generated",
                        help="directory of the generated modules to record")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("gradients.json"),
                        help="the fixture to write")
    parser.add_argument("--only", nargs="*", default=None,
                        help="record only these modules (for a trial run; do not commit)")
    args = parser.parse_args(argv)

    import numpy as np
    import torch

    warnings.simplefilter("error")  # as the test suite does: a warning fails the recording
    generated = args.generated.resolve()
    names = module_names(generated)
    if args.only:
        names = [n for n in names if n in args.only]
    fixture = {
        "about": "Numerical regression fixture of the generated modules: written by "
                 "tests/regression/record.py, checked by test_regression.py. Re-record only "
                 "deliberately.",
        "format": 1,
        "generated": str(generated),
        "source": source_of(generated),
        "rtol": calls.RTOL,
        "versions": {"python": platform.python_version(), "numpy": np.__version__,
                     "torch": torch.__version__},
        "modules": {},
    }
    total = time.perf_counter()
    for name in names:
        print(name, flush=True)
        start = time.perf_counter()
        fixture["modules"][name] = record_module(generated, name,
                                                 lambda s: print(s, flush=True))
        print(f"  = {time.perf_counter() - start:.2f}s", flush=True)
    args.out.write_text(dump(fixture))
    count = sum(len(m["entries"]) for m in fixture["modules"].values())
    print(f"recorded {count} calls of {len(names)} modules in "
          f"{time.perf_counter() - total:.1f}s to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
