"""What sources say: source-neutral records that every parser produces and the store merges."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from .abstracts import abstract_flaw
from .clock import to_utc_naive
from .errors import BadRecord, InvalidArxivId
from .ids import parse_arxiv_id

MAX_TITLE = 1_000
MAX_ABSTRACT = 20_000
MAX_AUTHORS = 5_000


def clean_text(value: object) -> str:
    """Collapse the line-wrapping whitespace arXiv puts in titles and abstracts."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BadRecord(f"expected text, got {type(value).__name__}")
    if "\x00" in value:
        value = value.replace("\x00", "")
    return " ".join(value.split())  # any run of whitespace (Unicode too) -> one space


def optional_text(value: object) -> str | None:
    text = clean_text(value)
    return text or None


@dataclass
class PaperRecord:
    """One paper as a source describes it. ``None`` means "this source does not say"."""

    id: str
    title: str
    abstract: str = ""
    authors: list[str] = field(default_factory=list)
    version: int | None = None
    categories: list[str] = field(default_factory=list)
    primary_category: str | None = None
    published: datetime | None = None
    updated: datetime | None = None
    comment: str | None = None
    journal_ref: str | None = None
    doi: str | None = None
    github_repo: str | None = None
    github_stars: int | None = None
    project_page: str | None = None
    num_authors: int | None = None
    source: str = "unknown"

    def validated(self, where: str = "") -> PaperRecord:
        """Normalise fields and raise BadRecord if the record cannot be stored."""
        try:
            base, version = parse_arxiv_id(self.id)
        except InvalidArxivId as exc:
            raise BadRecord(str(exc), where) from None
        self.id = base
        if version is not None and self.version is None:
            self.version = version
        if self.version is not None and (not isinstance(self.version, int) or self.version < 1):
            raise BadRecord(f"bad version {self.version!r}", where)
        try:
            self.title = clean_text(self.title)
            self.abstract = clean_text(self.abstract)
            self.comment = optional_text(self.comment)
            self.journal_ref = optional_text(self.journal_ref)
            self.doi = optional_text(self.doi)
            self.project_page = optional_text(self.project_page)
        except BadRecord as exc:
            raise BadRecord(str(exc), where) from None
        if not self.title:
            raise BadRecord(f"{self.id} has no title", where)
        if len(self.title) > MAX_TITLE:
            raise BadRecord(f"{self.id} title is {len(self.title)} characters", where)
        if len(self.abstract) > MAX_ABSTRACT:
            raise BadRecord(f"{self.id} abstract is {len(self.abstract)} characters", where)
        if abstract_flaw(self.abstract, self.title):
            # Bot comments and blurbs are dropped here, where every source's records pass:
            # the paper is still worth storing, its abstract is simply not known yet.
            self.abstract = ""
        if not isinstance(self.authors, list) or not all(isinstance(a, str) for a in self.authors):
            raise BadRecord(f"{self.id} authors must be a list of names", where)
        # A name has a letter or digit: listings split "NVIDIA: A. Name, ..." into "NVIDIA", ":".
        listed = len(self.authors)
        names = [a for a in (clean_text(a) for a in self.authors) if any(c.isalnum() for c in a)]
        self.authors = names[:MAX_AUTHORS]
        if self.num_authors is None:
            self.num_authors = len(self.authors)
        elif self.num_authors >= listed:  # a count that included the entries just dropped
            self.num_authors -= listed - len(names)
        # One word each, as they are stored (space-separated): a listing's "68U10, 90C26"
        # is two, and a stored paper compares equal to the record it came from.
        self.categories = [word for c in self.categories for word in clean_text(c).split()]
        if self.primary_category is None and self.categories:
            self.primary_category = self.categories[0]
        if self.primary_category and self.primary_category not in self.categories:
            self.categories.insert(0, self.primary_category)
        self.published = to_utc_naive(self.published)
        self.updated = to_utc_naive(self.updated)
        return self


@dataclass
class FeedItem:
    """A paper submitted to the daily feed (Hugging Face ``api/daily_papers`` item)."""

    paper: PaperRecord
    feed_date: date
    submitted_at: datetime
    submitted_by: str | None = None
    submitter_fullname: str | None = None
    submitter_avatar: str | None = None
    upvotes: int = 0
    num_comments: int = 0
    organization: str | None = None
    organization_fullname: str | None = None
    organization_avatar: str | None = None
    thumbnail: str | None = None


@dataclass
class Popularity:
    """Upvotes counted elsewhere (and the organization) for a paper, as a source says."""

    paper_id: str
    upvotes: int = 0
    organization: str | None = None
    organization_fullname: str | None = None
    organization_avatar: str | None = None
