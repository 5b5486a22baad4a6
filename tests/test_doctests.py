"""The docstring examples of every module of the installed ``glep`` package, collected by
import name (each module is imported once, as users import it)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

#: glep's rooms are folders of their own (setuptools package-dir), so each is walked.
ROOMS = ("glep", "glep.derive", "glep.codegen", "glep.learn", "glep.verify", "glep.generated",
         "glep.report")


def _modules() -> list[str]:
    names = set(ROOMS)
    for room in ROOMS:
        package = importlib.import_module(room)
        names.update(info.name for info in pkgutil.walk_packages(package.__path__, f"{room}."))
    return sorted(names)


MODULES = _modules()


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"
