"""Domain models: what the store returns and every layer above passes around.

Plain dataclasses (slots, no behaviour beyond small derived properties), named after what a
reader of the site would call them. Datetimes are naive UTC (:mod:`paperwire.core.clock`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

ROLES = ("user", "curator", "admin")


# -- the catalogue -----------------------------------------------------------------------------
@dataclass(slots=True)
class PaperFacts:
    """What every view of a paper holds: its bibliographic record and its counts."""

    seq: int  # stable integer row id, used by the keyword and vector indexes
    id: str  # arXiv id without version
    title: str
    abstract: str = ""
    authors: list[str] = field(default_factory=list)
    num_authors: int = 0
    version: int | None = None
    categories: list[str] = field(default_factory=list)
    primary_category: str | None = None
    published: datetime | None = None
    updated: datetime | None = None
    comment: str | None = None
    journal_ref: str | None = None
    doi: str | None = None
    github_repo: str | None = None  # owner/name
    github_stars: int | None = None
    project_page: str | None = None
    upvotes: int = 0  # imported upvotes + local votes
    num_comments: int = 0


@dataclass(slots=True)
class Paper(PaperFacts):
    """A paper as stored: what its sources said, merged, plus what the site counts."""

    github_checked_at: datetime | None = None
    github_etag: str | None = None
    organization_id: int | None = None
    upvotes_external: int = 0
    source: str = ""  # the source whose record won the last merge
    created_at: datetime | None = None
    modified_at: datetime | None = None


@dataclass(slots=True)
class Card(PaperFacts):
    """A paper as lists show it: the paper with its feed entry, submitter and organization."""

    feed_date: date | None = None  # None: not on the daily feed
    submitted_at: datetime | None = None
    thumbnail: str | None = None
    submitter: str | None = None  # user name
    submitter_fullname: str | None = None
    submitter_avatar: str | None = None
    org: str | None = None  # organization name
    org_fullname: str | None = None
    org_avatar: str | None = None
    thumb: str | None = None  # version (ETag) of the first-page image rendered here, if any
    thumb_height: int | None = None  # of the page-size image, THUMB_PAGE_WIDTH wide


# The first page of a paper's PDF, as rendered here: the card image is the top of the page
# (title, authors, the start of the abstract), the page image the whole page.
THUMB_SIZES = ("card", "page")
THUMB_CARD = (640, 400)
THUMB_PAGE_WIDTH = 1000


@dataclass(slots=True)
class Thumbnail:
    """One stored image of a paper's first page."""

    paper_id: str
    size: str  # one of THUMB_SIZES
    data: bytes  # WebP
    etag: str
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class RenderedPage:
    """Both images of one paper's first page (WebP), ready to store; ``etag`` hashes them."""

    etag: str
    card: bytes
    card_size: tuple[int, int]
    page: bytes
    page_size: tuple[int, int]


@dataclass(slots=True)
class ThumbnailState:
    """Where a paper's thumbnail stands: rendered (``ok``) or ``failed`` and why."""

    paper_id: str
    status: str
    attempts: int = 0
    error: str | None = None
    next_attempt_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(slots=True)
class PaperText:
    """What the embedding model and the word matcher read of a paper (and, for the links
    it gives, its arXiv comment, code repository and project page)."""

    seq: int
    id: str
    title: str
    abstract: str
    comment: str | None = None
    github_repo: str | None = None
    project_page: str | None = None


@dataclass(slots=True)
class FeedEntry:
    """A paper's place on the daily feed (one per paper)."""

    id: int
    paper_id: str
    feed_date: date
    submitted_at: datetime
    submitted_by: int | None = None
    thumbnail: str | None = None


@dataclass(slots=True)
class StarCheck:
    """A paper whose GitHub stars are due for a refresh."""

    id: str
    github_repo: str
    github_etag: str | None
    github_stars: int | None


