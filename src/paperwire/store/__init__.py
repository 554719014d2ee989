"""The store: the one place that talks SQL. SQLite by default, PostgreSQL for scale-out.

``Store(url)`` is a :class:`Database` with its repositories, each returning the domain models
of :mod:`paperwire.core.models`: ``papers`` (the catalogue), ``feed`` (cards, feed days,
upvotes), ``discussion`` (comments), ``accounts`` (users, tokens, claims, organizations, rate
limits), ``mail`` (subscriptions, deliveries), ``embeddings``, ``search`` (keyword index,
filters), ``authors`` (an author's papers, claimed profiles), ``jobs`` (runs, leases),
``queue`` (the durable jobs queue), ``reactions`` (on comments), ``avatars`` (uploaded
images), ``members`` (organization admins), ``thumbnails`` (first-page images),
``changes`` (the data version cached pages are checked against), ``twofactor``
(TOTP secrets, used time steps, recovery codes), ``audit`` (security-relevant events),
``throttle`` (sign-in failures per account), ``idempotency`` (kept responses of requests
sent with an Idempotency-Key), ``reports`` (reports of abusive comments), ``collections``
(users' lists of papers), ``signals`` (per-user feedback on papers, and what a
recommender learns from), ``readers`` (For-you topics and visits) and ``words`` (the word log
and papers a keyword index beside the store is built and caught up from). All dialect-specific
SQL and query text stays here.
"""

from __future__ import annotations

from typing import Any

from ..core.errors import StoreError
from .accounts import AccountRepo
from .audit import AuditRepo
from .authors import AuthorRepo
from .avatars import AvatarRepo
from .changes import ChangeRepo
from .collections import CollectionRepo
from .database import Database
from .discussion import DiscussionRepo
from .embeddings import EmbeddingRepo
from .feed import FeedRepo
from .idempotency import IdempotencyRepo
from .jobs import JobRepo, QueueRepo
from .mail import MailRepo
from .memberships import MembershipRepo
from .notifications import NotificationRepo
from .papers import PaperRepo, UpsertCounts
from .people import PeopleRepo
from .reactions import ReactionRepo
from .readers import ReaderRepo
from .reports import ReportRepo
from .search import SearchRepo
from .sessions import SessionRepo
from .signals import SignalRepo
from .throttle import ThrottleRepo
from .thumbnails import ThumbnailRepo
from .twofactor import TwoFactorRepo
from .words import WordRepo


class Store:
    """A database and its repositories. Create with a SQLAlchemy URL; call
    ``store.db.upgrade()`` once (the command line does it for SQLite)."""

    def __init__(self, url: str):
        self.db = Database(url)
        self.papers = PaperRepo(self.db)
        self.feed = FeedRepo(self.db, self.papers)
        self.discussion = DiscussionRepo(self.db)
        self.accounts = AccountRepo(self.db)
        self.sessions = SessionRepo(self.db)
        self.people = PeopleRepo(self.db)
        self.mail = MailRepo(self.db)
        self.embeddings = EmbeddingRepo(self.db)
        self.search = SearchRepo(self.db)
        self.authors = AuthorRepo(self.db, self.feed)
        self.jobs = JobRepo(self.db)
        self.queue = QueueRepo(self.db)
        self.reactions = ReactionRepo(self.db)
        self.notifications = NotificationRepo(self.db)
        self.avatars = AvatarRepo(self.db)
        self.members = MembershipRepo(self.db)
        self.thumbnails = ThumbnailRepo(self.db)
        self.changes = ChangeRepo(self.db)
        self.twofactor = TwoFactorRepo(self.db)
        self.audit = AuditRepo(self.db)
        self.throttle = ThrottleRepo(self.db)
        self.idempotency = IdempotencyRepo(self.db)
        self.reports = ReportRepo(self.db)
        self.collections = CollectionRepo(self.db)
        self.signals = SignalRepo(self.db)
        self.words = WordRepo(self.db)
        self.readers = ReaderRepo(self.db)

    @property
    def url(self) -> str:
        return self.db.url

    @property
    def dialect(self) -> str:
        return self.db.dialect

    def begin(self) -> Any:
        """A transaction; pass its connection to the methods that take ``conn``."""
        return self.db.begin()

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_store(url: str, *, migrate_sqlite: bool = True) -> Store:
    """A store ready for use: the embedded SQLite default migrates itself; a shared
    PostgreSQL database must already be migrated (`paperwire db upgrade`)."""
    store = Store(url)
    try:
        if store.dialect == "sqlite" and migrate_sqlite:
            store.db.upgrade()
        store.db.check_ready()
    except BaseException:
        store.close()
        raise
    return store


__all__ = ["Database", "Store", "StoreError", "UpsertCounts", "open_store"]
