"""A small progress display for long commands: counts, rate, and ETA when the total is known.

Writes to stderr, redraws at most a few times a second, and stays silent when stderr is not
a terminal (cron jobs, CI logs) or when hidden.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    def __init__(
        self,
        label: str,
        total: int | None = None,
        *,
        unit: str = "",
        hidden: bool = False,
        stream: TextIO | None = None,
    ):
        self.label = label
        self.total = total
        self.unit = unit
        self.stream = stream or sys.stderr
        self.hidden = hidden or not getattr(self.stream, "isatty", lambda: False)()
        self.done = 0
        self.started = time.monotonic()
        self._drawn = 0.0

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.hidden:
            self._draw(final=True)
            self.stream.write("\n")
            self.stream.flush()

    def update(self, n: int = 1) -> None:
        self.done += n
        now = time.monotonic()
        if not self.hidden and now - self._drawn >= 0.2:
            self._drawn = now
            self._draw()

    def line(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rate = self.done / elapsed
        if self.total:
            frac = min(self.done / self.total, 1.0)
            eta = (self.total - self.done) / rate if rate > 0 else 0
            bar = "#" * int(frac * 24)
            return (
                f"{self.label} [{bar:<24}] {frac:5.1%}  {_fmt(self.done)}{self.unit}"
                f"  ETA {_clock(eta)}"
            )
        return f"{self.label}: {_fmt(self.done)}{self.unit}  ({_fmt(rate)}{self.unit}/s)"

    def _draw(self, final: bool = False) -> None:
        self.stream.write("\r" + self.line() + ("" if final else "  "))
        self.stream.flush()


def _fmt(n: float) -> str:
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if n >= div:
            return f"{n / div:.1f}{suffix}"
    return f"{n:.0f}"


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
