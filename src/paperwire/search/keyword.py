"""The built-in keyword retriever, ``database``: the store's own full-text index (SQLite FTS5
bm25 / PostgreSQL tsvector), kept in the same transactions as the papers.

Every word first: the papers holding them all. When none does (a sentence pasted as a query),
the rarer words rank instead; common words tell little and cost the most to score (a sentence
query would score most of the corpus), so they are left to the semantic side.

Under a time budget (``search_time_budget_ms``), ranking gets ``RANKING_SHARE`` of what is
left; a ranking stopped for time gives way to the newest papers holding the words (found
without scoring every match), so that a query of many common words still finds papers.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any

from ..core.errors import TimeBudgetExceeded
from ..core.hooks import hookimpl
from ..core.query import ParsedQuery, SearchFilters, Unit
from ..core.settings import SearchSettings
from ..store import Store
from ..store.fulltext import ALL, ANY
from ..store.search import WordIndex
from .retrievers import KeywordBackend

RANKING_SHARE = 0.6


class DatabaseKeywords:
    rare_share = 0.005  # a word in more papers than this share is "common"
    rare_units = 10  # rarest words ranked when no paper has them all
    rare_floor = 500  # in a small corpus, any word in fewer papers than this is "rare"

    def __init__(self, store: Store, window: int | None = None):
        self.store = store
        self.window = window if window and window > 0 else None  # newest matches ranked
        self._size, self._size_checked = 0, -1e9

    def retrieve(
        self, query: ParsedQuery, filters: SearchFilters, k: int
    ) -> tuple[list[tuple[int, float]], set[int]]:
        hits = self._hits_holding_all(query, filters, k)
        all_words = {s for s, _ in hits}
        if not hits and len(query.units) > 1:
            hits = self._ranked_or_newest(query, filters, k, self._rarer_words_hits, ANY)
        return hits, all_words

    def _hits_holding_all(
        self, query: ParsedQuery, filters: SearchFilters, k: int
    ) -> list[tuple[int, float]]:
        def ranked(q: ParsedQuery, f: SearchFilters, k: int) -> list[tuple[int, float]]:
            hits = self.store.search.keyword_hits(q, filters=f, limit=k, window=self.window)
            if self.window and f.active and len(hits) < k:
                # The window is the newest papers holding the words, filters aside: fewer
                # than k in it may pass the filters while older ones do too. The newest of
                # those follow, unranked, so that every paper holding the words stays
                # reachable (sorted by date, the database then pages them all).
                seen = {s for s, _ in hits}
                newest = self.store.search.keyword_hits(q, filters=f, limit=k, ranked=False)
                hits += [(s, 0.0) for s, _ in newest if s not in seen][: k - len(hits)]
            return hits

        return self._ranked_or_newest(query, filters, k, ranked, ALL)

    def _rarer_words_hits(
        self, query: ParsedQuery, filters: SearchFilters, k: int
    ) -> list[tuple[int, float]]:
        rare, weights = self._rare_units(query)
        if not rare:
            return []
        some = ParsedQuery(text="", units=rare, excluded=query.excluded)
        return self.store.search.keyword_hits(
            some, mode=ANY, filters=filters, limit=k, weights=weights, window=self.window
        )

    def _ranked_or_newest(
        self,
        query: ParsedQuery,
        filters: SearchFilters,
        k: int,
        ranked: Callable[[ParsedQuery, SearchFilters, int], list[tuple[int, float]]],
        mode: str,
    ) -> list[tuple[int, float]]:
        """``ranked`` within RANKING_SHARE of the time left; past it, the newest papers
        holding the words (every one, or any with ``mode`` "any"), unranked."""
        left = self.store.db.time_left()
        if left is None:
            return ranked(query, filters, k)
        try:
            with self.store.db.time_budget(left * RANKING_SHARE):
                return ranked(query, filters, k)
        except TimeBudgetExceeded:
            return self.store.search.keyword_hits(
                query, mode=mode, filters=filters, limit=k, ranked=False
            )

    def judge(self, seqs: Sequence[int] | None = None) -> IndexJudge:
        return IndexJudge(self.store.search.word_index(seqs))

    def catch_up(self) -> None:
        """Nothing to do: the store's index changes in the papers' own transactions."""

    def _rare_units(self, query: ParsedQuery) -> tuple[list[Unit], list[float]]:
        """Up to ``rare_units`` units found in fewer than ``rare_share`` of the papers, rarest
        first, each with its inverse document frequency."""
        n = self._corpus_size()
        cap = max(self.rare_floor, int(n * self.rare_share))
        counts = self.store.search.doc_counts(query.units, cap)
        ranked = sorted((c, i) for i, c in enumerate(counts) if 0 < c < cap)[: self.rare_units]
        units = [query.units[i] for _, i in ranked]
        idf = [math.log(1 + (max(n, 1) - c + 0.5) / (c + 0.5)) for c, _ in ranked]
        return units, idf

    def _corpus_size(self) -> int:
        now = time.monotonic()
        if now - self._size_checked > 60:
            self._size = self.store.papers.size_estimate()
            self._size_checked = now
        return self._size


class IndexJudge:
    """Words judged by the store's index (or its in-memory copy for a set of papers)."""

    def __init__(self, index: WordIndex):
        self.index = index

    def holding_all(self, query: ParsedQuery, seqs: Sequence[int]) -> set[int]:
        return self.index.matching(query, seqs)

    def holding_any(self, phrases: list[list[str]], seqs: Sequence[int]) -> set[int]:
        if not phrases:
            return set()
        only = ParsedQuery(text="", units=[Unit([p]) for p in phrases])
        return self.index.matching(only, seqs, mode="any")


def database_keywords(store: Store, settings: SearchSettings) -> DatabaseKeywords:
    return DatabaseKeywords(store, settings.search_rank_window)


@hookimpl
def register_search_backends(register: Callable[[Any], None]) -> None:
    register(
        KeywordBackend(
            "database",
            "The store's full-text index: SQLite FTS5 bm25 or PostgreSQL tsvector.",
            database_keywords,
        )
    )
