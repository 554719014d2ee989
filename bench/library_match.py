"""Importing a library on a real corpus: 5,000 BibTeX entries made from the arXiv listings
(2,000 in arXiv's export shape with ids, 2,000 by title only, 500 unknown titles that hold
every word of a real one, 500 unknown ids), parsed and matched; every match is checked.

    paperwire --db sqlite:////data/corpus.db ingest listing ../shared/data/arxiv-listings/*.gz
    python bench/library_match.py --db sqlite:////data/corpus.db
    python bench/library_match.py --db postgresql+psycopg://postgres@127.0.0.1:5432/corpus
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import sys
import time

import benchkit

from paperwire.ingest.library import MAX_ENTRIES, parse
from paperwire.ingest.library_match import match, normalize_title
from paperwire.store import Store

LISTINGS = benchkit.SHARED / "data" / "arxiv-listings"


def library(rows: list[dict]) -> tuple[bytes, dict[str, str]]:
    """The BibTeX text and, per entry key, the paper it names ("" for none)."""
    out, want = [], {}
    for i, r in enumerate(rows[:MAX_ENTRIES]):
        authors = " and ".join(r["authors"][:8])
        key = f"k{i}"
        if i < 2000:
            out.append(
                f"@misc{{{key},\n  title={{{r['title']}}},\n  author={{{authors}}},\n"
                f"  year={{2025}},\n  eprint={{{r['id']}}},\n  archivePrefix={{arXiv}},\n}}\n"
            )
            want[key] = r["id"]
        elif i < 4000:
            out.append(
                f"@inproceedings{{{key},\n  title={{{r['title']}}},\n  author={{{authors}}},\n"
                "  booktitle={Proceedings},\n}\n"
            )
            want[key] = r["id"]
        elif i < 4500:
            title = f"A study of {r['title'].lower()} revisited"
            out.append(f"@article{{{key},\n  title={{{title}}},\n  doi={{10.5555/x{i}}}\n}}\n")
            want[key] = ""
        else:
            out.append(f"@misc{{{key},\n  title={{Else {i}}},\n  eprint={{1901.{10000 + i}}}\n}}\n")
            want[key] = ""
    return "".join(out).encode(), want


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", required=True, help="SQLAlchemy URL of a store holding the listings")
    ap.add_argument("--json", help="write the figures here (default: bench/results/)")
    args = ap.parse_args()
    rows = []
    for path in sorted(LISTINGS.glob("*.jsonl.gz")):
        with gzip.open(path, "rt") as fh:
            rows.extend(json.loads(line) for line in fh)
    random.Random(15).shuffle(rows)
    data, want = library(rows)
    t = time.perf_counter()
    lib = parse(data)
    parse_s = time.perf_counter() - t
    keys = [f"k{i}" for i in range(len(lib.entries))]  # entries come in file order
    store = Store(args.db)
    t = time.perf_counter()
    result = match(store, lib.entries)
    match_s = time.perf_counter() - t
    key_of = {id(e): k for e, k in zip(lib.entries, keys, strict=True)}
    titles = store.papers.titles
    hows: dict[str, int] = {}
    wrong = 0
    for m in result.matched:
        hows[m.how] = hows.get(m.how, 0) + 1
        intended = want[key_of[id(m.entry)]]
        if m.paper_id != intended:
            # Another paper of the very same title is a right answer too.
            seq = store.papers.seq_of(m.paper_id)
            same = seq is not None and normalize_title(titles([seq])[seq][1]) == normalize_title(
                m.entry.title
            )
            wrong += not (intended and same)
    missed = sum(1 for e in result.unknown if want[key_of[id(e)]])
    print(f"{len(data) / 1e6:.2f} MB, {len(lib.entries)} entries ({store.dialect})")
    print(f"parse: {parse_s * 1000:.0f} ms")
    print(f"match: {match_s * 1000:.0f} ms ({match_s / len(lib.entries) * 1000:.2f} ms/entry)")
    print(f"matched {hows}, unknown {len(result.unknown)}, missed {missed}, wrong {wrong}")
    figures = {
        "backend": store.dialect,
        "entries": len(lib.entries),
        "parse_ms": round(parse_s * 1000),
        "match_ms": round(match_s * 1000),
        "matched": hows,
        "unknown": len(result.unknown),
        "missed": missed,
        "wrong": wrong,
    }
    benchkit.write_json("library_match", figures, args.json)
    return 1 if missed or wrong else 0


if __name__ == "__main__":
    sys.exit(main())
