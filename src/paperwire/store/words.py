"""What a keyword index kept beside the store reads: the word log (migration 0018, one row
per change to a paper's words or filter fields) and the papers as such an index holds them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa

from ..core.clock import utcnow
from . import schema as t
from .common import Repository, chunks, split_words

P = t.papers
LOG = sa.table("word_log", sa.column("id", sa.BigInteger), sa.column("seq", sa.Integer))
READERS = t.word_log_readers
PRUNED = "word_log_pruned"  # site_meta: the highest word log id deleted
# An index that has not said how far it is for this long no longer holds rows back; if it
# comes back behind what was deleted, it is built anew.
STALE_READER = timedelta(days=7)
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

    # -- keeping the log short -----------------------------------------------------------
    def report(self, reader: str, settled: int) -> None:
        """The index ``reader`` has applied every row up to ``settled``; rows past that are
        kept for it (a new index reports 0 before it reads where the log ends)."""
        stmt = self.db.insert(READERS).values(reader=reader, settled=settled, seen_at=utcnow())
        stmt = stmt.on_conflict_do_update(
            index_elements=[READERS.c.reader],
            set_={"settled": settled, "seen_at": stmt.excluded.seen_at},
        )
        with self.db.begin() as conn:
            conn.execute(stmt)

    def pruned_through(self) -> int:
        """The highest word log id deleted (0: none); an index settled below it has lost
        changes and must be built anew."""
        with self.db.connect() as conn:
            return self._pruned(conn)

    def prune(self, stale: timedelta = STALE_READER) -> int:
        """Delete the rows every index seen within ``stale`` has applied (every row but the
        newest, which keeps :meth:`log_end`, when no index reports); forget the indexes not
        seen since. Returns how many rows were deleted."""
        with self.db.begin() as conn:
            conn.execute(sa.delete(READERS).where(READERS.c.seen_at < utcnow() - stale))
            end = int(conn.execute(sa.select(sa.func.max(LOG.c.id))).scalar() or 0)
            least = conn.execute(sa.select(sa.func.min(READERS.c.settled))).scalar()
            horizon = min(end - 1, end if least is None else int(least))
            done = self._pruned(conn)
            if horizon <= done:
                return 0
            deleted = conn.execute(sa.delete(LOG).where(LOG.c.id <= horizon)).rowcount
            stmt = self.db.insert(t.site_meta).values(key=PRUNED, value=str(horizon))
            stmt = stmt.on_conflict_do_update(
                index_elements=[t.site_meta.c.key], set_={"value": str(horizon)}
            )
            conn.execute(stmt)
            return int(deleted or 0)

    def _pruned(self, conn: sa.Connection) -> int:
        value = conn.execute(
            sa.select(t.site_meta.c.value).where(t.site_meta.c.key == PRUNED)
        ).scalar()
        return int(value or 0)
