"""The JAX backend: printer (``jax.numpy``), array operations and a compiled runtime whose
time loops are ``lax.scan`` inside ``jax.jit`` (``templates/``); continuous systems only."""

from .printer import JaxPrinter

Printer = JaxPrinter

TITLE = "JAX"


def supports(kind: str, problem) -> bool:
    """Whether this backend writes a module for ``problem`` of kind ``kind``."""
    return kind == "continuous" and problem.system.constraints is None
