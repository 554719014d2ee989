"""The in-process vector index: every stored embedding of one model, searchable by cosine.

Layout in memory: a *base* segment loaded from the snapshot on disk (memory-mapped, so
several workers share its pages) and a small *delta* segment of rows added since, read from
the database by row id (``high_water``). Exact search is a matrix product; above
``ann_threshold`` vectors the base segment also gets a faiss IVF index (its codes 4-bit
scalar quantised by default, ``ann_codes``), so a million papers answer in milliseconds. The
IVF's own scores rank its candidates; only the head of them is re-scored from the exact
vectors, read row by row from the file (``RowFile``), so a serving process never maps the
4.6 GB of floats of 3 million papers: only the IVF codes.

Snapshots live in ``<index_dir>/snap-<high_water>/`` with a ``CURRENT`` file naming the live
one; a new snapshot is written beside the old and switched to atomically, so readers never see
half a snapshot.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import mmap
import os
import shutil
import threading
import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..store.embeddings import EmbeddingRepo
from .page_cache import preload

SNAPSHOT_FORMAT = 1
# Versions of indexes' contents, unique across the indexes of a process (see VectorIndex.version).
_VERSIONS = itertools.count(1)
log = logging.getLogger(__name__)


def _faiss() -> Any:
    """faiss, or None (with a warning) when the ``paperwire[ann]`` extra is not installed:
    search then stays exact, which is only slower on large corpora."""
    try:
        import faiss
    except ImportError:
        log.warning(
            "faiss is not installed: vector search stays exact (slower above a few hundred "
            "thousand papers); pip install 'paperwire[ann]' for the approximate index"
        )
        return None
    return faiss


@dataclass
class Segment:
    seqs: np.ndarray  # int64, position → paper seq
    vecs: np.ndarray  # float32 (n, dim); a read-only memmap for the base segment
    alive: np.ndarray  # bool; False where a newer vector replaced this one

    @classmethod
    def empty(cls, dim: int) -> Segment:
        return cls(np.zeros(0, np.int64), np.zeros((0, dim), np.float32), np.zeros(0, bool))

    def __len__(self) -> int:
        return len(self.seqs)


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest scores, best first."""
    if k >= len(scores):
        return np.argsort(-scores, kind="stable")
    part = np.argpartition(-scores, k)[:k]
    return part[np.argsort(-scores[part], kind="stable")]


# Vector scans at once per process. Each is a BLAS matrix-vector product over every vector;
# the web server's ~40 pool threads running them at once on 2 cores, each with a
# multi-threaded BLAS, turned a paper page from 120 into 20 req/s (issue 13).
SCANS = threading.BoundedSemaphore(max(1, os.cpu_count() or 1))

# Of the IVF's candidates, at most this many (the head, chosen from twice as many, and from
# at least RERANK_MIN) are re-scored from the exact vectors: a search's page and then some.
RERANK_ROWS = 256
RERANK_MIN = 100


