"""What every request of one site shares: settings, store, signer, rate limiter, feed clock,
search engine, speller, trending rank (cached), the For-you model (its words counted ahead),
templates."""

from __future__ import annotations

import logging
import secrets
import threading
import time
from datetime import datetime
from pathlib import Path

from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from .. import __version__
from ..core import avatars, timezones
from ..core.display import authors_label, compact, device_label, short_date, short_moment
from ..core.periods import FeedClock
from ..core.settings import Settings
from ..core.signing import Signer
from ..core.tex import tex_html, to_text
from ..ingest.sources import Sources
from ..jobs.papers import ArxivFetcher
from ..rank import Ranker, Trend
from ..rank.foryou import ForYou
from ..search import SearchEngine
from ..search.spelling import Speller
from ..store import Store
from ..store.reports import REASONS
from .render import (
    author_link,
    author_names,
    author_path,
    here,
    markdown,
    page_url,
    tex_links,
)
from .security import CSRF_COOKIE, SESSION_COOKIE, RateLimiter, cookie_name

HERE = Path(__file__).parent
TRENDING_TTL = 30.0
WARM_PAPERS = 1000  # the feed's latest papers whose words For you counts ahead
log = logging.getLogger(__name__)


class TrendingCache:
    """The trending rank, computed once per process, then served from memory and refreshed
    in the background when older than ``ttl`` seconds (stale-while-revalidate), so that no
    visitor waits for it after the first. A vote or submission handled by this process makes
    the next read compute it anew (milliseconds), so that the page shows it at once — and
    the page cache, which keeps that page for the new data version, keeps the new rank.
    A vote in another process does the same once this one sees the new data version
    (web/app.py's ``_data_changed``)."""

    def __init__(self, ranker: Ranker, store: Store, ttl: float = TRENDING_TTL):
        self.ranker, self.store, self.ttl = ranker, store, ttl
        self._value: tuple[list[Trend], datetime] | None = None
        self._at = 0.0
        self._dirty = False
        self._refreshing = threading.Lock()
        self._computing = threading.Lock()

    def get(self) -> tuple[list[Trend], datetime]:
        value = self._value
        if value is None or self._dirty:
            with self._computing:  # one computes; the others then read its value
                if self._value is None or self._dirty:
                    return self._compute()
                return self._value
        if time.monotonic() - self._at >= self.ttl and self._refreshing.acquire(blocking=False):
            threading.Thread(target=self._refresh, daemon=True, name="trending-refresh").start()
        return value

    def invalidate(self) -> None:
        """Mark the rank stale (after a vote or submission); the next read computes it."""
        self._dirty = True

    def _compute(self) -> tuple[list[Trend], datetime]:
        self._dirty = False  # (a vote from now on marks it again)
        value = self.ranker(self.store)
        self._value, self._at = value, time.monotonic()
        return value

    def _refresh(self) -> None:
        try:
            self._compute()
        finally:
            self._refreshing.release()


SHARED_MACROS = {
    "_icons.html": ("icon",),
    "_social.html": ("avatar", "reactions", "tz_picker", "draft_state"),
}


class Site:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        *,
        search: SearchEngine,
        ranker: Ranker,
        sources: Sources,
    ):
        self.settings = settings
        self.store = store
        self.signer = Signer(store.accounts.instance_secret(settings.site.secret_key))
        self.limiter = RateLimiter(store)
        self.clock = FeedClock(settings.site.feed_timezone, settings.site.feed_rollover)
        self.search = search
        self.speller = Speller(store)  # "Did you mean …?": built at the first search
        self.ranker = ranker
        self.trending = TrendingCache(ranker, store)
        self.sources = sources
        self.arxiv: ArxivFetcher | None = None  # made on first use, at arXiv's pace
        self.arxiv_lock = threading.Lock()
        self.foryou: ForYou | None = None  # made on first use (for_you)
        self._foryou_lock = threading.Lock()
        self._warming = threading.Lock()  # held while a warm-up of For you runs
        self._warmed: set[str] = set()  # the papers the last warm-up counted
        self.secure_cookies = settings.site.secure_cookies
        self.session_cookie = cookie_name(SESSION_COOKIE, self.secure_cookies)
        self.csrf_cookie = cookie_name(CSRF_COOKIE, self.secure_cookies)
        self.templates = Jinja2Templates(directory=str(HERE / "templates"))
        env = self.templates.env
        env.globals.update(site_name=settings.site.site_name, version=__version__)
        env.filters.update(
            short_date=short_date,
            short_moment=short_moment,
            authors_label=authors_label,
            compact=compact,
            tex=tex_html,
            tex_text=to_text,  # (where markup cannot go: attributes, accessible names)
            device=device_label,
        )
        env.globals.update(avatar_src=avatars.url, timezone_choices=timezones.choices)
        env.filters.update(author_url=author_path, tex_links=tex_links)
        # Collection descriptions and notes: the comments' Markdown (and math), sanitized.
        env.filters.update(markdown=lambda text: Markup(markdown(text)))
        env.globals.update(author_link=author_link, author_names=author_names)
        # A random Idempotency-Key per rendered form (web.idempotency).
        env.globals.update(form_key=lambda: secrets.token_urlsafe(16))
        env.globals.update(report_reasons=REASONS)  # the comment's "Report" form
        env.globals.update(here=here)  # where a card's action comes back to
        env.globals.update(page_url=page_url)  # a list's other pages
        # The templates are package files: no stat() of each one on every render.
        env.auto_reload = False
        # The shared macros, made once. A `{% from %}` in an included template imports
        # again at every include: two or three per card made 75 imports of a 25-card page (+3 ms).
        for name, macros in SHARED_MACROS.items():
            module = env.get_template(name).module
            env.globals.update({m: getattr(module, m) for m in macros})

    def for_you(self) -> ForYou | None:
        """The For-you model (one per process: it keeps the papers' words it has read), or
        None when search by meaning cannot run here."""
        if self.foryou is None:
            vectors = self.search.semantic()
            if vectors is None:
                return None
            with self._foryou_lock:
                if self.foryou is None:
                    self.foryou = ForYou(self.store, vectors)
        return self.foryou

    def warm_for_you(self) -> None:
        """Count, in a background thread, the words of the papers that reached the feed last
        (what For you ranks next) and were not counted by the last warm-up, so that the first
        reader after new papers does not wait for it; nothing when a warm-up runs already.
        (Most data changes are votes: they read the feed's ids, and no paper.)"""
        if not self._warming.acquire(blocking=False):
            return

        def run() -> None:
            try:
                model = self.for_you()
                if model is not None:
                    latest = self.store.feed.paper_ids(limit=WARM_PAPERS)
                    model.warm([i for i in latest if i not in self._warmed])
                    self._warmed = set(latest)
            except Exception as exc:  # noqa: BLE001 - the next ranking counts them instead
                log.warning("For you: could not count the new papers' words ahead: %s", exc)
            finally:
                self._warming.release()

        threading.Thread(target=run, daemon=True, name="for-you-warm").start()
