"""Constrained systems: the kernels of RATTLE and of the constraint manifold.

They are printed into the continuous module (:mod:`glep.codegen.continuous`) from the plain
data of :class:`glep.derive.constraints.Manifold`; the integrator, its discrete echo and the
tangent projection run in the shared runtime (``templates/runtime_constrained.py.jinja``).
"""

from __future__ import annotations

from glep.derive.model import Model, sparse


def queue_constrained(w, model: Model) -> None:
    """Add the kernels of ``model``'s constraints to the kernel list ``w`` (none without)."""
    manifold = model.manifold
    if manifold is None:
        return
    n, k = model.n, len(manifold.constraints)
    w.add("_manifold_jacobian", "z, c", "∂(g, dg/dt)/∂z: the tangent space of the manifold.",
          sparse(manifold.state_jacobian), [("z", model.state)], kind="matrix",
          shape=(2 * k, 2 * n))
    if manifold.rattle is not None:
        return
    q, p = model.canonical.coords, model.canonical.momenta
    w.add("_constraint", "z, c", "g(q) at positions z.", manifold.constraints, [("z", q)])
    w.add("_constraint_jacobian", "z, c", "G = ∂g/∂q at positions z.", sparse(manifold.jacobian),
          [("z", q)], kind="matrix", shape=(k, n))
    w.add("_manifold_residual", "z, c", "(g, G ∂H/∂p) at a canonical state, zero on the manifold.",
          manifold.residual, [("z", q + p)])
    w.add("_drift_velocity", "z, c", "∂T/∂p = W p at momenta z.", manifold.drift, [("z", p)])
    w.add("_kick_force", "t, z, c, x", "−∂V/∂q at positions z (no constraint force).",
          manifold.force, [("z", q), ("x", model.inputs)])
