"""The queue's thread in a running instance. ``paperwire serve`` starts it beside the digest
scheduler (unless ``job_interval`` is 0); ``paperwire worker`` runs it with the digests;
``paperwire jobs run`` runs one step from the command line or cron. Claims are leased in the
database, so any number of instances can run it at once.

Jobs of the layers above this one (the visitors' e-mails of :mod:`paperwire.mail.outgoing`)
come as handler sets, handed in by whoever starts the runner (the CLI)."""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable, Mapping, Sequence

from ..core.loop import Periodic
from ..core.settings import Settings
from ..ingest.pipeline import Trust
from ..search import engine_for
from ..search.retrievers import SearchBackends
from ..store import Store
from .papers import ArxivFetcher, PaperJobs
from .queue import Handler, QueueRunner, StepStats

log = logging.getLogger("paperwire.jobs")

# More handlers, by kind, over the store of one step (e.g. paperwire.mail.outgoing.handlers).
HandlerSet = Callable[[Store, Settings], Mapping[str, Handler]]


def runner_for(
    store: Store,
    settings: Settings,
    fetcher: ArxivFetcher,
    backends: SearchBackends,
    more: Sequence[HandlerSet] = (),
) -> QueueRunner:
    """A runner with every job this instance knows: the papers' jobs and ``more``."""

    def embed(ids: Sequence[str]) -> int:
        return engine_for(store, settings.search, backends).embed_papers(ids)

    handlers = dict(PaperJobs(store, settings, fetcher, embed).handlers())
    for handler_set in more:
        handlers.update(handler_set(store, settings))
    return QueueRunner(store, handlers, backoff=float(settings.jobs.job_backoff))


# This process's queue threads, woken when a request queues a job (see :func:`wake_workers`).
_RUNNING: weakref.WeakSet[QueueWorker] = weakref.WeakSet()


def wake_workers() -> None:
    """A job was just queued: this process's queue threads look now rather than after
    ``job_interval`` (a visitor waits for the e-mail it asked for). Other processes' threads
    find it at their next look."""
    for worker in list(_RUNNING):
        worker.wake()


class QueueWorker(Periodic[StepStats]):
    """Every ``job_interval`` seconds, or when woken: run the due jobs."""

    def __init__(
        self,
        settings: Settings,
        trust: Trust,
        backends: SearchBackends,
        interval: float | None = None,
        more: Sequence[HandlerSet] = (),
    ):
        super().__init__("jobs", settings.jobs.job_interval if interval is None else interval)
        self.settings = settings
        self.backends = backends
        self.more = tuple(more)
        self.fetcher = ArxivFetcher(settings.sources, trust)  # kept: arXiv's pace spans ticks
        _RUNNING.add(self)

    def tick(self) -> StepStats:
        store = Store(self.settings.store.database_url)
        try:
            stats = runner_for(store, self.settings, self.fetcher, self.backends, self.more).step()
        finally:
            store.close()
        if stats.claimed:
            log.info("jobs: %s", stats.line())
        return stats
