"""The bundled demo: real, complete papers (see data/NOTICE) loaded into a fresh SQLite file.
Its papers are stored as coming from the ``demo`` source (the least trusted: any real source
overrides them)."""

from __future__ import annotations

import gzip
import json
from collections.abc import Mapping
from datetime import date, datetime
from importlib import resources
from typing import Any

from ..core.errors import BadRecord
from ..core.hooks import hookimpl
from ..core.records import FeedItem, PaperRecord, Popularity
from ..ingest.github import canonical_repo
from ..ingest.sources import Register, Source
from ..store import Store

NAME = "demo"


@hookimpl
def register_sources(register: Register) -> None:
    register(Source(NAME, trust=1, description="The bundled demo papers (`paperwire demo`)."))


def demo_items() -> list[dict[str, Any]]:
    data = resources.files(__package__).joinpath("data/demo-papers.jsonl.gz")
    with data.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def paper_record(p: dict[str, Any]) -> PaperRecord:
    """A bundled paper as the record the loader stores."""
    published = datetime.fromisoformat(p["published"]) if p.get("published") else None
    return PaperRecord(
        id=p["id"],
        title=p["title"],
        abstract=p.get("abstract") or "",
        authors=p.get("authors") or [],
        num_authors=p.get("num_authors"),
        categories=p.get("categories") or [],
        published=published,
        comment=p.get("comment"),
        github_repo=canonical_repo(p["code_url"]) if p.get("code_url") else None,
        github_stars=p.get("github_stars"),
        source=NAME,
    ).validated(p["id"])


def load_embeddings(store: Store) -> int:
    """Store the bundled vectors of the demo papers (made by tools/build_demo_embeddings.py)
    when they were made with the model in use; returns how many were stored."""
    import numpy as np

    from ..search.model_build import model_key

    data = resources.files(__package__).joinpath("data/demo-embeddings.npz")
    if not data.is_file():
        return 0
    with data.open("rb") as fh, np.load(fh) as npz:
        if str(npz["model"]) != model_key():
            return 0
        ids = [str(i) for i in npz["ids"]]
        vectors = npz["vectors"].astype(np.float32)
    seqs = {pid: store.papers.seq_of(pid) for pid in ids}
    rows = [(seq, vec) for pid, vec in zip(ids, vectors, strict=True) if (seq := seqs[pid])]
    return store.embeddings.save(model_key(), rows)


def load_demo(store: Store, trust: Mapping[str, int], embeddings: bool = True) -> str:
    """Load the demo into ``store`` (idempotent); return a one-line summary. ``trust``: the
    registered sources' (the demo's own included)."""
    items = demo_items()
    feed, others, bad = [], [], []
    for item in items:
        try:
            rec = paper_record(item["paper"])
        except BadRecord as exc:
            bad.append(str(exc))
            continue
        if item.get("feed_date"):
            day = date.fromisoformat(item["feed_date"])
            feed.append(
                FeedItem(
                    paper=rec,
                    feed_date=day,
                    submitted_at=datetime.combine(day, datetime.min.time()),
                    upvotes=item.get("upvotes") or 0,
                    organization=(item.get("organization") or [None, None])[0],
                    organization_fullname=(item.get("organization") or [None, None])[1],
                )
            )
        else:
            others.append((rec, item))
    with store.begin() as conn:
        counts, added = store.feed.import_items(feed, trust, conn)
        more = store.papers.upsert([r for r, _ in others], trust, conn)
        store.papers.set_popularity(
            conn,
            [
                Popularity(
                    r.id, i.get("upvotes") or 0, *(i.get("organization") or [None, None])[:2]
                )
                for r, i in others
            ],
        )
    papers = counts.inserted + more.inserted
    summary = f"{papers} papers loaded, {added} on the daily feed, {len(others)} off the feed"
    if embeddings:
        summary += f", {load_embeddings(store)} with embeddings"
    return summary + (f", {len(bad)} unusable records skipped" if bad else "")
