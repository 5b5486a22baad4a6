"""Feedforward networks (:mod:`glep.derive.feedforward`) rendered as their declared structure:
the layers, shapes and L-DRL defaults that ``glep.learn.dtp`` builds and trains."""

from __future__ import annotations

from glep.derive.feedforward import Dense

from .templating import declared_module


def render_feedforward(problem, backend: str, source: str, command: str | None = None) -> str:
    """The module's source text (the same constants for every backend)."""
    layers = tuple(("dense", x.units) if isinstance(x, Dense) else
                   ("conv2d", x.channels, x.kernel, x.stride, x.padding) for x in problem.layers)
    return declared_module(
        problem, backend, "a feedforward network and its feedback layers", source, command,
        "LAYERS: (\"dense\", units) or (\"conv2d\", channels, kernel, stride, padding); "
        "SHAPES: the states\ns_0 … s_N; glep.learn.dtp builds, trains (DTP with L-DRL "
        "feedback, or BP) and diagnoses it.", {
            "LAYERS": layers, "SHAPES": tuple(problem.shapes), "PARAMS": dict(problem.params),
            "FEEDBACK_PARAMS": dict(problem.feedback_params), "ACTIVATION": problem.activation,
            "COST": problem.cost, "BETA": problem.beta, "SIGMA": tuple(problem.sigma),
            "FEEDBACK_ITERATIONS": problem.feedback_iterations,
            "FEEDBACK_LR": problem.feedback_lr, "SEED": problem.seed})
