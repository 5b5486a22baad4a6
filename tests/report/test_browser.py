"""The reports of three kinds of system opened in headless Chromium: every formula is laid out
as MathML with a size, every image decodes, nothing is logged as an error and nothing but the
file itself is requested — and each of these checks fails on a page doctored to break it.

Set ``GLEP_SCREENSHOTS=DIR`` to keep the screenshots (``docs/figures/report-*.png``).
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from .browser import Browser, chromium, problems

#: One system per kind and the section each screenshot shows.
PAGES = {"harmonic_oscillator": ("continuous", "check"), "hopfield_smooth": ("energy", "dynamics"),
         "nonlinear_hru": ("hru", "check")}


@pytest.fixture(scope="module")
def browser():
    executable, reason = chromium()
    if executable is None:
        pytest.skip(f"headless Chromium unavailable: {reason}")
    session = Browser(executable)
    yield session
    session.close()


@pytest.fixture(scope="module")
def pages(report_of):
    return {name: report_of(name)[2] for name in PAGES}


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(PAGES))
def test_a_report_renders_offline_in_chromium(browser, pages, name, tmp_path):
    measured = browser.open(pages[name])
    assert problems(measured) == []
    source = pages[name].read_text(encoding="utf-8")
    assert len(measured["maths"]) == source.count("<math") > 5
    assert len(measured["images"]) == source.count("<img ") >= 2
    kind, anchor = PAGES[name]
    top = browser.call("Runtime.evaluate", returnByValue=True, expression=(
        f"document.getElementById('{anchor}').getBoundingClientRect().top + window.scrollY"))
    shot = tmp_path / f"report-{kind}.png"
    browser.screenshot(shot, y=top["result"]["value"], height=1200)
    assert _png_size(shot) == (1000, 1200)
    keep = os.environ.get("GLEP_SCREENSHOTS")
    if keep:
        shutil.copy(shot, Path(keep) / shot.name)


@pytest.fixture(scope="module")
def reference(pages):
    return pages["harmonic_oscillator"].read_text(encoding="utf-8")


def _doctored(tmp_path, text: str) -> Path:
    path = tmp_path / "doctored.html"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.slow
def test_mathml_replaced_by_raw_text_fails(browser, reference, tmp_path):
    raw = re.sub(r"<math[^>]*>(.*?)</math>",
                 lambda m: re.sub(r"<[^>]+>", "", m[1]), reference, flags=re.S)
    found = problems(browser.open(_doctored(tmp_path, raw)))
    assert any("no MathML" in p for p in found), found


@pytest.mark.slow
def test_a_broken_image_fails(browser, reference, tmp_path):
    broken = re.sub(r"base64,[^\"]+", "base64,AAAAAAAA", reference, count=1)
    found = problems(browser.open(_doctored(tmp_path, broken)))
    assert any("did not decode" in p for p in found), found


@pytest.mark.slow
def test_a_network_request_fails(browser, reference, tmp_path):
    fetching = reference.replace(
        "</head>", '<link rel="stylesheet" href="http://127.0.0.1:9/style.css"></head>')
    found = problems(browser.open(_doctored(tmp_path, fetching)))
    assert any("requests beyond the file" in p and "127.0.0.1:9" in p for p in found), found
