"""Import throughput: the 74,728-paper arXiv listing file into a fresh store, end to end
(gzip + JSON parsing, validation, upsert, full-text index), then the same import again.

    python bench/ingest_listings.py                      # SQLite
    python bench/ingest_listings.py --pg postgresql+psycopg://postgres@127.0.0.1/postgres
                                    [--json OUT]

Prints papers/s for the first run, the rows the second run added (must be 0) and its speed.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from benchkit import SHARED, TRUST, write_json

from paperwire.ingest.listing import listing_record
from paperwire.ingest.pipeline import import_jsonl
from paperwire.store import Store

DEFAULT = SHARED / "data/arxiv-listings"


def run(store: Store, corpus: Path, label: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for attempt in ("first", "second"):
        before = store.db.count("papers")
        started = time.perf_counter()
        report = import_jsonl(store, TRUST, corpus, listing_record)
        elapsed = time.perf_counter() - started
        added = store.db.count("papers") - before
        print(
            f"{label:<10} {attempt:<6} run: {report.seen:,} records in {elapsed:6.1f} s = "
            f"{report.seen / elapsed:7,.0f} papers/s | new rows {added:,} | "
            f"updated {report.updated:,} | skipped {len(report.skipped)}"
        )
        out[attempt] = {
            "papers": report.seen,
            "seconds": elapsed,
            "papers_per_s": report.seen / elapsed,
            "new_rows": added,
        }
    assert store.search.check(), "full-text index out of sync"
    hits = store.search.keyword_search("gaussian splatting sensor simulation", 3)
    print(f"{label:<10} keyword index in sync; sample search -> {[h[0] for h in hits]}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=None)
    ap.add_argument("--pg", metavar="ADMIN_URL", help="Also run against PostgreSQL.")
    ap.add_argument("--json", help="write the figures here (default: bench/results/)")
    args = ap.parse_args()
    figures: dict[str, Any] = {}
    corpus = args.corpus or next(DEFAULT.glob("*.jsonl.gz"), None)
    if corpus is None or not corpus.exists():
        raise SystemExit(f"corpus not found (looked in {DEFAULT}); pass --corpus")
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(f"sqlite:///{tmp}/bench.db")
        store.db.upgrade()
        figures["sqlite"] = run(store, corpus, "sqlite")
        size = Path(f"{tmp}/bench.db").stat().st_size
        figures["sqlite"]["size_mb"] = size / 1e6
        print(f"sqlite     database size {size / 1e6:,.0f} MB")
        store.close()
    if args.pg:
        name = f"paperwire_bench_{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(args.pg, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        try:
            url = sa.engine.make_url(args.pg).set(database=name)
            store = Store(url.render_as_string(hide_password=False))
            store.db.upgrade()
            figures["postgresql"] = run(store, corpus, "postgresql")
            store.close()
        finally:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
    write_json("ingest_listings", figures, args.json)


if __name__ == "__main__":
    main()
