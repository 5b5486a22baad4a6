"""The JAX backend: printer (``jax.numpy``), array operations and a compiled runtime whose
time loops are ``lax.scan`` and relaxations ``lax.while_loop`` inside ``jax.jit``
(``templates/``); continuous systems, static energies and Hamiltonian recurrent units
(``runtime_hru.py.jinja``, ``hru.py.jinja``)."""

from .printer import JaxPrinter

Printer = JaxPrinter

TITLE = "JAX"

#: What this backend writes (``glep emit`` names it when it refuses a system).
SCOPE = "continuous systems without constraints, static energies and HRUs"


def supports(kind: str, problem) -> bool:
    """Whether this backend writes a module for ``problem`` of kind ``kind``."""
    unconstrained = kind == "continuous" and problem.system.constraints is None
    return kind in ("energy", "hru") or unconstrained
