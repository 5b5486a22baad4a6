"""One progress bar for every training loop (``glep train``, the HSSM runs); no dependency.

The bar is one line on stderr, redrawn in place at most ten times a second, and only when
stderr is a terminal: a redirected log gets no carriage returns.

>>> import io
>>> bar = Progress(4, "demo", stream=io.StringIO())  # not a terminal: disabled
>>> bar.enabled
False
>>> Progress.line(2, 4, "demo", "loss 1.000e-01", 3.2, width=8)
'demo [####....] 2/4 loss 1.000e-01 3s'
"""

from __future__ import annotations

import sys
import time

__all__ = ["Progress"]


class Progress:
    """A one-line progress bar: ``label [####....] done/total text elapsed``.

    ``update(done, loss)`` formats a loss; ``update(done, text=...)`` shows any text. The
    total may be an estimate (an L-BFGS step takes a variable number of gradients): the bar
    is full once ``done`` reaches it.
    """

    WIDTH = 30
    INTERVAL = 0.1  # seconds between redraws

    def __init__(self, total: int, label: str, enabled: bool = True, *, stream=None,
                 start: int = 0):
        self.stream = sys.stderr if stream is None else stream
        isatty = getattr(self.stream, "isatty", None)
        self.total, self.label = total, label
        self.enabled = bool(enabled and isatty is not None and isatty())
        self.start = time.perf_counter()
        self.done, self.text, self._drawn = start, "", 0.0

    @staticmethod
    def line(done: int, total: int, label: str, text: str, elapsed: float,
             width: int = WIDTH) -> str:
        filled = min(width, int(width * done / max(total, 1)))
        parts = [label, f"[{'#' * filled}{'.' * (width - filled)}]", f"{done}/{total}"]
        if text:
            parts.append(text)
        parts.append(f"{elapsed:.0f}s")
        return " ".join(parts)

    def update(self, done: int, loss: float | None = None, *, text: str | None = None):
        self.done = done
        if text is None:
            text = "" if loss is None else f"loss {loss:.3e}"
        self.text = text
        if not self.enabled:
            return
        now = time.perf_counter()
        if now - self._drawn < self.INTERVAL and done < self.total:
            return
        self._drawn = now
        self._draw(now)

    def _draw(self, now: float):
        self.stream.write("\r" + self.line(self.done, self.total, self.label, self.text,
                                           now - self.start) + " ")
        self.stream.flush()

    def close(self):
        if self.enabled:
            self._draw(time.perf_counter())  # the last state, even if throttled
            self.stream.write("\n")
            self.stream.flush()
            self.enabled = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
