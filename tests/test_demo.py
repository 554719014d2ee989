"""The bundled demo: real papers, feed dates and counts as recorded, loaded quickly."""

import time
from datetime import date

from paperwire.demo import demo_items, load_demo


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
    summary = load_demo(store)
    elapsed = time.perf_counter() - started
    assert "papers loaded" in summary
    stats = store.stats()
    assert stats["papers"] >= 3500 and stats["feed_entries"] >= 3500
    assert stats["with_code"] > 1500 and stats["organizations"] == 2
    first, last = store.feed_dates()
    assert first >= date(2025, 12, 1) and last <= date(2026, 8, 31)
    assert [p for p, _ in store.keyword_search("VideoLLM-MoD mixture of depths")][0] == "2408.16730"
    p = store.get_paper("2512.02924")  # AutoNeural, a reference-page card with an organization
    assert p["organization_id"] is not None and p["upvotes"] == 2
    assert elapsed < 30
    again = load_demo(store)
    assert again.startswith("0 papers loaded")
