"""Issue 13's hostile searches — a 10,000-character OR chain of common words, hundreds of
quoted phrases, of exclusions, of author: filters, deep pages, huge limits — each answered
in at most a second by the API, the page and the Atom feed on a 74.7k-paper corpus (the
real one of ../shared, or as many papers made from the demo's): never a 500, never a hung
thread.

Search by meaning is off here: the corpus has no embeddings, and what a hostile query
string can make expensive is the database's side (the model reads 256 tokens at most)."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from .hostilekit import CORPUS_SIZE, build_corpus, hostile_queries, hostile_requests
from .webkit import site

pytestmark = [pytest.mark.slow, pytest.mark.serial]
LIMIT = 1.0  # seconds, the bound


@pytest.fixture(scope="session")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    started = time.monotonic()
    store, origin = build_corpus(folder / "corpus.db")
    print(
        f"\ncorpus: {store.papers.count()} papers ({origin}) in {time.monotonic() - started:.1f} s"
    )
    yield store, folder
    store.close()


def test_hostile_queries_answer_within_a_second(corpus):
    store, folder = corpus
    assert store.papers.count() >= CORPUS_SIZE * 0.99
    app, _ = site(store, folder, semantic_search=False)
    client = TestClient(app)
    client.get("/api/papers/search", params={"q": "warm up"})
    slow = []
    for name, path, params in hostile_requests():
        took, r = _fastest_of_two(client, path, params)
        print(f"{name:28s} {r.status_code} {took * 1000:6.0f} ms "
              f"{r.headers.get('x-search-incomplete', '')}")  # fmt: skip
        assert r.status_code in (200, 400, 503), (name, r.status_code, r.text[:300])
        if r.status_code == 503:
            assert int(r.headers["retry-after"]) > 0
        if took > LIMIT:
            slow.append(f"{name}: {took:.2f} s")
    assert not slow, slow


def test_a_hostile_query_still_finds_papers(corpus):
    """Ranking every match of the OR chain takes more than its budget: the newest papers
    holding the words come back, marked incomplete, rather than nothing. With the ranking
    window (the default) only the newest 2,000 matches are ranked, and papers come back
    either way."""
    store, folder = corpus
    q = hostile_queries()["or-chain"]
    app, _ = site(
        store, folder, semantic_search=False, search_time_budget_ms=300, search_rank_window=0
    )
    r = TestClient(app).get("/api/papers/search", params={"q": q})
    assert r.status_code == 200 and len(r.json()) == 50
    assert r.headers["x-search-incomplete"] == "time budget exceeded"
    # That search started this process's spelling vocabulary, built in a thread from 20,000
    # papers (about 2 s of CPU): the next search's 300 ms must not be shared with it (CI once
    # found nothing within them, a 503).
    app.state.site.speller.refresh()  # (waits for the build the search started)
    app, _ = site(store, folder, semantic_search=False, search_time_budget_ms=300)
    r = TestClient(app).get("/api/papers/search", params={"q": q})
    assert r.status_code == 200 and len(r.json()) == 50


def _fastest_of_two(client, path, params):
    """The faster of two tries (a shared CI machine may pause a process now and then)."""
    best = None
    for _ in range(2):
        started = time.perf_counter()
        r = client.get(path, params=params)
        took = time.perf_counter() - started
        if best is None or took < best[0]:
            best = (took, r)
        if took <= LIMIT:
            break
    return best
