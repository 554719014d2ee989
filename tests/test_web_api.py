"""The JSON API (Hugging Face-compatible) and the Atom feeds, including a real Hugging Face
client pointed at a Paperwire server."""

import json
import re
from datetime import date

import pytest
from lxml import etree

from paperwire.core import periods
from paperwire.ingest.hf_daily import parse_daily_papers

from .replay import FIXTURES
from .webkit import Visitor, add_user, serve_in_thread


@pytest.fixture
def api(web):
    return Visitor(web[0]).client


def test_daily_papers_shape_matches_hugging_face(web, api):
    app, store, ids, _ = web
    r = api.get("/api/daily_papers", params={"date": date.today().isoformat()})
    assert r.status_code == 200
    items = r.json()
    assert len(items) == 5 and {i["paper"]["id"] for i in items} == set(ids[:5])
    hf = json.loads((FIXTURES / "hf-api" / "daily_papers_2024-10-25.first2.json").read_text())
    for key in hf[0]:
        if key != "mediaUrls":
            assert key in items[0], key
    for key in ("id", "authors", "publishedAt", "title", "summary", "upvotes", "discussionId"):
        assert key in items[0]["paper"], key
    assert items[0]["submittedBy"]["name"] == "curator1"
    assert items[0]["publishedAt"].endswith("Z")
    # our own output parses with the same parser we use for Hugging Face's answers
    items, errors = parse_daily_papers(r.json())
    assert len(items) == 5 and not errors
    assert {i.submitted_by for i in items} == {"curator1"}


def test_daily_papers_parameters_and_paging(web, api):
    ids = web[2]
    week = date.today().isocalendar()
    r = api.get("/api/daily_papers", params={"limit": 4})
    assert len(r.json()) == 4 and 'rel="next"' in r.headers["link"]
    assert r.headers["x-total-count"] == "15"
    nxt = re.search(r"<http://testserver([^>]+)>", r.headers["link"]).group(1)
    page2 = api.get(nxt).json()
    assert len(page2) == 4 and not {i["paper"]["id"] for i in page2} & {
        i["paper"]["id"] for i in r.json()
    }
    last = api.get("/api/daily_papers", params={"limit": 4, "p": 3})
    assert len(last.json()) == 3 and "link" not in last.headers
    assert (
        len(api.get("/api/daily_papers", params={"week": f"{week[0]}-W{week[1]:02d}"}).json()) >= 5
    )
    assert (
        len(api.get("/api/daily_papers", params={"month": date.today().strftime("%Y-%m")}).json())
        >= 5
    )
    assert (
        len(api.get("/api/daily_papers", params={"submitter": "curator1", "limit": 100}).json())
        == 15
    )
    assert api.get("/api/daily_papers", params={"submitter": "nobody"}).json() == []
    trending = api.get("/api/daily_papers", params={"sort": "trending", "limit": 100}).json()
    assert {i["paper"]["id"] for i in trending} == set(ids)


@pytest.mark.parametrize(
    "params, message",
    [
        ({"date": "2026-02-30"}, "date must be a date like 2026-03-01, not '2026-02-30'"),
        ({"date": "yesterday"}, "date must be a date like 2026-03-01"),
        ({"week": "2026-W99"}, "week must be a week like 2026-W09"),
        ({"month": "2026-13"}, "month must be a month like 2026-03"),
        ({"limit": 101}, "limit"),
        ({"limit": 0}, "limit"),
        ({"p": -1}, "p"),
        ({"sort": "random"}, "sort"),
        ({"date": "2026-01-01", "week": "2026-W01"}, "at most one"),
    ],
)
def test_daily_papers_bad_parameters(api, params, message):
    r = api.get("/api/daily_papers", params=params)
    assert r.status_code == 400 and message in r.json()["error"]


