"""The layout's promises: one-way layering between rooms, and the size of the code generator
and of the generated code (``bench/line_counts.py`` prints the same numbers)."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: Room → the glep packages its modules may import (derive → codegen → generated; learn and
#: verify use generated modules; report reads all of them; the CLI and the public API sit on
#: top).
ALLOWED = {
    "derive": {"glep.derive"},
    "codegen": {"glep.derive", "glep.codegen"},
    "generated": {"glep.generated"},
    "systems": {"glep"},
    "learn": {"glep.derive", "glep.codegen", "glep.generated", "glep.learn"},
    "verify": {"glep.derive", "glep.codegen", "glep.generated", "glep.verify"},
    "report": {"glep.derive", "glep.codegen", "glep.generated", "glep.verify", "glep.learn",
               "glep.report"},
}


def _imports(path: Path, package: str):
    """Absolute names of the glep modules a file imports (relative imports resolved)."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name.split(".")[0] == "glep")
        elif isinstance(node, ast.ImportFrom):
            name = node.module or ""
            if node.level:
                name = importlib.util.resolve_name("." * node.level + name, package)
            if name.split(".")[0] == "glep":
                yield name


def _package(room: str, path: Path) -> str:
    parts = path.relative_to(ROOT / room).parts[:-1]  # a module's package, or a package's own
    return ".".join(("glep", room, *parts))


@pytest.mark.parametrize("room", sorted(ALLOWED))
def test_no_import_runs_back_up(room):
    wrong = []
    for path in sorted((ROOT / room).rglob("*.py")):
        for name in _imports(path, _package(room, path)):
            top = name if room == "systems" else ".".join(name.split(".")[:2])
            if top not in ALLOWED[room]:
                wrong.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not wrong, "\n".join(wrong)


#: The code generator's size: 4,300 lines when one pipeline replaced four, 4,267 once every kind
#: printed its kernels through the one kernel IR; each feature added since then brings its own
#: lines, listed here so that growth stays deliberate.
CODEGEN_CAP = 4254 + sum({
    "energy and chain modules: argument checks, relaxation stopped on the residual": 95,
    "HRU layers: checked attributes and inputs, half precision": 69,
    "holonomic constraints: RATTLE, its echo and BPTT": 192,
    "costs on velocities and momenta, HEL-gain": 15,
    "HSSM kind": 3,
    "feedforward kind (DTP): the declared layers rendered as constants": 29,
    "JAX backend": 691,
    "binary synapses and neurons: scale parameters, sign initialisation, binary relaxation": 27,
    "convolution and pooling in layered energies (printing, runtime section)": 128,
    "vector-field kind (distinct forward and backward weights): layers as constants": 23,
    "HRUs in JAX: echo as custom_vjp, parallel scan, Equinox module": 288,
    "JAX energies: compiled relaxation, the EP family, implicit reference (runtime section)": 471,
    "JAX energies: convolution and pooling through lax.conv_general_dilated": 71,
    "energy gradients that scale: contractions of ∂E/∂θ, per-layer blocks, Lanczos check": 185,
    "JAX adaptive-step HEL (Dormand–Prince 5(4), echo on the recorded grid)": 113,
    "DTP for the maps of ff-EBM chains: the chain gradient's map hook": 1,
    "JAX kernels: outputs stacked at most 8 at a time, one fused loop on XLA:CPU": 8,
    "a relaxation budget (max_iterations) through every EP estimator and chain pass": 6,
    "RelaxationFailed: one exception for a relaxation out of budget or not at a minimum": 8,
}.values())
#: The generated code of the systems bundled then (runtimes included): 16,000 lines; the
#: runtimes' share of the features above is added (both backends).
GENERATED_CAP = 16000 + sum({
    "energy and chain modules: argument checks, residual stop": 173,
    "HRU layers: checks, half precision": 152,
    "holonomic constraints: RATTLE": 302,
    "JAX backend: its runtime": 639,
    "JAX backend: the modules of the layout systems": 4814,
    "binary synapses and neurons": 40,
    "convolution and pooling in layered energies": 162,
    "HRUs in JAX: the runtime section and the two modules": 380,
    "JAX energies: runtime section, modules of hopfield_digits and hopfield_smooth": 977,
    "JAX energies: convolution and pooling (runtime section)": 74,
    "energy gradients that scale: contractions, per-layer blocks, Lanczos (all backends)": 774,
    "JAX adaptive-step HEL: its runtime": 113,
    "DTP for the maps of ff-EBM chains: the map hook": 2,
    "JAX kernels stacked 8 at a time: its runtime": 8,
}.values())


def test_code_sizes_and_generated_lines():
    spec = importlib.util.spec_from_file_location("line_counts", ROOT / "bench" / "line_counts.py")
    line_counts = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(line_counts)
    c = line_counts.counts()
    assert c["codegen"] <= CODEGEN_CAP, c["codegen"]
    assert c["generated_layout_systems"] <= GENERATED_CAP, c["generated_layout_systems"]
    assert c["longest_generated_line"][0] <= 120, c["longest_generated_line"]
    assert c["exec_calls"] == []
