"""The JSON API speaks one language: who must sign in (as the OpenAPI document and Swagger
UI show it), and how errors are answered."""

from __future__ import annotations

import pytest

from .webkit import Visitor, add_user


@pytest.fixture
def api(web):
    return Visitor(web[0]).client


def _operations(spec):
    for path, item in spec["paths"].items():
        for method, op in item.items():
            yield method.upper(), path, op


PUBLIC = {
    ("GET", "/api/daily_papers"),
    ("GET", "/api/papers/search"),
    ("GET", "/api/papers"),
    ("GET", "/api/papers/{arxiv_id}"),
    ("GET", "/api/papers/{arxiv_id}/similar"),
    ("GET", "/api/users/{username}/collections"),
}
# open to anyone, answered differently to who signed in
OPTIONAL = {
    ("GET", "/api/papers/{arxiv_id}/comments"),  # hidden comments, to admins
    ("GET", "/api/collections/{collection_id}"),  # a private one, to its owner
    ("POST", "/api/subscriptions"),  # the account's own confirmed address at once
}


def test_security_only_where_signing_in_matters(api):
    ops = {(m, p): op for m, p, op in _operations(api.get("/openapi.json").json())}
    for key in PUBLIC:
        assert ops[key]["security"] == [], key  # no lock in Swagger UI
    for key in OPTIONAL:
        assert ops[key]["security"][0] == {} and {"bearer": []} in ops[key]["security"], key
    for (method, path), op in ops.items():
        if (method, path) in PUBLIC | OPTIONAL:
            continue
        assert {} not in op["security"] and {"bearer": []} in op["security"], (method, path)
        session = next(s for s in op["security"] if "session" in s)
        # reads take the session cookie alone; writes also its X-CSRF-Token
        assert ("csrf" in session) == (method != "GET"), (method, path)


def test_anonymous_writes_are_asked_to_sign_in_not_for_a_csrf_header(web, api):
    pid = web[2][0]
    api.get("/papers")  # an anonymous visitor's CSRF cookie changes nothing
    for method, url, body in [
        ("POST", "/api/collections", {"name": "Reading"}),
        ("POST", f"/api/papers/{pid}/upvote", None),
        ("POST", f"/api/papers/{pid}/comments", {"body": "hi"}),
        ("PATCH", "/api/subscriptions/1", {"frequency": "daily"}),
        ("DELETE", "/api/collections/1", None),
    ]:
        r = api.request(method, url, json=body)
        assert r.status_code == 401, (method, url, r.text)
        assert r.headers["www-authenticate"] == "Bearer"
        assert r.json() == {"error": "sign in (a Bearer token or a session)"}
    # a signed-in session without its header: still the CSRF 403
    add_user(web[1], "csrfless")
    v = Visitor(web[0])
    v.sign_in("csrfless")
    r = v.client.post("/api/collections", json={"name": "Reading"})
    assert r.status_code == 403 and "X-CSRF-Token" in r.json()["error"]


def test_anonymous_reads_that_need_an_account_say_how_to_sign_in(web, api):
    """Reads of one's own things, asked by nobody: the same 401 as writes, with
    ``WWW-Authenticate: Bearer`` (an HTML page still says "Sign in first.")."""
    for url in ("/api/whoami", "/api/collections", "/api/subscriptions", "/api/papers/pending"):
        r = api.get(url)
        assert r.status_code == 401, (url, r.text)
        assert r.headers["www-authenticate"] == "Bearer", url
        assert r.json() == {"error": "sign in (a Bearer token or a session)"}, url


def test_every_api_404_is_json_with_the_same_words(web, api):
    pid = web[2][0]
    owner = add_user(web[1], "owner404")
    private = web[1].collections.create(owner, "Mine", "", "private")
    cases = {
        "/api/nonexistent": "No such API path: /api/nonexistent.",
        f"/api/papers/{pid}/nonexistent": f"No such API path: /api/papers/{pid}/nonexistent.",
        "/api/collections/abc": "No such collection: abc.",
        "/api/collections/99999": "No such collection: 99999.",
        f"/api/collections/{private.id}": f"No such collection: {private.id}.",
        "/api/papers/9999.99999": "No such paper: 9999.99999.",
        "/api/papers/9999.99999/comments": "No such paper: 9999.99999.",
        "/api/papers/9999.99999/similar": "No such paper: 9999.99999.",
        "/api/users/nobody/collections": "No such user: nobody.",
    }
    for url, message in cases.items():
        r = api.get(url)
        assert r.status_code == 404, url
        assert r.headers["content-type"] == "application/json", url
        assert r.json() == {"error": message}, url
    # and the writes' (signed in)
    token = web[1].accounts.create_token(owner, "t")
    auth = {"Authorization": f"Bearer {token}"}
    r = api.post("/api/comments/99999/report", json={"reason": "spam"}, headers=auth)
    assert r.json() == {"error": "No such comment: 99999."}
    r = api.delete("/api/subscriptions/99999", headers=auth)
    assert r.json() == {"error": "No such subscription of yours: 99999."}
    r = api.delete(f"/api/collections/{private.id}/items/{pid}", headers=auth)
    assert r.json() == {"error": f"No such paper in this collection: {pid}."}


