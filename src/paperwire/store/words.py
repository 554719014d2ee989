"""What a keyword index kept beside the store reads: the word log (migration 0018, one row
per change to a paper's words or filter fields) and the papers as such an index holds them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa

from . import schema as t
from .common import Repository, chunks, split_words

P = t.papers
LOG = sa.table("word_log", sa.column("id", sa.BigInteger), sa.column("seq", sa.Integer))
_COLUMNS = (
    P.c.seq,
    P.c.title,
    P.c.abstract,
    P.c.authors,
    P.c.categories,
    P.c.published,
    P.c.github_repo,
)


@dataclass(frozen=True)
class PaperWords:
    """A paper as a keyword index holds it: its words and what the filters ask about."""

    seq: int
    title: str
    abstract: str
    authors: list[str]
    categories: list[str]
    published: date | None
    has_code: bool


def _words(row: Any) -> PaperWords:
    return PaperWords(
        seq=int(row.seq),
        title=row.title or "",
        abstract=row.abstract or "",
        authors=list(row.authors or []),  # a JSON array of names, as papers.py writes it
        categories=split_words(row.categories),
        published=row.published.date() if row.published else None,
        has_code=row.github_repo is not None,
    )


class WordRepo(Repository):
    def log_end(self) -> int:
        """The id of the newest word log row (0 when there is none)."""
        with self.db.connect() as conn:
            return int(conn.execute(sa.select(sa.func.max(LOG.c.id))).scalar() or 0)

    def log_after(self, after_id: int, limit: int = 10_000) -> list[tuple[int, int]]:
        """(id, seq) of the word log rows after ``after_id``, oldest first."""
        q = sa.select(LOG.c.id, LOG.c.seq).where(LOG.c.id > after_id).order_by(LOG.c.id)
        with self.db.connect() as conn:
            return [(int(i), int(s)) for i, s in conn.execute(q.limit(limit))]

    def papers(self, seqs: Sequence[int]) -> list[PaperWords]:
        """The papers of ``seqs`` that exist (a deleted one is simply not there)."""
        out: list[PaperWords] = []
        with self.db.connect() as conn:
            for chunk in chunks(sorted(set(seqs))):
                q = sa.select(*_COLUMNS).where(P.c.seq.in_(chunk))
                out.extend(_words(r) for r in conn.execute(q))
        return out

    def papers_after(self, after_seq: int, limit: int = 5_000) -> list[PaperWords]:
        """The next ``limit`` papers by seq, for building an index from the start."""
        q = sa.select(*_COLUMNS).where(P.c.seq > after_seq).order_by(P.c.seq).limit(limit)
        with self.db.connect() as conn:
            return [_words(r) for r in conn.execute(q)]
