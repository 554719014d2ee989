"""Search latency on a real corpus, side by side with a plain FTS5 bm25 query and with
arxiv-sanity-lite's approach (a linear scan over every title and abstract in memory).

    # the 74,728-paper corpus, embedded by `paperwire index`
    paperwire --db sqlite:////data/corpus.db ingest listing ../shared/data/arxiv-listings/*.gz
    paperwire --db sqlite:////data/corpus.db index
    python bench/search_latency.py run --db /data/corpus.db

    # scaled to all of arXiv, 3 million papers, by perturbing the real ones (text and
    # vectors), then timed; then a day's 1,000 new papers, timed until a loaded index finds them
    python bench/search_latency.py scale --source /data/corpus.db --db /data/big.db --n 3000000
    python bench/search_latency.py run --db /data/big.db --no-linear [--window N] \
        [--keywords tantivy]
    python bench/search_latency.py fresh --db /data/big.db --n 1000 [--keywords tantivy]
    # the IVF index's codes (8/6/4-bit scalar, product-quantised) side by side at 3 million
    python bench/search_latency.py codes --source /data/corpus.db --n 3000000
    # memory of `paperwire serve --workers 2` after the query set through the API
    python bench/search_latency.py serve --db /data/big.db --workers 2

    # bulk embedding throughput on 3,000 of its abstracts
    python bench/search_latency.py embed --db /data/corpus.db

Timings are per query, end to end in the engine (query parsing, query embedding, keyword
index, vector index, fusion, ids), after one warm-up pass; printed as medians and p99, for
the whole query set and per group (typed, pasted sentences, the hard cases). The same run
times the baselines: every match ranked (``--window 0``), a plain FTS5 query and, above
``ann_threshold``, exact vector search (with the IVF index's recall@10 against it).
"""

from __future__ import annotations

import argparse
import random
import re
import resource
import sqlite3
import statistics
import sys
import threading
import time
from datetime import date, datetime
from pathlib import Path
from typing import NamedTuple

import numpy as np
import sqlalchemy as sa

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parent))

from benchkit import TRUST, engine, write_json  # noqa: E402

from paperwire.core.query import SearchFilters, parse  # noqa: E402
from paperwire.core.settings import SearchSettings  # noqa: E402
from paperwire.search.model_build import model_key  # noqa: E402
from paperwire.search.semantic import index_dir_for  # noqa: E402
from paperwire.store import Store  # noqa: E402
from paperwire.store.fulltext import fts5  # noqa: E402


def open_db(db: str) -> tuple[Store, Path]:
    """The store ``--db`` names (a SQLite file's path, or a database URL such as
    postgresql+psycopg://postgres@127.0.0.1/big) and its vector index folder, where
    ``paperwire`` keeps it for that database."""
    store = Store(db if "://" in db else f"sqlite:///{db}")
    return store, index_dir_for(SearchSettings(), store)


CANDIDATES = SearchSettings().search_candidates  # the vector side's list, as the site asks


class Query(NamedTuple):
    group: str  # short, sentence or hard
    text: str
    filters: SearchFilters | None = None


# Short queries like the ones typed on Hugging Face Papers, plus sentences (below).
SHORT = """vision transformer quantization; diffusion models; gaussian splatting; large language
model reasoning; reinforcement learning from human feedback; retrieval augmented generation;
video generation; mixture of experts; speculative decoding; 3d reconstruction from images;
vision language models; code generation; graph neural networks; federated learning privacy;
knowledge distillation; protein structure prediction; autonomous driving perception; medical
image segmentation; text to speech; multimodal benchmark; kv cache compression; state space
models mamba; robot manipulation policy; long context; chain of thought; hallucination
detection; low rank adaptation; image editing; point cloud; agents tool use""".replace("\n", " ")


# The hard cases: single common words, phrases, exclusions, filters by category and date.
HARD: list[tuple[str, SearchFilters | None]] = [
    ("learning", None),
    ("model", None),
    ("the", None),
    ("neural network", None),
    ("deep learning model", None),
    ('"large language models"', None),
    ('"reinforcement learning" agents', None),
    ("diffusion -video", None),
    ("model -language -vision", None),
    ("learning", SearchFilters(category="cs.CV")),
    ("model", SearchFilters(category="cs.LG")),
    ("learning", SearchFilters(date_from=date(2026, 1, 1), date_to=date(2026, 3, 31))),
    ("transformer", SearchFilters(category="cs.CL", date_from=date(2025, 6, 1))),
    ("graph neural networks", SearchFilters(category="cs")),
    ("learning OR model", None),
]


