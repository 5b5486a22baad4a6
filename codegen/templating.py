"""Jinja2 templates of generated modules, and literals printed the way a formatter would."""

from __future__ import annotations

import functools
import json

import jinja2

from .backends import BACKENDS, backend

__all__ = ["BACKENDS", "environment", "literal", "printer"]


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


def literal(values) -> str:
    """A tuple literal with double-quoted strings, as a formatter would write it."""
    items = [json.dumps(v) if isinstance(v, str) else repr(v) for v in values]
    return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"


