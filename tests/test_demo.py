"""The bundled demo: real papers, feed dates and counts as recorded, loaded quickly."""

import time
from datetime import date

from paperwire.demo import demo_items, load_demo
from paperwire.search.model import paper_text

from .storekit import TRUST, search_engine
from .test_search import embedder  # noqa: F401 - the session's embedding model


def test_demo_data_is_real_and_complete():
    items = demo_items()
    ids = [i["paper"]["id"] for i in items]
    assert len(ids) == len(set(ids)) >= 3500
    reference = [i for i in items if i.get("reference_page")]
    assert len(reference) >= 50
    vim = next(i for i in items if i["paper"]["id"] == "2401.09417")
    assert vim["upvotes"] == 3 and vim["paper"]["code_url"] == "https://github.com/hustvl/Vim"
    on_feed = [i for i in items if i["feed_date"]]
    assert min(i["feed_date"] for i in on_feed) >= "2025-12-01"


def test_load_demo(store):
    started = time.perf_counter()
    summary = load_demo(store, TRUST)
    elapsed = time.perf_counter() - started
    assert "papers loaded" in summary
    stats = store.db.stats()
    assert stats["papers"] >= 3500 and stats["feed_entries"] >= 3500
    assert stats["with_code"] > 1500 and stats["organizations"] == 2
    first, last = store.feed.span()
    assert first >= date(2025, 12, 1) and last <= date(2026, 8, 31)
    assert [p for p, _ in store.search.keyword_search("VideoLLM-MoD mixture of depths")][
        0
    ] == "2408.16730"
    p = store.papers.get("2512.02924")  # AutoNeural, a reference-page card with an organization
    assert p.organization_id is not None and p.upvotes == 2
    assert elapsed < 30
    again = load_demo(store, TRUST)
    assert again.startswith("0 papers loaded")


def test_demo_searches_by_meaning_at_once(store, embedder):  # noqa: F811
    """The bundled vectors load with the demo: no `paperwire index` needed."""
    summary = load_demo(store, TRUST)
    assert "with embeddings" in summary
    engine = search_engine(store, embedder=embedder)
    assert store.embeddings.count_to_embed(engine.model) == 0
    hits = engine.search("language models that skip layers for some video tokens", mode="semantic")
    assert "2408.16730" in [h.paper_id for h in hits.hits[:5]]
    # The bundled vectors are the ones this model gives (float16 rounding aside).
    vec = store.embeddings.of(engine.model, "2408.16730")
    text = store.papers.get("2408.16730")
    again = embedder.embed_query(paper_text(text.title, text.abstract))
    assert float(vec @ again) > 0.99
