"""Lines of hand-written code generator and of generated code, as the layout targets them.

``codegen/`` counts every ``.py`` and ``.jinja`` file under it; ``generated/`` every ``.py``
file. Also the longest generated line and whether any generated file calls ``exec``.

    python bench/line_counts.py
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _files(folder: str, patterns) -> list[Path]:
    return sorted(p for pattern in patterns for p in (ROOT / folder).rglob(pattern)
                  if "__pycache__" not in p.parts)


def counts() -> dict:
    """Line counts and the generated code's longest line and ``exec`` calls."""
    codegen = _files("codegen", ("*.py", "*.jinja"))
    generated = _files("generated", ("*.py",))
    lines = {p: p.read_text(encoding="utf-8").splitlines() for p in codegen + generated}
    longest = max(((len(line), p.name) for p in generated for line in lines[p]), default=(0, ""))
    return {
        "codegen": sum(len(lines[p]) for p in codegen),
        "generated": sum(len(lines[p]) for p in generated),
        "longest_generated_line": longest,
        "exec_calls": [p.name for p in generated
                       if any(re.search(r"\bexec\(", line) for line in lines[p])],
    }


if __name__ == "__main__":
    c = counts()
    print(f"codegen/ (.py + .jinja): {c['codegen']} lines")
    print(f"generated/ (.py): {c['generated']} lines")
    print(f"longest generated line: {c['longest_generated_line'][0]} characters "
          f"({c['longest_generated_line'][1]})")
    print(f"generated files calling exec: {c['exec_calls'] or 'none'}")
