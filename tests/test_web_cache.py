"""The page cache (web.cache): repeat anonymous GETs answered from memory, checked against the
data version the database's triggers keep (SQLite and PostgreSQL), ETags and 304s, personal
pages never stored or shared, writes from this process or another seen at once."""

from __future__ import annotations

import re
import time
from datetime import date

import pytest
from fastapi.testclient import TestClient

from paperwire.store import Store
from paperwire.web.cache import DataVersion, Entry, PageCache

from .webkit import Visitor, add_user, seed, site

POLL = 0.05


def _client(app) -> TestClient:
    return TestClient(app, base_url="http://testserver", follow_redirects=False)


def _warm(client: TestClient, url: str = "/papers") -> None:
    """Until the process knows the data version (the poller's first two reads)."""
    deadline = time.monotonic() + 5
    while client.get(url).headers.get("x-cache") == "off":
        assert time.monotonic() < deadline, "the data version was never read"
        time.sleep(POLL)


def _upvotes(html: str, pid: str) -> int:
    card = html[html.index(f'id="paper-{pid}"') :]
    return int(re.search(r'<span class="count">(\d+)</span>', card).group(1))


def _until(check, limit: float = 1.0) -> float:
    """Seconds until ``check()`` holds (fails past ``limit``)."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < limit, f"not visible within {limit} s"
        time.sleep(0.02)
    return time.monotonic() - started


@pytest.fixture
def cached(store, tmp_path):
    """A site over a seeded store (both backends), polling the data version fast."""
    ids = seed(store)
    app, _ = site(store, tmp_path, page_cache_poll=POLL)
    return app, store, ids


def test_data_version_follows_public_writes_only(store):
    before = store.changes.version()
    uid = add_user(store, "reader")
    after_user = store.changes.version()
    assert after_user > before
    store.accounts.rate_hit("search:1.2.3.4", 10, 60)  # not shown on any page
    assert store.changes.version() == after_user
    seed(store, days=1)
    seeded = store.changes.version()
    assert seeded > after_user
    pid = store.feed.latest(limit=1)[0].id
    store.feed.set_upvote(uid, pid, True)
    assert store.changes.version() > seeded
    voted = store.changes.version()
    store.changes.bump()
    assert store.changes.version() > voted


def test_second_anonymous_get_is_answered_from_memory(cached):
    app, _, ids = cached
    client = _client(app)
    _warm(client)
    cache = app.state.page_cache
    first = client.get("/papers/trending")
    assert first.headers["x-cache"] == "miss"
    hits = cache.hits
    second = client.get("/papers/trending")
    assert second.headers["x-cache"] == "hit" and cache.hits == hits + 1
    assert second.content == first.content and second.headers["etag"] == first.headers["etag"]
    assert second.headers["cache-control"] == "public, max-age=0, s-maxage=1"
    assert second.headers["content-security-policy"] == first.headers["content-security-policy"]
    assert "last-modified" in second.headers and "set-cookie" not in second.headers
    # Query parameters in another order are the same page.
    assert client.get("/api/daily_papers?limit=5&p=0").headers["x-cache"] == "miss"
    assert client.get("/api/daily_papers?p=0&limit=5").headers["x-cache"] == "hit"
    for url in (f"/papers/{ids[0]}", "/feeds/daily.atom"):
        assert client.get(url).headers["x-cache"] == "miss"
        again = client.get(url)
        assert again.status_code == 200 and again.headers["x-cache"] == "hit", url
    head = client.head(f"/papers/{ids[0]}")
    assert head.status_code == 200 and head.headers["x-cache"] == "hit" and head.content == b""


def test_conditional_requests_answer_304(cached):
    app, _, ids = cached
    client = _client(app)
    _warm(client)
    url = f"/papers/{ids[0]}"
    r = client.get(url)
    etag, modified = r.headers["etag"], r.headers["last-modified"]
    assert etag.startswith('"') and not etag.startswith('"W/')
    not_modified = client.get(url, headers={"If-None-Match": etag})
    assert not_modified.status_code == 304 and not_modified.content == b""
    assert not_modified.headers["etag"] == etag
    assert client.get(url, headers={"If-None-Match": '"other"'}).status_code == 200
    assert client.get(url, headers={"If-Modified-Since": modified}).status_code == 304
    long_ago = "Mon, 01 Jan 2001 00:00:00 GMT"
    assert client.get(url, headers={"If-Modified-Since": long_ago}).status_code == 200
    assert client.get(url, headers={"If-Modified-Since": "garbage"}).status_code == 200
    # A changed page has another ETag: the old copy is not current any more.
    store = app.state.site.store
    store.feed.set_upvote(add_user(store, "voter"), ids[0], True)
    _until(lambda: client.get(url, headers={"If-None-Match": etag}).status_code == 200)


def test_covered_is_when_the_published_version_last_held_every_write():
    """What a shared cache in front is told (X-Accel-Expires): the published version
    covers every write acknowledged before the read it came from, or, when nothing changed
    since, before the latest read; never later than a read."""
    values = iter([1, 1, 2, 2, 2])
    version = DataVersion(lambda: next(values), POLL)
    reads, covered = [], []
    for _ in range(5):
        reads.append(time.time())
        assert version.poll()
        covered.append(version.covered)
        time.sleep(0.01)
    reads.append(time.time())

    def read_by(poll: int, value: float) -> bool:
        return reads[poll] <= value < reads[poll + 1]

    assert covered[0] == 0.0  # nothing published yet
    assert read_by(1, covered[1])  # 1 published, and read again: up to this read
    assert read_by(1, covered[2])  # a write elsewhere (2 read): up to the last read of 1
    assert read_by(3, covered[3])  # 2 published, and read again
    assert read_by(4, covered[4])


def test_a_copy_for_a_shared_cache_ends_with_the_second_its_data_is_known_as_of(cached):
    """An answer rendered now ends with this second; one answered from memory ends with the
    second up to which every write of other processes is known to be in it (an earlier
    second: stale at once in nginx, which then fetches it again)."""
    app, _, _ = cached
    client = _client(app)
    _warm(client)
    _until(lambda: client.get("/papers").headers["x-cache"] == "hit", 2.0)
    hit = client.get("/papers")
    now = int(time.time())
    assert hit.headers["x-cache"] == "hit"
    assert int(hit.headers["x-accel-expires"].lstrip("@")) in (now - 1, now)
    version = app.state.page_cache.version
    version.close()  # the poller stops: what it last knew gets old
    time.sleep(0.05)
    version.covered = time.time() - 10  # known only as of ten seconds ago
    entry = next(iter(app.state.page_cache.entries.values()))
    entry.wall = time.time() - 10
    hits = [r for r in (client.get("/papers") for _ in range(3)) if r.headers["x-cache"] == "hit"]
    for r in hits:
        assert int(r.headers["x-accel-expires"].lstrip("@")) <= int(time.time()) - 9


def test_write_through_another_instance_is_seen_within_a_second(cached):
    app, store, ids = cached
    client = _client(app)
    _warm(client)
    pid = ids[0]
    other = Store(store.url)  # another instance: its own connections
    try:
        uid = add_user(other, "elsewhere")
        _until(lambda: client.get("/papers").headers["x-cache"] == "hit", 2.0)
        votes = _upvotes(client.get("/papers").text, pid)
        other.feed.set_upvote(uid, pid, True)
        _until(lambda: _upvotes(client.get("/papers").text, pid) == votes + 1)

        url = f"/papers/{pid}"
        # a hit once the vote's version is the one in use (it takes over one poll after
        # it is first read)
        _until(lambda: client.get(url).headers["x-cache"] == "hit", 2.0)
        other.discussion.add(pid, uid, "Seen from the other instance")
        _until(lambda: "Seen from the other instance" in client.get(url).text)

        newcomer = next(p.id for p in other.feed.latest(limit=100) if p.id not in ids)
        api = "/api/daily_papers?limit=100"
        client.get(api)
        assert client.get(api).headers["x-cache"] == "hit"
        other.feed.submit(newcomer, uid, date.today())
        _until(lambda: newcomer in client.get(api).text)
    finally:
        other.close()


def test_own_vote_is_visible_on_the_next_request(web):
    app, store, ids, _ = web
    anonymous = _client(app)
    _warm(anonymous)
    pid = ids[0]
    votes = _upvotes(anonymous.get("/papers").text, pid)
    assert anonymous.get("/papers").headers["x-cache"] == "hit"
    add_user(store, "voter")
    member = Visitor(app)
    member.sign_in("voter")
    r = member.post(f"/papers/{pid}/upvote", {"state": "1", "next": "/papers"})
    assert r.status_code == 303
    assert _upvotes(anonymous.get("/papers").text, pid) == votes + 1  # no waiting


def test_signed_in_pages_are_never_stored_nor_served_from_the_cache(web):
    app, store, ids, _ = web
    add_user(store, "member")
    member = Visitor(app)
    member.sign_in("member")
    anonymous = _client(app)
    _warm(anonymous)
    _until(lambda: anonymous.get("/papers").headers["x-cache"] == "hit")
    r = member.get("/papers")
    assert r.status_code == 200 and "member" in r.text and 'name="csrf-token"' in r.text
    assert "x-cache" not in r.headers and r.headers["cache-control"] == "no-store"
    api = member.get("/api/daily_papers?limit=5")
    assert api.headers["cache-control"] == "private, no-cache" and "x-cache" not in api.headers
    # Nothing personal was stored: the anonymous page is the same as before.
    again = anonymous.get("/papers")
    assert again.headers["x-cache"] == "hit" and "/users/member" not in again.text
    # A Bearer token is personal too, even where the answer is the same.
    token = store.accounts.create_token(store.accounts.get_user(username="member").id, "t")
    r = anonymous.get("/api/daily_papers?limit=5", headers={"Authorization": f"Bearer {token}"})
    assert r.headers["cache-control"] == "private, no-cache" and "x-cache" not in r.headers


def test_forms_with_a_csrf_token_are_personal(web):
    app, _, ids, _ = web
    one, two = _client(app), _client(app)
    _warm(one)
    for url in ("/signin", "/subscribe", "/signup"):
        a, b = one.get(url), two.get(url)
        assert a.status_code == b.status_code == 200
        token_a = re.search(r'name="csrf_token" value="([^"]+)"', a.text).group(1)
        token_b = re.search(r'name="csrf_token" value="([^"]+)"', b.text).group(1)
        assert token_a != token_b and token_b not in a.text and token_a not in b.text, url
        for r in (a, b):
            assert r.headers["cache-control"] == "private, no-cache" and "x-cache" not in r.headers
    # A visitor with a CSRF cookie gets the shared page, which holds no token.
    assert "pw_csrf" in one.cookies
    page = one.get(f"/papers/{ids[0]}")
    page = one.get(f"/papers/{ids[0]}")
    assert page.headers["x-cache"] == "hit" and "csrf" not in page.text.lower()
    # Signed out, the upvote form leads to signing in (no token needed).
    r = two.post(f"/papers/{ids[0]}/upvote", data={"state": "1"})
    assert r.status_code == 303 and r.headers["location"].startswith("/signin?next=")
    js = two.post(
        f"/papers/{ids[0]}/upvote", data={"state": "1"}, headers={"Accept": "application/json"}
    )
    assert js.status_code == 401


def test_errors_and_probes_are_not_stored(web):
    app, _, _, _ = web
    client = _client(app)
    _warm(client)
    for _ in range(2):
        r = client.get("/papers/date/2001-99-99")
        assert r.status_code >= 400 and r.headers["cache-control"] == "no-store"
        assert "x-cache" not in r.headers
    assert "x-cache" not in client.get("/healthz").headers
    css = client.get("/static/style.css")
    assert "x-cache" not in css.headers and "etag" in css.headers  # StaticFiles' own


def test_lru_respects_its_byte_bound():
    cache = PageCache(DataVersion(lambda: 1, POLL), max_bytes=8000, ttl=60)
    token = (1, 0)

    def entry(n: int) -> Entry:
        return Entry(token, [], b"x" * n, b'"e"', 0, time.monotonic(), n)

    for i in range(20):
        cache.put(f"/page/{i}", entry(900))
        assert cache.bytes <= 8000
    assert cache.get("/page/0", token) is None and cache.get("/page/19", token) is not None
    assert len(cache.entries) == 8
    cache.get("/page/12", token)  # used: kept over older ones
    cache.put("/page/new", entry(900))
    assert cache.get("/page/12", token) is not None and cache.get("/page/13", token) is None
    cache.put("/huge", entry(1001))  # over an eighth of the bound: never kept
    assert cache.get("/huge", token) is None
    assert cache.get("/page/19", (2, 0)) is None  # another data version: never answered


def test_a_zero_size_disables_the_cache_but_not_the_validators(sqlite_store, tmp_path):
    seed(sqlite_store, days=1)
    app, _ = site(sqlite_store, tmp_path, page_cache_mb=0, page_cache_poll=POLL)
    client = _client(app)
    for _ in range(3):
        r = client.get("/papers")
        assert r.headers["x-cache"] == "off"
    assert app.state.page_cache.entries == {} and app.state.page_cache.hits == 0
    assert client.get("/papers", headers={"If-None-Match": r.headers["etag"]}).status_code == 304


def test_concurrent_misses_render_once(web):
    """Requests for a page being rendered wait for it instead of rendering it again."""
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    from .webkit import serve_in_thread

    app, store, ids, _ = web
    url = f"/papers/{ids[0]}"
    with serve_in_thread(app) as base, httpx.Client(base_url=base) as client:
        _warm(client, url)
        before = client.get(url).headers["etag"]
        version = app.state.page_cache.version
        old = version.token()
        store.changes.bump()  # as another instance's write would
        # the process has read the new version (a miss of another page may have other causes)
        _until(lambda: client.get("/papers") and version.token() not in (None, old))
        with ThreadPoolExecutor(12) as pool:
            answers = list(pool.map(lambda _: httpx.get(base + url), range(12)))
    assert all(r.status_code == 200 for r in answers)
    assert [r.headers["x-cache"] for r in answers].count("miss") == 1
    assert len({r.headers["etag"] for r in answers}) == 1
    assert answers[0].headers["etag"] == before  # same data, same page


def test_signed_in_feed_reuses_shared_data_but_never_another_visitor_s(cached):
    """A signed-in feed page reads the day's cards once per data version (pages._Memo) and
    only the visitor's own upvotes each time; a write anywhere shows as on anonymous pages."""
    import sqlalchemy as sa

    app, store, ids = cached
    add_user(store, "ada")
    add_user(store, "bob")
    ada, bob = Visitor(app), Visitor(app)
    ada.sign_in("ada")
    bob.sign_in("bob")
    _warm(_client(app))
    pid = ids[0]
    statements: list[str] = []
    listen = lambda *a: statements.append(a[2])  # noqa: E731
    sa.event.listen(store.db.engine, "before_cursor_execute", listen)
    try:
        ada.get("/papers")
        statements.clear()
        page = ada.get("/papers").text
        # the session, the visitor's marks on the cards, their e-mail subscriptions (the
        # banner says what they get) and now and then a session touch; the data-version
        # poller's reads run in their own thread, beside the request
        own = [x for x in statements if "FROM data_version" not in x]
        assert len(own) <= 4, own
    finally:
        sa.event.remove(store.db.engine, "before_cursor_execute", listen)
    before = _upvotes(page, pid)
    # ada's own vote: her next page shows it, pressed, and bob's shows the count unpressed
    assert ada.post(f"/papers/{pid}/upvote", {"state": "1", "next": "/papers"}).status_code == 303
    mine = ada.get("/papers").text
    assert _upvotes(mine, pid) == before + 1
    card = mine[mine.index(f'id="paper-{pid}"') :][:3000]
    assert 'aria-pressed="true"' in card
    theirs = bob.get("/papers").text
    card = theirs[theirs.index(f'id="paper-{pid}"') :][:3000]
    assert _upvotes(theirs, pid) == before + 1 and 'aria-pressed="true"' not in card
    assert "/users/ada" not in theirs and ada.csrf != bob.csrf
    # every form of the (shared, rendered once) cards carries its own visitor's token only
    for html, own, other_token in ((mine, ada.csrf, bob.csrf), (theirs, bob.csrf, ada.csrf)):
        tokens = set(re.findall(r'name="csrf_token" value="([^"]+)"', html))
        assert tokens == {own} and other_token not in html
    # a vote written by another instance reaches signed-in pages within a poll or two
    other = Store(store.url)
    try:
        uid = add_user(other, "elsewhere")
        other.feed.set_upvote(uid, pid, True)
        _until(lambda: _upvotes(bob.get("/papers").text, pid) == before + 2)
    finally:
        other.close()


def test_two_sites_in_one_process_never_share_feed_data(tmp_path):
    """The feed memo belongs to its app: another site in the same process, whose data version
    happens to have the same value, shows its own cards."""
    stores, apps = [], []
    try:
        for name in ("one", "two"):
            s = Store(f"sqlite:///{tmp_path / name}.db")
            s.db.upgrade()
            seed(s)
            app, _ = site(s, tmp_path / name, page_cache_poll=POLL)
            stores.append(s)
            apps.append(app)
        org = stores[1].accounts.create_organization("lab", "The Only Lab")
        first = stores[1].feed.period(date.min, date.max, limit=1)[0][0].id
        stores[1].accounts.set_paper_organization(first, org)
        for s in stores:
            add_user(s, "ada")
        members = [Visitor(app) for app in apps]
        for m in members:
            m.sign_in("ada")
        for app in apps:
            _warm(_client(app))
        _until(lambda: "The Only Lab" in members[1].get("/papers").text, 2.0)
        for _ in range(3):
            assert "The Only Lab" not in members[0].get("/papers").text
    finally:
        for s in stores:
            s.close()
