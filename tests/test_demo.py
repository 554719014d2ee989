"""The bundled demo: real papers, feed dates and counts as recorded, loaded quickly."""

from datetime import date

import sqlalchemy as sa

from paperwire.core.abstracts import abstract_flaw, abstract_quality
from paperwire.demo import demo_items, load_demo
from paperwire.demo import paper_record as demo_record
from paperwire.search.model import paper_text
from paperwire.store import schema as t

from .storekit import TRUST, search_engine
from .test_search import embedder  # noqa: F401 - the session's embedding model


def test_demo_data_is_real_and_complete():
    items = demo_items()
    ids = [i["paper"]["id"] for i in items]
    assert len(ids) == len(set(ids)) >= 3500
    reference = [i for i in items if i.get("reference_page") or i.get("upvotes") is not None]
    assert len(reference) >= 15
    lsnet = next(i for i in items if i["paper"]["id"] == "2503.23135")
    assert (
        lsnet["upvotes"] == 3 and lsnet["paper"]["code_url"] == "https://github.com/jameslahm/lsnet"
    )
    on_feed = [i for i in items if i["feed_date"]]
    assert len(on_feed) >= 1900
    # Feed days lie where the arXiv listings (the papers' text) reach.
    assert "2025-12-01" <= min(i["feed_date"] for i in on_feed)
    assert max(i["feed_date"] for i in on_feed) <= "2026-07-01"


def test_every_demo_paper_is_complete():
    """Title, an abstract that passes the ingestion rule, authors, date and categories: as
    bundled, and as the loader makes records of them."""
    incomplete = []
    for item in demo_items():
        p = item["paper"]
        rec = demo_record(p)
        if not (
            p["title"]
            and rec.abstract == p["abstract"]
            and abstract_flaw(p["abstract"], p["title"]) is None
            and abstract_quality(rec.abstract, rec.title) > 0
            and rec.authors
            and rec.num_authors >= len(rec.authors)
            and rec.published
            and rec.categories
        ):
            incomplete.append(p["id"])
    assert incomplete == []


def test_load_demo(store):
    summary = load_demo(store, TRUST)
    assert "papers loaded" in summary
    stats = store.db.stats()
    assert stats["papers"] >= 3500 and stats["feed_entries"] >= 1900
    assert stats["with_code"] > 1000 and stats["organizations"] == 2
    first, last = store.feed.span()
    assert first >= date(2025, 12, 1) and last <= date(2026, 7, 1)
    assert [p for p, _ in store.search.keyword_search("LSNet see large focus small")][
        0
    ] == "2503.23135"
    p = store.papers.get("2512.02924")  # AutoNeural, a reference-page card with an organization
    assert p.organization_id is not None and p.upvotes == 2
    again = load_demo(store, TRUST)
    assert again.startswith("0 papers loaded")


def test_loaded_demo_holds_only_complete_papers(store):
    load_demo(store, TRUST, embeddings=False)
    P = t.papers
    with store.db.engine.connect() as conn:
        papers = conn.execute(sa.select(sa.func.count()).select_from(P)).scalar_one()
        incomplete = conn.execute(
            sa.select(P.c.id).where(
                sa.or_(
                    P.c.abstract == "",
                    P.c.num_authors < 1,
                    P.c.published.is_(None),
                    P.c.categories == "",
                )
            )
        ).all()
    assert papers >= 3500 and incomplete == []
    for query in ("librarian bot", '"automated message"'):
        assert store.search.keyword_search(query) == [], query


def test_demo_searches_by_meaning_at_once(store, embedder):  # noqa: F811
    """The bundled vectors load with the demo: no `paperwire index` needed."""
    summary = load_demo(store, TRUST)
    assert "with embeddings" in summary
    engine = search_engine(store, embedder=embedder)
    assert store.embeddings.count_to_embed(engine.model) == 0
    query = "vision language model designed for integer-only NPU chips"
    hits = engine.search(query, mode="semantic")
    assert "2512.02924" in [h.paper_id for h in hits.hits[:5]]
    # The bundled vectors are the ones this model gives (float16 rounding aside).
    vec = store.embeddings.of(engine.model, "2512.02924")
    text = store.papers.get("2512.02924")
    again = embedder.embed_query(paper_text(text.title, text.abstract))
    assert float(vec @ again) > 0.99
