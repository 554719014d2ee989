"""Relevance on SciFact-dev (../shared/bench/scifact-dev): nDCG@10 of keyword-only,
semantic-only and hybrid search, with the shipped model, through the real store and engine.

    python bench/relevance.py [--db /tmp/scifact.db] [--pg URL] [--grid] [--json OUT]

Builds (once) a store holding the 5,183 SciFact abstracts as papers and embeds them, then
runs every judged query. ``--grid`` also sweeps the fusion parameters (RRF k and the two list
weights) and prints the best; the shipped defaults are what the engine uses without it.
Tuning and scoring on the same dev queries flatters the tuned figure, so the untuned default
(k=60, equal weights) is printed too.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

from benchkit import SHARED, TRUST, engine, write_json

from paperwire.core.records import PaperRecord
from paperwire.search import SearchEngine
from paperwire.search.fusion import rrf
from paperwire.store import Store

DATA = SHARED / "bench/scifact-dev"


def load(data: Path):
    corpus = [json.loads(line) for line in (data / "corpus.jsonl").open()]
    queries = {q["_id"]: q["text"] for q in map(json.loads, (data / "queries.jsonl").open())}
    qrels: dict[str, dict[str, int]] = {}
    with (data / "qrels.tsv").open() as f:
        next(f)
        for line in f:
            qid, did, score = line.rstrip("\n").split("\t")
            qrels.setdefault(qid, {})[did] = int(score)
    return corpus, {q: queries[q] for q in qrels if q in queries}, qrels


def ndcg10(ranked: list[str], rel: dict[str, int]) -> float:
    dcg = sum(rel.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:10]))
    ideal = sorted(rel.values(), reverse=True)[:10]
    idcg = sum(r / math.log2(i + 2) for i, r in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def build(store: Store, corpus: list[dict]) -> None:
    if store.db.count("papers") >= len(corpus):
        return
    records = [
        PaperRecord(
            id=f"scifact-{d['_id']}",
            title=d["title"] or "(untitled)",
            abstract=d["text"],
            source="bench",
        )
        for d in corpus
    ]
    for i in range(0, len(records), 1000):
        store.papers.upsert(records[i : i + 1000], TRUST)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", default="/tmp/paperwire-scifact.db")
    ap.add_argument("--pg", help="also run on this PostgreSQL URL (a scratch database)")
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--grid", action="store_true", help="sweep fusion parameters")
    ap.add_argument("--json", help="write the figures here (default: bench/results/)")
    ap.add_argument("--keywords", choices=("database", "tantivy"), default="database")
    args = ap.parse_args()
    if not (args.data / "corpus.jsonl").is_file():
        sys.exit(f"no SciFact data at {args.data}")
    corpus, queries, qrels = load(args.data)
    urls = [f"sqlite:///{args.db}"] + ([args.pg] if args.pg else [])
    figures: dict[str, Any] = {}
    for url in urls:
        store = Store(url)
        store.db.upgrade()
        build(store, corpus)
        eng = engine(store, keywords=args.keywords)
        t = time.perf_counter()
        n = eng.indexer().embed_missing()
        if n:
            took = time.perf_counter() - t
            print(f"embedded {n} abstracts in {took:.1f} s = {n / took:.1f}/s")
        figures[store.dialect] = run(
            eng, store, queries, qrels, grid=args.grid, label=store.dialect
        )
    write_json("relevance", figures, args.json)


def run(
    engine: SearchEngine, store: Store, queries, qrels, grid: bool, label: str
) -> dict[str, Any]:
    def ranked(hits) -> list[str]:
        return [h.paper_id.removeprefix("scifact-") for h in hits]

    scores: dict[str, list[float]] = {"keyword": [], "semantic": [], "hybrid": []}
    lists: dict[str, tuple[list[int], list[int]]] = {}
    latency = []
    for qid, text in queries.items():
        for mode in ("keyword", "semantic"):
            res = engine.search(text, mode=mode, limit=200)
            scores[mode].append(ndcg10(ranked(res.hits), qrels[qid]))
        t = time.perf_counter()
        res = engine.search(text, mode="hybrid", limit=10)
        latency.append(time.perf_counter() - t)
        scores["hybrid"].append(ndcg10(ranked(res.hits), qrels[qid]))
        if grid:
            kw = engine.search(text, mode="keyword", limit=200)
            sem = engine.search(text, mode="semantic", limit=200)
            lists[qid] = ([h.seq for h in kw.hits], [h.seq for h in sem.hits])
    latency.sort()
    print(
        f"[{label}] {len(queries)} queries, {store.db.count('papers')} abstracts, "
        f"hybrid median {latency[len(latency) // 2] * 1000:.1f} ms"
    )
    out: dict[str, Any] = {
        "queries": len(queries),
        "hybrid_median_ms": latency[len(latency) // 2] * 1000,
    }
    for mode, vals in scores.items():
        print(f"  {mode:<9} nDCG@10 = {sum(vals) / len(vals):.4f}")
        out[f"ndcg10_{mode}"] = sum(vals) / len(vals)
    if grid:
        every = {s for kw, sem in lists.values() for s in kw + sem}
        ids = {s: i.removeprefix("scifact-") for s, i in store.papers.ids_of(list(every)).items()}
        results = []
        for k in (5, 10, 20, 30, 60, 100):
            for w_kw in (0.3, 0.5, 0.7, 1.0):
                vals = []
                for qid, (kw, sem) in lists.items():
                    fused = rrf([(kw, w_kw), (sem, 1.0)], k)
                    top = sorted(fused, key=lambda s: -fused[s])[:10]
                    vals.append(ndcg10([ids[s] for s in top], qrels[qid]))
                results.append((sum(vals) / len(vals), k, w_kw))
        results.sort(reverse=True)
        default = next(r for r in results if r[1] == 60 and r[2] == 1.0)
        print(f"  RRF default k=60 equal weights: {default[0]:.4f}")
        for score, k, w in results[:5]:
            print(f"  RRF k={k:<4} keyword weight {w:<4} (semantic 1.0): {score:.4f}")
        out["grid_best"] = {
            "ndcg10": results[0][0],
            "k": results[0][1],
            "keyword_weight": results[0][2],
        }
    return out


if __name__ == "__main__":
    main()