def test_paper_endpoints(web, api):
    pid = web[2][0]
    r = api.get(f"/api/papers/{pid}")
    assert r.status_code == 200 and r.json()["id"] == pid and r.json()["submittedOnDailyBy"]
    assert api.get(f"/api/papers/{pid}v2").json()["id"] == pid
    assert api.get("/api/papers/2501.00001").status_code == 404
    assert api.get("/api/papers/not-an-id").status_code == 400
    assert len(api.get("/api/papers", params={"limit": 7}).json()) == 7
    title = web[1].feed.card(pid).title
    found = api.get("/api/papers/search", params={"q": title}).json()
    assert found[0]["paper"]["id"] == pid
    assert api.get("/api/papers/search", params={"q": "x", "limit": 121}).status_code == 400
    # no query lists every paper, newest first (what HfApi.list_papers() asks for)
    recent = api.get("/api/papers/search", params={"q": "", "limit": 5})
    assert [i["paper"]["id"] for i in recent.json()] == [c.id for c in web[1].feed.latest(limit=5)]
    assert recent.headers["x-total-count"] == "60" and 'rel="next"' in recent.headers["link"]


def test_writes_need_auth_and_csrf(web, api):
    pid = web[2][0]
    assert api.post(f"/api/papers/{pid}/upvote").status_code == 401  # no token, no session
    add_user(web[1], "jsuser")
    v = Visitor(web[0])
    v.sign_in("jsuser")
    v.get("/papers")
    r = v.client.post(f"/api/papers/{pid}/upvote", headers={"X-CSRF-Token": v.csrf})
    assert r.status_code == 200 and r.json()["upvoted"]
    assert v.client.post(f"/api/papers/{pid}/upvote").status_code == 403


def test_token_api_writes(web, api):
    app, store, ids, _ = web
    uid = add_user(store, "bot")
    token = store.accounts.create_token(uid, "ci")
    auth = {"Authorization": f"Bearer {token}"}
    pid = ids[1]
    assert api.post(f"/api/papers/{pid}/upvote", headers=auth).json()["upvotes"] == 1
    assert api.post(f"/api/papers/{pid}/upvote", headers=auth).json()["upvotes"] == 1
    assert api.delete(f"/api/papers/{pid}/upvote", headers=auth).json()["upvotes"] == 0
    r = api.post(f"/api/papers/{pid}/comments", headers=auth, json={"body": "via **API**"})
    assert r.status_code == 201
    reply = api.post(
        f"/api/papers/{pid}/comments",
        headers=auth,
        json={"body": "reply", "parentId": r.json()["id"]},
    )
    assert reply.status_code == 201
    thread = api.get(f"/api/papers/{pid}/comments").json()
    assert thread[0]["html"] == "<p>via <strong>API</strong></p>\n" and thread[0]["replies"]
    assert api.post(f"/api/papers/{pid}/comments", headers=auth, json={}).status_code == 400
    assert (
        api.post(f"/api/papers/{pid}/comments", headers=auth, content=b"{not json").status_code
        == 400
    )
    r = api.post("/api/daily_papers", headers=auth, json={"arxivId": ids[0]})
    assert r.status_code == 409 and "Already on the feed" in r.json()["error"]
    r = api.post("/api/papers/index", headers=auth, json={"arxivId": ids[0]})
    assert r.status_code == 200 and r.json()["id"] == ids[0]
    r = api.post("/api/papers/index", headers=auth, json={"arxivId": "nonsense"})
    assert r.status_code == 400


def test_huge_and_malformed_bodies(web, api):
    uid = add_user(web[1], "big")
    auth = {"Authorization": f"Bearer {web[1].accounts.create_token(uid, 't')}"}
    pid = web[2][0]
    r = api.post(
        f"/api/papers/{pid}/comments",
        headers=auth,
        content=b"x" * 2_000_000,
    )
    assert r.status_code == 413
    r = api.post(
        f"/api/papers/{pid}/comments", headers={**auth, "Content-Length": "-5"}, content=b""
    )
    assert r.status_code in (400, 413)


