"""The NumPy backend: printer, array operations (``templates/ops.py.jinja``)."""

from .printer import NumPyPrinter

Printer = NumPyPrinter

TITLE = "NumPy"
