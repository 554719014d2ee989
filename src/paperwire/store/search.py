"""Search in the database: the keyword index (SQLite FTS5 bm25 or PostgreSQL tsvector, in
the same transactions as the papers) and the filters every search path applies."""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Sequence
from datetime import datetime, time, timedelta
from typing import Any, Protocol

import numpy as np
import sqlalchemy as sa

from ..core import categories
from ..core.query import ParsedQuery, SearchFilters, Unit, parse
from . import schema as t
from .authors import author_clauses, author_phrase
from .common import Repository, chunks
from .fulltext import ALL, ANY, fts5, tsquery

P = t.papers
# Words a title lookup may ask for (they are pasted into the FTS5 or tsquery text, quoted).
_PLAIN_WORD = re.compile(r"^[^\W_]{1,64}$")
MAX_TITLE_WORDS = 16
# bm25 weights of the FTS5 columns: title, abstract, authors (tuned on SciFact-dev).
BM25 = "bm25(papers_fts, 10.0, 1.0, 2.0)"
# The tokenizer of the papers_fts table (migration 0001), for in-memory copies of it.
FTS5_TOKENIZE = "porter unicode61 remove_diacritics 2"
FTS = sa.table("papers_fts", sa.column("rowid"))


class WordIndex(Protocol):
    def matching(self, query: ParsedQuery, seqs: Sequence[int], mode: str = ALL) -> set[int]:
        """Which of ``seqs`` hold every unit of ``query`` (or any, with ``mode`` "any") and
        none it excludes."""
        ...


class _StoredWords:
    """The store's own index, asked paper by paper."""

    def __init__(self, repo: SearchRepo):
        self.repo = repo

    def matching(self, query: ParsedQuery, seqs: Sequence[int], mode: str = ALL) -> set[int]:
        return self.repo.matching(query, seqs, mode)


class _LocalWords:
    """An in-memory FTS5 table holding some papers, tokenized as papers_fts is."""

    def __init__(self, rows: Sequence[tuple[int, str, str, str]]):
        self.conn = sqlite3.connect(":memory:", check_same_thread=False)
        self.lock = threading.Lock()
        self.conn.execute(
            "CREATE VIRTUAL TABLE words USING fts5(title, abstract, authors, "
            f"tokenize='{FTS5_TOKENIZE}')"
        )
        self.conn.executemany(
            "INSERT INTO words(rowid, title, abstract, authors) VALUES (?, ?, ?, ?)", rows
        )

    def matching(self, query: ParsedQuery, seqs: Sequence[int], mode: str = ALL) -> set[int]:
        match = fts5(query, mode)
        if match is None or not seqs:
            return set()
        with self.lock:
            found = self.conn.execute("SELECT rowid FROM words WHERE words MATCH ?", (match,))
            return {row[0] for row in found} & {int(s) for s in seqs}


def filter_clauses(filters: SearchFilters | None, dialect: str) -> list[Any]:
    """The filters as SQL conditions on the papers table."""
    if filters is None:
        return []
    out: list[Any] = []
    if filters.date_from:
        out.append(P.c.published >= datetime.combine(filters.date_from, time()))
    if filters.date_to:
        out.append(P.c.published < datetime.combine(filters.date_to + timedelta(days=1), time()))
    if filters.category:
        cats = sa.literal(" ") + P.c.categories + sa.literal(" ")
        code = categories.canonical(filters.category)
        cat = code.replace("%", "").replace("_", r"\_")
        held: Any = cats.like(f"% {cat} %", escape="\\")
        if categories.is_archive(code):  # the archive itself (hep-th) or any of its own
            held = sa.or_(held, cats.like(f"% {cat}.%", escape="\\"))
        out.append(held)
    if filters.has_code:
        out.append(P.c.github_repo.is_not(None))
    if filters.on_feed:
        out.append(sa.exists().where(t.feed_entries.c.paper_id == P.c.id))
    if filters.author:
        out.extend(author_clauses(filters.author, dialect))
    return out


def _fts5_match(query: ParsedQuery, mode: str, filters: SearchFilters | None) -> str | None:
    """The FTS5 MATCH text of ``query``, with the author filter's phrase when there is one:
    one MATCH intersects the word lists in the index, so "model" by a given author takes
    milliseconds instead of scoring every paper about models."""
    match = fts5(query, mode)
    phrase = author_phrase(filters.author) if filters and filters.author else None
    return f"({match}) AND {phrase}" if match and phrase else match


