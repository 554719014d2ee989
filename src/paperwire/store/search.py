"""Search queries: stored embeddings, the keyword index and the filters shared by both."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import numpy as np
import sqlalchemy as sa

from . import schema as t
from .common import chunks, utcnow

P = t.papers
E = t.paper_embeddings


@dataclass(frozen=True)
class SearchFilters:
    """Restrictions every search path applies the same way."""

    date_from: date | None = None  # publication date, inclusive
    date_to: date | None = None  # inclusive
    category: str | None = None  # "cs.CV", or an archive such as "cs"
    has_code: bool = False
    on_feed: bool = False

    @property
    def active(self) -> bool:
        return bool(
            self.date_from or self.date_to or self.category or self.has_code or self.on_feed
        )

    def clauses(self) -> list:
        out = []
        if self.date_from:
            out.append(P.c.published >= datetime.combine(self.date_from, time()))
        if self.date_to:
            out.append(P.c.published < datetime.combine(self.date_to + timedelta(days=1), time()))
        if self.category:
            cats = sa.literal(" ") + P.c.categories + sa.literal(" ")
            cat = self.category.replace("%", "").replace("_", r"\_")
            pattern = f"% {cat} %" if "." in cat else f"% {cat}.%"
            out.append(cats.like(pattern, escape="\\"))
        if self.has_code:
            out.append(P.c.github_repo.is_not(None))
        if self.on_feed:
            out.append(sa.exists().where(t.feed_entries.c.paper_id == P.c.id))
        return out


def vector_bytes(vec: np.ndarray) -> bytes:
    return np.asarray(vec, dtype="<f4").tobytes()


def vector_from(raw: bytes) -> np.ndarray:
    return np.frombuffer(raw, dtype="<f4")


class SearchQueries:
    """Mixed into Store."""

    # -- embeddings ----------------------------------------------------------------------
    def papers_to_embed(self, model: str, after_seq: int = 0, limit: int = 256) -> list[dict]:
        """Papers with no vector for ``model`` (new, or whose text changed), by seq."""
        q = (
            sa.select(P.c.seq, P.c.title, P.c.abstract)
            .where(P.c.seq > after_seq)
            .where(~sa.exists().where((E.c.paper_seq == P.c.seq) & (E.c.model == model)))
            .order_by(P.c.seq)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def count_to_embed(self, model: str) -> int:
        q = (
            sa.select(sa.func.count())
            .select_from(P)
            .where(~sa.exists().where((E.c.paper_seq == P.c.seq) & (E.c.model == model)))
        )
        with self.engine.connect() as conn:
            return conn.execute(q).scalar_one()

    def save_embeddings(self, model: str, rows: Sequence[tuple[int, np.ndarray]]) -> int:
        """Store vectors (replacing older ones of the same papers). Papers deleted meanwhile
        are skipped. Returns how many were stored."""
        if not rows:
            return 0
        now = utcnow()
        with self.engine.begin() as conn:
            seqs = [s for s, _ in rows]
            alive: set[int] = set()
            for chunk in chunks(seqs):
                alive.update(conn.execute(sa.select(P.c.seq).where(P.c.seq.in_(chunk))).scalars())
                conn.execute(E.delete().where(E.c.model == model).where(E.c.paper_seq.in_(chunk)))
            values = [
                {"paper_seq": s, "model": model, "vector": vector_bytes(v), "created_at": now}
                for s, v in rows
                if s in alive
            ]
            if values:
                conn.execute(E.insert(), values)
        return len(values)

    def embedding_state(self, model: str) -> tuple[int, int]:
        """(number of vectors, highest row id) for ``model``."""
        q = sa.select(sa.func.count(), sa.func.coalesce(sa.func.max(E.c.id), 0)).where(
            E.c.model == model
        )
        with self.engine.connect() as conn:
            n, high = conn.execute(q).one()
        return int(n), int(high)

    def iter_embeddings(
        self, model: str, after_id: int = 0, batch: int = 20000
    ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """(row ids, paper seqs, vectors) in id order, ``batch`` rows at a time."""
        last = after_id
        while True:
            q = (
                sa.select(E.c.id, E.c.paper_seq, E.c.vector)
                .where(E.c.model == model)
                .where(E.c.id > last)
                .order_by(E.c.id)
                .limit(batch)
            )
            with self.engine.connect() as conn:
                rows = conn.execute(q).all()
            if not rows:
                return
            ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            seqs = np.fromiter((r[1] for r in rows), dtype=np.int64, count=len(rows))
            vecs = np.frombuffer(b"".join(r[2] for r in rows), dtype="<f4").reshape(len(rows), -1)
            yield ids, seqs, vecs
            last = int(ids[-1])

    def embedding_of(self, model: str, paper_id: str) -> np.ndarray | None:
        q = (
            sa.select(E.c.vector)
            .join(P, P.c.seq == E.c.paper_seq)
            .where(P.c.id == paper_id)
            .where(E.c.model == model)
        )
        with self.engine.connect() as conn:
            raw = conn.execute(q).scalar()
        return None if raw is None else vector_from(raw).copy()

    # -- papers by seq -------------------------------------------------------------------
    def seq_ids(self, seqs: Sequence[int]) -> dict[int, str]:
        out: dict[int, str] = {}
        with self.engine.connect() as conn:
            for chunk in chunks([int(s) for s in seqs]):
                out.update(conn.execute(sa.select(P.c.seq, P.c.id).where(P.c.seq.in_(chunk))).all())
        return out

    def seq_of(self, paper_id: str) -> int | None:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(P.c.seq).where(P.c.id == paper_id)).scalar()

    def sort_keys(self, seqs: Sequence[int]) -> dict[int, tuple[datetime | None, int]]:
        """seq → (published, upvotes), to order search results by date or votes."""
        out: dict[int, tuple[datetime | None, int]] = {}
        with self.engine.connect() as conn:
            for chunk in chunks([int(s) for s in seqs]):
                q = sa.select(P.c.seq, P.c.published, P.c.upvotes).where(P.c.seq.in_(chunk))
                out.update({r.seq: (r.published, r.upvotes) for r in conn.execute(q)})
        return out

    def paper_texts(self, seqs: Sequence[int]) -> dict[int, tuple[str, str]]:
        out: dict[int, tuple[str, str]] = {}
        with self.engine.connect() as conn:
            for chunk in chunks([int(s) for s in seqs]):
                q = sa.select(P.c.seq, P.c.title, P.c.abstract).where(P.c.seq.in_(chunk))
                out.update({r.seq: (r.title, r.abstract) for r in conn.execute(q)})
        return out

    # -- filters -------------------------------------------------------------------------
    def filter_seqs(self, filters: SearchFilters, limit: int) -> np.ndarray | None:
        """Seqs of the papers the filters allow, or None when there are more than ``limit``."""
        q = sa.select(P.c.seq).where(*filters.clauses()).limit(limit + 1)
        with self.engine.connect() as conn:
            seqs = np.fromiter(conn.execute(q).scalars(), dtype=np.int64)
        return None if len(seqs) > limit else seqs

    def allowed_among(self, seqs: Sequence[int], filters: SearchFilters) -> set[int]:
        out: set[int] = set()
        with self.engine.connect() as conn:
            for chunk in chunks([int(s) for s in seqs]):
                q = sa.select(P.c.seq).where(P.c.seq.in_(chunk), *filters.clauses())
                out.update(conn.execute(q).scalars())
        return out

    def browse(
        self, filters: SearchFilters, sort: str, limit: int, offset: int
    ) -> tuple[list[int], int]:
        """Filtered papers without a query: (seqs of one page, total)."""
        order = {
            "upvotes": (P.c.upvotes.desc(), P.c.published.desc()),
        }.get(sort, (P.c.published.desc(), P.c.seq.desc()))
        where = filters.clauses()
        with self.engine.connect() as conn:
            total = conn.execute(sa.select(sa.func.count()).select_from(P).where(*where)).scalar()
            q = sa.select(P.c.seq).where(*where).order_by(*order).limit(limit).offset(offset)
            return list(conn.execute(q).scalars()), int(total)

    # -- keyword index -------------------------------------------------------------------
    def keyword_doc_counts(self, matches: Sequence, cap: int) -> list[int]:
        """How many papers match each prepared keyword query, counting up to ``cap``."""
        out = []
        with self.engine.connect() as conn:
            for match in matches:
                if not match:
                    out.append(0)
                elif self.dialect == "sqlite":
                    q = sa.text(
                        "SELECT count(*) FROM (SELECT 1 FROM papers_fts "
                        "WHERE papers_fts MATCH :m LIMIT :cap)"
                    )
                    out.append(conn.execute(q, {"m": match, "cap": cap}).scalar_one())
                else:
                    expr, params = match
                    q = sa.text(
                        f"SELECT count(*) FROM (SELECT 1 FROM papers "
                        f"WHERE tsv @@ ({expr}) LIMIT :cap) AS hits"
                    )
                    out.append(conn.execute(q, {**params, "cap": cap}).scalar_one())
        return out

    def keyword_hits(
        self,
        match: str | tuple[str, dict] | None,
        filters: SearchFilters | None = None,
        limit: int = 200,
        within: Sequence[int] | None = None,
    ) -> list[tuple[int, float]]:
        """(seq, score) best first for a prepared keyword query: an FTS5 expression on
        SQLite, a (tsquery SQL, params) pair on PostgreSQL (see ``search.query``).
        ``within`` restricts the search to those papers."""
        if not match:
            return []
        where = filters.clauses() if filters else []
        if within is not None:
            if not len(within):
                return []
            where.append(P.c.seq.in_([int(s) for s in within]))
        with self.engine.connect() as conn:
            if self.dialect == "sqlite":
                fts = sa.table("papers_fts", sa.column("rowid"))
                score = sa.literal_column("bm25(papers_fts, 10.0, 1.0, 2.0)")
                q = (
                    sa.select(P.c.seq, score.label("score"))
                    .select_from(fts.join(P, P.c.seq == fts.c.rowid))
                    .where(sa.text("papers_fts MATCH :match"), *where)
                    .order_by(sa.text("score"))
                    .limit(limit)
                )
                rows = conn.execute(q, {"match": match})
                return [(int(r.seq), -float(r.score)) for r in rows]
            expr, params, *weighted = match
            units = weighted[0] if weighted else []
            # The tsquery is built once, in a one-row subquery with bound parameters.
            cols = [f"({expr}) AS q"] + [f"({u}) AS q{i}" for i, (u, _) in enumerate(units)]
            tsq = (
                sa.text("SELECT " + ", ".join(cols))
                .bindparams(**params)
                .columns(sa.column("q"), *(sa.column(f"q{i}") for i in range(len(units))))
                .subquery("tsq")
            )
            tsv = sa.literal_column("papers.tsv")
            if units:
                # Rare words weigh more (an IDF-weighted sum of per-word ranks, like BM25).
                score = sum(
                    (
                        sa.func.ts_rank(tsv, tsq.c[f"q{i}"], 1) * sa.literal(w, sa.Float)
                        for i, (_, w) in enumerate(units)
                    ),
                    sa.literal(0.0, sa.Float),
                )
            else:
                score = sa.func.ts_rank_cd(tsv, tsq.c.q, 1)
            q = (
                sa.select(P.c.seq, score.label("score"))
                .select_from(P.join(tsq, sa.true()))
                .where(tsv.op("@@")(tsq.c.q), *where)
                .order_by(sa.desc("score"), P.c.seq)
                .limit(limit)
            )
            rows = conn.execute(q)
            return [(int(r.seq), float(r.score)) for r in rows]
