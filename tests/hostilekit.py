"""Hostile searches and a corpus of the size they were measured on: the 74.7k real papers of
../shared when present, else as many papers made from the bundled demo papers' text (so that
CI, without ../shared, runs the same test). Papers are written straight into the papers
table (the full-text index fills itself through its triggers, merged once at the end), and
the file is kept in the temporary directory for the next runs, named by what it holds."""

from __future__ import annotations

import gzip
import hashlib
import json
import random
import re
import shutil
import sqlite3
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from paperwire.store import Store

from .conftest import SHARED

LISTINGS = SHARED / "data" / "arxiv-listings"
DEMO = Path(__file__).resolve().parents[1] / "src" / "paperwire" / "demo" / "data"
CORPUS_SIZE = 74728
COLUMNS = "id, title, abstract, authors, num_authors, categories, primary_category, published"
CACHE = Path(tempfile.gettempdir()) / "paperwire-test-corpus"


def real_listing() -> Path | None:
    found = sorted(LISTINGS.glob("*.jsonl.gz")) if LISTINGS.is_dir() else []
    return found[0] if found else None


def _demo_papers() -> list[dict]:
    with gzip.open(DEMO / "demo-papers.jsonl.gz", "rt") as fh:
        return [json.loads(line)["paper"] for line in fh]


def _real_rows(path: Path) -> Iterator[tuple]:
    with gzip.open(path, "rt") as fh:
        for line in fh:
            p = json.loads(line)
            cats = p.get("categories") or []
            yield (p["id"], p["title"], " ".join(p.get("summary", "").split()),
                   json.dumps(p.get("authors") or []), len(p.get("authors") or []),
                   " ".join(cats), cats[0] if cats else None, "2025-06-01 00:00:00")  # fmt: skip


def _synthetic_rows(n: int) -> Iterator[tuple]:
    """``n`` papers from the demo papers: each one's sentences shuffled, with another's
    authors, so words and names keep their real frequencies, scaled up."""
    demo = _demo_papers()
    rng = random.Random(13)
    for i in range(n):
        p, other = demo[i % len(demo)], demo[rng.randrange(len(demo))]
        sentences = re.split(r"(?<=[.!?])\s+", p["abstract"])
        rng.shuffle(sentences)
        cats = p.get("categories") or ["cs.LG"]
        yield (f"9{i // 100000:03d}.{i % 100000:05d}", p["title"], " ".join(sentences),
               json.dumps(other["authors"]), len(other["authors"]), " ".join(cats), cats[0],
               f"2025-{1 + i % 12:02d}-{1 + i % 28:02d} 00:00:00")  # fmt: skip


def build_corpus(path: Path) -> tuple[Store, str]:
    """A SQLite store of CORPUS_SIZE papers at ``path`` (a copy of the cached one), and
    where its papers came from."""
    listing = real_listing()
    origin = "../shared arxiv-listings" if listing else "demo papers, scaled"
    cached = _cached_corpus(listing)
    shutil.copyfile(cached, path)
    return Store(f"sqlite:///{path}"), origin


def _cached_corpus(listing: Path | None) -> Path:
    source = listing or DEMO / "demo-papers.jsonl.gz"
    schema = sorted(p.name for p in (DEMO.parent.parent / "store" / "migrations").rglob("*.py"))
    key = hashlib.sha256(
        f"{source}:{source.stat().st_size}:{CORPUS_SIZE}:{schema}".encode()
    ).hexdigest()[:16]
    path = CACHE / f"corpus-{key}.db"
    if path.exists():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    part = path.with_suffix(f".{random.randrange(10**9)}.part")
    store = Store(f"sqlite:///{part}")
    store.db.upgrade()
    store.close()
    conn = sqlite3.connect(part)
    for pragma in ("journal_mode=DELETE", "synchronous=OFF", "cache_size=-200000"):
        conn.execute(f"PRAGMA {pragma}")
    with conn:  # merge the index's segments once at the end, not while inserting
        conn.execute("INSERT INTO papers_fts(papers_fts, rank) VALUES('automerge', 0)")
        conn.executemany(
            f"INSERT OR IGNORE INTO papers ({COLUMNS}, source, created_at, modified_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'bench', datetime('now'), datetime('now'))",
            _real_rows(listing) if listing else _synthetic_rows(CORPUS_SIZE),
        )
        conn.execute("INSERT INTO papers_fts(papers_fts) VALUES('optimize')")
        conn.execute("INSERT INTO papers_fts(papers_fts, rank) VALUES('automerge', 4)")
    conn.close()
    part.rename(path)
    return path


def common_words(n: int = 1450) -> list[str]:
    """The ``n`` most frequent words of the demo papers' titles and abstracts."""
    counts: Counter[str] = Counter()
    for p in _demo_papers():
        counts.update(re.findall(r"[a-z]{2,}", f"{p['title']} {p['abstract']}".lower()))
    return [w for w, _ in counts.most_common(n)]


def _upto(parts: Iterator[str] | list[str], sep: str, limit: int = 10000) -> str:
    out = ""
    for part in parts:
        nxt = f"{out}{sep}{part}" if out else part
        if len(nxt) > limit:
            break
        out = nxt
    return out


def hostile_queries() -> dict[str, str]:
    """The queries of issue 13, each up to 10,000 characters."""
    words = common_words()
    names = [a for p in _demo_papers()[:300] for a in p["authors"]]
    pairs = [f'"{a} {b}"' for a, b in zip(words[::2], words[1::2], strict=False)]
    return {
        "or-chain": _upto(words * 8, " OR "),
        "phrases": _upto(pairs * 4, " "),
        "exclusions": "model " + _upto((f"-{w}" for w in words), " ", 9990),
        "authors": _upto((f'author:"{a}"' for a in names), " "),
        "mixed": _upto(
            (x for i, w in enumerate(words) for x in (w, pairs[i % len(pairs)], f"-{w}x")), " OR "
        ),
    }


def hostile_requests() -> list[tuple[str, str, dict[str, object]]]:
    """(name, path, params): every hostile query on the API, the page and the Atom feed,
    then deep pages and huge limits."""
    out: list[tuple[str, str, dict[str, object]]] = []
    for name, q in hostile_queries().items():
        out.append((f"api {name}", "/api/papers/search", {"q": q}))
        out.append((f"page {name}", "/papers", {"q": q}))
        out.append((f"atom {name}", "/feeds/search.atom", {"q": q}))
    out += [
        ("api author filter", "/api/papers/search", {"q": "learning", "author": "Wei Wang"}),
        ("page author only", "/papers", {"author": "Wei Wang"}),
        ("api deep page", "/api/papers/search", {"q": "learning model", "p": 10000}),
        ("api deep page, no query", "/api/papers/search", {"p": 10000, "limit": 120}),
        ("page deep page", "/papers", {"q": "learning model", "p": 100000}),
        ("api huge limit", "/api/papers/search", {"q": "learning", "limit": 10**9}),
        ("api top limit", "/api/papers/search", {"q": "learning model data", "limit": 120}),
    ]
    return out