def queries(store: Store, n_sentences: int = 30, seed: int = 0) -> list[Query]:
    """Typed queries, abstract sentences pasted whole and the hard cases, each with its
    group."""
    short = [Query("short", q.strip()) for q in SHORT.split(";") if q.strip()]
    rng = random.Random(seed)
    with store.db.engine.connect() as conn:
        n = conn.exec_driver_sql("SELECT max(seq) FROM papers").scalar()
        sentences: list[Query] = []
        while len(sentences) < n_sentences:
            row = conn.execute(
                sa.text("SELECT abstract FROM papers WHERE seq = :seq"), {"seq": rng.randint(1, n)}
            ).first()
            if row and row[0]:
                first = re.split(r"(?<=[.!?])\s", " ".join(row[0].split()))[0]
                sentences.append(Query("sentence", first[:300]))
    return short + sentences + [Query("hard", q, f) for q, f in HARD]


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def timed(fn, qs: list[Query], repeat: int = 1) -> list[float]:
    """Milliseconds of ``fn(query)`` for each query, ``repeat`` times over, after a warm-up."""
    for q in qs[:5]:
        fn(q)
    out = []
    for _ in range(repeat):
        for q in qs:
            t = time.perf_counter()
            fn(q)
            out.append((time.perf_counter() - t) * 1000)
    return out


def memory(pid: int | str = "self") -> dict[str, float]:
    """A process's resident memory (RSS), its proportional share (PSS: shared pages split
    between the processes mapping them) and the anonymous part of it (the process's own;
    the rest is mapped files — the vector snapshot — held in the page cache), MB."""
    out = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("Rss", "Pss", "Anonymous"):
            out[key.lower() + "_mb"] = int(value.split()[0]) / 1024
    return out


def memory_by_file(pid: int | str = "self") -> dict[str, float]:
    """The resident memory of a process by what it maps (MB): the vector snapshot's files
    by name (vectors.npy, ivf.faiss), the keyword index's files together ("tantivy"), the
    process's own memory ("anonymous") and the rest ("other": libraries, the model)."""
    out: dict[str, float] = {}
    where = "anonymous"
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        head = line.split()
        if head and not head[0].endswith(":"):  # a mapping: address range, perms, ..., path
            path = head[5] if len(head) > 5 else ""
            if not path or path.startswith("["):
                where = "anonymous"
            elif "-words/" in path:
                where = "tantivy"
            elif path.endswith((".npy", ".faiss")):
                where = Path(path).name
            else:
                where = "other"
        elif head and head[0] == "Rss:":
            out[where] = out.get(where, 0.0) + int(head[1]) / 1024
    return {k: round(v, 1) for k, v in sorted(out.items(), key=lambda kv: -kv[1])}


def fts5_plain(path: Path):
    """The plain FTS5 query: every word required, bm25 order, 30 rows."""
    conn = sqlite3.connect(path)

    def run(q: Query):
        match = fts5(parse(q.text), "all")
        if match is None:
            return []
        return conn.execute(
            "SELECT rowid FROM papers_fts WHERE papers_fts MATCH ? "
            "ORDER BY bm25(papers_fts) LIMIT 30",
            (match,),
        ).fetchall()

    return run


def tsvector_plain(store: Store):
    """PostgreSQL's plain full-text query: every word required, ts_rank_cd order, 30 rows."""
    sql = sa.text(
        "SELECT seq FROM papers, plainto_tsquery('english', :q) q WHERE tsv @@ q "
        "ORDER BY ts_rank_cd(tsv, q) DESC LIMIT 30"
    )

    def run(q: Query):
        with store.db.engine.connect() as conn:
            return conn.execute(sql, {"q": q.text}).all()

    return run


