"""The PyTorch backend: printer, tensor operations (``templates/ops.py.jinja``)."""

from .printer import TorchPrinter

Printer = TorchPrinter

TITLE = "PyTorch"
