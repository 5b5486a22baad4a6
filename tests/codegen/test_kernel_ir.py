"""The kernel IR beyond continuous systems: subscripted arguments, return forms and items,
batch means (element-wise and layered), checked against NumPy computed independently."""

import numpy as np
import pytest
import sympy as sp

from glep.codegen.kernel import Kernel, Mean, print_kernels
from glep.codegen.templating import environment
from glep.derive.errors import CodegenError
from glep.generated import _runtime_numpy as runtime

RNG = np.random.default_rng(7)


def _compiled(kernel, limit=120):
    """The printed kernel as a NumPy function, and its source lines."""
    _, (printed,) = print_kernels([kernel], "numpy", limit=limit)
    source = environment("numpy").from_string(
        '{% from "function.py.jinja" import function with context %}{{ function(f) }}'
    ).render(f=printed, backend="numpy")
    namespace = {**vars(runtime), "np": np}
    exec(source, namespace)
    return namespace[kernel.name], source.splitlines()


def test_an_element_wise_contrast_splits_long_lines_and_matches_numpy():
    s1, s2, t1, t2 = sp.symbols("s1 s2 s1_0 s2_0")
    w = sp.symbols("w1:7")
    terms = [w[k] * s1 ** (k % 3 + 1) * sp.cos(s2 * w[(k + 1) % 6]) for k in range(6)]
    e = sp.Add(*terms) + sp.exp(s1 * s2)
    args = [("z", [s1, s2], ["..., 0", "..., 1"]), ("z0", [t1, t2], ["..., 0", "..., 1"]),
            ("theta", w, [f'"{q.name}"' for q in w])]
    kernel = Kernel.of("contrast", "z, z0, theta", "A contrast.",
                       [Mean(e, (), ((s1, t1), (s2, t2))), e], args, form=("{", "}"),
                       items=('"mean": {0}', '"first": _fit({1}, ref, ())'), ref="ref",
                       prelude=("ref = z[..., 0]",))
    function, lines = _compiled(kernel, limit=80)
    assert max(map(len, lines)) <= 80
    assert any(line.strip().startswith("_t") for line in lines)  # split into temporaries
    z, z0 = RNG.normal(size=(5, 2)), RNG.normal(size=(5, 2))
    theta = {q.name: RNG.normal() for q in w}
    out = function(z, z0, theta)
    value = sp.lambdify([s1, s2, *w], e, "numpy")
    at = value(z[:, 0], z[:, 1], *theta.values())
    at_rest = value(z0[:, 0], z0[:, 1], *theta.values())
    assert np.allclose(out["mean"], np.mean(at - at_rest), rtol=1e-13, atol=0)
    assert np.allclose(out["first"], at, rtol=1e-13, atol=0)


def test_a_layered_kernel_prints_outer_products_as_contractions():
    h, h0 = sp.MatrixSymbol("h", 3, 1), sp.MatrixSymbol("h_0", 3, 1)
    x, W = sp.MatrixSymbol("x", 2, 1), sp.MatrixSymbol("W", 3, 2)
    args = [("z", [h], ["..., 0:3"]), ("z0", [h0], ["..., 0:3"]), ("x", [x], ["..., 0:2"]),
            ("theta", [W], ['"W"'])]
    kernel = Kernel.of("layered", "z, z0, x, theta", "Layered.",
                       [Mean(-h * x.T, (3, 2), ((h, h0),)), -W * x], args, form=("(", ")"),
                       items=("{0}", "_fit({1}, ref, (3,))"), ref="ref",
                       prelude=("ref = z[..., 0]",), layered=True)
    function, lines = _compiled(kernel)
    assert "_outer_contrast(h, x, h_0, x, ref)" in "\n".join(lines)
    z, z0, u = RNG.normal(size=(4, 3)), RNG.normal(size=(4, 3)), RNG.normal(size=(4, 2))
    weight = RNG.normal(size=(3, 2))
    mean, gradient = function(z, z0, u, {"W": weight})
    expected = -np.mean(np.einsum("bi,bj->bij", z, u) - np.einsum("bi,bj->bij", z0, u), axis=0)
    assert np.allclose(mean, expected, rtol=1e-13, atol=1e-15)
    assert np.allclose(gradient, -u @ weight.T, rtol=1e-13, atol=0)


def test_a_kernel_reading_a_symbol_it_does_not_unpack_is_refused():
    h, v = sp.MatrixSymbol("h", 3, 1), sp.MatrixSymbol("v", 3, 1)
    kernel = Kernel.of("bad", "z", "Reads v.", [h + v], [("z", [h], ["..., 0:3"])],
                       layered=True)
    with pytest.raises(CodegenError, match=r"bad uses \['v'\], not among its arguments"):
        print_kernels([kernel], "numpy")