def linear_scan(path: Path):
    """arxiv-sanity-lite's search: every paper held in memory, scored on each query by
    counting the query's tokens in its title (weighted 20), authors (10) and abstract
    (up to 3 per token), then sorted."""
    conn = sqlite3.connect(path)
    papers = [
        (seq, title.lower(), authors.lower(), abstract.lower())
        for seq, title, authors, abstract in conn.execute(
            "SELECT seq, title, authors, abstract FROM papers"
        )
    ]

    def run(q: Query):
        tokens = q.text.lower().split()
        scored = []
        for seq, title, authors, abstract in papers:
            s = 20.0 * sum(t in title for t in tokens)
            s += 10.0 * sum(t in authors for t in tokens)
            s += sum(min(3, abstract.count(t)) for t in tokens)
            if s > 0:
                scored.append((s, seq))
        scored.sort(reverse=True)
        return scored[:30]

    return run


def cmd_run(args) -> None:
    if args.no_preload:
        from paperwire.search import vectors as vector_index

        vector_index.preload = lambda paths: None  # type: ignore[assignment]
    store, index_dir = open_db(args.db)
    eng = engine(store, index_dir, refresh_seconds=3600, window=args.window, keywords=args.keywords)
    vectors = eng.indexer()
    n_vec, _ = store.embeddings.state(vectors.model)
    print(f"corpus: {store.db.count('papers'):,} papers, {n_vec:,} embedded ({vectors.model})")
    t = time.perf_counter()
    idx = vectors.index()
    print(
        f"vector index: {len(idx):,} vectors, {idx.kind}, loaded in "
        f"{time.perf_counter() - t:.2f} s (snapshot {idx.snapshot})"
    )
    vectors.embed_query("warm")
    if not args.no_preload_wait:
        # Loading the indexes started reading their files into the page cache (after a
        # restart, the first queries would otherwise fault them in from disk).
        t = time.perf_counter()
        for thread in threading.enumerate():
            if thread.name == "preload":
                thread.join()
        print(f"index files read ahead in {time.perf_counter() - t:.1f} s")
    qs = queries(store)
    groups = sorted({q.group for q in qs})
    counts = ", ".join(f"{sum(q.group == g for q in qs)} {g}" for g in groups)
    print(f"{len(qs)} queries: {counts}")

    def search(mode: str, on=eng):
        return lambda q: on.search(q.text, filters=q.filters, limit=30, mode=mode)

    rows = []
    hybrid = timed(search("hybrid"), qs, args.repeat)
    rows.append(("hybrid (engine, incl. query embedding)", hybrid))
    for g in groups:
        vals = [v for i, v in enumerate(hybrid) if qs[i % len(qs)].group == g]
        rows.append((f"  hybrid, {g} queries", vals))
    rows.append(("keyword only (engine)", timed(search("keyword"), qs, args.repeat)))
    rows.append(("semantic only (engine)", timed(search("semantic"), qs, args.repeat)))
    embed = timed(lambda q: vectors.embed_query(q.text), qs, args.repeat)
    rows.append(("query embedding alone", embed))
    qvec = {q.text: vectors.embed_query(q.text) for q in qs}
    ivf = timed(lambda q: idx.search(qvec[q.text], 200), qs, args.repeat)
    rows.append((f"vector index top-200 alone ({idx.kind})", ivf))
    mem = memory()
    print(
        f"after the query set: RSS {mem['rss_mb']:,.0f} MB, PSS {mem['pss_mb']:,.0f} MB, "
        f"of it anonymous {mem['anonymous_mb']:,.0f} MB (the rest: mapped snapshot files)"
    )
    mem["rss_by_file_mb"] = memory_by_file()
    print("  RSS by what is mapped (MB):", mem["rss_by_file_mb"])
    # Baselines, after the memory figure (an exact scan maps every vector).
    if args.keywords != "database" and args.db_baselines == "all":
        db = engine(store, index_dir, refresh_seconds=3600, window=args.window)
        db.vectors = eng.vectors
        base_hybrid = timed(search("hybrid", db), qs, args.repeat)
        rows.append(("hybrid, database keywords", base_hybrid))
        for g in groups:
            vals = [v for i, v in enumerate(base_hybrid) if qs[i % len(qs)].group == g]
            rows.append((f"  hybrid, database keywords, {g}", vals))
        rows.append(("keyword only, database", timed(search("keyword", db), qs, args.repeat)))
    if args.window and args.db_baselines == "all":
        every = engine(store, index_dir, refresh_seconds=3600, window=0)
        every.vectors = eng.vectors
        rows.append(("hybrid, every match ranked (window 0)", timed(search("hybrid", every), qs)))
        rows.append(("keyword only, every match ranked", timed(search("keyword", every), qs)))
    times = args.repeat if args.db_baselines == "all" else 1
    if args.db_baselines == "none":
        pass
    elif store.db.sqlite_path is not None:
        plain = timed(fts5_plain(store.db.sqlite_path), qs, times)
        rows.append(("plain FTS5 bm25 (all words, 30 rows)", plain))
    else:
        plain = timed(tsvector_plain(store), qs, times)
        rows.append(("plain tsvector ts_rank_cd (all words, 30 rows)", plain))
    if idx.ann is not None:
        exact = _exact(idx)
        scan = timed(lambda q: exact(qvec[q.text], 200), qs)
        rows.append(("exact vector top-200 (every vector)", scan))
        # The site's call: the vector side's candidates (search_candidates), of which the
        # first 10 are compared.
        recall = [
            len(set(idx.search(v, CANDIDATES)[0][:10].tolist()) & set(exact(v, 10)[0].tolist()))
            / 10
            for v in qvec.values()
        ]
        print(f"IVF recall@10 against exact search: {statistics.mean(recall):.3f}")
    if not args.no_linear and store.db.sqlite_path is not None:
        rows.append(("arxiv-sanity-lite linear scan", timed(linear_scan(store.db.sqlite_path), qs)))
    base = statistics.median(hybrid)
    print(f"{'':42} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'p50 vs hybrid':>14}")
    figures: dict = {
        "papers": store.db.count("papers"),
        "vectors": n_vec,
        "index": idx.kind,
        "window": args.window,
        "keywords": args.keywords,
        "memory_after_queries": mem,
    }
    if idx.ann is not None:
        figures["ivf_recall_at_10"] = statistics.mean(recall)
    for name, vals in rows:
        med = statistics.median(vals)
        print(f"{name:42} {med:8.2f} {pct(vals, 90):8.2f} {pct(vals, 99):8.2f} {med / base:13.2f}x")
        figures[name.strip()] = {"p50_ms": med, "p90_ms": pct(vals, 90), "p99_ms": pct(vals, 99),
                                 "vs_hybrid": med / base}  # fmt: skip
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this process: {rss:,.0f} MB (baselines included)")
    figures["peak_rss_mb"] = rss
    write_json("search_latency", figures, args.json)


