"""@mention suggestions (GET /api/people/suggest): the paper's commenters and claimed authors
first, then everyone by the start of their user name or display name, any case; signed-in
callers only; never disabled, deleted or unconfirmed accounts, nor the caller; at most 8;
an indexed range under a LIMIT. On SQLite and PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa

from paperwire.store.people import prefix_range

from .webkit import Visitor, add_user

URL = "/api/people/suggest"


def _names(answer) -> list[str]:
    assert answer.status_code == 200, answer.text
    return [p["name"] for p in answer.json()]


def _signed_in(app, store, name: str) -> Visitor:
    add_user(store, name)
    v = Visitor(app)
    v.sign_in(name)
    return v


def test_the_discussion_comes_first_then_everyone_by_prefix_any_case(web_both):
    app, store, ids, _ = web_both
    pid, other = ids[0], ids[1]
    me = _signed_in(app, store, "asker")
    for name in ("Abel", "abby", "alan", "bob", "ALICE"):
        add_user(store, name)
    adams = add_user(store, "zed")
    store.accounts.update_user(adams, fullname="Ada Adams")
    # alan commented on the paper, ALICE claimed its authorship (approved), bob commented
    # on another paper; a hidden comment makes nobody a participant.
    alan = store.accounts.get_user(username="alan").id
    store.discussion.add(pid, alan, "Nice.")
    hider = store.accounts.get_user(username="Abel").id
    store.discussion.set_flag(store.discussion.add(pid, hider, "Spam."), hidden=True)
    store.discussion.add(other, store.accounts.get_user(username="bob").id, "Hm.")
    alice = store.accounts.get_user(username="ALICE").id
    store.accounts.claim_authorship(alice, pid, store.feed.card(pid).authors[0])
    claim = store.accounts.claims(paper_id=pid)[0]
    store.accounts.decide_claim(claim.id, True, alice)

    answer = me.client.get(URL, params={"q": "a", "paper": pid})
    # participants (user-name matches, by name), then the rest: user names, then display names
    assert _names(answer) == ["alan", "ALICE", "abby", "Abel", "zed"]
    assert answer.json()[1] == {
        "name": "ALICE",
        "fullname": None,
        "avatarUrl": "/avatars/users/ALICE.svg?v=1",
        "inDiscussion": True,
    }
    assert [p["inDiscussion"] for p in answer.json()] == [True, True, False, False, False]
    assert answer.json()[-1]["fullname"] == "Ada Adams"
    # any case, and longer prefixes narrow it
    assert _names(me.client.get(URL, params={"q": "AL", "paper": pid})) == ["alan", "ALICE"]
    assert _names(me.client.get(URL, params={"q": "aLi"})) == ["ALICE"]
    assert _names(me.client.get(URL, params={"q": "ada a"})) == ["zed"]  # a display name
    # without a paper: everyone alike, user names first
    assert _names(me.client.get(URL, params={"q": "a"})) == ["abby", "Abel", "alan", "ALICE", "zed"]
    # a participant by display name only comes before others, after participants by name
    store.discussion.add(pid, adams, "Me too.")
    assert _names(me.client.get(URL, params={"q": "a", "paper": pid})) == [
        "alan", "ALICE", "zed", "abby", "Abel",
    ]  # fmt: skip
    assert _names(me.client.get(URL, params={"q": "nobody"})) == []
    # a Bearer token works too (an API read)
    token = store.accounts.create_token(store.accounts.get_user(username="asker").id, "t")
    r = Visitor(app).client.get(
        URL, params={"q": "bo"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert _names(r) == ["bob"]


def test_at_most_eight_and_the_limit(web_both):
    app, store, _, _ = web_both
    me = _signed_in(app, store, "asker")
    for i in range(12):
        add_user(store, f"reader{i:02d}")
    assert _names(me.client.get(URL, params={"q": "reader"})) == [
        f"reader{i:02d}" for i in range(8)
    ]
    assert _names(me.client.get(URL, params={"q": "READER", "limit": 3})) == [
        "reader00", "reader01", "reader02",
    ]  # fmt: skip


def test_only_people_a_mention_would_tell(web_both):
    app, store, ids, _ = web_both
    me = _signed_in(app, store, "mary")
    pid = ids[0]
    kept = add_user(store, "mallory")
    disabled = add_user(store, "mabel")
    store.people.set_active(disabled, False)
    gone = add_user(store, "maude")
    store.discussion.add(pid, gone, "Bye.")
    store.people.delete(gone)  # a tombstone "deleted-N", inactive
    store.accounts.create_user("maya", "maya@example.org", None, confirmed=False)
    assert kept
    for params in ({"q": "ma"}, {"q": "ma", "paper": pid}):
        assert _names(me.client.get(URL, params=params)) == ["mallory"], params  # never mary
    assert _names(me.client.get(URL, params={"q": "deleted"})) == []
    # never an address, even one that starts with the prefix
    body = me.client.get(URL, params={"q": "mallory"}).text
    assert "example.org" not in body and "@" not in body


def test_signed_out_is_401_and_bad_parameters_400(web_both):
    app, store, ids, _ = web_both
    anonymous = Visitor(app).client
    r = anonymous.get(URL, params={"q": "a"})
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    assert r.json() == {"error": "sign in (a Bearer token or a session)"}
    me = _signed_in(app, store, "asker")
    cases = {
        "": "q is missing",
        "?q=": "q must be at least 1 character long",
        "?q=%20%20": "q must be the start of a name: 1 to 40 visible characters",
        "?q=" + "a" * 41: "q must be at most 40 characters long",
        "?q=a&limit=9": "limit must be at most 8 (not '9')",
        "?q=a&limit=0": "limit must be at least 1 (not '0')",
        "?q=a&paper=nonsense": None,
    }
    for query, message in cases.items():
        r = me.client.get(URL + query)
        assert r.status_code == 400, (query, r.text)
        if message is not None:
            assert r.json() == {"error": message}, query
    assert me.client.get(URL, params={"q": "a" * 40}).status_code == 200
    r = me.client.get(URL, params={"q": "a", "paper": "9999.99999"})
    assert r.status_code == 404 and r.json() == {"error": "No such paper: 9999.99999."}


def test_rate_limited(web_both):
    app, store, _, _ = web_both
    me = _signed_in(app, store, "asker")
    seen = [me.client.get(URL, params={"q": "x"}).status_code for _ in range(125)]
    assert seen.count(429) >= 1 and seen[0] == 200
    assert me.client.get(URL, params={"q": "x"}).headers["retry-after"] == "60"


def test_prefix_ranges():
    assert prefix_range("ab") == ("ab", "ac")
    assert prefix_range("a\ud7ff"[:1] + "\ud7ff") == ("a\ud7ff", "a\ue000")
    assert prefix_range("\U0010ffff") == ("\U0010ffff", None)


def test_the_query_reads_an_index_range(store):
    """The plan of each part: the lower-case name's index, not a scan of users."""
    from paperwire.core.passwords import hash_password

    for i in range(30):
        store.accounts.create_user(f"user{i}", f"u{i}@example.org", hash_password("x" * 12))
    captured: list[tuple[str, object]] = []

    def record(conn, cursor, statement, params, context, executemany):
        captured.append((statement, params))

    sa.event.listen(store.db.engine, "before_cursor_execute", record)
    try:
        found = store.people.mention_candidates("USER1", None, exclude=0)
    finally:
        sa.event.remove(store.db.engine, "before_cursor_execute", record)
    assert [c.username for c in found] == ["user1", *(f"user{i}" for i in range(10, 17))]
    assert len(captured) == 2  # user names, display names
    sqlite = store.dialect == "sqlite"
    with store.db.engine.connect() as conn:
        if not sqlite:
            conn.execute(sa.text("SET enable_seqscan = off"))  # 30 rows: a scan is cheaper
        for statement, params in captured:
            explain = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN "
            rows = conn.exec_driver_sql(explain + statement, params).all()
            plan = " ".join(" ".join(str(v) for v in r) for r in rows)
            assert "_lower" in plan, plan  # ix_users_username_lower, ix_users_fullname_lower
            assert "SCAN users" not in plan and "Seq Scan" not in plan, plan
            assert "TEMP B-TREE" not in plan and "Sort" not in plan, plan  # the index's order
