"""A background thread that runs one step every few seconds and survives its failures.

``paperwire serve`` and ``paperwire worker`` run several (the jobs queue, digests,
thumbnails); each subclass says what one step does (:meth:`Periodic.tick`) and, if it likes,
how long to wait after it (:meth:`Periodic.pause`)."""

from __future__ import annotations

import logging
import threading
from typing import Generic, TypeVar

log = logging.getLogger("paperwire.jobs")

S = TypeVar("S")


class Periodic(threading.Thread, Generic[S]):
    """Every ``interval`` seconds: :meth:`tick`. A failing tick is logged and tried again at
    the next one; it never stops the loop. ``last`` holds the latest step's result and
    ``runs`` counts the ticks, so tests and status pages can see it work."""

    def __init__(self, name: str, interval: float):
        super().__init__(name=f"paperwire-{name}", daemon=True)
        self.label = name
        self.interval = float(interval)
        self.stopping = threading.Event()
        self._woken = threading.Event()  # set: tick now rather than after the interval
        self.runs = 0
        self.last: S | None = None

    def tick(self) -> S:
        raise NotImplementedError

    def pause(self, stats: S) -> float:
        """Seconds to wait after a step that returned ``stats``."""
        return self.interval

    def stop(self) -> None:
        self.stopping.set()
        self._woken.set()

    def wake(self) -> None:
        """Run the next step now (work was just handed in), not at the end of the wait."""
        self._woken.set()

    def run(self) -> None:
        while not self.stopping.is_set():
            wait = self.interval
            try:
                self.last = self.tick()
                wait = self.pause(self.last)
            except Exception:  # noqa: BLE001 - logged; the next tick tries again
                log.exception("%s step failed", self.label)
            self.runs += 1
            self._woken.wait(wait)
            self._woken.clear()
