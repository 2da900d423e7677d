"""The progress bar of a study run.
"""
from __future__ import annotations

import math
import sys
import time


# --------------------------------------------------------------------------- progress
class Progress:
    """Points done / total, elapsed, ETA: a bar on a terminal, plain lines otherwise."""

    def __init__(self, total: int, already: int = 0, stream=None, enabled: bool = True):
        self.total = total
        self.done = already
        self.already = already
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.tty = enabled and hasattr(self.stream, "isatty") and self.stream.isatty()
        self.t0 = time.monotonic()
        self.t_first = None
        if enabled:
            if already:
                self._line(f"{already}/{total} points already on disk")
            if self.tty:
                self._draw()

    def _line(self, text):
        print(text, file=self.stream, flush=True)

    @staticmethod
    def _hms(seconds: float) -> str:
        if not math.isfinite(seconds):
            return "--:--"
        s = int(round(seconds))
        h, s = divmod(s, 3600)
        m, s = divmod(s, 60)
        return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"

    def _eta(self) -> float:
        """Seconds left at the rate measured since the first new point finished; NaN
        (shown as ``--:--``) until a second new point has finished: the first point also
        pays for the start-up (numba compilation, worker start) and says nothing yet about
        the rate."""
        new = self.done - self.already
        left = self.total - self.done
        if left == 0:
            return 0.0
        if new < 2 or self.t_first is None:
            return float("nan")
        now = time.monotonic()
        return (now - self.t_first) / (new - 1) * left

    def _draw(self):
        width = 30
        frac = self.done / self.total if self.total else 1.0
        bar = "#" * int(round(frac * width))
        el = time.monotonic() - self.t0
        self.stream.write(f"\r[{bar:<{width}}] {self.done}/{self.total} points  "
                          f"elapsed {self._hms(el)}  ETA {self._hms(self._eta())} ")
        self.stream.flush()

    def update(self, label: str = ""):
        self.done += 1
        if self.t_first is None:
            self.t_first = time.monotonic()
        if not self.enabled:
            return
        if self.tty:
            self._draw()
        else:
            el = time.monotonic() - self.t0
            self._line(f"point {self.done}/{self.total} done"
                       + (f" ({label})" if label else "")
                       + f"  elapsed {self._hms(el)}  ETA {self._hms(self._eta())}")

    def close(self):
        if self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()
