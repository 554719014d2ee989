"""Stored embeddings: one float32 vector per paper and model, with an id that only grows (the
high-water mark a vector index catches up from)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

import numpy as np
import sqlalchemy as sa

from ..core.clock import utcnow
from ..core.models import PaperText
from . import schema as t
from .common import Repository, chunks, model

P, E = t.papers, t.paper_embeddings
# Where a newest-first walk of the papers to embed goes on: (published, seq) of the last
# paper given; (None, seq) once it is among the papers without a date.
EmbedCursor = tuple[datetime | None, int]
_TEXT = (P.c.seq, P.c.id, P.c.title, P.c.abstract)


def vector_bytes(vec: np.ndarray) -> bytes:
    return np.asarray(vec, dtype="<f4").tobytes()


def vector_from(raw: bytes) -> np.ndarray:
    return np.frombuffer(raw, dtype="<f4")


def _stacked(rows: Sequence[Any]) -> np.ndarray:
    """The vectors (each row's third column) as one (n, dim) array."""
    return np.frombuffer(b"".join(r[2] for r in rows), dtype="<f4").reshape(len(rows), -1)


def _text(row: Any) -> PaperText:
    return PaperText(seq=row.seq, id=row.id, title=row.title, abstract=row.abstract)


class EmbeddingRepo(Repository):
    def _missing(self, model_key: str) -> sa.ColumnElement[bool]:
        return ~sa.exists().where((E.c.paper_seq == P.c.seq) & (E.c.model == model_key))

    def to_embed(self, model_key: str, after_seq: int = 0, limit: int = 256) -> list[PaperText]:
        """Papers with no vector for ``model_key`` (new, or whose text changed), by seq."""
        q = (
            sa.select(P.c.seq, P.c.id, P.c.title, P.c.abstract)
            .where(P.c.seq > after_seq, self._missing(model_key))
            .order_by(P.c.seq)
            .limit(limit)
        )
        with self.db.connect() as conn:
            return [model(PaperText, r) for r in conn.execute(q)]

    def newest_to_embed(
        self, model_key: str, cursor: EmbedCursor | None = None, limit: int = 256
    ) -> tuple[list[PaperText], EmbedCursor | None]:
        """Papers with no vector for ``model_key``, newest published first (those without a
        date last, the latest added first): a page, and the cursor of the next one (None
        when this page ends the walk). The walk follows the ``published`` index, so a page
        costs the same at the start of a backfill of millions as at its end."""
        out: list[Any] = []
        with self.db.connect() as conn:
            if cursor is None or cursor[0] is not None:
                dated = [P.c.published.is_not(None), self._missing(model_key)]
                if cursor is not None:
                    dated.append(sa.tuple_(P.c.published, P.c.seq) < sa.tuple_(*cursor))
                out = list(
                    conn.execute(
                        sa.select(*_TEXT, P.c.published)
                        .where(*dated)
                        .order_by(P.c.published.desc(), P.c.seq.desc())
                        .limit(limit)
                    )
                )
                if len(out) == limit:
                    return [_text(r) for r in out], (out[-1].published, out[-1].seq)
                cursor = None
            left = limit - len(out)
            undated = [P.c.published.is_(None), self._missing(model_key)]
            if cursor is not None:
                undated.append(P.c.seq < cursor[1])
            more = list(
                conn.execute(
                    sa.select(*_TEXT, P.c.published)
                    .where(*undated)
                    .order_by(P.c.seq.desc())
                    .limit(left)
                )
            )
        rows = [_text(r) for r in [*out, *more]]
        return rows, ((None, more[-1].seq) if len(more) == left else None)

    def count_to_embed(self, model_key: str) -> int:
        q = sa.select(sa.func.count()).select_from(P).where(self._missing(model_key))
        with self.db.connect() as conn:
            return int(conn.execute(q).scalar_one())

    def save(self, model_key: str, rows: Sequence[tuple[int, np.ndarray]]) -> int:
        """Store vectors (replacing older ones of the same papers). Papers deleted meanwhile
        are skipped. Returns how many were stored."""
        if not rows:
            return 0
        now = utcnow()
        with self.db.begin() as conn:
            seqs = [s for s, _ in rows]
            alive: set[int] = set()
            for chunk in chunks(seqs):
                alive.update(conn.execute(sa.select(P.c.seq).where(P.c.seq.in_(chunk))).scalars())
                conn.execute(E.delete().where(E.c.model == model_key, E.c.paper_seq.in_(chunk)))
            values = [
                {"paper_seq": s, "model": model_key, "vector": vector_bytes(v), "created_at": now}
                for s, v in rows
                if s in alive
            ]
            if values:
                conn.execute(E.insert(), values)
        return len(values)

    def state(self, model_key: str) -> tuple[int, int]:
        """(number of vectors, highest row id) for ``model_key``."""
        q = sa.select(sa.func.count(), sa.func.coalesce(sa.func.max(E.c.id), 0)).where(
            E.c.model == model_key
        )
        with self.db.connect() as conn:
            n, high = conn.execute(q).one()
        return int(n), int(high)

    def behind(self, model_key: str, after_id: int) -> tuple[int, datetime | None]:
        """(how many vectors for ``model_key`` were stored after row ``after_id``, when the
        oldest of them was stored): how far an index read up to ``after_id`` lags. One range
        scan of the primary key."""
        q = sa.select(sa.func.count(), sa.func.min(E.c.created_at)).where(
            _of_model(model_key), E.c.id > after_id
        )
        with self.db.connect() as conn:
            n, oldest = conn.execute(q).one()
        return int(n), oldest

    def rows_after(
        self, model_key: str, after_id: int = 0, batch: int = 20000
    ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """(row ids, paper seqs, vectors) in id order, ``batch`` rows at a time."""
        for rows in self._batches(self._rows_query(model_key), after_id, batch):
            ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            seqs = np.fromiter((r[1] for r in rows), dtype=np.int64, count=len(rows))
            yield ids, seqs, _stacked(rows)

    @staticmethod
    def _rows_query(model_key: str) -> Any:
        return sa.select(E.c.id, E.c.paper_seq, E.c.vector).where(_of_model(model_key))

    def _batches(self, q: Any, after_id: int, batch: int) -> Iterator[list[Any]]:
        """The rows of ``q`` (row id first) after ``after_id``, in id order, in batches."""
        last = after_id
        while True:
            with self.db.connect() as conn:
                rows = conn.execute(q.where(E.c.id > last).order_by(E.c.id).limit(batch)).all()
            if not rows:
                return
            yield rows
            last = int(rows[-1][0])

    def of(self, model_key: str, paper_id: str) -> np.ndarray | None:
        """A paper's stored vector."""
        q = (
            sa.select(E.c.vector)
            .join(P, P.c.seq == E.c.paper_seq)
            .where(P.c.id == paper_id, E.c.model == model_key)
        )
        with self.db.connect() as conn:
            raw = conn.execute(q).scalar()
        return None if raw is None else vector_from(raw).copy()

    def export_rows(
        self, model_key: str, batch: int = 20000
    ) -> Iterator[tuple[list[str], np.ndarray]]:
        """(arXiv ids, vectors) of every stored vector of ``model_key``, by row id,
        ``batch`` at a time."""
        q = (
            sa.select(E.c.id, P.c.id.label("paper_id"), E.c.vector)
            .join(P, P.c.seq == E.c.paper_seq)
            .where(_of_model(model_key))
        )
        for rows in self._batches(q, 0, batch):
            yield [r[1] for r in rows], _stacked(rows)

    def texts(self, model_key: str, missing_only: bool, batch: int = 5000) -> Iterator[PaperText]:
        """Every paper's title and abstract by seq (only those without a vector of
        ``model_key`` when ``missing_only``), read ``batch`` at a time."""
        last = 0
        while True:
            q = sa.select(P.c.seq, P.c.id, P.c.title, P.c.abstract).where(P.c.seq > last)
            if missing_only:
                q = q.where(self._missing(model_key))
            with self.db.connect() as conn:
                rows = [model(PaperText, r) for r in conn.execute(q.order_by(P.c.seq).limit(batch))]
            if not rows:
                return
            yield from rows
            last = rows[-1].seq

    def seqs_of(self, paper_ids: Sequence[str]) -> dict[str, int]:
        """The seq of each of ``paper_ids`` in the store (unknown ids left out)."""
        found: dict[str, int] = {}
        with self.db.connect() as conn:
            for chunk in chunks(list(paper_ids)):
                found.update(
                    conn.execute(sa.select(P.c.id, P.c.seq).where(P.c.id.in_(chunk))).all()
                )
        return found


def _of_model(model_key: str) -> Any:
    """``model = model_key`` written so that no index on the model can serve it: with a range
    of row ids beside it, the database then walks the primary key from the range's start,
    where the (model, paper) index made it read every vector's entry of the model and sort
    them (420 ms for 1,000 new rows among 3 million, each refresh of each process)."""
    return E.c.model.op("||")(sa.literal("")) == model_key
