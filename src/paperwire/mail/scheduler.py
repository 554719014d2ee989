"""The digest scheduler of a running instance (which also queues the readers' notification
e-mails, :func:`paperwire.mail.notify.sweep`). ``paperwire serve`` starts it in its own
thread (unless ``digest_interval`` is 0); ``paperwire worker`` runs it alone, for deployments
that keep web processes and jobs apart. The database lease of :mod:`paperwire.mail.run` lets
any number of instances run it: one sends at a time."""

from __future__ import annotations

import logging

from ..core.loop import Periodic
from ..core.settings import Settings
from ..rank import Rankers
from ..search import engine_for
from ..search.retrievers import SearchBackends
from ..store import Store
from . import notify
from .run import DigestRun, RunStats

log = logging.getLogger("paperwire.jobs")


class DigestScheduler(Periodic[RunStats]):
    """Every ``digest_interval`` seconds: send the digests that are due."""

    def __init__(
        self,
        settings: Settings,
        backends: SearchBackends,
        rankers: Rankers,
        interval: float | None = None,
    ):
        every = settings.digests.digest_interval if interval is None else interval
        super().__init__("digests", every)
        self.settings = settings
        self.backends = backends
        self.rankers = rankers

    def tick(self) -> RunStats:
        store = Store(self.settings.store.database_url)
        try:
            engine = engine_for(store, self.settings.search, self.backends)
            ranker = self.rankers.get(self.settings.site.trending_ranker)
            stats = DigestRun(store, self.settings, engine, ranker).run()
            queued = notify.sweep(store)
        finally:
            store.close()
        if stats.due and not stats.busy:
            log.info("digests: %s", stats.line())
        if queued:
            log.info("notification e-mails queued: %d", queued)
        return stats
