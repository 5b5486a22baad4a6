"""Lines of hand-written code generator and of generated code, as the layout targets them.

``codegen/`` counts every ``.py`` and ``.jinja`` file under it; ``generated/`` every ``.py``
file, and separately the runtimes plus the modules of the systems bundled when the layout's
targets were set (:data:`LAYOUT_SYSTEMS`: systems added later grow the total, not that
count). Also the longest generated line and whether any generated file calls ``exec``.

    python bench/line_counts.py
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: The bundled systems when the targets were set (16 systems, 32 modules).
LAYOUT_SYSTEMS = (
    "anharmonic_chain", "chain_identification", "coupled_oscillators", "damped_oscillator",
    "double_pendulum", "ff_ebm", "harmonic_oscillator", "hopfield_digits", "hopfield_smooth",
    "learned_masses", "linear_hru", "magnetic_particle", "nonlinear_hru", "oscillator_filter",
    "pendulum", "terminal_cost",
)


def _files(folder: str, patterns) -> list[Path]:
    return sorted(p for pattern in patterns for p in (ROOT / folder).rglob(pattern)
                  if "__pycache__" not in p.parts)


def counts() -> dict:
    """Line counts and the generated code's longest line and ``exec`` calls."""
    codegen = _files("codegen", ("*.py", "*.jinja"))
    generated = _files("generated", ("*.py",))
    lines = {p: p.read_text(encoding="utf-8").splitlines() for p in codegen + generated}
    longest = max(((len(line), p.name) for p in generated for line in lines[p]), default=(0, ""))
    layout = [p for p in generated if p.stem.startswith("_runtime_")
              or p.stem.rsplit("_", 1)[0] in LAYOUT_SYSTEMS]
    return {
        "codegen": sum(len(lines[p]) for p in codegen),
        "generated": sum(len(lines[p]) for p in generated),
        "generated_layout_systems": sum(len(lines[p]) for p in layout),
        "longest_generated_line": longest,
        "exec_calls": [p.name for p in generated
                       if any(re.search(r"\bexec\(", line) for line in lines[p])],
    }


if __name__ == "__main__":
    c = counts()
    print(f"codegen/ (.py + .jinja): {c['codegen']} lines")
    print(f"generated/ (.py): {c['generated']} lines; runtimes and the modules of the "
          f"{len(LAYOUT_SYSTEMS)} layout systems: {c['generated_layout_systems']} lines")
    print(f"longest generated line: {c['longest_generated_line'][0]} characters "
          f"({c['longest_generated_line'][1]})")
    print(f"generated files calling exec: {c['exec_calls'] or 'none'}")
