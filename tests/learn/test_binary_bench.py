"""The binary EP benches' bookkeeping: bench/continual_ep.py replaces only its own data set's
section of continual.md, and bench/binary_ep.py's flip thresholds are per variant and part
of a run's cache name."""

from __future__ import annotations

import importlib.util

from tests.conftest import ROOT


def _script(name):
    spec = importlib.util.spec_from_file_location(f"{name}_bench", ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_section_replaces_its_own_and_keeps_the_others():
    replace = _script("continual_ep").replace_section
    digits = "## EP-trained metaplastic BNN"
    mnist = digits + ", permuted mnist5k"
    text = "# Title\n\nbackprop table\n\n" + digits + "\n\nold digits\n"
    text = replace(text, mnist, mnist + "\n\nfirst mnist\n")
    assert text == ("# Title\n\nbackprop table\n\n" + digits + "\n\nold digits\n\n"
                    + mnist + "\n\nfirst mnist\n")
    text = replace(text, mnist, mnist + "\n\nsecond mnist\n")
    assert "first mnist" not in text and text.count(mnist) == 1
    assert text.endswith(mnist + "\n\nsecond mnist\n") and "old digits" in text
    text = replace(text, digits, digits + "\n\nnew digits\n")
    assert "old digits" not in text and "second mnist" in text and "backprop table" in text
    assert text.count(digits + "\n") == 1 and text.endswith(digits + "\n\nnew digits\n")


def test_flip_thresholds_are_per_variant_and_name_the_run():
    script = _script("binary_ep")
    flipped = [v for v, (_, _, options) in script.VARIANTS.items() if "tau" in options]
    assert sorted(flipped) == sorted(script.TAU_PER_ALPHA)
    keys = {script._key(("mnist5k", v, 0, 10, 256, 4)) for v in flipped}
    assert len(keys) == len(flipped)
    for v in flipped:
        assert str(script.TAU_PER_ALPHA[v]) in script._key(("mnist5k", v, 0, 10, 256, 4))
    assert "tau/alpha" not in script._key(("mnist5k", "full precision", 0, 10, 256, 4))
