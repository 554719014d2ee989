"""Hybrid search: a keyword retriever and a vector retriever, fused (:mod:`.fusion`).

The engine only orchestrates: parse the query, ask each retriever, fuse, order, page. What a
retriever is lives in :mod:`.retrievers`; the built-ins are registered like any plugin's.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TypeVar

import numpy as np

from ..core.errors import ModelError, TimeBudgetExceeded
from ..core.query import ParsedQuery, SearchFilters, parse
from ..core.settings import SearchSettings
from ..store import Store
from .fusion import Hit, Tuning, fuse
from .retrievers import KeywordRetriever, SearchBackends, VectorRetriever, WordJudge

T = TypeVar("T")
SORTS = ("relevance", "date", "upvotes")
MODES = ("hybrid", "keyword", "semantic")


@dataclass
class SearchResult:
    query: ParsedQuery
    hits: list[Hit]  # the requested page
    total: int
    mode: str  # how the results were found: hybrid, keyword, semantic, browse or empty
    timings: dict[str, float] = field(default_factory=dict)
    # The time budget ran out: these are the results found before (e.g. by meaning only).
    incomplete: bool = False
    # By relevance, more papers hold every word than were ranked: the results stop at the
    # best of them (sorted by date or upvotes, every one is reachable).
    capped: bool = False
    # Sorted by date or upvotes, and no paper holds every word: the most relevant few
    # (Tuning.sorted_closest), in that order, not every paper close in meaning.
    closest: bool = False


@dataclass
class _Semantic:
    """What the semantic side found: close neighbours best first, and known cosines."""

    seqs: list[int] = field(default_factory=list)
    similarity: dict[int, float] = field(default_factory=dict)


class SearchEngine:
    """One per process; thread-safe."""

    def __init__(
        self,
        store: Store,
        keyword: KeywordRetriever,
        vectors: VectorRetriever | None = None,
        tuning: Tuning | None = None,
        budget: float | None = None,
    ):
        self.store = store
        self.keyword = keyword
        self.vectors = vectors
        self.tuning = tuning or Tuning()
        self.budget = budget  # seconds of database work one search may take (None: no limit)

    @property
    def problem(self) -> str | None:
        """Why search by meaning cannot run here, as found so far (None when it is turned
        off in the settings, or has not been tried)."""
        return None if self.vectors is None else self.vectors.problem

    @property
    def model(self) -> str | None:
        """The key of the vectors in use (None: no search by meaning)."""
        return self.vectors.model if self.vectors is not None else None

    def semantic(self) -> VectorRetriever | None:
        """The vector retriever, when it works here."""
        if self.vectors is None or not self.vectors.available():
            return None
        return self.vectors

    # -- search --------------------------------------------------------------------------
    def search(
        self,
        text: str,
        filters: SearchFilters | None = None,
        sort: str = "relevance",
        offset: int = 0,
        limit: int = 30,
        mode: str = "hybrid",
    ) -> SearchResult:
        t0 = time.perf_counter()
        deadline = Deadline(self.budget)
        filters = filters or SearchFilters()
        parsed = parse(text)
        if parsed.author and not filters.author:
            filters = replace(filters, author=parsed.author)
        if parsed.category and not filters.category:
            filters = replace(filters, category=parsed.category)
        if parsed.empty:
            return self._browse(parsed, filters, sort, offset, limit, deadline)
        timings: dict[str, float] = {}
        kw: list[tuple[int, float]] = []
        all_words: set[int] = set()
        if mode != "semantic" and parsed.units:
            found = deadline.run(
                self.store, lambda: self.keyword.retrieve(parsed, filters, self.tuning.candidates)
            )
            kw, all_words = found if found is not None else ([], set())
        timings["keyword"] = time.perf_counter() - t0
        if sort in ("date", "upvotes") and len(all_words) >= self.tuning.candidates:
            # More papers hold every word than the ranked candidates: by date or votes the
            # reader expects every one of them, on every page, so the database pages them.
            return self._browse(parsed, filters, sort, offset, limit, deadline, parsed, timings)
        vectors = self.semantic() if mode != "keyword" else None
        sem: _Semantic | None = _Semantic()
        if vectors is not None and parsed.semantic:
            # What is left of the budget, and at least a quarter of it: after a keyword side
            # that ran out of time, the meaning side still gives the best results it can.
            sem = deadline.run(
                self.store,
                lambda: self._semantic_side(vectors, parsed, filters, [s for s, _ in kw], timings),
                at_least=0.25,
            )
        elif mode == "semantic":
            return SearchResult(parsed, [], 0, "semantic")
        sem = sem or _Semantic()
        hits, used = fuse(
            [s for s, _ in kw],
            all_words,
            sem.seqs,
            sem.similarity,
            self.tuning,
            semantic_ran=vectors is not None and mode == "semantic",
        )
        closest = False
        if sort in ("date", "upvotes"):
            hits, used, closest = self._sortable(hits, used)
        self._order(hits, sort)
        page = self._with_ids(hits[offset : offset + limit])
        timings["total"] = time.perf_counter() - t0
        capped = len(all_words) >= self.tuning.candidates
        return SearchResult(
            parsed, page, len(hits), used, timings, deadline.exceeded, capped, closest
        )

    def _browse(
        self,
        parsed: ParsedQuery,
        filters: SearchFilters,
        sort: str,
        offset: int,
        limit: int,
        deadline: Deadline,
        words: ParsedQuery | None = None,
        timings: dict[str, float] | None = None,
    ) -> SearchResult:
        """No query: the filtered papers (or nothing without filters). With ``words``: every
        paper holding all of them, paged by the database in date or upvote order."""
        if words is None and not filters.active:
            return SearchResult(parsed, [], 0, "empty")
        t0 = time.perf_counter()
        found = deadline.run(
            self.store,
            lambda: self.store.search.browse(filters, sort, limit, offset, words=words),
        )
        seqs, total = found if found is not None else ([], 0)
        every = words is not None
        hits = self._with_ids([Hit(seq=s, score=0.0, all_words=every, ranked=False) for s in seqs])
        timings = timings or {}
        timings["browse"] = time.perf_counter() - t0
        mode = "keyword" if every else "browse"
        return SearchResult(parsed, hits, total, mode, timings, deadline.exceeded)

    def _semantic_side(
        self,
        vectors: VectorRetriever,
        parsed: ParsedQuery,
        filters: SearchFilters,
        keyword_seqs: list[int],
        timings: dict[str, float],
    ) -> _Semantic:
        t1 = time.perf_counter()
        qvec = vectors.embed_query(parsed.semantic)
        timings["embed"] = time.perf_counter() - t1
        if qvec is None:
            return _Semantic()
        t1 = time.perf_counter()
        seqs, scores = vectors.nearest(qvec, self.tuning.candidates, filters)
        # Only close neighbours vote in the fusion: a long tail of weak ones dilutes it.
        close = [
            s
            for s, c in zip(seqs.tolist(), scores.tolist(), strict=True)
            if c >= self.tuning.min_similarity
        ]
        if parsed.excluded and close:
            banned = self.words().holding_any(parsed.excluded, close)
            close = [s for s in close if s not in banned]
        similarity = dict(zip(seqs.tolist(), scores.tolist(), strict=True))
        missing = [s for s in keyword_seqs if s not in similarity]
        similarity.update(vectors.similarity(qvec, missing))
        timings["vector"] = time.perf_counter() - t1
        return _Semantic(close, similarity)

    def _sortable(self, hits: list[Hit], used: str) -> tuple[list[Hit], str, bool]:
        """What a date or upvote order lists: the papers holding every word (a phrase, the
        phrase), as when more of them than the candidates are paged by the database; a
        paper only close in meaning would otherwise come first for being newer. With none
        holding them all, the most relevant few (and True, when there are any)."""
        every = [h for h in hits if h.all_words]
        if every:
            return every, "keyword", False
        return hits[: self.tuning.sorted_closest], used, bool(hits)

    def _order(self, hits: list[Hit], sort: str) -> None:
        """Re-order results by date or upvotes (relevance order is fusion's)."""
        if sort not in ("date", "upvotes") or not hits:
            return
        keys = self.store.papers.sort_keys([h.seq for h in hits])
        if sort == "date":
            hits.sort(key=lambda h: keys.get(h.seq, (None, 0))[0] or datetime.min, reverse=True)
        else:
            hits.sort(key=lambda h: keys.get(h.seq, (None, 0))[1], reverse=True)

    def _with_ids(self, hits: list[Hit]) -> list[Hit]:
        ids = self.store.papers.ids_of([h.seq for h in hits])
        for h in hits:
            h.paper_id = ids.get(h.seq, "")
        return [h for h in hits if h.paper_id]

    # -- words and meaning of given papers -----------------------------------------------
    def excluded_every_match(self, parsed: ParsedQuery, filters: SearchFilters) -> bool:
        """Whether some paper holds every word of ``parsed`` but each such paper holds a
        word it leaves out (``"draft model" -speculative`` where every draft model is
        speculative): then the results are only close in meaning, and the reader is told
        why."""
        if not parsed.excluded or not parsed.units:
            return False
        only = ParsedQuery(text="", units=parsed.units)
        _, all_words = self.keyword.retrieve(only, filters, 1)
        return bool(all_words)

    def words(self, seqs: Sequence[int] | None = None) -> WordJudge:
        """Which papers hold which words, judged by the keyword index exactly as search
        judges them (topic alerts decide with this), prepared for ``seqs`` when given."""
        return self.keyword.judge(seqs)

    def embed_query(self, text: str) -> np.ndarray | None:
        """``text`` as the model reads a query (None: no search by meaning here)."""
        vectors = self.semantic()
        semantic = parse(text).semantic
        if vectors is None or not semantic:
            return None
        vec = vectors.embed_query(semantic)
        return None if vec is None else np.asarray(vec, dtype=np.float32)

    # -- similar papers ------------------------------------------------------------------
    def similar(self, paper_id: str, k: int = 10) -> list[Hit]:
        """The papers closest in meaning to ``paper_id`` (not itself)."""
        vectors = self.semantic()
        if vectors is None:
            return []
        seq = self.store.papers.seq_of(paper_id)
        if seq is None or not vectors.size():
            return []  # unknown paper, or nothing embedded yet (`paperwire index` never ran)
        vec = vectors.vector(seq)
        if vec is None:
            text = self.store.papers.texts([seq]).get(seq)
            if text is None:
                return []
            from .model import paper_text

            vec = vectors.embed_query(paper_text(text.title, text.abstract))
            if vec is None:
                return []
        seqs, scores = vectors.nearest(vec, k + 1)
        hits = [
            Hit(seq=s, score=float(c), similarity=float(c))
            for s, c in zip(seqs.tolist(), scores.tolist(), strict=True)
            if s != seq
        ][:k]
        return self._with_ids(hits)

    # -- indexing ------------------------------------------------------------------------
    def embed_papers(self, paper_ids: Sequence[str]) -> int:
        """Embed the given papers now (a submission should be findable at once)."""
        vectors = self.semantic()
        if vectors is None or not paper_ids:
            return 0
        seqs = [s for s in (self.store.papers.seq_of(p) for p in paper_ids) if s is not None]
        return vectors.embed_seqs(seqs)

    def indexer(self) -> VectorRetriever:
        """The vector retriever, for `paperwire index`; ModelError when it cannot work."""
        if self.vectors is None:
            raise ModelError("semantic_search is off in the settings")
        if not self.vectors.available():
            raise ModelError(self.vectors.problem or "the embedding model is unavailable")
        return self.vectors

    def catch_up(self) -> None:
        """The stored data changed (another process may have embedded papers): bring the
        keyword index (when kept beside the store) and the vector index up to date now, so
        that what is rendered next finds them."""
        self.keyword.catch_up()
        if self.vectors is not None:
            self.vectors.catch_up()

    def warm(self) -> None:
        """Load the model and the index now rather than on the first query."""
        vectors = self.semantic()
        if vectors is not None:
            vectors.warm()


class Deadline:
    """The time budget of one search's database work, shared by its steps: each step runs
    under what is left (:meth:`Database.time_budget`); a step stopped for time gives None,
    and any query stopped for time marks the search incomplete."""

    def __init__(self, budget: float | None):
        self.budget = budget
        self.end = None if budget is None else time.monotonic() + budget
        self.exceeded = False

    def run(self, store: Store, step: Callable[[], T], at_least: float = 0.0) -> T | None:
        if self.budget is None or self.end is None:
            return step()
        left = max(self.end - time.monotonic(), self.budget * at_least)
        try:
            with store.db.time_budget(left) as budget:
                out = step()
        except TimeBudgetExceeded:
            self.exceeded = True
            return None
        # A step may recover from a stopped query (ranking gave way to the newest matches).
        self.exceeded = self.exceeded or budget.stopped
        return out


def engine_for(store: Store, settings: SearchSettings, backends: SearchBackends) -> SearchEngine:
    """The engine this deployment's settings ask for, from the registered backends."""
    return SearchEngine(
        store,
        backends.keyword_retriever(store, settings),
        backends.vector_retriever(store, settings),
        Tuning(
            candidates=settings.search_candidates, min_similarity=settings.search_min_similarity
        ),
        budget=settings.search_time_budget_ms / 1000 if settings.search_time_budget_ms else None,
    )
