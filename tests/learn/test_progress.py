"""The one progress bar (learn/progress.py), shared by glep train and the HSSM runs."""

from __future__ import annotations

import io

from glep.learn import hssm, train
from glep.learn.progress import Progress


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_one_progress_class_draws_on_a_terminal_only():
    assert hssm.Progress is Progress and train.Progress is Progress
    screen = Terminal()
    with Progress(4, "run", stream=screen) as bar:
        bar.update(1, 0.5)
        bar.update(4, text="loss 0.125")
    text = screen.getvalue()
    assert text.startswith("\rrun [") and "4/4 loss 0.125" in text and text.endswith("\n")
    quiet = io.StringIO()
    bar = Progress(4, "run", stream=quiet)
    bar.update(2, 0.5)
    bar.close()
    assert quiet.getvalue() == ""
    assert not Progress(4, "run", enabled=False, stream=Terminal()).enabled