class SearchRepo(Repository):
    # -- keyword index -------------------------------------------------------------------
    def keyword_hits(
        self,
        query: ParsedQuery,
        *,
        mode: str = ALL,
        filters: SearchFilters | None = None,
        limit: int = 200,
        weights: Sequence[float] | None = None,
        ranked: bool = True,
        window: int | None = None,
    ) -> list[tuple[int, float]]:
        """(seq, score) best first: papers holding every unit of ``query`` (``mode`` "all")
        or any of them ("any"), never an excluded one. ``weights`` (PostgreSQL, "any"): a
        weight per unit, for rarity (FTS5's bm25 weighs rare words by itself). Not
        ``ranked``: the newest such papers (score 0), found without scoring every match —
        what a search that ran out of time for ranking can still give. ``window``: rank
        only those of the newest ``window`` papers holding the words (all of them when
        fewer do) that the filters allow, so that a common word's papers are not all scored
        and filtered (seconds at three million papers): finding the window's edge walks the
        word lists newest first, unscored and unfiltered (about 1 ms per 20,000 papers).
        FTS5's bm25 still counts each word's papers once per query (~50 ms for "model" at
        three million)."""
        if not query.units:
            return []
        where = filter_clauses(filters, self.db.dialect)
        if ranked and window:
            # The window's oldest paper bounds the ranked query below, so that it reads only
            # the window; no paper in it: nothing to rank (the words were intersected once).
            edge = self._window_edge(query, mode, window)
            if edge is None:
                return []
            where = [*where, (FTS.c.rowid if self.db.dialect == "sqlite" else P.c.seq) >= edge]
        if self.db.dialect == "sqlite":
            return self._fts5_hits(_fts5_match(query, mode, filters), where, limit, ranked)
        if not ranked:
            return self._tsvector_newest(query, mode, where, limit)
        return self._tsvector_hits(query, mode, where, limit, weights)

    def _window_edge(self, query: ParsedQuery, mode: str, window: int) -> int | None:
        """The seq of the oldest of the newest ``window`` papers holding the words (all or
        any, filters aside): read from the word index alone, newest first, unscored."""
        key, source, params = self._holding(query, mode)
        q = sa.text(f"SELECT {key} FROM {source} ORDER BY {key} DESC LIMIT :n")
        with self.db.connect() as conn:
            seqs = conn.execute(q, {**params, "n": window}).scalars().all()
        return int(seqs[-1]) if seqs else None

    def _holding(self, query: ParsedQuery, mode: str) -> tuple[str, str, dict[str, Any]]:
        """SQL finding the papers that hold the words in the word index alone: (the key
        column — a paper's seq —, ``FROM … WHERE …`` text, its parameters)."""
        if self.db.dialect == "sqlite":
            return "rowid", "papers_fts WHERE papers_fts MATCH :m", {"m": fts5(query, mode)}
        ts = tsquery(query, mode)
        assert ts is not None
        return "seq", f"papers WHERE tsv @@ ({ts.expr})", dict(ts.params)

    def _fts5_hits(
        self, match: str | None, where: list[Any], limit: int, ranked: bool = True
    ) -> list[tuple[int, float]]:
        score = sa.literal_column(BM25) if ranked else sa.literal(0.0, sa.Float)
        q = (
            sa.select(P.c.seq, score.label("score"))
            .select_from(FTS.join(P, P.c.seq == FTS.c.rowid))
            .where(sa.text("papers_fts MATCH :match"), *where)
            .order_by(sa.text("score") if ranked else FTS.c.rowid.desc())
            .limit(limit)
        )
        with self.db.connect() as conn:
            rows = conn.execute(q, {"match": match})
            return [(int(r.seq), -float(r.score)) for r in rows]

    def _tsvector_newest(
        self, query: ParsedQuery, mode: str, where: list[Any], limit: int
    ) -> list[tuple[int, float]]:
        ts = tsquery(query, mode)
        assert ts is not None
        q = (
            sa.select(P.c.seq)
            .where(sa.literal_column("papers.tsv").op("@@")(sa.text(f"({ts.expr})")), *where)
            .order_by(P.c.seq.desc())
            .limit(limit)
        )
        with self.db.connect() as conn:
            return [(int(seq), 0.0) for seq in conn.execute(q, ts.params).scalars()]

    def _tsvector_hits(
        self,
        query: ParsedQuery,
        mode: str,
        where: list[Any],
        limit: int,
        weights: Sequence[float] | None,
    ) -> list[tuple[int, float]]:
        ts = tsquery(query, mode, weights)
        assert ts is not None
        # The tsquery is built once, in a one-row subquery with bound parameters.
        cols = [f"({ts.expr}) AS q"] + [f"({u}) AS q{i}" for i, (u, _) in enumerate(ts.units)]
        tsq = (
            sa.text("SELECT " + ", ".join(cols))
            .bindparams(**ts.params)
            .columns(sa.column("q"), *(sa.column(f"q{i}") for i in range(len(ts.units))))
            .subquery("tsq")
        )
        tsv: Any = sa.literal_column("papers.tsv")
        score: Any
        if ts.units:
            # Rare words weigh more (an IDF-weighted sum of per-word ranks, like BM25).
            score = sum(
                (
                    sa.func.ts_rank(tsv, tsq.c[f"q{i}"], 1) * sa.literal(w, sa.Float)
                    for i, (_, w) in enumerate(ts.units)
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
        with self.db.connect() as conn:
            return [(int(r.seq), float(r.score)) for r in conn.execute(q)]

    def word_index(self, seqs: Sequence[int] | None = None) -> WordIndex:
        """Which papers hold which words, judged as the keyword index judges them, for
        questions about ``seqs`` (None: any paper). For a set of papers on SQLite, an
        in-memory FTS5 copy of them with the same tokenizer answers each question in a
        fraction of a millisecond (a topic alert asks one per subscriber)."""
        if seqs is not None and self.db.dialect == "sqlite":
            return _LocalWords(self._fts_rows(seqs))
        return _StoredWords(self)

    def _fts_rows(self, seqs: Sequence[int]) -> list[tuple[int, str, str, str]]:
        """The papers as the FTS5 triggers index them (authors as their stored JSON)."""
        rows: list[tuple[int, str, str, str]] = []
        ids: Any = sa.bindparam("ids", expanding=True)
        q = sa.text("SELECT seq, title, abstract, authors FROM papers WHERE seq IN :ids")
        with self.db.connect() as conn:
            for chunk in chunks(sorted({int(s) for s in seqs})):
                rows.extend(tuple(r) for r in conn.execute(q.bindparams(ids), {"ids": chunk}))
        return rows

    def matching(self, query: ParsedQuery, seqs: Sequence[int], mode: str = ALL) -> set[int]:
        """Which of ``seqs`` hold every unit of ``query`` (``mode`` "all") or any of them
        ("any"), and none it excludes. Checked paper by paper through the index (FTS5 seeks
        each rowid; PostgreSQL tests each row's tsvector), so a few papers cost little
        whatever the words: 1.4 ms for 30 papers and "learning model", where filtering a
        full MATCH took 70 ms on the 74.7k-paper corpus."""
        if not query.units or not seqs:
            return set()
        ids: Any = sa.bindparam("ids", expanding=True)
        out: set[int] = set()
        with self.db.connect() as conn:
            for chunk in chunks(sorted({int(s) for s in seqs})):
                if self.db.dialect == "sqlite":
                    q = sa.text(
                        "SELECT rowid FROM papers_fts WHERE papers_fts MATCH :m AND rowid IN :ids"
                    ).bindparams(ids)
                    out.update(conn.execute(q, {"m": fts5(query, mode), "ids": chunk}).scalars())
                else:
                    ts = tsquery(query, mode)
                    assert ts is not None
                    q = sa.text(
                        f"SELECT seq FROM papers WHERE seq IN :ids AND tsv @@ ({ts.expr})"
                    ).bindparams(ids)
                    out.update(conn.execute(q, {**ts.params, "ids": chunk}).scalars())
        return out

    def title_hits(self, words: Sequence[str], limit: int = 50) -> list[int]:
        """Seqs of the newest papers whose title (not abstract or authors) holds every one of
        ``words`` as the keyword index reads words (stemmed), for finding a paper by its
        title. Words other than letters and digits are left out."""
        kept = [w for w in dict.fromkeys(words) if _PLAIN_WORD.match(w)][:MAX_TITLE_WORDS]
        if not kept:
            return []
        if self.db.dialect == "sqlite":
            match = "title : (" + " AND ".join(f'"{w}"' for w in kept) + ")"
            q = sa.text(
                "SELECT rowid FROM papers_fts WHERE papers_fts MATCH :m "
                "ORDER BY rowid DESC LIMIT :limit"
            )
            params: dict[str, Any] = {"m": match, "limit": limit}
        else:
            # The title's lexemes carry weight A in the tsvector (migration 0001).
            q = sa.text(
                "SELECT seq FROM papers WHERE tsv @@ to_tsquery('english', :q) "
                "ORDER BY seq DESC LIMIT :limit"
            )
            params = {"q": " & ".join(f"{w}:A" for w in kept), "limit": limit}
        with self.db.connect() as conn:
            return [int(s) for s in conn.execute(q, params).scalars()]

    def doc_counts(self, units: Sequence[Unit], cap: int) -> list[int]:
        """How many papers hold each unit, counting up to ``cap``."""
        with self.db.connect() as conn:
            return [self._capped_count(conn, unit, cap) for unit in units]

    def word_count(self, word: str, cap: int) -> int:
        """How many papers hold ``word`` (as a search finds it: stemmed), counting up to
        ``cap``, from the word index: about a millisecond for a rare word on either backend.
        On PostgreSQL the papers holding it are a CTE of their own, planned for all of
        them: under the LIMIT, a word it has no statistics for (guessed in 0.5 % of the
        papers) was looked for by reading every row, 235 ms at 74,728 papers, against
        1-3 ms through the index (a common word is still read row by row, and found in the
        first rows)."""
        with self.db.connect() as conn:
            return self._capped_count(conn, Unit([[word]]), max(1, cap), own_plan=True)

    def _capped_count(
        self, conn: sa.Connection, unit: Unit, cap: int, own_plan: bool = False
    ) -> int:
        """How many papers hold ``unit``, counting up to ``cap``; ``own_plan``: on
        PostgreSQL, the papers holding it planned apart from the LIMIT (see
        :meth:`word_count`)."""
        _, source, params = self._holding(ParsedQuery(text="", units=[unit]), ANY)
        if own_plan and self.db.dialect == "postgresql":
            q = (
                f"WITH hits AS MATERIALIZED (SELECT 1 FROM {source}) "
                "SELECT count(*) FROM (SELECT 1 FROM hits LIMIT :cap) AS capped"
            )
        else:
            q = f"SELECT count(*) FROM (SELECT 1 FROM {source} LIMIT :cap) AS hits"
        return int(conn.execute(sa.text(q), {**params, "cap": cap}).scalar_one())

    def keyword_search(self, text: str, limit: int = 20) -> list[tuple[str, float]]:
        """Papers holding every word of ``text`` (query syntax as on the site), best first,
        as (arXiv id, the backend's score)."""
        hits = self.keyword_hits(parse(text), limit=max(1, min(int(limit), 1000)))
        with self.db.connect() as conn:
            ids = dict(
                conn.execute(
                    sa.select(P.c.seq, P.c.id).where(P.c.seq.in_([s for s, _ in hits]))
                ).all()
            )
        return [(ids[s], score) for s, score in hits if s in ids]

    def check(self) -> bool:
        """SQLite: FTS5 integrity check against the papers table. PostgreSQL: always in sync
        (the tsvector is a generated column)."""
        if self.db.dialect != "sqlite":
            return True
        try:
            with self.db.begin() as conn:
                conn.execute(
                    sa.text("INSERT INTO papers_fts(papers_fts, rank) VALUES('integrity-check', 1)")
                )
        except sa.exc.DatabaseError:
            return False
        return True

    # -- filters -------------------------------------------------------------------------
    def filter_seqs(self, filters: SearchFilters, limit: int) -> np.ndarray | None:
        """Seqs of the papers the filters allow, or None when there are more than ``limit``."""
        q = sa.select(P.c.seq).where(*filter_clauses(filters, self.db.dialect)).limit(limit + 1)
        with self.db.connect() as conn:
            seqs = np.fromiter(conn.execute(q).scalars(), dtype=np.int64)
        return None if len(seqs) > limit else seqs

    def allowed_among(self, seqs: Sequence[int], filters: SearchFilters) -> set[int]:
        out: set[int] = set()
        with self.db.connect() as conn:
            for chunk in chunks([int(s) for s in seqs]):
                where = filter_clauses(filters, self.db.dialect)
                q = sa.select(P.c.seq).where(P.c.seq.in_(chunk), *where)
                out.update(conn.execute(q).scalars())
        return out

    def browse(
        self,
        filters: SearchFilters,
        sort: str,
        limit: int,
        offset: int,
        words: ParsedQuery | None = None,
    ) -> tuple[list[int], int]:
        """Filtered papers, only those holding every word of ``words`` (never an excluded
        one) when given: (seqs of one page by date or upvotes, how many there are). Every
        match is reachable, however deep the page."""
        order = (
            (P.c.upvotes.desc(), P.c.published.desc(), P.c.seq.desc())
            if sort == "upvotes"
            else (P.c.published.desc(), P.c.seq.desc())
        )
        where = filter_clauses(filters, self.db.dialect)
        source: Any = P
        params: dict[str, Any] = {}
        if words is not None and words.units:
            if self.db.dialect == "sqlite":
                source = FTS.join(P, P.c.seq == FTS.c.rowid)
                where.append(sa.text("papers_fts MATCH :match"))
                params["match"] = _fts5_match(words, ALL, filters)
            else:
                ts = tsquery(words, ALL)
                assert ts is not None
                tsv: Any = sa.literal_column("papers.tsv")
                where.append(tsv.op("@@")(sa.text(f"({ts.expr})")))
                params.update(ts.params)
        with self.db.connect() as conn:
            count = sa.select(sa.func.count()).select_from(source).where(*where)
            total = conn.execute(count, params).scalar()
            q = sa.select(P.c.seq).select_from(source).where(*where)
            q = q.order_by(*order).limit(limit).offset(offset)
            return list(conn.execute(q, params).scalars()), int(total or 0)
