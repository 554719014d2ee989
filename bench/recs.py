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
import random
import sys
import time
from pathlib import Path

import numpy as np
from benchkit import SHARED, TRUST

from paperwire.ingest.listing import listing_record
from paperwire.ingest.pipeline import import_records
from paperwire.search.model import paper_text, shared_embedder
from paperwire.search.model_build import model_key
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


def embed_store(store: Store, work: Path) -> None:
    """Give every paper of the store its vector, from the cache (by model and text) or the
    shipped model."""
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
        if miss:
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/recs-bench"))
    ap.add_argument("--prepare-only", action="store_true")
    ap.add_argument("--json", help="write the figures here (default: bench/results/)")
    args = ap.parse_args()
    if not (DATA / "cases.jsonl").exists():
        sys.exit(f"benchmark data not found: {DATA}")
    args.work.mkdir(parents=True, exist_ok=True)
    cases = load_cases(DATA)
    corpus = read_corpus(CORPUS)
    store = build_store(args.work, cases, corpus)
    embed_store(store, args.work)
    if args.prepare_only:
        return


if __name__ == "__main__":
    main()
