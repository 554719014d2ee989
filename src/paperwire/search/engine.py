"""Hybrid search: the keyword index of the store and the vector index, fused.

Relevance order is weighted reciprocal-rank fusion of the two ranked lists (weights and k
tuned on SciFact-dev, see bench/relevance.py). Which papers count as results: those matching
every query word, plus those whose meaning is close enough (cosine ≥ ``min_similarity``) —
so "Newest first" or "Most upvoted" re-orders a set of relevant papers, not the whole corpus.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from ..store import SearchFilters
from . import query as Q
from .model import DIM, Embedder, ModelError, model_key, paper_text, shared_embedder
from .vectors import VectorIndex, current_snapshot

log = logging.getLogger(__name__)

SORTS = ("relevance", "date", "upvotes")
MODES = ("hybrid", "keyword", "semantic")


@dataclass(frozen=True)
class Tuning:
    candidates: int = 200  # from each list
    rrf_k: float = 10.0
    keyword_weight: float = 1.0
    semantic_weight: float = 1.0
    min_similarity: float = 0.3
    rare_share: float = 0.005  # a word in more papers than this share is "common"
    rare_units: int = 10  # rarest words ranked when no paper has them all
    filter_exact_limit: int = 200_000  # filtered sets up to this size are searched exactly


@dataclass
class Hit:
    seq: int
    score: float  # fused relevance (higher is better)
    similarity: float | None = None  # cosine with the query
    keyword_rank: int | None = None  # 1-based
    semantic_rank: int | None = None
    all_words: bool = False  # matches every query word
    paper_id: str = ""


@dataclass
class SearchResult:
    query: Q.ParsedQuery
    hits: list[Hit]  # the requested page
    total: int
    mode: str
    timings: dict[str, float] = field(default_factory=dict)


def rrf(lists: list[tuple[list[int], float]], k: float) -> dict[int, float]:
    """Weighted reciprocal-rank fusion of ranked lists of ids."""
    out: dict[int, float] = {}
    for ids, weight in lists:
        for rank, seq in enumerate(ids, 1):
            out[seq] = out.get(seq, 0.0) + weight / (k + rank)
    return out


class SearchEngine:
    """One per process. Thread-safe; the embedder and index load on first use."""

    def __init__(
        self,
        store,
        index_dir: Path | None,
        *,
        semantic: bool = True,
        model_cache: Path | None = None,
        ann_threshold: int = 300_000,
        nprobe: int = 48,
        tuning: Tuning | None = None,
        embedder: Embedder | None = None,
        refresh_seconds: float = 2.0,
    ):
        self.store = store
        self.index_dir = index_dir
        self.semantic_enabled = semantic
        self.model_cache = model_cache
        self.ann_threshold = ann_threshold
        self.nprobe = nprobe
        self.tuning = tuning or Tuning()
        self.model = model_key()
        self.refresh_seconds = refresh_seconds
        self._embedder = embedder
        self._bulk_embedder = embedder  # tests pass one embedder for both uses
        self._index: VectorIndex | None = None
        self._snapshot_name: str | None = None
        self._checked = 0.0
        self._lock = threading.Lock()
        self.problem: str | None = None  # why semantic search is off, if it is
        self._size, self._size_checked = 0, -1e9

    # -- components ----------------------------------------------------------------------
    @property
    def embedder(self) -> Embedder | None:
        if not self.semantic_enabled or self.problem:
            return None
        if self._embedder is None:
            with self._lock:
                if self._embedder is None:
                    try:
                        self._embedder = shared_embedder(self.model_cache)
                    except (ModelError, OSError, ImportError) as exc:
                        self.problem = str(exc)
                        log.warning("semantic search is off: %s", exc)
                        return None
        return self._embedder

    def index(self) -> VectorIndex:
        """The vector index, loaded from the snapshot and caught up with the database."""
        now = time.monotonic()
        if self._index is not None and now - self._checked < self.refresh_seconds:
            return self._index
        with self._lock:
            snap = current_snapshot(self.index_dir) if self.index_dir else None
            name = snap.name if snap else None
            if self._index is None or (name and name != self._snapshot_name):
                self._index = (
                    VectorIndex.load(
                        self.index_dir, self.model, DIM, self.ann_threshold, self.nprobe
                    )
                    if self.index_dir
                    else VectorIndex(self.model, DIM, self.ann_threshold, self.nprobe)
                )
                self._snapshot_name = name
            self._index.catch_up(self.store)
            self._checked = time.monotonic()
            return self._index

    def warm(self) -> None:
        """Load the model and the index now rather than on the first query."""
        if self.embedder is not None:
            self.embedder.embed_query("warm up")
            self.index()

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
        filters = filters or SearchFilters()
        parsed = Q.parse(text)
        timings: dict[str, float] = {}
        if parsed.empty:
            if not filters.active:
                return SearchResult(parsed, [], 0, "empty")
            seqs, total = self.store.browse(filters, sort, limit, offset)
            hits = [Hit(seq=s, score=0.0) for s in seqs]
            self._attach_ids(hits)
            return SearchResult(parsed, hits, total, "browse")
        tune = self.tuning
        K = tune.candidates
        embedder = self.embedder if mode != "keyword" else None
        use_keyword = mode != "semantic" and bool(parsed.units)

        kw: list[tuple[int, float]] = []
        all_words: set[int] = set()
        if use_keyword:
            kw = self.store.keyword_hits(self._match(parsed, "all"), filters, K)
            all_words = {s for s, _ in kw}
            if not kw and len(parsed.units) > 1:
                # No paper has every word: rank by the rarer words. Common words tell little
                # and cost the most to score (a sentence query would score most of the
                # corpus), so they are left to the semantic side.
                rare, counts = self._rare_units(parsed)
                if rare:
                    some = Q.ParsedQuery(text="", units=rare, excluded=parsed.excluded)
                    kw = self.store.keyword_hits(self._match(some, "any", counts), filters, K)
        timings["keyword"] = time.perf_counter() - t0

        sem_seqs: list[int] = []
        sims: dict[int, float] = {}
        if embedder is not None and parsed.semantic:
            t1 = time.perf_counter()
            qvec = embedder.embed_query(parsed.semantic)
            timings["embed"] = time.perf_counter() - t1
            t1 = time.perf_counter()
            index = self.index()
            allowed = None
            if filters.active:
                allowed = self.store.filter_seqs(filters, tune.filter_exact_limit)
            if allowed is None and filters.active:
                # A broad filter: search more widely and filter afterwards.
                seqs, scores = index.search(qvec, K * 5)
                ok = self.store.allowed_among(seqs.tolist(), filters)
                keep = [i for i, s in enumerate(seqs.tolist()) if s in ok][:K]
                seqs, scores = seqs[keep], scores[keep]
            else:
                seqs, scores = index.search(qvec, K, allowed)
            # Only close neighbours vote in the fusion: a long tail of weak ones dilutes it.
            sem_seqs = [
                s
                for s, c in zip(seqs.tolist(), scores.tolist(), strict=True)
                if c >= tune.min_similarity
            ]
            if parsed.excluded and sem_seqs:
                banned = {
                    s
                    for s, _ in self.store.keyword_hits(
                        self._excluded_query(parsed), None, len(sem_seqs), within=sem_seqs
                    )
                }
                sem_seqs = [s for s in sem_seqs if s not in banned]
            sims = dict(zip(seqs.tolist(), scores.tolist(), strict=True))
            missing = [s for s, _ in kw if s not in sims]
            sims.update(index.scores_for(qvec, missing))
            timings["vector"] = time.perf_counter() - t1
        elif mode == "semantic":
            return SearchResult(parsed, [], 0, "semantic")

        kw_ids = [s for s, _ in kw]
        if sem_seqs or (embedder is not None and mode == "semantic"):
            fused = rrf(
                [(kw_ids, tune.keyword_weight), (sem_seqs, tune.semantic_weight)], tune.rrf_k
            )
            used = "hybrid" if kw_ids else "semantic"
            # Papers with only some of the words count when close in meaning.
            members = [
                s for s in fused if s in all_words or sims.get(s, -1.0) >= tune.min_similarity
            ]
        else:
            fused = rrf([(kw_ids, 1.0)], tune.rrf_k)
            used = "keyword"
            members = [s for s in kw_ids if s in all_words] or kw_ids
        kw_rank = {s: i for i, s in enumerate(kw_ids, 1)}
        sem_rank = {s: i for i, s in enumerate(sem_seqs, 1)}
        hits = [
            Hit(
                seq=s,
                score=fused[s],
                similarity=sims.get(s),
                keyword_rank=kw_rank.get(s),
                semantic_rank=sem_rank.get(s),
                all_words=s in all_words,
            )
            for s in members
        ]
        hits.sort(key=lambda h: (-h.score, h.seq))
        if sort in ("date", "upvotes") and hits:
            keys = self.store.sort_keys([h.seq for h in hits])
            if sort == "date":
                hits.sort(key=lambda h: keys.get(h.seq, (None, 0))[0] or datetime.min, reverse=True)
            else:
                hits.sort(key=lambda h: keys.get(h.seq, (None, 0))[1], reverse=True)
        page = hits[offset : offset + limit]
        self._attach_ids(page)
        timings["total"] = time.perf_counter() - t0
        return SearchResult(parsed, page, len(hits), used, timings)

    def _match(self, parsed: Q.ParsedQuery, mode: str, counts: list[int] | None = None):
        """The keyword query for this backend. ``counts`` (papers holding each unit) weigh
        the units by rarity on PostgreSQL; FTS5's bm25 does that by itself."""
        if self.store.dialect == "sqlite":
            return Q.fts5(parsed, mode)
        weights = None
        if counts is not None:
            n = max(self._corpus_size(), 1)
            weights = [math.log(1 + (n - c + 0.5) / (c + 0.5)) for c in counts]
        return Q.tsquery(parsed, mode, weights)

    def _excluded_query(self, parsed: Q.ParsedQuery):
        only = Q.ParsedQuery(text="", units=[Q.Unit([e]) for e in parsed.excluded])
        return self._match(only, "any")

    def _rare_units(self, parsed: Q.ParsedQuery) -> tuple[list[Q.Unit], list[int]]:
        """Up to ``rare_units`` query units found in fewer than ``rare_share`` of the papers,
        rarest first, with how many papers hold each."""
        tune = self.tuning
        cap = max(500, int(self._corpus_size() * tune.rare_share))
        counts = self.store.keyword_doc_counts(
            [self._match(Q.ParsedQuery(text="", units=[u]), "any") for u in parsed.units], cap
        )
        ranked = sorted((n, i) for i, n in enumerate(counts) if 0 < n < cap)[: tune.rare_units]
        return [parsed.units[i] for _, i in ranked], [n for n, _ in ranked]

    def _corpus_size(self) -> int:
        now = time.monotonic()
        if now - self._size_checked > 60:
            self._size = self.store.count("papers")
            self._size_checked = now
        return self._size

    def _attach_ids(self, hits: list[Hit]) -> None:
        ids = self.store.seq_ids([h.seq for h in hits])
        for h in hits:
            h.paper_id = ids.get(h.seq, "")
        hits[:] = [h for h in hits if h.paper_id]

    # -- similar papers ------------------------------------------------------------------
    def similar(self, paper_id: str, k: int = 10) -> list[Hit]:
        """The papers closest in meaning to ``paper_id`` (not itself)."""
        embedder = self.embedder
        if embedder is None:
            return []
        seq = self.store.seq_of(paper_id)
        if seq is None:
            return []
        index = self.index()
        if not len(index):
            return []  # nothing embedded yet: `paperwire index` has not run
        vec = index.vector(seq)
        if vec is None:
            text = self.store.paper_texts([seq]).get(seq)
            if text is None:
                return []
            vec = embedder.embed_query(paper_text(*text))
        seqs, scores = index.search(vec, k + 1)
        hits = [
            Hit(seq=s, score=float(c), similarity=float(c))
            for s, c in zip(seqs.tolist(), scores.tolist(), strict=True)
            if s != seq
        ][:k]
        self._attach_ids(hits)
        return hits

    # -- indexing ------------------------------------------------------------------------
    def embed_missing(
        self, limit: int | None = None, batch: int = 256, progress=None, dry_run: bool = False
    ) -> int:
        """Embed papers that have no vector yet (new or changed), committing every batch so
        that an interrupted run resumes where it stopped. Returns how many were embedded."""
        if self.embedder is None:
            raise ModelError(self.problem or "semantic search is turned off")
        # Bulk work: a session whose threads keep spinning between texts.
        embedder = self._bulk_embedder or shared_embedder(self.model_cache, spin=True)
        done, after = 0, 0
        while limit is None or done < limit:
            n = batch if limit is None else min(batch, limit - done)
            rows = self.store.papers_to_embed(self.model, after_seq=after, limit=n)
            if not rows:
                break
            after = rows[-1]["seq"]
            if dry_run:
                done += len(rows)
                if progress:
                    progress(len(rows))
                continue
            vecs = embedder.embed(
                [paper_text(r["title"], r["abstract"]) for r in rows], progress=progress
            )
            self.store.save_embeddings(
                self.model, [(r["seq"], v) for r, v in zip(rows, vecs, strict=True)]
            )
            done += len(rows)
        return done

    def embed_papers(self, paper_ids: list[str]) -> int:
        """Embed the given papers now (a submission should be findable at once)."""
        embedder = self.embedder
        if embedder is None or not paper_ids:
            return 0
        seqs = [s for s in (self.store.seq_of(p) for p in paper_ids) if s is not None]
        texts = self.store.paper_texts(seqs)
        rows = list(texts.items())
        vecs = embedder.embed([paper_text(*t) for _, t in rows])
        saved = self.store.save_embeddings(
            self.model, [(s, v) for (s, _), v in zip(rows, vecs, strict=True)]
        )
        self._checked = 0.0  # the next index() reads them in, without waiting for a refresh
        return saved

    def save_index(self, rebuild: bool = False) -> Path | None:
        """Catch the index up with the database and write a snapshot."""
        if self.index_dir is None:
            return None
        self._checked = 0.0
        index = self.index()
        snap = index.save(self.index_dir, rebuild_ann=rebuild)
        self._snapshot_name = snap.name
        return snap
