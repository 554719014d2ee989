"""Approximate vector search at scale, side by side: the shipped faiss IVF index (8-bit
scalar quantizer, about 4·√n lists, exact re-rank of its candidates; search/vectors.py)
against an HNSW graph (faiss's ``IndexHNSWFlat``, the same algorithm as hnswlib), both
against exact search, on real embeddings grown to ``n`` vectors as ``search_latency.py
scale`` grows them (each copy: the real vector plus noise, cosine ≈ 0.9 to it).

    python bench/ann.py --source /data/corpus.db --n 3000000 [--hnsw-n 1000000]
                        [--queries 200] [--json OUT]

Queries: the search benchmark's 75 queries embedded as the site embeds a query ("typed"),
and papers' own vectors (what "similar papers" asks; each finds itself, so these are the
easier half); recall is reported for each group. Reported per configuration: build
time, index memory, recall@10 against exact search, and query latency (median and p99,
one thread per query as a serving process runs it).
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parent))

from benchkit import engine, write_json  # noqa: E402

from paperwire.search import vectors as vector_index  # noqa: E402
from paperwire.search.model_build import model_key  # noqa: E402
from paperwire.store import Store  # noqa: E402

K = 10


def grown(base: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """``n`` unit vectors: the real ones, then noisy copies of them (as ``scale`` makes)."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, base.shape[1]), np.float32)
    out[: min(n, len(base))] = base[:n]
    for at in range(len(base), n, len(base)):
        m = min(len(base), n - at)
        copy = base[:m] + rng.normal(scale=0.025, size=(m, base.shape[1])).astype(np.float32)
        out[at : at + m] = copy / np.linalg.norm(copy, axis=1, keepdims=True)
    return out


def exact(vecs: np.ndarray, queries: np.ndarray, k: int = K) -> np.ndarray:
    """The true top ``k`` of each query, by brute force in chunks."""
    best_s = np.full((len(queries), k), -np.inf, np.float32)
    best_i = np.zeros((len(queries), k), np.int64)
    for at in range(0, len(vecs), 200_000):
        s = queries @ vecs[at : at + 200_000].T
        i = np.argpartition(-s, k, axis=1)[:, :k]
        both_s = np.concatenate([best_s, np.take_along_axis(s, i, 1)], axis=1)
        both_i = np.concatenate([best_i, i + at], axis=1)
        top = np.argsort(-both_s, axis=1)[:, :k]
        best_s, best_i = np.take_along_axis(both_s, top, 1), np.take_along_axis(both_i, top, 1)
    return best_i


def recall(found: list[np.ndarray], truth: np.ndarray, typed: int) -> dict[str, float]:
    """recall@10 over all queries, the typed ones (the first ``typed``) and the papers'."""
    each = [len(set(f[:K].tolist()) & set(t.tolist())) / K
            for f, t in zip(found, truth, strict=True)]  # fmt: skip
    return {"all": float(np.mean(each)), "typed": float(np.mean(each[:typed])),
            "papers": float(np.mean(each[typed:]))}  # fmt: skip


def measure(label: str, search, queries: np.ndarray, truth: np.ndarray, typed: int) -> dict:
    """One configuration: its recall and latency, printed and returned."""
    found, p50, p99 = timed(search, queries)
    r = recall(found, truth, typed)
    print(f"  {label}: recall@10 {r['all']:.3f} (typed {r['typed']:.3f}, papers "
          f"{r['papers']:.3f}), p50 {p50:.2f} ms, p99 {p99:.2f} ms")  # fmt: skip
    return {"recall": r, "p50_ms": p50, "p99_ms": p99}


def timed(search, queries: np.ndarray) -> tuple[list[np.ndarray], float, float]:
    """Each query alone (after one warm-up pass): results, median and p99 ms."""
    for q in queries[:20]:
        search(q)
    out, ms = [], []
    for q in queries:
        t = time.perf_counter()
        out.append(search(q))
        ms.append((time.perf_counter() - t) * 1000)
    return out, float(np.median(ms)), float(np.percentile(ms, 99))