@dataclass(slots=True)
class TrendingInput:
    """What the trending rank reads of one candidate paper."""

    id: str
    upvotes_external: int
    github_stars: int | None
    published: datetime | None
    submitted_at: datetime | None
    votes: list[datetime] = field(default_factory=list)  # local upvote times
    stars_history: list[tuple[datetime, int]] = field(default_factory=list)


# -- people ------------------------------------------------------------------------------------
@dataclass(slots=True)
class User:
    id: int
    username: str
    email: str | None = None
    password_hash: str | None = None
    fullname: str | None = None
    avatar_url: str | None = None
    role: str = "user"
    is_active: bool = True
    origin: str = "local"  # "local", or "hf" for submitters imported from Hugging Face
    created_at: datetime | None = None
    session_version: int = 0
    confirmed_at: datetime | None = None
    bio: str | None = None
    timezone: str | None = None  # IANA name, chosen in Settings
    notify_email: bool = True  # replies and mentions by e-mail too

    def has_role(self, role: str) -> bool:
        """At least ``role`` (user < curator < admin)."""
        return ROLES.index(self.role) >= ROLES.index(role)


@dataclass(slots=True)
class MentionCandidate:
    """Someone a comment could @mention, with what their public profile shows."""

    username: str
    fullname: str | None
    in_discussion: bool  # commented on the paper, or its claimed author


# What an API token may do: read (GET), write (everything a signed-in user can change), admin
# (curator and admin routes; only an admin's token can hold it).
TOKEN_SCOPES = ("read", "write", "admin")


@dataclass(slots=True)
class ApiToken:
    id: int
    name: str
    prefix: str  # the first characters, shown to tell tokens apart
    created_at: datetime
    last_used_at: datetime | None = None
    scopes: str = "read,write"  # comma-separated TOKEN_SCOPES
    expires_at: datetime | None = None

    @property
    def scope_list(self) -> list[str]:
        return [s for s in self.scopes.split(",") if s]


@dataclass(slots=True)
class Session:
    """A signed-in browser, as Settings lists it."""

    id: int
    user_id: int
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    ip: str | None = None
    user_agent: str | None = None


@dataclass(slots=True)
class Organization:
    id: int
    name: str
    fullname: str | None = None
    avatar_url: str | None = None
    created_at: datetime | None = None
    num_papers: int = 0


@dataclass(slots=True)
class Claim:
    """A user's claim to be one of a paper's authors, decided by an admin."""

    id: int
    user_id: int
    paper_id: str
    author_name: str
    status: str  # pending | approved | rejected
    created_at: datetime
    decided_at: datetime | None = None
    decided_by: int | None = None
    username: str = ""
    title: str = ""  # the paper's


# -- discussion --------------------------------------------------------------------------------
@dataclass(slots=True)
class Comment:
    id: int
    paper_id: str
    user_id: int
    body: str
    created_at: datetime
    parent_id: int | None = None
    edited_at: datetime | None = None
    hidden: bool = False
    deleted: bool = False
    # the author, when read with the thread
    username: str = ""
    fullname: str | None = None
    avatar_url: str | None = None
    role: str = "user"
    author_origin: str = "local"  # "deleted": the author deleted their account


@dataclass(slots=True)
class Notification:
    """A reply to the reader's comment, or a comment that @mentions them, with what a list
    of them shows: who wrote it, on which paper, the start of it."""

    id: int
    kind: str  # reply | mention
    comment_id: int
    created_at: datetime
    read_at: datetime | None
    paper_id: str
    paper_title: str
    actor: str  # the comment's author's user name
    body: str
    actor_origin: str = "local"  # "deleted": the author has deleted their account since

    @property
    def actor_name(self) -> str:
        """Who wrote the comment, as a notification names them."""
        return "A deleted user" if self.actor_origin == "deleted" else self.actor


@dataclass(slots=True)
class ReactionCount:
    """How many people gave a comment one reaction, and whether the viewer is one."""

    name: str
    emoji: str
    label: str
    count: int
    mine: bool = False


