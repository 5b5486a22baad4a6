"""Jinja2 templates of generated modules, and literals printed the way a formatter would."""

from __future__ import annotations

import functools
import json
import re
import textwrap

import jinja2

from .backends import BACKENDS, backend

__all__ = ["BACKENDS", "LINE_LIMIT", "environment", "literal", "printer", "runtime_imports"]

#: No line of an emitted module is longer than this.
LINE_LIMIT = 120


@functools.cache
def environment(name: str) -> jinja2.Environment:
    """The templates of backend ``name``: its own folder first, then the shared ones."""
    backend(name)
    return jinja2.Environment(
        loader=jinja2.ChoiceLoader([
            jinja2.PackageLoader(f"glep.codegen.backends.{name}", "templates"),
            jinja2.PackageLoader("glep.codegen", "templates"),
        ]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )


def printer(name: str, names: dict | None = None):
    """Backend ``name``'s expression printer (``names``: symbol → printed name)."""
    return backend(name).Printer(names)


def literal(value, indent: int = 0, limit: int = LINE_LIMIT) -> str:
    """``value`` (numbers, strings, None, tuples, lists, dicts of them) as a Python literal,
    broken over lines (items packed, one level at a time) to fit ``limit`` at ``indent``."""
    if isinstance(value, str):
        pieces = textwrap.wrap(value, limit - indent - 8, drop_whitespace=False)
        if indent + len(json.dumps(value, ensure_ascii=False)) <= limit or len(pieces) < 2:
            return json.dumps(value, ensure_ascii=False)
        inner = "".join(f"\n{' ' * (indent + 4)}{json.dumps(p, ensure_ascii=False)}"
                        for p in pieces)
        return f"({inner}\n{' ' * indent})"
    if isinstance(value, dict):
        items = [f"{json.dumps(k)}: {literal(v, indent + 4, limit - len(json.dumps(k)) - 2)}"
                 for k, v in value.items()]
        brackets = "{}"
    elif isinstance(value, (list, tuple)):
        items = [literal(v, indent + 4, limit) for v in value]
        brackets = "[]" if isinstance(value, list) else "()"
    else:
        return repr(value)
    tail = "," if isinstance(value, tuple) and len(items) == 1 else ""
    one = f"{brackets[0]}{', '.join(items)}{tail}{brackets[1]}"
    if indent + len(one) <= limit and "\n" not in one:
        return one
    lines, line = [], ""
    for item in items:
        if line and ("\n" in item or indent + 4 + len(line) + len(item) + 2 > limit):
            lines.append(line)
            line = ""
        line += f"{item}, " if "\n" not in item else f"{item},"
        if "\n" in item:
            lines.append(line)
            line = ""
    lines += [line] if line else []
    body = "".join(f"\n{' ' * (indent + 4)}{text.rstrip()}" for text in lines)
    return f"{brackets[0]}{body}\n{' ' * indent}{brackets[1]}"


def runtime_imports(text: str, backend: str, candidates, exported=()) -> str:
    """The import lines of a module: its backend if the printed code calls it, then ONE
    statement importing the runtime names it uses (``glep emit --standalone`` replaces
    that statement by the runtime's text), re-exporting ``exported``."""
    alias = {"numpy": "np", "torch": "torch"}.get(backend)  # JAX's jnp: from its runtime
    module = {"np": "import numpy as np"}.get(alias, "import torch")
    lines = [module, ""] if alias and re.search(rf"\b{alias}\.", text) else []
    candidates = (*candidates, "jnp") if alias is None else candidates
    used = sorted((n for n in candidates if n in exported or re.search(rf"\b{re.escape(n)}\b",
                   text)), key=lambda n: (not n.isupper(), not n[0].isupper(), n.lower()))
    names = "".join(f"    {n} as {n},\n" if n in exported else f"    {n},\n" for n in used)
    lines.append(f"from glep.generated._runtime_{backend} import (\n{names})")
    return "\n".join(lines)
