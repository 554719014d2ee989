"""The digest scheduler of a running instance. ``paperwire serve`` starts it in its own
thread (unless ``digest_interval`` is 0); ``paperwire worker`` runs it alone, for deployments
that keep web processes and jobs apart. The database lease of :mod:`paperwire.mail.run` lets
any number of instances run it: one sends at a time."""

from __future__ import annotations

import logging
import threading

from ..core.settings import Settings
from ..rank import Rankers
from ..search import engine_for
from ..search.retrievers import SearchBackends
from ..store import Store
from .run import DigestRun, RunStats

log = logging.getLogger("paperwire.jobs")


class DigestScheduler(threading.Thread):
    """Every ``digest_interval`` seconds: send the digests that are due. A failing run is
    logged and tried again at the next tick; it never stops the loop."""

    def __init__(
        self,
        settings: Settings,
        backends: SearchBackends,
        rankers: Rankers,
        interval: float | None = None,
    ):
        super().__init__(name="paperwire-digests", daemon=True)
        self.settings = settings
        self.backends = backends
        self.rankers = rankers
        every = settings.digests.digest_interval if interval is None else interval
        self.interval = float(every)
        self.stopping = threading.Event()
        self.runs = 0
        self.last: RunStats | None = None

    def stop(self) -> None:
        self.stopping.set()

    def tick(self) -> RunStats:
        store = Store(self.settings.store.database_url)
        try:
            engine = engine_for(store, self.settings.search, self.backends)
            ranker = self.rankers.get(self.settings.site.trending_ranker)
            stats = DigestRun(store, self.settings, engine, ranker).run()
        finally:
            store.close()
        if stats.due and not stats.busy:
            log.info("digests: %s", stats.line())
        return stats

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                self.last = self.tick()
            except Exception:  # noqa: BLE001 - logged; the next tick tries again
                log.exception("digest run failed")
            self.runs += 1
            self.stopping.wait(self.interval)
