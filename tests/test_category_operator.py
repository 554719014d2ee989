"""``category:cs.CV`` (or ``cat:cs``) in a query is a filter, as ``author:"…"`` is: search
applies it like the Category field, and a topic alert made from a filtered search keeps it,
on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlparse

import pytest

from paperwire.core.query import SearchFilters, parse
from paperwire.core.records import PaperRecord

from .storekit import TRUST, search_engine, trending_ranker
from .webkit import Visitor, make_config, site


def rec(pid: str, category: str, day: int) -> PaperRecord:
    return PaperRecord(
        id=pid,
        title=f"Sparse attention, paper {pid}",
        abstract="We study sparse attention for long documents.",
        authors=["Ada Lovelace"],
        published=datetime(2026, 3, day),
        categories=[category, "stat.ML"],
        primary_category=category,
        source="arxiv-api",
    )


PAPERS = [rec("2603.10001", "cs.CV", 1), rec("2603.10002", "cs.LG", 2),
          rec("2603.10003", "math.ST", 3), rec("2603.10004", "cs.CV", 4)]  # fmt: skip
CV = {"2603.10001", "2603.10004"}


@pytest.fixture
def papers(store):
    store.papers.upsert(PAPERS, TRUST)
    return store


def test_the_operator_parses_as_a_filter():
    p = parse("sparse category:cs.CV attention")
    assert p.category == "cs.CV" and p.terms() == ["sparse", "attention"]
    assert parse("CAT:cs").category == "cs" and parse("cat:cs").empty
    assert parse("category:cs.CV cat:cs.LG").category == "cs.CV"  # the first one typed
    # not a filter: nothing or a space after the colon, odd characters
    for text in ("category:", "category: cs", "category:cs.CV.x", "category:c$"):
        assert parse(text).category is None, text


def test_search_applies_it_like_the_field(papers):
    engine = search_engine(papers, semantic=False)
    by_field = engine.search("sparse", SearchFilters(category="cs.CV"))
    by_word = engine.search("sparse category:cs.CV")
    assert {h.paper_id for h in by_word.hits} == {h.paper_id for h in by_field.hits} == CV
    assert {h.paper_id for h in engine.search("cat:cs sparse").hits} == CV | {"2603.10002"}
    assert engine.search("category:cs.CV").total == 2  # alone: every paper of it


def test_a_topic_alert_keeps_the_category(papers, tmp_path):
    from paperwire.mail.digest import Composer

    config = make_config(tmp_path)
    engine = search_engine(papers, semantic=False)
    composer = Composer(papers, config.digests, trending_ranker(), engine)
    start, end = datetime(2026, 3, 1), datetime(2026, 3, 1) + timedelta(days=30)
    for n, (query, expected) in enumerate(
        [
            ("sparse category:cs.CV", CV),
            ("category:cs.CV", CV),
            ("cat:math sparse", {"2603.10003"}),
            ("sparse category:cs.RO", set()),
        ]
    ):
        sub = papers.mail.create_subscription(
            f"{n}@example.org", "topic", query, "daily", "UTC", confirmed=True
        )
        assert {p.paper_id for p in composer.topic_matches(sub, start, end)} == expected, query


def test_the_alert_offered_on_a_filtered_search_keeps_its_filters(papers, tmp_path):
    app, _ = site(papers, tmp_path)
    page = (
        Visitor(app)
        .get("/papers", params={"q": "sparse", "category": "cs.CV", "author": "Ada Lovelace"})
        .text
    )
    link = page.split('href="/subscribe?', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    query = parse_qs(urlparse("?" + link).query)["query"][0]
    assert query == 'sparse category:cs.CV author:"Ada Lovelace"'
    assert "not dates" not in page
    dated = Visitor(app).get("/papers", params={"q": "sparse", "from": "2026-03-02", "code": "1"})
    assert "Alerts keep the words, category and author; not dates" in dated.text
    # typed in the words, the category shows in the form's field, and the filters as on
    typed = Visitor(app).get("/papers", params={"q": "sparse category:cs.CV"}).text
    assert 'name="category" value="cs.CV"' in typed and "Filters (on)" in typed
    assert "category:cs.CV category:cs.CV" not in typed  # the alert names it once
    # The words say one category and the field another: the search used the field, and so
    # does the alert it offers.
    both = Visitor(app).get("/papers", params={"q": "sparse category:cs.CV", "category": "cs.LG"})
    link = both.text.split('href="/subscribe?', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    assert parse_qs(urlparse("?" + link).query)["query"][0] == "sparse category:cs.LG"
    same = Visitor(app).get("/papers", params={"q": "sparse cat:cs.cv", "category": "cs.CV"})
    link = same.text.split('href="/subscribe?', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    assert parse_qs(urlparse("?" + link).query)["query"][0] == "sparse cat:cs.cv"