def limit_blas_threads() -> None:
    """One BLAS thread per call in this process: a server has many requests in flight, each
    gets a core's worth at most (threadpoolctl changes the loaded library at run time)."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")


class VectorIndex:
    def __init__(
        self,
        model: str,
        dim: int,
        ann_threshold: int = 300_000,
        nprobe: int = 256,
        codes: str = "sq4",
    ):
        self.model = model
        self.dim = dim
        self.ann_threshold = ann_threshold
        self.nprobe = nprobe
        self.codes = codes  # of the IVF index built next (IVF_CODES)
        self.live_codes = codes  # of the IVF index loaded, if any
        self.base = Segment.empty(dim)
        self.delta = Segment.empty(dim)
        self.high_water = 0
        self.snapshot: Path | None = None
        self.ann: Any = None  # faiss index over base positions
        self.rows: RowFile | None = None  # the base's vectors read by row, with the IVF
        # Where each paper's live vector is, by seq: 2·position + segment (0 base, 1 delta),
        # -1 for none. One array, not a dict: 8 bytes a paper (24 MB at 3 million papers,
        # where a dict of tuples took about 500 MB), and one value per paper, so a reader
        # never sees a segment and a position from different writes.
        self._loc = np.full(0, -1, np.int64)
        self._lock = threading.Lock()
        # Changes whenever a search could answer differently (rows added or replaced, a
        # snapshot written): a key for results kept beside the index.
        self.version = next(_VERSIONS)

    # -- size ----------------------------------------------------------------------------
    def __len__(self) -> int:
        return int(self.base.alive.sum() + self.delta.alive.sum())

    @property
    def kind(self) -> str:
        return "ivf" if self.ann is not None else "exact"

    # -- building ------------------------------------------------------------------------
    def _index_positions(self) -> None:
        top = max((int(seg.seqs.max()) for seg in (self.base, self.delta) if len(seg)), default=0)
        loc = np.full(top + 1, -1, np.int64)
        for s, seg in enumerate((self.base, self.delta)):
            live = np.flatnonzero(seg.alive)
            loc[seg.seqs[live]] = 2 * live + s
        self._loc = loc

    def _place(self, s: int, seqs: np.ndarray, pos: np.ndarray) -> None:
        """Record that ``seqs`` are at ``pos`` of segment ``s``."""
        if not len(seqs):
            return
        top = int(seqs.max())
        if top >= len(self._loc):
            size = max(top + 1, len(self._loc) * 5 // 4)
            grown = np.full(size, -1, np.int64)
            grown[: len(self._loc)] = self._loc
            self._loc = grown
        self._loc[seqs] = 2 * pos + s

    def _locate(self, seqs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(segments, positions) of those of ``seqs`` that have a live vector."""
        seqs = np.asarray(seqs, dtype=np.int64).reshape(-1)
        loc = self._loc
        loc = loc[seqs[(seqs >= 0) & (seqs < len(loc))]]
        loc = loc[loc >= 0]
        return loc & 1, loc >> 1

    def add(self, row_ids: np.ndarray, seqs: np.ndarray, vecs: np.ndarray) -> None:
        """Add rows read from the database (in id order); a paper seen again replaces its
        previous vector."""
        if not len(seqs):
            return
        with self._lock:
            # Within the batch the last row of a paper wins.
            _, last = np.unique(seqs[::-1], return_index=True)
            keep = np.sort(len(seqs) - 1 - last)
            seqs = np.asarray(seqs[keep], dtype=np.int64)
            vecs = np.ascontiguousarray(vecs[keep], dtype=np.float32)
            seg, pos = self._locate(seqs)
            for s, old in enumerate((self.base, self.delta)):
                old.alive[pos[seg == s]] = False
            start = len(self.delta)
            self.delta = Segment(
                np.concatenate([self.delta.seqs, seqs]),
                np.concatenate([self.delta.vecs, vecs]),
                np.concatenate([self.delta.alive, np.ones(len(seqs), bool)]),
            )
            self._place(1, seqs, np.arange(start, start + len(seqs), dtype=np.int64))
            self.high_water = max(self.high_water, int(row_ids.max()))
            self.version = next(_VERSIONS)

    def catch_up(self, embeddings: EmbeddingRepo) -> int:
        """Read rows stored since ``high_water``. Returns how many were added."""
        added = 0
        for ids, seqs, vecs in embeddings.rows_after(self.model, after_id=self.high_water):
            self.add(ids, seqs, vecs)
            added += len(ids)
        return added

    def vector(self, seq: int) -> np.ndarray | None:
        seq, loc = int(seq), self._loc
        at = int(loc[seq]) if 0 <= seq < len(loc) else -1
        if at < 0:
            return None
        if at & 1 == 0:
            return np.array(self._base_rows(np.array([at >> 1]))[0], dtype=np.float32)
        return np.array(self.delta.vecs[at >> 1], dtype=np.float32)

    # -- search --------------------------------------------------------------------------
    def search(
        self, query: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(seqs, cosine scores) of the ``k`` nearest papers, best first. ``allowed``: only
        these seqs (exact search over them)."""
        q = np.asarray(query, dtype=np.float32).reshape(-1)
        if allowed is not None:
            return self._search_subset(q, k, allowed)
        cands_seq: list[np.ndarray] = []
        cands_score: list[np.ndarray] = []
        for s, seg in enumerate((self.base, self.delta)):
            if not len(seg):
                continue
            if s == 0 and self.ann is not None:
                pos, scores = self._ann_search(q, k)
            else:
                with SCANS:
                    scores = seg.vecs @ q
                scores[~seg.alive] = -np.inf
                pos = _top(scores, k)
                scores = scores[pos]
            ok = np.isfinite(scores)
            cands_seq.append(seg.seqs[pos[ok]])
            cands_score.append(scores[ok])
        if not cands_seq:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        seqs, scores = np.concatenate(cands_seq), np.concatenate(cands_score)
        order = _top(scores, k)
        return seqs[order], scores[order]

    def _ann_search(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The IVF's nearest ``k``, ranked by its codes' scores, with the head of them (up to
        RERANK_ROWS, chosen from twice as many) re-scored and re-ranked exactly.

        Before, 4·k candidates were all re-scored from the float vectors: up to 40,000 rows
        a filtered query, read all over the file, and the kernel mapped the pages around
        each, so after a few hundred queries a worker held the whole 4.6 GB file of 3 million
        papers. The codes' scores are close to the exact cosines; what they misorder is
        near-ties, and those matter in the head that is shown (at 1 million papers the
        re-ranked top 10 was as good with 4-bit codes as with 8-bit ones)."""
        head = min(k, RERANK_ROWS)
        pool = max(2 * head, RERANK_MIN)
        approx, pos = self.ann.search(q[None, :], max(k, pool))
        approx, pos = approx[0], pos[0]
        ok = pos >= 0
        ok[ok] = self.base.alive[pos[ok]]
        approx, pos = approx[ok], pos[ok]
        pool = min(len(pos), pool)
        exact = self._base_rows(pos[:pool]) @ q
        first = _top(exact, head)
        # The rest follow in the IVF's order, with its scores.
        rest = np.setdiff1d(np.arange(len(pos)), first, assume_unique=True)
        rest = rest[np.argsort(-approx[rest], kind="stable")][: k - len(first)]
        order = np.concatenate([first, rest])
        scores = np.concatenate([exact[first], approx[rest]]).astype(np.float32)
        return pos[order], scores

    def _base_rows(self, pos: np.ndarray) -> np.ndarray:
        """Rows of the base segment: from the file by ``pread`` when the IVF answers (the
        float vectors then stay out of the process), else from the memory map."""
        if self.rows is not None:
            return self.rows.read(pos)
        return np.asarray(self.base.vecs[pos], dtype=np.float32)

    def _search_subset(
        self, q: np.ndarray, k: int, allowed: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        seg_of, pos_of = self._locate(allowed)
        if not len(seg_of):
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        seqs, scores = [], []
        for s, seg in enumerate((self.base, self.delta)):
            pos = np.sort(pos_of[seg_of == s])
            if len(pos):
                seqs.append(seg.seqs[pos])
                scores.append((self._base_rows(pos) if s == 0 else seg.vecs[pos]) @ q)
        seqs_a, scores_a = np.concatenate(seqs), np.concatenate(scores)
        order = _top(scores_a, k)
        return seqs_a[order], scores_a[order]

    def scores_for(self, query: np.ndarray, seqs: list[int]) -> dict[int, float]:
        """Cosine of the query with the given papers (those that have a vector)."""
        q = np.asarray(query, dtype=np.float32).reshape(-1)
        out = {}
        for seq in seqs:
            vec = self.vector(seq)
            if vec is not None:
                out[int(seq)] = float(vec @ q)
        return out

    # -- snapshots -----------------------------------------------------------------------
    @classmethod
    def load(
        cls,
        directory: Path,
        model: str,
        dim: int,
        ann_threshold: int = 300_000,
        nprobe: int = 256,
        codes: str = "sq4",
    ) -> VectorIndex:
        """The live snapshot in ``directory`` (an empty index when there is none or it was
        made for another model)."""
        index = cls(model, dim, ann_threshold, nprobe, codes)
        snap = current_snapshot(directory)
        if snap is None:
            return index
        try:
            meta = json.loads((snap / "meta.json").read_text())
            if (
                meta.get("model") != model
                or meta.get("dim") != dim
                or meta.get("format") != SNAPSHOT_FORMAT
            ):
                return index
            vecs = np.load(snap / "vectors.npy", mmap_mode="r")
            seqs = np.load(snap / "seqs.npy")
            alive = np.load(snap / "alive.npy")
        except (OSError, ValueError, KeyError):
            return index  # unreadable: rebuild from the database
        faiss = _faiss() if (snap / "ivf.faiss").is_file() else None
        index.base = Segment(seqs, vecs, alive.copy())
        index.high_water = int(meta["high_water"])
        index.snapshot = snap
        if faiss is not None:
            index.ann = _read_ivf(snap, nprobe)
            index.rows = RowFile(snap / "vectors.npy", vecs)
            index.live_codes = meta.get("codes") or SNAPSHOT_CODES
        index._index_positions()
        return index

    def save(self, directory: Path, rebuild_ann: bool = False) -> Path:
        """Write base + delta as a new snapshot and make it the live one. Dead rows are
        dropped when the IVF index is rebuilt (positions change then); otherwise the base is
        extended, and the IVF index (if any) gets the new rows."""
        directory.mkdir(parents=True, exist_ok=True)
        with self._lock:
            n_total = len(self.base) + len(self.delta)
            want_ann = self.ann_threshold > 0 and len(self) > self.ann_threshold
            faiss = _faiss() if want_ann else None
            want_ann = faiss is not None
            compact = (
                rebuild_ann
                or (want_ann and self.ann is None)
                or (want_ann and self.live_codes != self.codes)
                or (not want_ann and self.ann is not None)
                or (n_total and (n_total - len(self)) > 0.2 * n_total)
            )
            snap = directory / f"snap-{self.high_water}-{int(time.time() * 1000)}"
            tmp = directory / (snap.name + ".tmp")
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir()
            parts = [
                (self.base, np.arange(len(self.base))),
                (self.delta, np.arange(len(self.delta))),
            ]
            if compact:
                parts = [(seg, np.flatnonzero(seg.alive)) for seg, _ in parts]
            n = sum(len(p) for _, p in parts)
            out = np.lib.format.open_memmap(
                tmp / "vectors.npy", mode="w+", dtype=np.float32, shape=(n, self.dim)
            )
            at = 0
            for seg, pos in parts:
                for start in range(0, len(pos), 65536):
                    chunk = pos[start : start + 65536]
                    out[at : at + len(chunk)] = seg.vecs[chunk]
                    at += len(chunk)
            out.flush()
            seqs = np.concatenate([seg.seqs[pos] for seg, pos in parts])
            alive = np.concatenate([seg.alive[pos] for seg, pos in parts])
            np.save(tmp / "seqs.npy", seqs)
            np.save(tmp / "alive.npy", alive)
            if faiss is not None:
                if compact or self.ann is None:
                    ann = _train_ivf(out, self.dim, self.codes)
                    _add_ivf(ann, out, 0)
                else:
                    # The live index's lists are a read-only map of its snapshot's file: the
                    # new rows go into a copy read from that file.
                    assert self.snapshot is not None
                    ann = faiss.read_index(str(self.snapshot / "ivf.faiss"))
                    _add_ivf(ann, out, len(self.base))
                faiss.write_index(ann, str(tmp / "ivf.faiss"))
                del ann  # the live index maps the written file (below)
            meta = {
                "format": SNAPSHOT_FORMAT,
                "model": self.model,
                "dim": self.dim,
                "count": int(alive.sum()),
                "rows": n,
                "high_water": self.high_water,
                "ann": "ivf" if faiss is not None else None,
                "codes": self.codes if faiss is not None else None,
                "created": time.time(),
            }
            (tmp / "meta.json").write_text(json.dumps(meta))
            del out
            os.replace(tmp, snap)
            _set_current(directory, snap)
            vecs = np.load(snap / "vectors.npy", mmap_mode="r")
            self.base = Segment(seqs, vecs, alive.copy())
            self.delta = Segment.empty(self.dim)
            self.ann = _read_ivf(snap, self.nprobe) if faiss is not None else None
            self.rows = RowFile(snap / "vectors.npy", vecs) if faiss is not None else None
            self.live_codes = self.codes
            self.snapshot = snap
            self._index_positions()
            self.version = next(_VERSIONS)
        _prune_snapshots(directory, keep=snap)
        return snap


class RowFile:
    """Rows of a snapshot's ``vectors.npy`` read with ``pread``, for a process that searches
    through the IVF index and needs a few hundred exact rows a query.

    Through the memory map, each row read also mapped the cached pages around it (the
    kernel's fault-around, MADV_RANDOM or not), and those stayed in the process: 4.3 GB of
    a worker's 5.9 GB at 3 million papers. Read by ``pread``, rows come from the page cache,
    which the kernel shares between workers and reclaims when it needs the memory, and the
    process holds only what it copied. A large set of rows (a narrow filter's papers) is
    read through the memory map instead, which is faster in bulk, and the map's pages are
    dropped from the process again afterwards."""

    BULK = 4096  # rows from here on are read through the memory map

    def __init__(self, path: Path, mapped: np.ndarray):
        self.mapped = mapped
        self.dim = mapped.shape[1]
        self.row_bytes = self.dim * 4
        self.offset = int(getattr(mapped, "offset", 0))
        self.fd = os.open(path, os.O_RDONLY)
        # The file stays readable after a newer snapshot replaces it (unlinked, not gone).
        self._finalizer = weakref.finalize(self, os.close, self.fd)
        raw = getattr(mapped, "_mmap", None)
        self._raw = raw if isinstance(raw, mmap.mmap) else None
        if self._raw is not None and hasattr(mmap, "MADV_RANDOM"):
            self._raw.madvise(mmap.MADV_RANDOM)

    def read(self, pos: np.ndarray) -> np.ndarray:
        """The rows at ``pos``, in that order (float32, shape (len(pos), dim))."""
        pos = np.asarray(pos, dtype=np.int64).reshape(-1)
        if not len(pos):
            return np.zeros((0, self.dim), np.float32)
        if len(pos) >= self.BULK:
            return self._read_mapped(pos)
        order = np.argsort(pos, kind="stable")
        ordered = pos[order]
        # Consecutive positions are one read.
        breaks = np.flatnonzero(np.diff(ordered) != 1) + 1
        starts = [0, *breaks.tolist()]
        ends = [*breaks.tolist(), len(ordered)]
        buf = np.empty((len(pos), self.dim), np.float32)
        view = memoryview(buf.data).cast("B")
        size, fd, offset = self.row_bytes, self.fd, self.offset
        firsts = ordered.tolist()
        for a, b in zip(starts, ends, strict=True):
            got = os.preadv(fd, [view[a * size : b * size]], offset + firsts[a] * size)
            if got != (b - a) * size:
                raise OSError(f"short read from the vector snapshot at row {firsts[a]}")
        out = np.empty_like(buf)
        out[order] = buf
        return out

    def _read_mapped(self, pos: np.ndarray) -> np.ndarray:
        order = np.argsort(pos, kind="stable")
        out = np.empty((len(pos), self.dim), np.float32)
        out[order] = self.mapped[pos[order]]
        if self._raw is not None and hasattr(mmap, "MADV_DONTNEED"):
            # Clean file pages: dropped from this process, still in the page cache.
            self._raw.madvise(mmap.MADV_DONTNEED)
        return out


def _read_ivf(snap: Path, nprobe: int) -> Any:
    """The snapshot's IVF index with its lists memory-mapped, not read: the 8-bit codes
    (1.15 GB at 3 million papers) stay in the page cache, shared by every worker, and only
    the lists a query visits are read."""
    faiss = _faiss()
    ann = faiss.read_index(str(snap / "ivf.faiss"), faiss.IO_FLAG_MMAP)
    ann.nprobe = nprobe
    preload([snap / "ivf.faiss"])  # read ahead, not on the first queries' time
    return ann


# What the IVF index stores of each vector (bytes per vector at 384 dimensions): 8, 6 or 4
# bits a dimension (384, 288, 192), or product-quantised into 64 bytes.
IVF_CODES = ("sq8", "sq6", "sq4", "pq64")
SNAPSHOT_CODES = "sq8"  # of a snapshot whose meta names none (written before ann_codes)


def _train_ivf(vecs: np.ndarray, dim: int, codes: str = "sq4") -> Any:
    faiss = _faiss()
    n = len(vecs)
    # About 4·√n lists, each with at least 39 training points (faiss's minimum).
    nlist = int(max(1, min(4 * np.sqrt(n), n // 39, 16384)))
    quantizer = faiss.IndexFlatIP(dim)
    if codes == "pq64":
        parts = math.gcd(dim, 64)  # 64 sub-vectors of one byte (fewer for a small dim)
        ivf = faiss.IndexIVFPQ(quantizer, dim, nlist, parts, 8, faiss.METRIC_INNER_PRODUCT)
        ivf.by_residual = False  # inner-product scores without the centroid term's drift
    else:
        qtype = {
            "sq8": faiss.ScalarQuantizer.QT_8bit,
            "sq6": faiss.ScalarQuantizer.QT_6bit,
            "sq4": faiss.ScalarQuantizer.QT_4bit,
        }[codes]
        ivf = faiss.IndexIVFScalarQuantizer(
            quantizer, dim, nlist, qtype, faiss.METRIC_INNER_PRODUCT
        )
    rng = np.random.default_rng(0)
    sample = np.sort(rng.choice(n, size=min(n, 40 * nlist), replace=False))
    ivf.train(np.ascontiguousarray(vecs[sample], dtype=np.float32))
    return ivf


def _add_ivf(ivf: Any, vecs: np.ndarray, start: int) -> None:
    for at in range(start, len(vecs), 100_000):
        chunk = np.ascontiguousarray(vecs[at : at + 100_000], dtype=np.float32)
        ivf.add_with_ids(chunk, np.arange(at, at + len(chunk), dtype=np.int64))


def current_snapshot(directory: Path) -> Path | None:
    try:
        name = (directory / "CURRENT").read_text().strip()
    except OSError:
        return None
    snap = directory / name
    return snap if name and snap.is_dir() else None


def _set_current(directory: Path, snap: Path) -> None:
    tmp = directory / "CURRENT.tmp"
    tmp.write_text(snap.name)
    os.replace(tmp, directory / "CURRENT")


def _prune_snapshots(directory: Path, keep: Path) -> None:
    # Readers that memory-mapped an older snapshot keep their pages after the unlink.
    for path in directory.glob("snap-*"):
        if path != keep and path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
