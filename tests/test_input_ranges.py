"""Every id a client sends is range-checked before it reaches the database: a number past
what a row id can be is a 400 or 404 on both backends, never a driver overflow answered
with a 500 (issue 14, item 1)."""

from __future__ import annotations

import pytest

from .webkit import Visitor, add_user, seed, site

HUGE = ["2147483648", "9223372036854775808", "99999999999999999999999", "0", "-1", "²"]


@pytest.fixture
def signed_in(store, tmp_path):
    """(visitor signed in as an admin, Bearer headers, a paper id) over each backend."""
    ids = seed(store, days=1)
    app, _ = site(store, tmp_path)
    uid = add_user(store, "root", role="admin")
    visitor = Visitor(app)
    visitor.sign_in("root")
    bearer = {"Authorization": f"Bearer {store.accounts.create_token(uid, 'ranges')}"}
    return visitor, bearer, ids[0]


@pytest.mark.parametrize("n", HUGE)
def test_ids_out_of_range_are_refused_not_crashed(signed_in, n):
    visitor, bearer, pid = signed_in
    forms = [
        f"/settings/tokens/{n}/delete",
        f"/admin/claims/{n}",
        f"/admin/users/{n}/role",
        f"/comments/{n}/edit",
        f"/comments/{n}/delete",
        f"/comments/{n}/hide",
        f"/comments/{n}/reactions",
    ]
    for url in forms:
        r = visitor.post(url, {"body": "x", "role": "user", "reaction": "+1", "state": "1"})
        assert r.status_code in (400, 404), (url, r.status_code, r.text)
    client = visitor.client
    calls = [
        ("post", f"/api/papers/{pid}/comments/{n}/reactions", {"reaction": "+1"}),
        ("delete", f"/api/papers/{pid}/comments/{n}/reactions?reaction=%2B1", None),
        ("patch", f"/api/subscriptions/{n}", {"frequency": "weekly"}),
        ("delete", f"/api/subscriptions/{n}", None),
    ]
    for method, url, body in calls:
        r = client.request(method, url, json=body, headers=bearer)
        assert r.status_code in (400, 404), (url, r.status_code, r.text)
        assert r.headers["content-type"].startswith("application/json")
    parent = int(n) if n.isascii() else n  # "²" goes as the string it is
    r = client.post(f"/api/papers/{pid}/comments", json={"body": "x", "parentId": parent},
                    headers=bearer)  # fmt: skip
    assert r.status_code in (400, 404), r.text
    r = visitor.post(f"/papers/{pid}/comments", {"body": "a reply", "parent_id": n})
    assert r.status_code in (400, 404), r.text


def test_a_reply_to_a_real_comment_still_works(signed_in):
    visitor, bearer, pid = signed_in
    r = visitor.client.post(f"/api/papers/{pid}/comments", json={"body": "first"}, headers=bearer)
    parent = r.json()["id"]
    r = visitor.post(f"/papers/{pid}/comments", {"body": "a reply", "parent_id": str(parent)})
    assert r.status_code == 303
    thread = visitor.client.get(f"/api/papers/{pid}/comments").json()
    assert [reply["body"] for reply in thread[0]["replies"]] == ["a reply"]


EDGES = ["0001", "1899", "1900", "2999", "3000", "9999"]


@pytest.mark.parametrize("year", EDGES)
def test_periods_at_the_ends_of_the_calendar_answer_not_crash(signed_in, year):
    """A feed period or search date at the calendar's ends (year 1, 9999: no day before or
    after them) is a clear 400 or an (empty) page, never an overflow answered with a 500."""
    visitor, _, _ = signed_in
    urls = [
        f"/papers/date/{year}-01-01",
        f"/papers/date/{year}-12-31",
        f"/papers/week/{year}-W01",
        f"/papers/week/{year}-W52",
        f"/papers/month/{year}-01",
        f"/papers/month/{year}-12",
        f"/api/daily_papers?date={year}-12-31",
        f"/api/daily_papers?week={year}-W52",
        f"/api/daily_papers?month={year}-01",
        f"/feeds/daily.atom?date={year}-12-31",
        f"/papers?q=model&from={year}-12-31&to={year}-12-31",
        f"/papers?q=model&from={year}-01-01",
        f"/api/papers/search?q=model&from={year}-12-31&to={year}-12-31",
        f"/papers/for-you?span=week&date={year}-12-31",
    ]
    inside = "1900" <= year <= "2999"
    for url in urls:
        r = visitor.get(url)
        assert r.status_code < 500, (url, r.status_code, r.text[:300])
        if url.startswith("/papers/") and "/for-you" not in url and not inside:
            assert r.status_code == 404 and "the year must be 1900 to 2999" in r.text, url
