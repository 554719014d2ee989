"""The thumbnail step: fetch each new paper's PDF, render its first page, store the images.

Runs after ingestion, newest papers first, from ``paperwire thumbnails`` and from the
background thread of ``paperwire serve`` / ``paperwire worker`` (:class:`ThumbnailScheduler`).
A paper that fails (HTTP error, PDF too big, unreadable PDF) is recorded with the reason and
tried again later with a growing wait; it never stops the others. A database lease lets any
number of instances run the step: one fetches at a time, so arXiv sees one polite client.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from ..core.errors import PaperwireError, SourceError
from ..core.loop import Periodic
from ..core.settings import Settings
from ..store import Store
from .http import PoliteClient, polite_client
from .pdf_render import render_first_page, renderer_missing

log = logging.getLogger("paperwire.jobs")

LEASE = "thumbnails"
LEASE_TTL = 300.0  # renewed before each paper


@dataclass
class ThumbnailStats:
    due: int = 0
    rendered: int = 0
    failed: int = 0
    busy: bool = False  # another instance holds the lease
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)  # "paper id: reason"

    def line(self) -> str:
        if self.busy:
            return "another instance is rendering thumbnails; nothing done"
        return (
            f"{self.due} due: {self.rendered} rendered, {self.failed} failed "
            f"(tried again later) — {self.seconds:.1f} s"
        )


class ThumbnailJob:
    """One run of the step over the papers due."""

    def __init__(self, store: Store, settings: Settings, client: PoliteClient | None = None):
        self.store = store
        self.settings = settings.thumbnails
        self._client = client
        self._own_client = client is None
        self.sources = settings.sources

    def pdf_url(self, paper_id: str) -> str:
        return self.settings.pdf_url_base + paper_id

    def run(
        self,
        limit: int | None = None,
        retry_failed: bool = False,
        progress: Callable[[int], None] | None = None,
        announce: Callable[[int], None] | None = None,
    ) -> ThumbnailStats:
        """Render up to ``limit`` papers (default: ``thumbnail_batch``); ``announce`` gets
        how many are due before the first fetch."""
        started = time.monotonic()
        stats = ThumbnailStats()
        holder = f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"
        jobs = self.store.jobs
        if not jobs.acquire_lease(LEASE, holder, LEASE_TTL):
            stats.busy = True
            return stats
        try:
            due = self.store.thumbnails.due(
                limit or self.settings.thumbnail_batch,
                feed_only=self.settings.thumbnail_scope != "all",
                retry_failed=retry_failed,
                max_attempts=self.settings.thumbnail_max_attempts,
            )
            stats.due = len(due)
            if announce:
                announce(len(due))
            for paper_id in due:
                if not jobs.acquire_lease(LEASE, holder, LEASE_TTL):
                    stats.errors.append("lost the lease to another instance; stopped")
                    break
                problem = self.one(paper_id)
                if problem is None:
                    stats.rendered += 1
                else:
                    stats.failed += 1
                    stats.errors.append(f"{paper_id}: {problem}")
                if progress:
                    progress(1)
        finally:
            jobs.release_lease(LEASE, holder)
            if self._own_client and self._client is not None:
                self._client.close()
                self._client = None
            stats.seconds = time.monotonic() - started
        return stats

    def one(self, paper_id: str) -> str | None:
        """Render one paper; the reason it failed (recorded for a later retry), or None."""
        try:
            resp = self.client.get(self.pdf_url(paper_id), max_bytes=self.settings.pdf_max_bytes)
            if resp.status_code != 200:
                raise SourceError(f"HTTP {resp.status_code} for {self.pdf_url(paper_id)}")
            images = render_first_page(resp.content)
        except PaperwireError as exc:  # source errors, too large, bad PDF
            problem = str(exc)
        except Exception as exc:  # noqa: BLE001 - one odd PDF must not stop the others
            log.exception("thumbnail of %s", paper_id)
            problem = f"{type(exc).__name__}: {exc}"
        else:
            self.store.thumbnails.save(paper_id, images)
            return None
        wait = timedelta(hours=self.settings.thumbnail_retry_hours)
        self.store.thumbnails.fail(paper_id, problem, wait)
        return problem

    @property
    def client(self) -> PoliteClient:
        if self._client is None:
            self._client = polite_client(self.sources, arxiv=True)
        return self._client


class ThumbnailScheduler(Periodic[ThumbnailStats]):
    """Every ``thumbnail_interval`` seconds: render the papers due (sooner while a backlog
    remains)."""

    BACKLOG_PAUSE = 5.0

    def __init__(self, settings: Settings, interval: float | None = None):
        every = settings.thumbnails.thumbnail_interval if interval is None else interval
        super().__init__("thumbnails", every)
        self.settings = settings

    @staticmethod
    def unavailable() -> str | None:
        """Why the step cannot run in this installation (a missing package), or None."""
        return renderer_missing()

    def tick(self) -> ThumbnailStats:
        store = Store(self.settings.store.database_url)
        try:
            stats = ThumbnailJob(store, self.settings).run()
        finally:
            store.close()
        if stats.due:
            log.info("thumbnails: %s", stats.line())
        return stats

    def pause(self, stats: ThumbnailStats) -> float:
        if stats.due >= self.settings.thumbnails.thumbnail_batch and stats.rendered:
            return min(self.interval, self.BACKLOG_PAUSE)  # a backlog: go on soon
        return self.interval