def _exact(idx):
    """Exact search over every live vector of the index (its IVF index aside)."""

    def run(q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        ann, idx.ann = idx.ann, None
        try:
            return idx.search(q, k)
        finally:
            idx.ann = ann

    return run


def cmd_scale(args) -> None:
    """Copy the source corpus, perturbed, until there are ``n`` papers (text: sentences
    shuffled and 10% of words dropped; vectors: real vector + noise, cosine ≈ 0.9 to it)."""
    from paperwire.core.records import PaperRecord

    src = Store(f"sqlite:///{args.source}")
    dst, index_dir = open_db(args.db)
    dst.db.upgrade()
    ids_to_seqs = sa.text("SELECT id, seq FROM papers WHERE id IN :ids").bindparams(
        sa.bindparam("ids", expanding=True)
    )
    model = model_key()
    rng = np.random.default_rng(0)
    prng = random.Random(0)
    have = dst.db.count("papers")
    with src.db.engine.connect() as conn:
        base = conn.exec_driver_sql(
            "SELECT p.seq, p.id, p.title, p.abstract, p.authors, p.categories, p.published, "
            "e.vector FROM papers p JOIN paper_embeddings e ON e.paper_seq = p.seq "
            "AND e.model = ? ORDER BY p.seq",
            (model,),
        ).all()
    print(f"{len(base):,} embedded source papers; target {args.n:,}; have {have:,}")
    copy = have // len(base)
    # PostgreSQL: the full-text GIN index is built once after the copy, as after a restore
    # (kept up row by row it held the load to about 670 papers/s); the time is printed.
    postgres = dst.db.dialect == "postgresql"
    if postgres and have < args.n:
        with dst.db.engine.begin() as conn:
            conn.exec_driver_sql("DROP INDEX IF EXISTS ix_papers_tsv")
    started = time.perf_counter()
    while have < args.n:
        batch, vecs = [], []
        for row in base:
            if have + len(batch) >= args.n:
                break
            words = [w for w in row.abstract.split() if prng.random() > 0.1]
            sentences = re.split(r"(?<=[.!?])\s", " ".join(words))
            prng.shuffle(sentences)
            title = row.title.split()
            if copy and len(title) > 3:
                title.pop(prng.randrange(len(title)))
            batch.append(
                PaperRecord(
                    id=f"x{copy}.{row.id}" if copy else row.id,
                    title=" ".join(title),
                    abstract=" ".join(sentences) if copy else row.abstract,
                    authors=[],
                    categories=(row.categories or "").split(),
                    source="bench",
                    published=datetime.fromisoformat(row.published) if row.published else None,
                )
            )
            v = np.frombuffer(row.vector, dtype="<f4")
            if copy:
                v = v + rng.normal(scale=0.025, size=v.shape).astype(np.float32)
                v = v / np.linalg.norm(v)
            vecs.append(v)
        for i in range(0, len(batch), 5000):
            dst.papers.upsert(batch[i : i + 5000], TRUST)
        ids = [r.id for r in batch]
        seqs = {}
        with dst.db.engine.connect() as conn:
            for i in range(0, len(ids), 900):
                seqs.update(conn.execute(ids_to_seqs, {"ids": ids[i : i + 900]}).all())
        rows = [(seqs[i], v) for i, v in zip(ids, vecs, strict=True)]
        for i in range(0, len(rows), 10000):
            dst.embeddings.save(model, rows[i : i + 10000])
        have += len(batch)
        copy += 1
        print(f"  {have:,} papers ({have / (time.perf_counter() - started):,.0f}/s)", flush=True)
    if postgres:  # (also when an interrupted copy is finished with a smaller --n)
        t = time.perf_counter()
        with dst.db.engine.begin() as conn:
            conn.exec_driver_sql("SET LOCAL maintenance_work_mem = '1GB'")
            conn.exec_driver_sql(
                "CREATE INDEX IF NOT EXISTS ix_papers_tsv ON papers USING gin (tsv)"
            )
        print(f"full-text index (GIN) built in {time.perf_counter() - t:.1f} s", flush=True)
    vectors = engine(dst, index_dir).indexer()
    vectors.codes = args.codes
    t = time.perf_counter()
    snap = vectors.save(rebuild=True)
    print(f"snapshot {snap} ({vectors.index().kind}) in {time.perf_counter() - t:.1f} s")
    engine(dst, index_dir, keywords="tantivy")  # builds the Tantivy index


def cmd_codes(args) -> None:
    """The IVF index's codes side by side at ``n`` vectors (the source's real vectors and
    perturbed copies of them, as ``scale`` makes, held in memory): build time, size,
    recall@10 against exact search, and the time of a top-200 search as the site makes it
    (the codes rank, the head is re-scored from the exact vectors)."""
    import shutil
    import tempfile

    from paperwire.search.vectors import VectorIndex

    src = Store(f"sqlite:///{args.source}")
    model = model_key()
    with src.db.engine.connect() as conn:
        blobs = [
            r[0]
            for r in conn.exec_driver_sql(
                "SELECT vector FROM paper_embeddings WHERE model = ? ORDER BY paper_seq", (model,)
            )
        ]
    real = np.frombuffer(b"".join(blobs), dtype="<f4").reshape(len(blobs), -1)
    dim = real.shape[1]
    rng = np.random.default_rng(0)
    vecs = np.empty((args.n, dim), np.float32)
    for at in range(0, args.n, len(real)):
        part = real[: min(len(real), args.n - at)]
        if at:
            part = part + rng.normal(scale=0.025, size=part.shape).astype(np.float32)
            part /= np.linalg.norm(part, axis=1, keepdims=True)
        vecs[at : at + len(part)] = part
    print(f"{args.n:,} vectors from {len(real):,} real ones")
    eng = engine(src)
    texts = [q.text for q in queries(src)]
    qvecs = np.stack([eng.vectors.embed_query(t) for t in texts]).astype(np.float32)
    exact10 = []
    for q in qvecs:
        scores = vecs @ q
        exact10.append(set(np.argpartition(-scores, 10)[:10].tolist()))
    figures: dict = {"n": args.n, "queries": len(qvecs), "nprobe": args.nprobe, "codes": {}}
    print(f"{len(qvecs)} queries (typed, pasted sentences, hard cases); nprobe {args.nprobe}")
    print(f"{'codes':8} {'build s':>8} {'MB':>8} {'recall@10':>10} {'p50 ms':>8} {'p99 ms':>8}")
    for codes in args.codes:
        tmp = Path(tempfile.mkdtemp(prefix="codes-", dir=args.tmp))
        try:
            idx = VectorIndex(model, dim, ann_threshold=1, nprobe=args.nprobe, codes=codes)
            idx.add(np.arange(1, args.n + 1), np.arange(args.n), vecs)
            t = time.perf_counter()
            idx.save(tmp)
            built = time.perf_counter() - t
            idx = VectorIndex.load(tmp, model, dim, ann_threshold=1, nprobe=args.nprobe)
            size = (idx.snapshot / "ivf.faiss").stat().st_size / 2**20
            # As the site asks: its candidates (search_candidates), the first 10 compared.
            recall = [
                len(set(idx.search(q, CANDIDATES)[0][:10].tolist()) & want) / 10
                for q, want in zip(qvecs, exact10, strict=True)
            ]
            times = []
            for _ in range(args.repeat):
                for q in qvecs:
                    t = time.perf_counter()
                    idx.search(q, 200)
                    times.append((time.perf_counter() - t) * 1000)
            row = {
                "build_s": built,
                "ivf_mb": size,
                "recall_at_10": statistics.mean(recall),
                "top200_p50_ms": statistics.median(times),
                "top200_p99_ms": pct(times, 99),
            }
            figures["codes"][codes] = row
            print(
                f"{codes:8} {built:8.1f} {size:8.0f} {row['recall_at_10']:10.3f} "
                f"{row['top200_p50_ms']:8.2f} {row['top200_p99_ms']:8.2f}",
                flush=True,
            )
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    write_json("ivf_codes", figures, args.json)


def cmd_fresh(args) -> None:
    """A day's new papers, stored as ``paperwire index`` stores them (papers, then their
    vectors, each committed), timed until a search process that already loaded the index
    finds every one of them by meaning and by words, without a snapshot rebuild."""
    from paperwire.core.records import PaperRecord

    store, index_dir = open_db(args.db)
    eng = engine(store, index_dir, refresh_seconds=0, keywords=args.keywords)
    vectors = eng.indexer()
    idx = vectors.index()
    print(f"loaded: {len(idx):,} vectors ({idx.kind}); delta {len(idx.delta):,}")
    model = model_key()
    with store.db.engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT p.title, p.abstract, p.categories, e.vector FROM papers p "
                "JOIN paper_embeddings e ON e.paper_seq = p.seq AND e.model = :model "
                "ORDER BY p.seq DESC LIMIT :n"
            ),
            {"model": model, "n": args.n},
        ).all()
    tag = f"fresh{int(time.time())}"
    records = [
        PaperRecord(
            id=f"{tag}.{i}",
            title=f"{row.title} {tag}",
            abstract=row.abstract,
            authors=[],
            categories=(row.categories or "").split(),
            source="bench",
            published=datetime.now(),
        )
        for i, row in enumerate(rows)
    ]
    t0 = time.perf_counter()
    store.papers.upsert(records, TRUST)
    seqs = [store.papers.seq_of(r.id) for r in records]
    store.embeddings.save(
        model, [(s, np.frombuffer(r.vector, "<f4")) for s, r in zip(seqs, rows, strict=True)]
    )
    stored = time.perf_counter() - t0
    t1 = time.perf_counter()
    idx = vectors.index()  # the periodic catch-up of a serving process
    caught = time.perf_counter() - t1
    found = sum(idx.vector(s) is not None for s in seqs)
    t3 = time.perf_counter()
    applied = eng.keyword.catch_up()  # a Tantivy index's catch-up (the database: none)
    words_caught = time.perf_counter() - t3
    if applied:
        print(f"the {args.keywords} index applied {applied:,} changes in {words_caught:.2f} s")
    t2 = time.perf_counter()
    by_words = {h.paper_id for h in eng.search(tag, limit=100, mode="keyword").hits}
    words = time.perf_counter() - t2
    first = idx.vector(seqs[0])
    assert first is not None
    near = idx.search(first, 5)[0].tolist()
    print(
        f"{len(records):,} new papers stored (papers + vectors committed) in {stored:.2f} s; "
        f"a loaded index read them in {caught * 1000:.0f} ms ({found:,} of them now have a "
        f"vector there; delta {len(idx.delta):,}); searching their words found "
        f"{len(by_words)} (of the first 100) in {words * 1000:.0f} ms; the first is its own "
        f"nearest paper: {seqs[0] in near}"
    )
    write_json(
        "search_fresh",
        {
            "papers": len(records),
            "store_s": stored,
            "catch_up_ms": caught * 1000,
            "with_vector": found,
            "keywords": args.keywords,
            "keyword_index_catch_up_ms": words_caught * 1000,
            "keyword_ms": words * 1000,
        },  # fmt: skip
        args.json,
    )