def ivf_configs(vecs: np.ndarray, queries: np.ndarray, truth: np.ndarray, typed: int) -> dict:
    faiss = vector_index._faiss()
    t = time.perf_counter()
    ivf = vector_index._train_ivf(vecs, vecs.shape[1])
    trained = time.perf_counter() - t
    vector_index._add_ivf(ivf, vecs, 0)
    built = time.perf_counter() - t
    size = len(faiss.serialize_index(ivf))
    print(f"IVF-SQ8: {ivf.nlist} lists, trained in {trained:.1f} s, built in {built:.1f} s, "
          f"{size / 2**20:,.0f} MB (+ the float32 vectors to re-rank, memory-mapped)")  # fmt: skip
    out = {"build_s": built, "train_s": trained, "index_mb": size / 2**20, "nlist": ivf.nlist}
    faiss.omp_set_num_threads(1)
    for nprobe in (64, 128, 256, 512):
        ivf.nprobe = nprobe
        for depth in (100, 400) if nprobe == 64 else (100,):  # (deeper re-ranks: the same)

            def search(q, depth=depth):
                _, pos = ivf.search(q[None, :], depth)
                pos = np.sort(pos[0][pos[0] >= 0])
                s = vecs[pos] @ q
                return pos[np.argsort(-s)[:K]]

            label = f"nprobe {nprobe:4d}, re-rank {depth:4d}"
            out[f"nprobe{nprobe}_rerank{depth}"] = measure(label, search, queries, truth, typed)
    faiss.omp_set_num_threads(2)
    return out


def hnsw_configs(
    vecs: np.ndarray, queries: np.ndarray, truth: np.ndarray, typed: int, m: int
) -> dict:
    faiss = vector_index._faiss()
    index = faiss.IndexHNSWFlat(vecs.shape[1], m, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = 40
    t = time.perf_counter()
    for at in range(0, len(vecs), 100_000):
        index.add(np.ascontiguousarray(vecs[at : at + 100_000]))
        print(f"  HNSW: {at + 100_000:,} added ({time.perf_counter() - t:.0f} s)", flush=True)
    built = time.perf_counter() - t
    graph = index.hnsw.neighbors.size() * 4 + index.hnsw.offsets.size() * 8
    flat = vecs.nbytes
    print(f"HNSW (M {m}, efConstruction 40): built in {built:.1f} s; graph {graph / 2**20:,.0f}"
          f" MB + vectors {flat / 2**20:,.0f} MB, all in memory")  # fmt: skip
    out = {"build_s": built, "graph_mb": graph / 2**20, "vectors_mb": flat / 2**20, "m": m}
    faiss.omp_set_num_threads(1)
    for ef in (32, 64, 128, 256):
        index.hnsw.efSearch = ef

        def search(q):
            _, pos = index.search(q[None, :], K)
            return pos[0]

        out[f"ef{ef}"] = measure(f"efSearch {ef:4d}", search, queries, truth, typed)
    faiss.omp_set_num_threads(2)
    return out


def main() -> None:
    from search_latency import queries as query_set

    ap = argparse.ArgumentParser()
    ap.add_argument("--source", type=Path, required=True, help="an embedded corpus store")
    ap.add_argument("--n", type=int, default=3_000_000)
    ap.add_argument("--hnsw-n", type=int, help="build HNSW over the first so many (default n)")
    ap.add_argument("--hnsw-m", type=int, default=32)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--json", help="write the figures here (default: bench/results/)")
    args = ap.parse_args()
    store = Store(f"sqlite:///{args.source}")
    rows = store.db.engine.connect().exec_driver_sql(
        "SELECT vector FROM paper_embeddings WHERE model = ? ORDER BY paper_seq", (model_key(),)
    )
    base = np.stack([np.frombuffer(v, dtype="<f4") for (v,) in rows])
    print(f"{len(base):,} real vectors, grown to {args.n:,}")
    vecs = grown(base, args.n)
    eng = engine(store, Path(f"{args.source}.index"))
    texts = [q.text for q in query_set(store)]
    rng = np.random.default_rng(1)
    half = args.queries // 2
    typed = np.stack([eng.embed_query(t) for t in texts[:half]])
    papers = vecs[rng.choice(len(vecs), size=args.queries - len(typed), replace=False)]
    queries = np.ascontiguousarray(np.concatenate([typed, papers]), dtype=np.float32)
    t = time.perf_counter()
    truth = exact(vecs, queries)
    _, p50, p99 = timed(lambda q: exact(vecs, q[None, :])[0], queries[:30])
    print(f"exact search: {p50:.0f} ms median, {p99:.0f} ms p99 "
          f"(truth for {len(queries)} queries in {time.perf_counter() - t:.0f} s)")  # fmt: skip
    figures: dict = {"n": args.n, "queries": len(queries), "exact_p50_ms": p50}
    figures["ivf"] = ivf_configs(vecs, queries, truth, len(typed))
    out = write_json("ann", figures, args.json)  # (again with HNSW's, once built)
    gc.collect()
    hn = args.hnsw_n or args.n
    if hn != args.n:
        sub = vecs[:hn]
        truth = exact(sub, queries)
        print(f"HNSW over the first {hn:,} (IVF over the same, for comparison):")
        figures["ivf_same_n"] = ivf_configs(sub, queries, truth, len(typed))
    figures["hnsw"] = hnsw_configs(vecs[:hn], queries, truth, len(typed), args.hnsw_m)
    figures["hnsw"]["n"] = hn
    write_json("ann", figures, out)


if __name__ == "__main__":
    main()
