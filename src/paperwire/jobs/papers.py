"""Papers that wait for arXiv: fetching one paper by id (for a visitor, within seconds; for
the queue, patiently), the feed's submission rules, and the queue's two jobs — a pending
submission (the paper goes on the feed when it arrives) and a pending indexing request.

A pending submission goes on the feed of the day the paper *arrives*, submitted by the
member who asked and at the moment it arrived: a feed day already past has been read,
mailed and ranked, and a paper slipped into it would be seen by nobody. The age rule is
judged at the moment of the request, so arXiv being down never makes a paper too old."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import datetime, timedelta
from typing import Any

from ..core.clock import utcnow
from ..core.display import short_date
from ..core.errors import InvalidArxivId, JobError, SourceError, SourceUnavailable
from ..core.ids import id_month
from ..core.models import Card, Job
from ..core.periods import FeedClock
from ..core.settings import Settings, SiteSettings, SourceSettings
from ..ingest.arxiv_api import ArxivAPI, ArxivAPIError, import_arxiv
from ..ingest.http import PoliteClient
from ..ingest.pipeline import Trust
from ..store import Store
from .queue import Handler

log = logging.getLogger("paperwire.jobs")

SUBMIT = "submit-paper"
INDEX = "index-paper"
KINDS = (SUBMIT, INDEX)
QUEUE_FETCH_SECONDS = 30.0  # one try from the queue; the queue's backoff does the retrying


# -- the rules of the feed ---------------------------------------------------------------------
def id_month_end(paper_id: str) -> datetime | None:
    """Latest possible publication time of a paper whose date is unknown: the end of the
    month its id encodes (None when the id encodes no real month)."""
    try:
        year, month = id_month(paper_id)
        return datetime(year + (month == 12), month % 12 + 1, 1) - timedelta(seconds=1)
    except (InvalidArxivId, ValueError):
        return None


def age_problem(
    site: SiteSettings, paper_id: str, published: datetime | None, at: datetime, privileged: bool
) -> str | None:
    """Why a paper is too old to submit at ``at`` (None: it is not, or nobody can tell)."""
    max_age = site.submit_max_age_days
    latest = published or id_month_end(paper_id)
    if not max_age or privileged or latest is None:
        return None
    if latest < at - timedelta(days=max_age):
        # Without its date, only the month its id encodes is known: say that, not a made-up
        # day (the month's last, which the rule measures by).
        when = f"Published {short_date(published)}" if published else f"From {latest:%B %Y}"
        return f"{when}: only papers from the last {max_age} days can be submitted."
    return None


def limit_problem(
    store: Store, site: SiteSettings, user_id: int, privileged: bool, now: datetime
) -> str | None:
    """Why the member may not submit another paper now; pending submissions count."""
    limit = site.submit_daily_limit
    if not limit or privileged:
        return None
    used = store.feed.submissions_since(user_id, now - timedelta(days=1))
    used += store.queue.active_count(user_id, SUBMIT)
    if used >= limit:
        return f"You have submitted {limit} papers in the last 24 hours; that is the limit."
    return None


def feed_problem(
    store: Store, site: SiteSettings, card: Card, user_id: int, privileged: bool, now: datetime
) -> str | None:
    """Why this member may not put this paper on the feed now (None: they may)."""
    if card.feed_date is not None:
        return f"Already on the feed of {short_date(card.feed_date)}."
    return age_problem(site, card.id, card.published, now, privileged) or limit_problem(
        store, site, user_id, privileged, now
    )


# -- fetching from arXiv -----------------------------------------------------------------------
def fetch_paper(store: Store, trust: Trust, api: ArxivAPI, paper_id: str) -> bool:
    """Index one paper from the arXiv API; False when arXiv answered that it has none.
    SourceUnavailable when arXiv could not be asked (try later); a permanent JobError when
    arXiv refuses the id."""
    try:
        report = import_arxiv(store, trust, api, ids=[paper_id])
    except ArxivAPIError as exc:
        detail = str(exc).removeprefix("arXiv API error:").strip()
        raise JobError(f"arXiv does not accept {paper_id}: {detail}.", permanent=True) from None
    except SourceUnavailable:
        raise
    except SourceError as exc:  # an HTTP 4xx, or not an Atom feed: perhaps a proxy's page
        raise SourceUnavailable(str(exc), "answered with something unusable") from None
    return store.papers.get(paper_id) is not None and not report.skipped


class ArxivFetcher:
    """One process's way to arXiv: one client, one request at a time at arXiv's pace, each
    a single try (the queue retries)."""

    def __init__(self, sources: SourceSettings, trust: Trust):
        self.url = sources.arxiv_api_url
        self.trust = trust
        self.client = PoliteClient(
            min_interval=sources.arxiv_min_interval,
            retries=0,
            timeout=sources.http_timeout,
            user_agent=sources.user_agent,
        )
        # A visitor's fetch runs here so that the page answers in time even when the name
        # lookup hangs (which no HTTP timeout covers); one thread, as arXiv wants one
        # connection.
        self._pool: ThreadPoolExecutor | None = None

    def fetch(self, store: Store, paper_id: str, deadline: float) -> bool:
        """Index the paper, all done by ``deadline`` (``time.monotonic()``)."""
        api = ArxivAPI(self.client, self.url, deadline=deadline)
        return fetch_paper(store, self.trust, api, paper_id)

    def fetch_within(self, store: Store, paper_id: str, seconds: float) -> bool:
        """The same for a visitor: an answer within ``seconds``, whatever arXiv does."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="arxiv-fetch")
        deadline = time.monotonic() + seconds
        future = self._pool.submit(self.fetch, store, paper_id, deadline)
        try:
            return future.result(timeout=seconds + 0.5)
        except FutureTimeout:
            raise SourceUnavailable(
                f"arXiv: no answer within {seconds:g} s", "did not answer in time"
            ) from None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        self.client.close()


