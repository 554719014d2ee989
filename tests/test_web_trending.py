"""Trending on a quiet instance: the demo (an archive idle for months) keeps a full list after
one new upvote, on the page, the Atom feed and the API, on SQLite and PostgreSQL."""

import re
import time
import xml.etree.ElementTree as ET

from paperwire.demo import load_demo

from .storekit import TRUST
from .webkit import Visitor, add_user, site

ATOM = "{http://www.w3.org/2005/Atom}"


def surfaces(visitor: Visitor) -> tuple[list[str], list[str], list[str], str]:
    """Paper ids in trending order: the page, the Atom feed, the API; and the page."""
    page = visitor.get("/papers/trending")
    assert page.status_code == 200
    on_page = re.findall(r'class="card" id="paper-([^"]+)"', page.text)
    atom = visitor.get("/feeds/trending.atom")
    assert atom.status_code == 200
    entries = ET.fromstring(atom.content).iter(f"{ATOM}entry")
    in_atom = [e.findtext(f"{ATOM}id").rsplit("/papers/", 1)[1] for e in entries]
    api = visitor.get("/api/daily_papers", params={"sort": "trending", "limit": 100})
    assert api.status_code == 200
    in_api = [i["paper"]["id"] for i in api.json()]
    return on_page, in_atom, in_api, page.text


def test_one_vote_on_an_idle_demo_keeps_a_full_list(store, tmp_path):
    load_demo(store, TRUST)
    app, _ = site(store, tmp_path, page_size=30)
    visitor = Visitor(app)
    ranked, _ = app.state.site.trending.get()
    assert len(ranked) >= 50 and all(t.as_of is not None for t in ranked)
    on_page, in_atom, in_api, text = surfaces(visitor)
    assert len(on_page) == 30 and len(in_atom) >= 20 and len(in_api) >= 20
    assert "the last activity on this instance" in text
    # the feed's lists, as tabs: the demo's last day, its week and month, Trending current
    assert '<a href="/papers/trending" aria-current="page">Trending</a>' in text
    assert re.search(r'<a href="/papers/date/\d{4}-\d\d-\d\d">Daily</a>', text)
    # A paper from the middle of the list, on the feed (the API lists feed papers only).
    chosen = next(pid for pid in in_api[10:] if pid in on_page)
    before = on_page.index(chosen)

    anonymous = Visitor(app)
    deadline = time.monotonic() + 10  # until the page cache knows the data version and
    while time.monotonic() < deadline:  # keeps this page (before that it answers "off")
        if anonymous.get("/papers/trending").headers.get("x-cache") == "hit":
            break
        time.sleep(0.05)
    add_user(store, "fan")
    visitor.sign_in("fan")
    r = visitor.post(f"/papers/{chosen}/upvote", {"state": "1", "next": "/papers/trending"})
    assert r.status_code == 303
    # The same process, right away: the vote shows, to the voter and to the visitor whose
    # earlier view of the page was kept in the page cache (the new page is kept instead).
    again = anonymous.get("/papers/trending")
    assert re.findall(r'class="card" id="paper-([^"]+)"', again.text)[0] == chosen
    assert (
        re.findall(r'class="card" id="paper-([^"]+)"', anonymous.get("/papers/trending").text)[0]
        == chosen
    )
    ranked, _ = app.state.site.trending.get()
    assert ranked[0].paper_id == chosen and ranked[0].as_of is None
    assert len(ranked) >= 50

    on_page, in_atom, in_api, text = surfaces(visitor)
    for ids in (on_page, in_atom, in_api):
        assert len(ids) >= 20 and ids[0] == chosen
        assert len(set(ids)) == len(ids)  # the voted paper is not repeated further down
    assert on_page.index(chosen) < before
    # Each score says the moment it was ranked for: the voted paper's is now, those after it
    # stood at the earlier activity (so a lower score above a higher one is no contradiction);
    # a paper with no score shows no flame.
    scores = re.findall(r'<span class="score" title="trending score([^"]*)">.*?</span>', text)
    assert scores and ":" == scores[0][:1] and all(" as of " in s for s in scores[1:])
    assert re.search(r"</svg> \d+\.\d as of [A-Z][a-z]{2} \d+, \d{4}</span>", text)
    assert "</svg> 0.0" not in text
    # The page says which part is ranked as of now and which as of the earlier activity.
    assert "First the one paper with activity in the last 14 days; after it, the rank" in text
    assert "fewer than 50 papers reached the feed or got an upvote" in text
