"""Convolution nodes of layered energies printed as calls of the runtime's convolution
(``runtime_convolution.py.jinja``: ``torch.nn.functional`` in Torch, im2col in NumPy)."""

from __future__ import annotations

from glep.derive import convolution as conv

#: Node → (runtime function, kind of the result) for the layered printer.
CALLS = {conv.Feature: ("_conv_pool", "col"), conv.Adjoint: ("_conv_adjoint", "col"),
         conv.WeightGrad: ("_conv_weight", "bmat"), conv.Jacobian: ("_conv_jacobian", "bmat")}
NAMES = tuple(name for name, _ in CALLS.values())


def printed(node, print_) -> tuple[str, str]:
    """``(code, kind)`` of a convolution node; ``print_`` prints its matrix arguments."""
    name, kind = CALLS[type(node)]
    args = [print_(a)[0] for a in node.args[:-1]]
    return f"{name}({', '.join(args)}, {tuple(conv.spec_of(node))})", kind