# -- the queue's jobs --------------------------------------------------------------------------
class PaperJobs:
    """The handlers of the jobs that wait for arXiv. ``embed`` makes an arrived paper
    findable by meaning at once (optional: `paperwire index` catches up otherwise)."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        fetcher: ArxivFetcher,
        embed: Callable[[Sequence[str]], Any] | None = None,
        clock: Callable[[], datetime] = utcnow,
    ):
        self.store = store
        self.site = settings.site
        self.fetcher = fetcher
        self.embed = embed
        self.clock = clock
        self.feed_clock = FeedClock(settings.site.feed_timezone, settings.site.feed_rollover)

    def handlers(self) -> dict[str, Handler]:
        return {SUBMIT: self.submit, INDEX: self.index}

    def _arrive(self, paper_id: str) -> None:
        if self.store.papers.get(paper_id) is not None:
            return
        try:
            found = self.fetcher.fetch(self.store, paper_id, time.monotonic() + QUEUE_FETCH_SECONDS)
        except SourceUnavailable as exc:
            raise JobError(f"arXiv {exc.reason}.") from None
        if not found:
            raise JobError(f"arXiv has no paper {paper_id}.", permanent=True)
        if self.embed is not None:
            try:
                self.embed([paper_id])
            except Exception:  # noqa: BLE001 - the paper is in; `paperwire index` embeds it
                log.warning("could not embed %s now", paper_id, exc_info=True)

    def index(self, job: Job) -> str:
        self._arrive(job.key)
        return "Indexed from arXiv."

    def submit(self, job: Job) -> str:
        pid = job.key
        self._arrive(pid)
        user_id = int(job.payload["user_id"])
        user = self.store.accounts.get_user(id=user_id)
        if user is None or not user.is_active:
            raise JobError("The account that submitted it is closed.", permanent=True)
        entry = self.store.feed.entry(pid)
        if entry is None:
            card = self.store.feed.card(pid)
            asked = datetime.fromisoformat(job.payload["requested_at"])
            privileged = user.has_role("curator")
            problem = card and age_problem(self.site, pid, card.published, asked, privileged)
            if problem:
                raise JobError(problem, permanent=True)
            now = self.clock()
            self.store.feed.submit(pid, user_id, self.feed_clock.feed_date(now), now)
            entry = self.store.feed.entry(pid)
        if entry is None:  # cannot happen: the row is there, ours or another member's
            raise JobError("The paper could not be put on the feed; it will be tried again.")
        day = short_date(entry.feed_date)
        if entry.submitted_by == user_id:
            return f"On the feed of {day}."
        return f"Already on the feed of {day}, submitted by another member."