def cmd_serve(args) -> None:
    """``paperwire serve --workers N`` on the corpus, the query set through the search API
    (``repeat`` times, one client), then each worker's memory and the total."""
    import os
    import signal
    import subprocess
    import urllib.error
    import urllib.parse
    import urllib.request

    env = {**os.environ, "PAPERWIRE_SEARCH_RATE_LIMIT": "0", "PAPERWIRE_DIGEST_INTERVAL": "0"}
    env["PAPERWIRE_KEYWORD_BACKEND"] = args.keywords
    store, _ = open_db(args.db)
    cmd = [sys.executable, "-m", "paperwire", "-q", "--db", store.url, "serve"]
    cmd += ["--workers", str(args.workers), "--port", str(args.port)]
    server = subprocess.Popen(cmd, env=env, start_new_session=True)
    base = f"http://127.0.0.1:{args.port}"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(f"{base}/api/daily_papers", timeout=5).read()
                break
            except OSError:
                time.sleep(1)
        qs = queries(store)
        times, errors = [], 0
        for _ in range(args.repeat):
            for q in qs:
                params = {"q": q.text, "limit": "30"}
                f = q.filters or SearchFilters()
                for name, value in (
                    ("category", f.category),
                    ("from", f.date_from),
                    ("to", f.date_to),
                ):
                    if value:
                        params[name] = str(value)
                t = time.perf_counter()
                try:
                    url = f"{base}/api/papers/search?{urllib.parse.urlencode(params)}"
                    urllib.request.urlopen(url, timeout=60).read()
                except urllib.error.HTTPError:
                    errors += 1
                times.append((time.perf_counter() - t) * 1000)
        print(
            f"{len(times)} API searches: p50 {statistics.median(times):.1f} ms, "
            f"p99 {pct(times, 99):.1f} ms, {errors} errors"
        )
        pids = subprocess.run(
            ["pgrep", "-g", str(server.pid)], capture_output=True, text=True
        ).stdout.split()
        workers = [(pid, memory(pid)) for pid in pids if Path(f"/proc/{pid}").exists()]
        workers = [(pid, m) for pid, m in workers if m["rss_mb"] > 100]  # not the supervisor
        by_file = {pid: memory_by_file(pid) for pid, _ in workers}
        for pid, m in workers:
            print(
                f"worker {pid}: RSS {m['rss_mb']:,.0f} MB, PSS {m['pss_mb']:,.0f} MB, "
                f"anonymous {m['anonymous_mb']:,.0f} MB; RSS by what is mapped: {by_file[pid]}"
            )
        total = {k: sum(m[k] for _, m in workers) for k in ("rss_mb", "pss_mb", "anonymous_mb")}
        print(
            f"{len(workers)} workers: RSS {total['rss_mb']:,.0f} MB in all, PSS "
            f"{total['pss_mb']:,.0f} MB (what they take together), anonymous "
            f"{total['anonymous_mb']:,.0f} MB"
        )
        write_json(
            "search_serve",
            {
                "searches": len(times),
                "keywords": args.keywords,
                "p50_ms": statistics.median(times),
                "p99_ms": pct(times, 99),
                "errors": errors,
                "workers": dict(workers),
                "rss_by_file_mb": by_file,
                "total": total,
            },  # fmt: skip
            args.json,
        )
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(60)


