"""Backends: one folder each, holding its expression printer and its templates.

A backend's templates override the shared ones of ``codegen/templates`` of the same name
(a Jinja2 choice loader looks in the backend's folder first); every backend provides
``ops.py.jinja``, the array operations the shared runtime is written against. See
``codegen/README.md`` for the steps to add one.
"""

from __future__ import annotations

import importlib
from types import ModuleType

#: Every backend, in the order ``glep emit`` writes them.
BACKENDS = ("numpy", "torch", "jax")


def backend(name: str) -> ModuleType:
    """The backend package ``name`` (``Printer``, ``TITLE``; templates beside it)."""
    if name not in BACKENDS:
        from glep.derive.errors import CodegenError

        raise CodegenError(f"unknown target {name!r}: choose from {BACKENDS}")
    return importlib.import_module(f"{__name__}.{name}")
