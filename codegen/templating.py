"""Jinja2 templates of generated modules, and literals printed the way a formatter would."""

from __future__ import annotations

import json

import jinja2

#: Backends every kind is printed for.
BACKENDS = ("numpy", "torch")


def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("glep.codegen", "templates"),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )


def literal(values) -> str:
    """A tuple literal with double-quoted strings, as a formatter would write it."""
    items = [json.dumps(v) if isinstance(v, str) else repr(v) for v in values]
    return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"