def cmd_embed(args) -> None:
    """Bulk embedding throughput on real abstracts of the corpus (nothing is written)."""
    from paperwire.search.model import paper_text, shared_embedder

    store = Store(f"sqlite:///{args.db}")
    with store.db.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT title, abstract FROM papers ORDER BY seq LIMIT ?", (args.n,)
        ).all()
    texts = [paper_text(t, a) for t, a in rows]
    emb = shared_embedder(spin=True)
    emb.embed(texts[:20])
    t = time.perf_counter()
    emb.embed(texts)
    took = time.perf_counter() - t
    total = store.db.count("papers")
    rate = len(texts) / took
    print(
        f"{len(texts):,} abstracts in {took:.1f} s = {rate:.1f} abstracts/s (2 cores); "
        f"the whole corpus ({total:,}) would take {total / rate / 60:.1f} min"
    )
    write_json("embed", {"abstracts": len(texts), "seconds": took, "per_s": rate}, args.json)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run")
    run.add_argument("--db", required=True, help="a SQLite file, or a database URL")
    run.add_argument("--repeat", type=int, default=3)
    run.add_argument(
        "--db-baselines",
        choices=["all", "plain", "none"],
        default="all",
        help="the database's own keyword search timed beside (all), only its plain query, "
        "once a query (plain: at 3M on PostgreSQL a common word takes seconds), or not",
    )
    run.add_argument("--no-linear", action="store_true", help="skip the linear-scan baseline")
    run.add_argument(
        "--no-preload-wait",
        action="store_true",
        help="start timing while the index files are still being read ahead",
    )
    run.add_argument(
        "--no-preload",
        action="store_true",
        help="do not read the IVF file ahead at all (as before; for comparison)",
    )
    run.add_argument(
        "--window",
        type=int,
        default=SearchSettings().search_rank_window,
        help="the keyword side's ranking window (the site's default; 0: rank every match)",
    )
    run.add_argument(
        "--keywords",
        choices=("database", "tantivy"),
        default="database",
        help="the keyword backend timed (tantivy: the database's is timed beside it)",
    )
    run.add_argument("--json", help="write the figures here (default: bench/results/)")
    scale = sub.add_parser("scale")
    scale.add_argument("--source", type=Path, required=True)
    scale.add_argument("--db", required=True, help="a SQLite file, or a database URL")
    scale.add_argument("--n", type=int, default=1_000_000)
    scale.add_argument(
        "--codes", default=SearchSettings().ann_codes, help="the IVF codes (ann_codes)"
    )
    codes = sub.add_parser("codes")
    codes.add_argument("--source", type=Path, required=True)
    codes.add_argument("--n", type=int, default=1_000_000)
    codes.add_argument("--nprobe", type=int, default=SearchSettings().ann_nprobe)
    codes.add_argument("--codes", nargs="+", default=["sq8", "sq6", "sq4", "pq64"])
    codes.add_argument("--repeat", type=int, default=3)
    codes.add_argument("--tmp", help="folder for the snapshots (default: the system's)")
    codes.add_argument("--json", help="write the figures here (default: bench/results/)")
    fresh = sub.add_parser("fresh")
    fresh.add_argument("--db", required=True, help="a SQLite file, or a database URL")
    fresh.add_argument("--n", type=int, default=1000)
    fresh.add_argument("--keywords", choices=("database", "tantivy"), default="database")
    fresh.add_argument("--json", help="write the figures here (default: bench/results/)")
    serve = sub.add_parser("serve")
    serve.add_argument("--db", required=True, help="a SQLite file, or a database URL")
    serve.add_argument("--workers", type=int, default=2)
    serve.add_argument("--port", type=int, default=8765)
    serve.add_argument("--repeat", type=int, default=3)
    serve.add_argument("--keywords", choices=("database", "tantivy"), default="database")
    serve.add_argument("--json", help="write the figures here (default: bench/results/)")
    embed = sub.add_parser("embed")
    embed.add_argument("--db", type=Path, required=True)
    embed.add_argument("--n", type=int, default=3000)
    embed.add_argument("--json", help="write the figures here (default: bench/results/)")
    args = ap.parse_args()
    {
        "run": cmd_run,
        "scale": cmd_scale,
        "codes": cmd_codes,
        "fresh": cmd_fresh,
        "serve": cmd_serve,
        "embed": cmd_embed,
    }[args.cmd](args)


if __name__ == "__main__":
    main()
