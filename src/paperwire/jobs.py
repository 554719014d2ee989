"""Background jobs of a running instance. ``paperwire serve`` starts the digest scheduler in
its own process (unless ``digest_interval`` is 0); ``paperwire worker`` runs it alone, for
deployments that keep web processes and jobs apart. The database lease of
:mod:`paperwire.mail.run` lets any number of instances run it: one sends at a time."""

from __future__ import annotations

import logging
import threading

log = logging.getLogger("paperwire.jobs")


class DigestScheduler(threading.Thread):
    """Every ``digest_interval`` seconds: send the digests that are due. A failing run is
    logged and tried again at the next tick; it never stops the loop."""

    def __init__(self, config, interval: float | None = None):
        super().__init__(name="paperwire-digests", daemon=True)
        self.config = config
        self.interval = float(config.digest_interval if interval is None else interval)
        self.stopping = threading.Event()
        self.runs = 0
        self.last = None

    def stop(self) -> None:
        self.stopping.set()

    def tick(self):
        from .mail.run import DigestRun
        from .search import engine_for
        from .store import Store

        store = Store(self.config.database_url)
        try:
            engine = engine_for(self.config, store) if self.config.semantic_search else None
            stats = DigestRun(store, self.config, engine).run()
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