# -- e-mail ------------------------------------------------------------------------------------
@dataclass(slots=True)
class Subscription:
    """A digest (trending) or topic alert going to one address."""

    id: int
    email: str
    kind: str  # trending | topic
    frequency: str  # daily | weekly
    timezone: str = "UTC"
    query: str | None = None
    user_id: int | None = None
    status: str = "pending"  # pending | confirmed | bouncing | unsubscribed
    bounce_count: int = 0
    created_at: datetime | None = None
    confirmed_at: datetime | None = None
    unsubscribed_at: datetime | None = None
    confirm_nonce: str | None = None
    manage_nonce: str | None = None
    query_vector: bytes | None = None
    query_model: str | None = None
    updated_at: datetime | None = None
    last_error: str | None = None


@dataclass(slots=True)
class Delivery:
    """One subscription's message for one period: claimed once, sent once."""

    id: int
    subscription_id: int
    period: str
    status: str  # pending | retry | sent | empty | bounced | abandoned | cancelled
    attempts: int = 0
    paper_ids: list[list[str]] = field(default_factory=list)  # [paper id, why] pairs
    message_id: str | None = None
    last_error: str | None = None
    created_at: datetime | None = None
    sent_at: datetime | None = None
    window_start: datetime | None = None
    window_end: datetime | None = None
    next_attempt_at: datetime | None = None


# -- jobs --------------------------------------------------------------------------------------
@dataclass(slots=True)
class JobRun:
    id: int
    job: str
    params: dict[str, Any]
    status: str  # running | ok | partial | failed | abandoned
    started_at: datetime
    updated_at: datetime
    state: dict[str, Any] | None = None  # checkpoint, e.g. an OAI-PMH resumption token
    stats: dict[str, Any] | None = None
    error: str | None = None
    host: str | None = None
    pid: int | None = None
    finished_at: datetime | None = None


@dataclass(slots=True)
class Lease:
    name: str
    holder: str
    acquired_at: datetime
    expires_at: datetime


JOB_STATES = ("queued", "running", "done", "failed")


@dataclass(slots=True)
class Job:
    """One task in the durable queue (``jobs`` table): a kind, a key unique per kind (so that
    asking twice makes one job), what it needs (``payload``), and where it stands."""

    id: int
    kind: str
    key: str
    payload: dict[str, Any]
    state: str  # queued | running | done | failed
    attempts: int
    max_attempts: int
    next_attempt_at: datetime
    created_at: datetime
    updated_at: datetime
    owner_id: int | None = None  # the account that asked for it, if any
    lease_until: datetime | None = None  # a running job whose lease ran out is taken over
    claimed_by: str | None = None
    last_error: str | None = None  # why the last attempt failed, in words for people
    result: str | None = None  # what came of it, in words for people
    finished_at: datetime | None = None

    @property
    def pending(self) -> bool:
        return self.state in ("queued", "running")


@dataclass(slots=True)
class AuditEvent:
    """One security-relevant event: about ``user_id``, done by ``actor_id``."""

    id: int
    created_at: datetime
    kind: str
    user_id: int | None = None
    actor_id: int | None = None
    ip: str | None = None
    agent: str | None = None
    detail: dict[str, Any] | None = None


COLLECTION_VISIBILITIES = ("public", "unlisted", "private")


@dataclass(slots=True)
class Collection:
    """A user's named list of papers: ``public`` (listed on their profile and the papers'
    pages), ``unlisted`` (reachable by its link only) or ``private`` (its owner's alone)."""

    id: int
    user_id: int
    owner: str  # the owner's username
    name: str
    description: str
    visibility: str
    created_at: datetime
    updated_at: datetime
    size: int = 0  # how many papers it holds

    def visible_to(self, user_id: int | None) -> bool:
        return self.visibility != "private" or user_id == self.user_id


@dataclass(slots=True)
class CollectionItem:
    """A paper in a collection, with its place (0 first) and the owner's note."""

    paper_id: str
    position: int
    note: str
    added_at: datetime
