"""The JAX backend: printer (``jax.numpy``), array operations and a compiled runtime whose
time loops are ``lax.scan`` inside ``jax.jit`` (``templates/``); continuous systems and
Hamiltonian recurrent units (``runtime_hru.py.jinja``, ``hru.py.jinja``)."""

from .printer import JaxPrinter

Printer = JaxPrinter

TITLE = "JAX"


def supports(kind: str, problem) -> bool:
    """Whether this backend writes a module for ``problem`` of kind ``kind``."""
    return kind == "hru" or (kind == "continuous" and problem.system.constraints is None)
