"""The three verbs of glep's public API, importing their machinery when first called."""

from __future__ import annotations

from pathlib import Path


def emit(problem, backend: str = "numpy", out_dir=None, *, source: str | None = None) -> str:
    """The generated module of ``problem`` for ``backend`` (``"numpy"`` or ``"torch"``).

    Returns the module's source text; with ``out_dir``, also writes it there as
    ``<name>_<backend>.py`` (atomically). :func:`load_module` imports it without a file.
    """
    from glep.codegen.emit import module_name, render, write_atomically

    source = source or f"{problem.name}.py"
    text = render(problem, backend, source)
    if out_dir is not None:
        write_atomically(Path(out_dir) / f"{module_name(problem, source, backend)}.py", text)
    return text


def load_module(problem, backend: str = "numpy"):
    """Render and import ``problem``'s generated module (cached while ``problem`` lives)."""
    from glep.codegen.emit import load_module as load

    return load(problem, backend)


def check(problem, *, rules=None, beta: float = 1e-4, steps: int | None = None) -> dict:
    """Every learning rule of ``problem`` against independent references
    (:func:`glep.verify.check`); the dict ``glep check --json`` prints."""
    from glep.verify import check as run

    return run(problem, rules=rules, beta=beta, steps=steps)


def train(problem, data, **options):
    """Fit a continuous system's parameters to trajectories (:func:`glep.learn.train.train`)."""
    from glep.learn.train import train as run

    return run(problem, data, **options)
