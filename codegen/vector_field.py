"""Vector-field networks (:mod:`glep.derive.vector_field`) rendered as their declared
structure: the layers, parameters and relaxation settings that ``glep.learn.vector_field``
builds and trains."""

from __future__ import annotations

from .templating import declared_module


def render_vector_field(problem, backend: str, source: str, command: str | None = None) -> str:
    """The module's source text (the same constants for every backend)."""
    return declared_module(
        problem, backend, "a layered vector field with forward and backward weights", source,
        command, "glep.learn.vector_field relaxes it and trains it (VF-EP or BPTT).", {
            "LAYERS": problem.layers, "PARAMS": dict(problem.params), "BETA": problem.beta,
            "FREE_STEPS": problem.free_steps, "NUDGED_STEPS": problem.nudged_steps,
            "FEEDBACK_DECAY": problem.feedback_decay, "SEED": problem.seed})
