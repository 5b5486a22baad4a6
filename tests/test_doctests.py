"""The docstring examples of every module of the installed ``glep`` package, collected by
import name (each module is imported once, as users import it)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import glep

MODULES = sorted(info.name for info in pkgutil.walk_packages(glep.__path__, "glep."))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"