def test_a_body_that_is_not_json_is_told_where(web, api):
    owner = add_user(web[1], "jsonless")
    auth = {
        "Authorization": f"Bearer {web[1].accounts.create_token(owner, 't')}",
        "Content-Type": "application/json",
    }
    r = api.post("/api/collections", content=b'{"name": "x",\n  oops}', headers=auth)
    # 400, like every other body the API cannot take (a field of the wrong type, say)
    assert r.status_code == 400
    assert r.json() == {
        "error": "the body is not valid JSON: Expecting property name enclosed in double "
        "quotes at line 2 column 3"
    }
    assert api.post("/api/collections", json={"name": 5}, headers=auth).status_code == 400
    r = api.post("/api/subscriptions", content=b"{", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"].startswith("the body is not valid JSON: ")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("/api/papers/search?from=bogus", "from must be a date like 2026-03-01, not 'bogus'"),
        ("/api/papers/search?to=2026-13-01", "to must be a date like 2026-03-01, not '2026-13-01'"),
        (
            "/api/papers/search?q=x&from=20260301",
            "from must be a date like 2026-03-01, not '20260301'",
        ),
        ("/api/papers/search?to=", "to must be a date like 2026-03-01, not ''"),
        ("/api/daily_papers?date=bogus", "date must be a date like 2026-03-01, not 'bogus'"),
        (
            "/api/daily_papers?date=2026-02-30",
            "date must be a date like 2026-03-01, not '2026-02-30'",
        ),
        ("/api/daily_papers?week=bogus", "week must be a week like 2026-W09, not 'bogus'"),
        ("/api/daily_papers?month=2026-3", "month must be a month like 2026-03, not '2026-3'"),
    ],
)
def test_date_parameters_are_refused_in_one_wording(api, url, message):
    r = api.get(url)
    assert r.status_code == 400 and r.json() == {"error": message}


def test_times_are_utc_with_z_everywhere(web, api):
    uid = add_user(web[1], "zulu", password="correct horse battery")
    auth = {"Authorization": f"Bearer {web[1].accounts.create_token(uid, 't')}"}
    r = api.post(
        "/api/subscriptions",
        json={"email": "zulu@example.org", "kind": "trending", "frequency": "daily"},
        headers=auth,
    )
    assert r.status_code in (200, 202), r.text
    subs = api.get("/api/subscriptions", headers=auth).json()
    assert subs and all(s["createdAt"].endswith("Z") for s in subs), subs
    made = api.post("/api/collections", json={"name": "Times"}, headers=auth).json()
    assert made["createdAt"].endswith("Z") and made["updatedAt"].endswith("Z")
    v = Visitor(web[0])
    v.sign_in("zulu")
    export = v.get("/settings/export").json()
    assert export["exported_at"].endswith("Z")
    times = [
        value
        for rows in export.values()
        if isinstance(rows, list)
        for row in rows
        if isinstance(row, dict)
        for key, value in row.items()
        if key.endswith("_at") and value
    ]
    times += [export["collections"][0][key] for key in ("created_at", "updated_at")]
    assert times and all(t.endswith("Z") for t in times), times


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"q": "x", "sort": "bogus"}, "sort: "),
        ({"q": "x", "from": "bogus"}, "from must be a date like 2026-03-01, not 'bogus'"),
        ({"q": "x", "code": "maybe"}, "code: "),
    ],
)
def test_feeds_refuse_bad_parameters_in_plain_text(api, params, words):
    r = api.get("/feeds/search.atom", params=params)
    assert r.status_code == 400, r.text[:200]
    assert r.headers["content-type"].startswith("text/plain")
    assert words in r.text and "<" not in r.text
    # the API says no to the same
    api_params = {k if k != "code" else "has_code": v for k, v in params.items()}
    assert api.get("/api/papers/search", params=api_params).status_code == 400


def test_search_feed_takes_the_searchs_sort(api):
    r = api.get("/feeds/search.atom", params={"q": "vision", "sort": "upvotes"})
    assert r.status_code == 200 and "sort=upvotes" in r.text


def test_page_size_maxima_are_hugging_faces_and_say_so(api):
    spec = api.get("/openapi.json").json()["paths"]

    def limit(path):
        return next(p for p in spec[path]["get"]["parameters"] if p["name"] == "limit")

    daily, search = limit("/api/daily_papers"), limit("/api/papers/search")
    assert daily["schema"]["maximum"] == 100 and search["schema"]["maximum"] == 120
    for param in (daily, search):
        assert "Hugging Face" in param["description"], param
    assert api.get("/api/daily_papers", params={"limit": 101}).status_code == 400
    assert api.get("/api/papers/search", params={"q": "x", "limit": 120}).status_code == 200
