"""The time budget of a search, enforced by the database: SQLite stops a query from its
progress handler, PostgreSQL from statement_timeout; the search answers with what it found
before (saying so), or a clear 503 when that is nothing — never a 500, never a hung thread."""

from __future__ import annotations

import time

import pytest

from paperwire.core.errors import TimeBudgetExceeded

from .storekit import search_engine
from .test_search import embedder  # noqa: F401 - the session's embedding model fixture
from .webkit import Visitor, site

SLOW = {
    # Seconds of work in the database's own engine (no sleeping in Python).
    "sqlite": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
    "WHERE x < 200000000) SELECT count(*) FROM c",
    "postgresql": "SELECT count(*) FROM generate_series(1, 400000000)",
}
QUICK = {
    "sqlite": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
    "WHERE x < 100000) SELECT count(*) FROM c",
    "postgresql": "SELECT count(*) FROM generate_series(1, 100000)",
}


def test_the_database_stops_a_query_at_its_budget(store):
    db = store.db
    started = time.monotonic()
    with pytest.raises(TimeBudgetExceeded), db.time_budget(0.2), db.connect() as conn:
        conn.exec_driver_sql(SLOW[db.dialect]).scalar()
    assert time.monotonic() - started < 1.5
    # The connection went back to the pool without its budget: later queries run in full,
    # and a query within its budget is untouched.
    with db.connect() as conn:
        assert conn.exec_driver_sql(QUICK[db.dialect]).scalar() == 100000
    with db.time_budget(5.0), db.connect() as conn:
        assert conn.exec_driver_sql(QUICK[db.dialect]).scalar() == 100000
    # A budget already spent stops the next query before it starts.
    with pytest.raises(TimeBudgetExceeded), db.time_budget(0.0):
        with db.connect() as conn:
            conn.exec_driver_sql("SELECT 1")


class SlowKeywords:
    """The database's keyword retriever after a query that takes seconds in the database,
    as a hostile query string can."""

    def __init__(self, inner, store):
        self.inner, self.store = inner, store

    def retrieve(self, query, filters, k):
        with self.store.db.connect() as conn:
            conn.exec_driver_sql(SLOW[self.store.db.dialect]).scalar()
        return self.inner.retrieve(query, filters, k)

    def judge(self, seqs=None):
        return self.inner.judge(seqs)


def slow_site(web, tmp_path, **overrides):
    _, store, _, _ = web
    app, config = site(store, tmp_path, search_time_budget_ms=300, **overrides)
    engine = app.state.site.search
    engine.keyword = SlowKeywords(engine.keyword, store)
    return app


def test_a_search_out_of_time_answers_with_what_meaning_found(web, tmp_path, embedder):  # noqa: F811
    search_engine(web[1], embedder=embedder).indexer().embed_missing()
    app = slow_site(web, tmp_path)
    visitor = Visitor(app)
    started = time.monotonic()
    r = visitor.get("/api/papers/search", params={"q": "vision language models"})
    assert time.monotonic() - started < 3
    assert r.status_code == 200 and r.headers["x-search-incomplete"] == "time budget exceeded"
    assert r.json() and all(item["why"]["similarity"] for item in r.json())
    page = visitor.get("/papers", params={"q": "vision language models"})
    assert page.status_code == 200 and "This search ran out of time" in page.text
    atom = visitor.get("/feeds/search.atom", params={"q": "vision language models"})
    assert atom.status_code == 200 and "<entry>" in atom.text


def test_a_search_out_of_time_with_nothing_found_is_a_clear_503(web, tmp_path):
    app = slow_site(web, tmp_path, semantic_search=False)
    visitor = Visitor(app)
    r = visitor.get("/api/papers/search", params={"q": "vision language models"})
    assert r.status_code == 503 and int(r.headers["retry-after"]) > 0
    assert "time budget (300 ms)" in r.json()["error"]
    page = visitor.get("/papers", params={"q": "vision"})
    assert page.status_code == 503 and "time budget" in page.text
    # The author filter alone (no words) runs under the budget too.
    fine = visitor.get("/papers", params={"author": "Nobody Known"})
    assert fine.status_code == 200


def test_unranked_hits_are_the_newest_papers_holding_the_words(store):
    from paperwire.core.query import parse
    from paperwire.core.records import PaperRecord

    from .storekit import TRUST

    store.papers.upsert(
        [
            PaperRecord(
                id=f"2503.1000{i}",
                title=f"Vision model {i}",
                abstract="About vision.",
                source="arxiv-api",
            )
            for i in range(4)
        ]  # fmt: skip
        + [PaperRecord(id="2503.20000", title="Speech", abstract="Audio.", source="arxiv-api")],
        TRUST,
    )
    seqs = {store.papers.seq_of(f"2503.1000{i}"): i for i in range(4)}
    hits = store.search.keyword_hits(parse("vision model"), limit=3, ranked=False)
    assert [seqs[s] for s, _ in hits] == [3, 2, 1]  # newest first, no scoring
    assert store.search.keyword_hits(parse("vision OR audio"), mode="any", ranked=False)
