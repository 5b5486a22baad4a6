"""Render problems of every kind into NumPy and Torch modules, deterministically.

Render (through the problem's kind, :mod:`glep.codegen.kinds`) → ``compile`` (catches
syntax errors) → write atomically (temporary file, then rename). The header names the
source system and the command that regenerates the file; there are no timestamps, so
emitting twice gives byte-identical files.

>>> from glep.derive.systemfile import load_problem
>>> from pathlib import Path
>>> problem = load_problem(Path(__file__).parent.parent / "systems" / "pendulum.py")
>>> load_module(problem, "numpy").simulate(steps=10).shape
(11, 2)
"""

from __future__ import annotations

import functools
import os
import re
import tempfile
import types
import weakref
from pathlib import Path

from glep.derive.errors import CodegenError, WriteError

from .backends import BACKENDS
from .backends import backend as backend_module
from .kinds import kind_of
from .templating import environment

__all__ = ["BACKENDS", "emits", "load_module", "module_name", "refusal", "render", "render_runtime",
           "runtime_name", "write_atomically"]

#: The one statement of a generated module that imports the shared runtime.
_RUNTIME_IMPORT = re.compile(r"^from glep\.generated\._runtime_(\w+) import \([^)]*\)\n", re.M)


def render(problem, backend: str, source: str, command: str | None = None,
           standalone: bool = False, **options) -> str:
    """The generated module's source text for ``problem``, whatever its kind;
    ``standalone``: with the shared runtime's text in place of its import; ``options`` go
    to the kind's renderer (e.g. ``rules=False``: a continuous system's simulator only)."""
    if backend not in BACKENDS:
        raise CodegenError(f"unknown target {backend!r}: choose from {BACKENDS}")
    if not emits(problem, backend):
        raise CodegenError(refusal(source, backend))
    text = kind_of(problem).render(problem, backend, source, command, **options)
    if standalone:
        text = _RUNTIME_IMPORT.sub(lambda _: _inlined(backend), text, count=1)
    compile(text, f"<glep {backend} module for {source}>", "exec")
    return text


def emits(problem, backend: str) -> bool:
    """Whether ``backend`` writes a module for ``problem`` (every backend without a
    ``supports(kind, problem)`` writes every kind)."""
    supports = getattr(backend_module(backend), "supports", None)
    return supports is None or supports(kind_of(problem).name, problem)


def refusal(source: str, backend: str) -> str:
    """Why ``backend`` writes no module for the system of ``source``."""
    return (f"the {backend} backend writes {backend_module(backend).SCOPE} only: {source} is not "
            f"one; use --target numpy torch")


def runtime_name(backend: str) -> str:
    """The runtime module's name in ``glep.generated`` (``_runtime_numpy``...)."""
    return f"_runtime_{backend}"


@functools.cache
def render_runtime(backend: str) -> str:
    """The shared runtime of ``backend``'s generated modules (``_runtime_<backend>.py``)."""
    template = environment(backend).get_template("runtime.py.jinja")
    text = template.render(backend=backend, backend_title=backend_module(backend).TITLE,
                           command="glep emit systems/*.py")
    text = re.sub(r"\n{4,}", "\n\n\n", text)
    compile(text, f"<glep {backend} runtime>", "exec")
    return text


def _inlined(backend: str) -> str:
    """The runtime's code without its docstring, to stand in for its import."""
    text = render_runtime(backend)
    body = text[text.index('"""', 3) + 3:].lstrip("\n")
    return f"# -- glep's {backend} runtime, inlined (glep emit --standalone) --\n\n{body}\n\n"


def module_name(problem, source: str, backend: str, name: str | None = None) -> str:
    return f"{name or problem.name or Path(source).stem}_{backend}"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomically(path: Path, text, binary: bool = False) -> None:
    """Write ``text`` (or bytes) to ``path`` through a temporary file and a rename; the file
    gets the mode a plain ``open`` would give it (``0o666`` less the umask)."""
    path = Path(path)
    if path.is_dir():
        raise WriteError(f"{path} is a directory: give a file path to write")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise WriteError(f"cannot write {path}: {parent} is a file, not a directory")
            break
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as error:
        raise WriteError(f"cannot write {path}: {error.strerror or error}") from None
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        if binary:
            handle = os.fdopen(fd, "wb")
        else:
            handle = os.fdopen(fd, "w", encoding="utf-8", newline="\n")
        with handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException as error:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise WriteError(f"cannot write {path}: {error.strerror or error}") from None
        raise


#: Modules rendered for a problem, kept as long as the problem lives.
_MODULES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def load_module(problem, backend: str = "numpy", source: str = "<memory>"):
    """Render and import ``problem``'s generated module without writing it to disk.

    The module is cached for as long as ``problem`` is alive (one per backend). It is
    rendered standalone, so that it runs the runtime the templates give now.
    """
    cache = _MODULES.setdefault(problem, {})
    if backend not in cache:
        text = render(problem, backend, source, standalone=True)
        module = types.ModuleType(module_name(problem, source, backend))
        exec(compile(text, module.__name__, "exec"), module.__dict__)
        cache[backend] = module
    return cache[backend]
