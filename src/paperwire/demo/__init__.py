"""The bundled demo: real papers (see data/NOTICE) loaded into a fresh SQLite file."""

from __future__ import annotations

import gzip
import json
from datetime import date, datetime
from importlib import resources

from ..ingest.github import canonical_repo
from ..ingest.records import BadRecord, FeedItem, PaperRecord
from ..store import Store


def demo_items() -> list[dict]:
    data = resources.files(__package__).joinpath("data/demo-papers.jsonl.gz")
    with data.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def _record(p: dict) -> PaperRecord:
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
        source="demo",
    ).validated(p["id"])


def load_embeddings(store: Store) -> int:
    """Store the bundled vectors of the demo papers (made by tools/build_demo_embeddings.py)
    when they were made with the model in use; returns how many were stored."""
    import numpy as np

    from ..search.model import model_key

    data = resources.files(__package__).joinpath("data/demo-embeddings.npz")
    if not data.is_file():
        return 0
    with data.open("rb") as fh, np.load(fh) as npz:
        if str(npz["model"]) != model_key():
            return 0
        ids = [str(i) for i in npz["ids"]]
        vectors = npz["vectors"].astype(np.float32)
    seqs = {pid: store.seq_of(pid) for pid in ids}
    rows = [(seqs[pid], vec) for pid, vec in zip(ids, vectors, strict=True) if seqs[pid]]
    return store.save_embeddings(model_key(), rows)


def load_demo(store: Store, embeddings: bool = True) -> str:
    """Load the demo into ``store`` (idempotent); return a one-line summary."""
    items = demo_items()
    feed, others, bad = [], [], []
    for item in items:
        try:
            rec = _record(item["paper"])
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
        counts, added = store.import_feed(feed, conn)
        more = store.upsert_papers([r for r, _ in others], conn)
        store.set_popularity(
            conn,
            [
                (r.id, i.get("upvotes") or 0, *((i.get("organization") or [None, None])[:2]), None)
                for r, i in others
            ],
        )
    papers = counts.inserted + more.inserted
    summary = (
        f"{papers} papers loaded, {added} on the daily feed, "
        f"{len(others)} others from the reference page"
    )
    if embeddings:
        summary += f", {load_embeddings(store)} with embeddings"
    return summary + (f", {len(bad)} unusable records skipped" if bad else "")
