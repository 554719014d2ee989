"""The built-in vector retriever, ``vector-index``: all-MiniLM-L6-v2 embeddings stored in the
database and searched in an in-process index (exact below ``ann_threshold`` papers, IVF
above), caught up with the database every couple of seconds by every process.

Thread-safe; the model and the index load on first use, so a process that never searches by
meaning never pays for them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..core.clock import utcnow
from ..core.errors import ConfigError, ModelError
from ..core.hooks import hookimpl
from ..core.query import SearchFilters
from ..core.settings import SearchSettings
from ..store import Store
from ..store.embeddings import EmbedCursor
from .model import Embedder, paper_text, shared_embedder
from .model_build import DIM, default_cache_dir, model_key
from .model_pool import EmbedderPool
from .retrievers import VectorBackend
from .vectors import IVF_CODES, SNAPSHOT_CODES, VectorIndex, current_snapshot

log = logging.getLogger(__name__)
FILTER_EXACT_LIMIT = 50_000  # filtered sets up to this size are searched exactly
FILTER_WIDER = (5, 50)  # a filtered search looks at k·5, then k·50 nearest papers
NEAREST_CACHE = 4096  # unfiltered searches remembered (a similar-papers list each: ~2 KB)


def index_dir_for(settings: SearchSettings, store: Store) -> Path:
    """Where this deployment keeps its vector index snapshot."""
    if settings.index_dir:
        return Path(settings.index_dir)
    path = store.db.sqlite_path
    if path is not None:
        return path.with_name(path.name + ".index")
    digest = hashlib.sha256(store.url.encode()).hexdigest()[:12]
    return default_cache_dir().parent / "index" / digest


class IndexVectors:
    def __init__(
        self,
        store: Store,
        index_dir: Path | None,
        *,
        model_cache: Path | None = None,
        ann_threshold: int = 300_000,
        nprobe: int = 256,
        codes: str = "sq4",
        embedder: Embedder | None = None,
        refresh_seconds: float = 2.0,
    ):
        self.store = store
        self.index_dir = index_dir
        self.model_cache = model_cache
        self.ann_threshold = ann_threshold
        self.nprobe = nprobe
        self.codes = codes
        self.model = model_key()
        self.dim = DIM
        self.refresh_seconds = refresh_seconds
        self._embedder = embedder
        self._bulk_embedder = embedder  # tests pass one embedder for both uses
        self._index: VectorIndex | None = None
        self._snapshot_name: str | None = None
        self._checked = 0.0
        self._lock = threading.Lock()
        self._problem: str | None = None
        # (index version, k, query vector bytes) -> (seqs, scores), least recently used first
        self._cache: OrderedDict[tuple[int, int, bytes], tuple[np.ndarray, np.ndarray]]
        self._cache = OrderedDict()
        self._cache_lock = threading.Lock()

    # -- components ----------------------------------------------------------------------
    @property
    def problem(self) -> str | None:
        """Why search by meaning is off here, as found so far (when the model first loaded);
        reading it loads nothing."""
        return self._problem

    def available(self) -> bool:
        """Whether the model loads here (loading it on first call)."""
        return self.embedder() is not None

    def embedder(self) -> Embedder | None:
        if self._problem:
            return None
        if self._embedder is None:
            with self._lock:
                if self._embedder is None and not self._problem:
                    try:
                        self._embedder = shared_embedder(self.model_cache)
                    except (ModelError, OSError) as exc:
                        self._problem = str(exc)
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
                args = (self.model, DIM, self.ann_threshold, self.nprobe, self.codes)
                self._index = (
                    VectorIndex.load(self.index_dir, *args)
                    if self.index_dir
                    else VectorIndex(*args)
                )
                self._snapshot_name = name
            self._index.catch_up(self.store.embeddings)
            self._checked = time.monotonic()
            return self._index

    def catch_up(self) -> None:
        """The data changed: take in the vectors stored since, now rather than at the next
        refresh (nothing to do before the index is loaded: loading reads them all)."""
        if self._index is not None:
            self._checked = float("-inf")
            self.index()

    def warm(self) -> None:
        """Load the model and the index now rather than on the first query."""
        embedder = self.embedder()
        if embedder is not None:
            embedder.embed_query("warm up")
            self.index()

    def loaded(self) -> tuple[int, int] | None:
        """(papers in this process's index, highest stored vector row it has read), or None
        before the index is loaded; loads and reads nothing (readiness checks call it)."""
        index = self._index
        return None if index is None else (len(index), index.high_water)

    def state(self) -> dict[str, Any]:
        """Where the index stands, read from the database and the snapshot's metadata
        (loads neither the model nor the index): papers embedded and still to embed, the
        snapshot (vectors, kind, when written), and the delta stored since it (what every
        process reads in on top of it) with the age of its oldest vector (the lag)."""
        embedded, _ = self.store.embeddings.state(self.model)
        out: dict[str, Any] = {
            "model": self.model,
            "embedded": embedded,
            "to_embed": self.store.embeddings.count_to_embed(self.model),
            "index_dir": str(self.index_dir) if self.index_dir else None,
            "snapshot": None,
        }
        snap = current_snapshot(self.index_dir) if self.index_dir else None
        high_water = 0
        if snap is not None:
            try:
                meta = json.loads((snap / "meta.json").read_text())
            except (OSError, ValueError):
                meta = None
            if isinstance(meta, dict) and meta.get("model") == self.model:
                high_water = int(meta.get("high_water") or 0)
                out["snapshot"] = {
                    "name": snap.name,
                    "vectors": meta.get("count"),
                    "kind": meta.get("ann") or "exact",
                    "codes": (meta.get("codes") or SNAPSHOT_CODES) if meta.get("ann") else None,
                    "written": meta.get("created"),
                }
        delta, oldest = self.store.embeddings.behind(self.model, high_water)
        out["delta"] = delta
        out["lag_seconds"] = (utcnow() - oldest).total_seconds() if oldest else 0.0
        return out

    def describe(self) -> str:
        index = self.index()
        return f"{len(index)} papers, {index.kind} search"

    # -- searching -----------------------------------------------------------------------
    def embed_query(self, text: str) -> np.ndarray | None:
        embedder = self.embedder()
        return None if embedder is None else embedder.embed_query(text)

    def nearest(
        self, vector: np.ndarray, k: int, filters: SearchFilters | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        index = self.index()
        if filters is None or not filters.active:
            return self._nearest_cached(index, vector, k)
        # The nearest papers of all, filtered: when k of them pass, they are exactly the k
        # nearest that pass (any other is farther than all of these). Checking a thousand
        # papers costs a few milliseconds, where listing every paper a broad filter allows
        # cost 155 ms at 75k papers (and grows with the corpus).
        seqs, scores, keep = self._nearest_passing(index, vector, k, k * FILTER_WIDER[0], filters)
        if len(keep) == k or len(seqs) < k * FILTER_WIDER[0]:
            return seqs[keep], scores[keep]
        # Too few passed: a narrow filter's papers (as many as the share that passed
        # suggests, at most FILTER_EXACT_LIMIT) are searched exactly; past that, wider.
        if len(index) * (len(keep) + 1) / len(seqs) <= FILTER_EXACT_LIMIT:
            allowed = self.store.search.filter_seqs(filters, FILTER_EXACT_LIMIT)
            if allowed is not None:
                return index.search(vector, k, allowed)
        # A broad filter that few of the nearest pass: first as many nearest as the share
        # that passed says k need (half as many again), then, still short, k·50. Each step
        # checks every paper it looks at against the filters in the database (rows read
        # all over a large table), so the step sized by the share comes first.
        wide = k * FILTER_WIDER[1]
        guess = math.ceil(1.5 * k * len(seqs) / max(len(keep), 1))
        if guess < wide:
            seqs, scores, keep = self._nearest_passing(index, vector, k, guess, filters)
            if len(keep) == k or len(seqs) < guess:
                return seqs[keep], scores[keep]
        seqs, scores, keep = self._nearest_passing(index, vector, k, wide, filters)
        return seqs[keep], scores[keep]

    def _nearest_passing(
        self, index: VectorIndex, vector: np.ndarray, k: int, n: int, filters: SearchFilters
    ) -> tuple[np.ndarray, np.ndarray, list[int]]:
        """The ``n`` nearest papers, and the positions among them of the first ``k`` the
        filters allow."""
        seqs, scores = index.search(vector, n)
        ok = self.store.search.allowed_among(seqs.tolist(), filters)
        return seqs, scores, [i for i, s in enumerate(seqs.tolist()) if s in ok][:k]

    def _nearest_cached(
        self, index: VectorIndex, vector: np.ndarray, k: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """An unfiltered search, remembered per query vector until the index changes: the
        similar papers of a paper page are the same query again and again (a scan of every
        vector each time, the most of a paper page's time)."""
        q = np.ascontiguousarray(vector, dtype=np.float32).reshape(-1)
        key = (index.version, k, q.tobytes())
        with self._cache_lock:
            got = self._cache.get(key)
            if got is not None:
                self._cache.move_to_end(key)
                return got[0].copy(), got[1].copy()
        seqs, scores = index.search(q, k)
        with self._cache_lock:
            self._cache[key] = (seqs.copy(), scores.copy())
            while len(self._cache) > NEAREST_CACHE:
                self._cache.popitem(last=False)
        return seqs, scores

    def similarity(self, vector: np.ndarray, seqs: Sequence[int]) -> dict[int, float]:
        return self.index().scores_for(vector, list(seqs))

    def vector(self, seq: int) -> np.ndarray | None:
        return self.index().vector(seq)

    def size(self) -> int:
        return len(self.index())

    # -- indexing ------------------------------------------------------------------------
    def embed_missing(
        self,
        limit: int | None = None,
        batch: int = 256,
        progress: Callable[[int], None] | None = None,
        dry_run: bool = False,
        processes: int = 1,
    ) -> int:
        """Embed papers that have no vector yet (new or changed), newest first (during a
        backfill of millions, what readers look for first is searchable first), committing
        every batch so that an interrupted run resumes where it stopped. Returns how many
        were embedded. ``processes`` > 1: that many model processes of one thread each
        (:mod:`.model_pool`; the same vectors, faster on several cores)."""
        if self.embedder() is None:
            raise ModelError(self._problem or "the embedding model is unavailable")
        if processes > 1 and self._bulk_embedder is None and not dry_run:
            with EmbedderPool(processes, self.model_cache) as pool:
                return self._embed_missing(pool, limit, batch, progress, dry_run)
        # Bulk work: a session whose threads keep spinning between texts.
        embedder = self._bulk_embedder or shared_embedder(self.model_cache, spin=True)
        return self._embed_missing(embedder, limit, batch, progress, dry_run)

    def _embed_missing(
        self,
        embedder: Embedder | EmbedderPool,
        limit: int | None,
        batch: int,
        progress: Callable[[int], None] | None,
        dry_run: bool,
    ) -> int:
        done = 0
        cursor: EmbedCursor | None = None
        while limit is None or done < limit:
            n = batch if limit is None else min(batch, limit - done)
            rows, cursor = self.store.embeddings.newest_to_embed(self.model, cursor, limit=n)
            if not rows:
                break
            if not dry_run:
                vecs = embedder.embed(
                    [paper_text(r.title, r.abstract) for r in rows], progress=progress
                )
                self.store.embeddings.save(
                    self.model, [(r.seq, v) for r, v in zip(rows, vecs, strict=True)]
                )
            elif progress:
                progress(len(rows))
            done += len(rows)
            if cursor is None:
                break
        return done

    def embed_seqs(self, seqs: Sequence[int]) -> int:
        embedder = self.embedder()
        if embedder is None or not seqs:
            return 0
        texts = list(self.store.papers.texts(seqs).values())
        vecs = embedder.embed([paper_text(t.title, t.abstract) for t in texts])
        saved = self.store.embeddings.save(
            self.model, [(t.seq, v) for t, v in zip(texts, vecs, strict=True)]
        )
        self._checked = 0.0  # the next index() reads them in, without waiting for a refresh
        return saved

    def save(self, rebuild: bool = False) -> Path | None:
        """Catch the index up with the database and write a snapshot."""
        if self.index_dir is None:
            return None
        self._checked = 0.0
        index = self.index()
        snap = index.save(self.index_dir, rebuild_ann=rebuild)
        self._snapshot_name = snap.name
        return snap


def index_vectors(store: Store, settings: SearchSettings) -> IndexVectors:
    if settings.ann_codes not in IVF_CODES:
        raise ConfigError(
            f"ann_codes must be one of {', '.join(IVF_CODES)} (not {settings.ann_codes!r})"
        )
    return IndexVectors(
        store,
        index_dir_for(settings, store),
        model_cache=Path(settings.model_cache_dir) if settings.model_cache_dir else None,
        ann_threshold=settings.ann_threshold,
        nprobe=settings.ann_nprobe,
        codes=settings.ann_codes,
    )


@hookimpl
def register_search_backends(register: Callable[[Any], None]) -> None:
    register(
        VectorBackend(
            "vector-index",
            "all-MiniLM-L6-v2 (ONNX, int8) embeddings in an in-process index: exact, IVF above "
            "ann_threshold papers.",
            index_vectors,
        )
    )