def test_openapi_and_docs(api):
    spec = api.get("/openapi.json").json()
    for path in (
        "/api/daily_papers",
        "/api/papers/search",
        "/api/papers/{arxiv_id}",
        "/api/papers/index",
        "/api/papers/{arxiv_id}/upvote",
        "/api/papers/{arxiv_id}/comments",
    ):
        assert path in spec["paths"], path
    # The documented order: subscriptions, then the papers API as Hugging Face lists it.
    assert list(spec["paths"])[:3] == [
        "/api/subscriptions",
        "/api/subscriptions/{sub_id}",
        "/api/daily_papers",
    ]
    assert api.get("/api/docs").status_code == 200


ATOM = "{http://www.w3.org/2005/Atom}"


def test_atom_feeds(web, api):
    app, store, ids, _ = web
    org = store.accounts.create_organization("ai2", "Allen AI")
    store.accounts.set_paper_organization(ids[0], org)
    for url, expected in [
        ("/feeds/daily.atom", 5),
        ("/feeds/weekly.atom", None),
        ("/feeds/trending.atom", 15),
        ("/feeds/organizations/ai2.atom", 1),
        (f"/feeds/daily.atom?date={date.today()}", 5),
    ]:
        r = api.get(url)
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/atom+xml")
        root = etree.fromstring(r.content)
        entries = root.findall(f"{ATOM}entry")
        if expected is not None:
            assert len(entries) == expected, url
        assert root.find(f"{ATOM}id").text and root.find(f"{ATOM}updated").text
        entry = entries[0]
        assert entry.find(f"{ATOM}link").get("href").startswith("http://testserver/papers/")
        assert entry.find(f"{ATOM}author/{ATOM}name").text
    # The feeds readers subscribe to keep one title (a reader names the feed by it) and say
    # the period in their subtitle; a given day's feed names the day.
    day = periods.day(date.today()).label
    latest = etree.fromstring(api.get("/feeds/daily.atom").content)
    assert latest.findtext(f"{ATOM}title") == "Paperwire: Daily Papers"
    assert latest.findtext(f"{ATOM}subtitle") == day
    dated = etree.fromstring(api.get(f"/feeds/daily.atom?date={date.today()}").content)
    assert dated.findtext(f"{ATOM}title") == f"Paperwire: Daily Papers, {day}"
    assert dated.find(f"{ATOM}subtitle") is None
    week = etree.fromstring(api.get("/feeds/weekly.atom").content)
    assert week.findtext(f"{ATOM}title") == "Paperwire: Daily Papers of the week"
    assert week.findtext(f"{ATOM}subtitle") == periods.week_of(date.today()).label
    title = store.feed.card(ids[0]).title
    r = api.get("/feeds/search.atom", params={"q": title})
    assert etree.fromstring(r.content).find(f"{ATOM}entry/{ATOM}title").text == title
    assert api.get("/feeds/daily.atom?date=bad").status_code == 400
    assert api.get("/feeds/organizations/none.atom").status_code == 404


@pytest.fixture
def live_server(web):
    with serve_in_thread(web[0]) as url:
        yield url


def test_hugging_face_hub_client_works_against_paperwire(web, live_server, monkeypatch):
    """The official ``huggingface_hub`` client, pointed at Paperwire, reads the feed, a paper
    and search results."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    from huggingface_hub import HfApi

    store, ids = web[1], web[2]
    hf = HfApi(endpoint=live_server, token=False)
    daily = list(hf.list_daily_papers(date=date.today().isoformat()))
    assert {p.id for p in daily} == set(ids[:5])
    assert all(p.title and p.summary and p.submitted_by.fullname for p in daily)
    info = hf.paper_info(ids[0])
    card = store.feed.card(ids[0])
    assert info.title == card.title and [a.name for a in info.authors] == card.authors
    assert info.published_at is not None or card.published is None
    found = list(hf.list_papers(query=card.title, limit=5))
    assert found[0].id == ids[0]
    week = date.today().isocalendar()
    assert list(hf.list_daily_papers(week=f"{week[0]}-W{week[1]:02d}", limit=100))
    from huggingface_hub.errors import HfHubHTTPError

    with pytest.raises(HfHubHTTPError):
        hf.paper_info("2501.00001")
