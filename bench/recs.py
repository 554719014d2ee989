"""For-you ranking on recs-dev (../shared/bench/recs-dev): nDCG@10, MRR and recall@10 of the
shipped per-reader model, a centroid of embeddings and arxiv-sanity-lite's method, with timings.

    python bench/recs.py [--work /tmp/recs-bench] [--prepare-only] [--json OUT]

Loads the papers the cases name (author names blanked, as the benchmark's README asks) plus a
background sample of earlier papers into a SQLite store under ``--work``, embeds them with the
shipped model (vectors cached by text under ``--work``, so reruns are fast), then runs
``paperwire recommend --batch`` over the 1,000 cases and scores its output.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import math
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from benchkit import HERE, SHARED, TRUST, write_json

from paperwire.ingest.listing import listing_record
from paperwire.ingest.pipeline import import_records
from paperwire.rank.foryou import (
    DocumentFrequencies,
    ForYou,
    terms,
    unit_vector,
    word_similarity,
)
from paperwire.search.model import paper_text, shared_embedder
from paperwire.search.model_build import model_key
from paperwire.search.semantic import IndexVectors
from paperwire.search.vectors import limit_blas_threads
from paperwire.store import Store

DATA = SHARED / "bench/recs-dev"
CORPUS = SHARED / "data/arxiv-listings"
BACKGROUND = 0  # extra papers listed before the first case day (the model needs none)


def load_cases(data: Path) -> list[dict]:
    return [json.loads(line) for line in (data / "cases.jsonl").open()]


def read_corpus(corpus_dir: Path) -> dict[str, dict]:
    path = next(corpus_dir.glob("*.jsonl.gz"), None)
    if path is None:
        raise SystemExit(f"corpus not found in {corpus_dir}")
    out = {}
    with gzip.open(path, "rt") as f:
        for line in f:
            obj = json.loads(line)
            obj["authors"] = []  # blanked: only the text may match
            out[obj["id"]] = obj
    return out


def needed_ids(cases: list[dict], corpus: dict[str, dict]) -> list[str]:
    named = {i for c in cases for i in (*c["liked"], *c["candidates"])}
    first_day = min(c["date"] for c in cases)
    earlier = sorted(
        i
        for i, o in corpus.items()
        if i not in named and min(o.get("listing_dates") or ["9999"]) < first_day
    )
    rng = random.Random(0)
    background = rng.sample(earlier, min(BACKGROUND, len(earlier)))
    return sorted(named | set(background))


def build_store(work: Path, cases: list[dict], corpus: dict[str, dict]) -> Store:
    store = Store(f"sqlite:///{work}/recs.db")
    store.db.upgrade()
    ids = needed_ids(cases, corpus)
    if store.db.count("papers") < len(ids) * 0.99:
        t0 = time.perf_counter()
        records = (listing_record(corpus[i], i) for i in ids if i in corpus)
        report = import_records(store, TRUST, records)
        print(f"loaded {report.seen:,} papers in {time.perf_counter() - t0:.0f} s", flush=True)
    return store


def embed_store(store: Store, work: Path, cached_only: bool = False) -> None:
    """Give every paper of the store its vector, from the cache (by model and text) or the
    shipped model (``cached_only``: only those in the cache)."""
    key = model_key()
    cache_dir = work / "vectors"
    cache_dir.mkdir(exist_ok=True)
    cache: dict[str, np.ndarray] = {}
    for part in sorted(cache_dir.glob("part-*.npz")):
        with np.load(part) as z:
            cache.update(zip(z["keys"].tolist(), z["vecs"], strict=True))
    todo = store.embeddings.count_to_embed(key)
    if not todo:
        return
    print(f"{todo:,} papers to embed ({len(cache):,} vectors cached)", flush=True)
    embedder = None
    after, done, t0 = 0, 0, time.perf_counter()
    while True:
        rows = store.embeddings.to_embed(key, after_seq=after, limit=512)
        if not rows:
            break
        after = rows[-1].seq
        texts = [paper_text(r.title, r.abstract) for r in rows]
        keys = [hashlib.sha1(f"{key}\n{t}".encode()).hexdigest() for t in texts]
        miss = [i for i, k in enumerate(keys) if k not in cache]
        if miss and cached_only:
            rows = [r for r, k in zip(rows, keys, strict=True) if k in cache]
            keys = [k for k in keys if k in cache]
        elif miss:
            embedder = embedder or shared_embedder(spin=True)
            vecs = embedder.embed([texts[i] for i in miss])
            new = {keys[i]: v for i, v in zip(miss, vecs, strict=True)}
            np.savez(
                cache_dir / f"part-{time.time_ns()}.npz",
                keys=np.array(list(new)),
                vecs=np.stack(list(new.values())),
            )
            cache.update(new)
        store.embeddings.save(key, [(r.seq, cache[k]) for r, k in zip(rows, keys, strict=True)])
        done += len(rows)
        rate = done / (time.perf_counter() - t0)
        print(f"embedded {done:,}/{todo:,} ({rate:.0f}/s)", flush=True)


def metrics(ranked: list[str], relevant: list[str]) -> tuple[float, float, float]:
    """(nDCG@10 with binary relevance, reciprocal rank, recall@10) of one case."""
    rel = set(relevant)
    dcg = sum(1 / math.log2(k + 2) for k, d in enumerate(ranked[:10]) if d in rel)
    idcg = sum(1 / math.log2(k + 2) for k in range(min(10, len(rel))))
    rr = next((1 / (k + 1) for k, d in enumerate(ranked) if d in rel), 0.0)
    return dcg / idcg, rr, len(rel & set(ranked[:10])) / len(rel)


def score(cases: list[dict], rankings: list[list[str]]) -> dict[str, float]:
    m = np.array([metrics(r, c["relevant"]) for c, r in zip(cases, rankings, strict=True)])
    return {"ndcg@10": m[:, 0].mean(), "mrr": m[:, 1].mean(), "recall@10": m[:, 2].mean()}


def run_batch(work: Path, cases: list[dict]) -> tuple[list[list[str]], float]:
    """``paperwire recommend --batch`` over the cases: (rankings, wall seconds)."""
    batch = work / "batch.jsonl"
    with batch.open("w") as f:
        for c in cases:
            f.write(json.dumps({k: c[k] for k in ("user", "liked", "candidates")}) + "\n")
    env = {**os.environ, "PYTHONPATH": str(HERE.parent / "src")}
    cmd = [sys.executable, "-m", "paperwire", "--quiet", "--db", f"sqlite:///{work}/recs.db"]
    started = time.perf_counter()
    done = subprocess.run(
        [*cmd, "recommend", "--batch", str(batch)], capture_output=True, text=True, env=env
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"recommend failed ({done.returncode}): {done.stderr[-2000:]}")
    out = [json.loads(line) for line in done.stdout.splitlines()]
    assert [o["user"] for o in out] == [c["user"] for c in cases], "lines out of order"
    return [o["ranked"] for o in out], wall


def time_model(store: Store, cases: list[dict]) -> tuple[list[list[str]], list[float], list[float]]:
    """The same model in process, each case timed (database reads included), and the time
    of each day's warm-up: as the site does when new papers reach the feed, the words of a
    day's papers (every case's candidates of that date) are counted before its first
    reader ranks them."""
    limit_blas_threads()  # as the web server and the command do
    model = ForYou(store, IndexVectors(store, None))
    model.rank(cases[0]["liked"], cases[0]["candidates"])  # load the index
    day: dict[str, set[str]] = {}
    for c in cases:
        day.setdefault(c["date"], set()).update(c["candidates"])
    rankings, took, warmed = [], [], []
    for c in cases:
        if c["date"] in day:
            started = time.perf_counter()
            model.warm(sorted(day.pop(c["date"])))
            warmed.append(time.perf_counter() - started)
        started = time.perf_counter()
        ranked = model.rank(c["liked"], c["candidates"])
        took.append(time.perf_counter() - started)
        rankings.append([p.paper_id for p in ranked.picks])
    return rankings, took, warmed


def load_vectors(store: Store) -> dict[str, np.ndarray]:
    ids: dict[int, str] = {}
    vecs: dict[str, np.ndarray] = {}
    for _, seqs, rows in store.embeddings.rows_after(model_key()):
        missing = [s for s in seqs.tolist() if s not in ids]
        ids.update(store.papers.ids_of(missing))
        vecs.update((ids[s], v) for s, v in zip(seqs.tolist(), rows, strict=True))
    return vecs


def centroid(cases: list[dict], vecs: dict[str, np.ndarray]) -> list[list[str]]:
    """Cosine to the mean of the liked papers' embeddings."""
    out = []
    for c in cases:
        mean = np.mean([vecs[i] for i in c["liked"]], axis=0)
        cands = np.stack([vecs[i] for i in c["candidates"]])
        order = np.argsort(-(cands @ mean), kind="stable")
        out.append([c["candidates"][k] for k in order])
    return out


