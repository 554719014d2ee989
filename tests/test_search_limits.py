"""Search rate limits: per address for visitors, per account when signed in, shared by the
search page, its API and its Atom feed, and by every instance on the database; 429 with
Retry-After and a clear message."""

from __future__ import annotations

from fastapi.testclient import TestClient

from .webkit import Visitor, add_user, site


def test_searches_are_limited_by_address_and_by_account(web, tmp_path):
    _, store, _, _ = web
    app, config = site(store, tmp_path, search_rate_limit=3, search_rate_window=300)
    other_instance, _ = site(store, tmp_path / "b", search_rate_limit=3, search_rate_window=300)
    one = TestClient(app, client=("203.0.113.7", 1000))
    assert one.get("/papers", params={"q": "vision"}).status_code == 200
    assert one.get("/api/papers/search", params={"q": "vision"}).status_code == 200
    assert one.get("/feeds/search.atom", params={"q": "vision"}).status_code == 200
    for path in ("/papers", "/api/papers/search", "/feeds/search.atom"):
        r = one.get(path, params={"q": "language"})
        assert r.status_code == 429, path
        assert 0 < int(r.headers["retry-after"]) <= 300
        assert "Too many searches: at most 3 every 300 seconds" in r.text
    # Another instance on the same database counts the same searches.
    same = TestClient(other_instance, client=("203.0.113.7", 1001))
    assert same.get("/api/papers/search", params={"q": "vision"}).status_code == 429
    # Another address has its own count; the feed without a query is no search.
    two = TestClient(app, client=("198.51.100.2", 1000))
    assert two.get("/api/papers/search", params={"q": "vision"}).status_code == 200
    assert one.get("/papers").status_code == 200
    # A signed-in member is counted by account, not by the address they share.
    add_user(store, "ada")
    member = Visitor(app)
    member.client = TestClient(app, client=("203.0.113.7", 1002), follow_redirects=False)
    member.sign_in("ada")
    for _ in range(3):
        assert member.get("/papers", params={"q": "vision"}).status_code == 200
    assert member.get("/papers", params={"q": "vision"}).status_code == 429
    # "More papers" of a search has its own, larger count (4 times the limit).
    scroller = TestClient(app, client=("192.0.2.9", 1000))
    assert scroller.get("/papers", params={"q": "vision"}).status_code == 200
    for p in range(1, 13):
        more = scroller.get("/papers", params={"q": "vision", "p": p, "fragment": 1})
        assert more.status_code == 200, p
    r = scroller.get("/api/papers/search", params={"q": "vision", "p": 1})
    assert r.status_code == 429 and "Too many pages of results: at most 12 every" in r.text
    assert scroller.get("/papers", params={"q": "model"}).status_code == 200  # a new search


def test_no_limit_when_turned_off(web, tmp_path):
    _, store, _, _ = web
    app, _ = site(store, tmp_path, search_rate_limit=0)
    client = TestClient(app)
    assert all(
        client.get("/api/papers/search", params={"q": "vision"}).status_code == 200
        for _ in range(60)
    )


def test_unknown_parameters_are_never_echoed(web):
    """Links to the next page and the search's own feed are built from the checked
    parameters only: a 60 KB unknown parameter goes nowhere."""
    app, _, _, _ = web
    client = TestClient(app)
    junk = "x" * 60000
    r = client.get("/api/papers/search", params={"q": "vision", "limit": 1, "junk": junk})
    assert r.status_code == 200 and 'rel="next"' in r.headers["link"]
    assert "junk" not in r.headers["link"] and len(r.headers["link"]) < 300
    assert "limit=1" in r.headers["link"] and "p=1" in r.headers["link"]
    r = client.get("/api/daily_papers", params={"limit": 1, "junk": junk})
    assert "junk" not in r.headers["link"] and "limit=1" in r.headers["link"]
    r = client.get("/feeds/search.atom", params={"q": "vision", "junk": junk})
    assert r.status_code == 200 and "junk" not in r.text
    r = client.get("/papers", params={"q": "vision", "junk": junk})
    assert "junk" not in r.text
    r = client.get("/signin", params={"next": "/papers?" + junk})
    assert junk not in r.text
    assert sum(len(v) for v in r.headers.values()) < 5000
