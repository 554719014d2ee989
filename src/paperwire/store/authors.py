"""Authors: the papers that name someone among their authors, found through the keyword index
on both backends, and the accounts whose authorship claims under that name were approved."""

from __future__ import annotations

import json
import re
from typing import Any

import sqlalchemy as sa

from ..core.models import Card, User
from . import schema as t
from .common import Repository, model
from .feed import FeedRepo

P = t.papers
MAX_NAME = 200  # as long as a claimed author name may be
_WORDY = re.compile(r"[A-Za-z0-9]")


def _as_indexed(name: str) -> str:
    """``name`` as the keyword indexes read it. Author lists are stored as JSON with every
    non-ASCII letter escaped (``M\\u00fcller``) and both indexes tokenize that text, so a
    name is looked up in the same spelling, tokenized by the same tokenizer."""
    return json.dumps(name)[1:-1]


def _clean(name: str) -> str:
    # NUL is no character of a name (PostgreSQL refuses it in text): a separator, like space.
    return " ".join(name.replace("\x00", " ").split())[:MAX_NAME]


def author_phrase(name: str) -> str | None:
    """An FTS5 MATCH term for papers whose authors' text holds ``name`` (a superset of
    those by ``name``), or None for a name without letters or digits."""
    indexed = _as_indexed(_clean(name))
    if not _WORDY.search(indexed):
        return None
    return 'authors : "' + indexed.replace('"', '""') + '"'


def author_clauses(name: str, dialect: str) -> list[Any]:
    """SQL conditions on the papers table: ``name`` is one of the paper's authors (whole
    name, ASCII letters in any case). The keyword index narrows the papers down first (the
    name as a phrase in the authors' text, an index lookup); each remaining paper's list is
    then read for the exact name, so "Wei Zhang" matches neither "Zhang Wei" nor "Wei Zhang
    Li" (nor the end of one name and the start of the next)."""
    name = _clean(name)
    indexed = _as_indexed(name)
    narrow = bool(_WORDY.search(indexed))  # a name without letters has no words to look up
    out: list[Any] = []
    if dialect == "sqlite":
        if phrase := author_phrase(name):
            hits = (
                sa.text("SELECT rowid FROM papers_fts WHERE papers_fts MATCH :author_phrase")
                .bindparams(author_phrase=phrase)
                .columns(sa.column("rowid", sa.Integer))
            )
            out.append(P.c.seq.in_(hits))
        exact = "SELECT 1 FROM json_each(papers.authors) AS a WHERE lower(a.value) = lower(:author)"
    else:
        if narrow:
            out.append(
                sa.literal_column("papers.tsv").op("@@")(
                    sa.func.phraseto_tsquery(sa.literal_column("'simple'::regconfig"), indexed)
                )
            )
        exact = (
            "SELECT 1 FROM json_array_elements_text(papers.authors) AS a(name) "
            "WHERE lower(a.name) = lower(:author)"
        )
    out.append(sa.text(f"EXISTS ({exact})").bindparams(author=name))
    return out


class AuthorRepo(Repository):
    def __init__(self, db: Any, feed: FeedRepo):
        super().__init__(db)
        self.feed = feed

    def papers(self, name: str, *, limit: int = 30, offset: int = 0) -> tuple[list[Card], int]:
        """Cards of the papers ``name`` wrote, newest publication first, and their number."""
        # One pass finds the page and counts the papers (the lookup is the costly part),
        # then the page's cards are read by primary key.
        q = (
            sa.select(P.c.id, sa.func.count().over().label("total"))
            .where(*author_clauses(name, self.db.dialect))
            .order_by(P.c.published.desc().nulls_last(), P.c.id.desc())
            .limit(limit)
            .offset(offset)
        )
        with self.db.connect() as conn:
            rows = conn.execute(q).all()
            if rows:
                total = int(rows[0].total)
            else:  # past the last page
                count = sa.select(sa.func.count()).where(*author_clauses(name, self.db.dialect))
                total = int(conn.execute(count.select_from(P)).scalar_one())
        return self.feed.cards([r.id for r in rows]), total

    def claimed_by(self, name: str) -> list[User]:
        """Accounts with an approved claim to be ``name`` on some paper (any ASCII case)."""
        c, u = t.authorship_claims, t.users
        q = (
            sa.select(u)
            .where(
                u.c.id.in_(
                    sa.select(c.c.user_id).where(
                        c.c.status == "approved",
                        sa.func.lower(c.c.author_name) == sa.func.lower(_clean(name)),
                    )
                ),
                u.c.is_active.is_(True),
            )
            .order_by(u.c.username)
        )
        with self.db.connect() as conn:
            return [model(User, r) for r in conn.execute(q)]