def tfidf_centroid(cases: list[dict], corpus: dict[str, dict]) -> list[list[str]]:
    """Cosine to the mean of the liked papers' tf-idf vectors (the model's words: unigrams
    and bigrams, sublinear tf, idf over the whole corpus, max_df 0.1), a calibration line:
    the README of recs-dev gives a tf-idf centroid's figures on all its cases."""
    named = sorted({i for c in cases for i in (*c["liked"], *c["candidates"])})

    def text(i: str) -> str:
        return f"{corpus[i]['title']}. {corpus[i].get('summary') or ''}"

    freq = DocumentFrequencies.of([terms(text(i)) for i in corpus])
    units = {i: unit_vector(terms(text(i)), freq) for i in named}
    out = []
    for c in cases:
        sims = word_similarity([units[i] for i in c["candidates"]], [units[i] for i in c["liked"]])
        order = np.argsort(-sims.mean(axis=1), kind="stable")
        out.append([c["candidates"][k] for k in order])
    return out


def arxiv_sanity(cases: list[dict], corpus: dict[str, dict]) -> list[list[str]] | None:
    """arxiv-sanity-lite's per-tag SVM: tf-idf over the whole corpus (its settings) and a
    LinearSVC per case, positives = liked, negatives = 10,000 papers sampled from those
    listed before the case day. None without scikit-learn."""
    try:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.svm import LinearSVC
    except ImportError:
        return None
    ids = sorted(corpus)
    texts = [f"{corpus[i]['title']}. {corpus[i].get('summary') or ''}" for i in ids]
    vectorizer = TfidfVectorizer(
        input="content",
        encoding="utf-8",
        decode_error="replace",
        strip_accents="unicode",
        lowercase=True,
        analyzer="word",
        stop_words="english",
        token_pattern=r"(?u)\b[a-zA-Z_][a-zA-Z0-9_]+\b",
        ngram_range=(1, 2),
        max_features=20000,
        norm="l2",
        use_idf=True,
        smooth_idf=True,
        sublinear_tf=True,
        max_df=0.1,
        min_df=5,
    )
    x = vectorizer.fit_transform(texts)
    row = {i: k for k, i in enumerate(ids)}
    first = {i: min(corpus[i].get("listing_dates") or ["9999"]) for i in ids}
    rng = random.Random(0)
    out = []
    for c in cases:
        liked = set(c["liked"])
        earlier = [i for i in ids if first[i] < c["date"] and i not in liked]
        negatives = rng.sample(earlier, min(10_000, len(earlier)))
        train = [row[i] for i in c["liked"]] + [row[i] for i in negatives]
        y = np.array([1] * len(c["liked"]) + [0] * len(negatives))
        svm = LinearSVC(class_weight="balanced", verbose=False, max_iter=10000, tol=1e-6, C=0.01)
        svm.fit(x[train], y)
        s = svm.decision_function(x[[row[i] for i in c["candidates"]]])
        order = np.argsort(-s, kind="stable")
        out.append([c["candidates"][k] for k in order])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/recs-bench"))
    ap.add_argument("--prepare-only", action="store_true")
    ap.add_argument(
        "--cached-only",
        action="store_true",
        help="embed nothing: score only the cases whose papers all have a cached vector",
    )
    ap.add_argument("--json", help="write the figures here (default: bench/results/)")
    args = ap.parse_args()
    if not (DATA / "cases.jsonl").exists():
        sys.exit(f"benchmark data not found: {DATA}")
    args.work.mkdir(parents=True, exist_ok=True)
    cases = load_cases(DATA)
    corpus = read_corpus(CORPUS)
    store = build_store(args.work, cases, corpus)
    embed_store(store, args.work, cached_only=args.cached_only)
    if args.prepare_only:
        return
    if args.cached_only:
        have = set(load_vectors(store))
        cases = [c for c in cases if have.issuperset([*c["liked"], *c["candidates"]])]
        print(f"{len(cases)} cases have every paper embedded: scoring those only")
    figures: dict[str, Any] = {"cases": len(cases), "papers": store.db.count("papers")}
    rankings, wall = run_batch(args.work, cases)
    figures["batch_wall_s"] = wall
    rows = {"for you (shipped)": score(cases, rankings)}
    same, took, warmed = time_model(store, cases)
    assert same == rankings, "the command and the model disagree"
    ms = np.array(took) * 1000
    figures["rank_ms"] = {"median": float(np.median(ms)), "p99": float(np.percentile(ms, 99))}
    figures["candidates_median"] = float(np.median([len(c["candidates"]) for c in cases]))
    figures["warm_day_ms"] = {"days": len(warmed), "median": float(np.median(warmed) * 1000)}
    vecs = load_vectors(store)
    rows["centroid of embeddings"] = score(cases, centroid(cases, vecs))
    rows["centroid of tf-idf vectors"] = score(cases, tfidf_centroid(cases, corpus))
    sanity = arxiv_sanity(cases, corpus)
    if sanity is None:
        print(
            "arxiv-sanity-lite: skipped, scikit-learn is not installed "
            "(recs-dev README, all 1,000 cases: nDCG@10 0.2926, MRR 0.2711, recall@10 "
            "0.4141; tf-idf centroid 0.2851)"
        )
    else:
        rows["arxiv-sanity-lite (tf-idf + LinearSVC)"] = score(cases, sanity)
    print(f"{'method':<40} {'nDCG@10':>8} {'MRR':>8} {'recall@10':>10}")
    for name, m in rows.items():
        print(f"{name:<40} {m['ndcg@10']:8.4f} {m['mrr']:8.4f} {m['recall@10']:10.4f}")
    print(
        f"ranking one case ({figures['candidates_median']:.0f} candidates, median): median "
        f"{figures['rank_ms']['median']:.1f} ms, p99 {figures['rank_ms']['p99']:.1f} ms "
        f"(database reads included; each day's words counted ahead, as the site does: "
        f"{figures['warm_day_ms']['median']:.0f} ms a day, {len(warmed)} days); "
        f"recommend --batch over {len(cases)} cases: {wall:.1f} s wall"
    )
    figures["methods"] = rows
    write_json("recs", figures, args.json)


if __name__ == "__main__":
    main()
