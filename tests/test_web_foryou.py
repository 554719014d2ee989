"""The For-you tab (issue 15, item 3): the feed's papers ranked for a signed-in reader by
what they liked, with the liked paper behind each card; what they dismiss stays out, and new
feedback changes the order — the same ranking `paperwire recommend` gives."""

from __future__ import annotations

import re
from datetime import date, timedelta

from paperwire.rank.foryou import ForYou
from paperwire.store import schema as t

from .storekit import search_engine
from .test_foryou import CROWD_NET, SPLAT_STREET
from .test_search import embedder  # noqa: F401 - the session's embedding model fixture
from .test_web_search import searchable  # noqa: F401 - the site with every paper embedded
from .webkit import Visitor, add_user

CARD = re.compile(r'id="paper-([^"]+)"')


def _order(html: str) -> list[str]:
    return CARD.findall(html)


def test_for_you_ranks_the_feed_by_what_the_reader_liked(searchable):  # noqa: F811
    app, store, ids, _ = searchable
    # the seeded feed days (today and the two before) in one week, whatever the weekday
    with store.begin() as conn:
        conn.execute(t.feed_entries.update().values(feed_date=date.today()))
    uid = add_user(store, "ada")
    assert Visitor(app).get("/papers/for-you").headers["location"].startswith("/signin")
    v = Visitor(app)
    v.sign_in("ada")
    assert 'href="/papers/for-you"' in v.get("/papers").text
    cold = v.get("/papers/for-you?span=week")
    assert cold.status_code == 200 and "Nothing to learn from yet" in cold.text
    assert 'id="foryou-digest-form"' not in cold.text  # nothing to rank an e-mail by yet
    assert "Get trending papers in your email inbox" not in cold.text  # not this tab's e-mail
    assert v.get("/papers/for-you?span=year").status_code == 400

    # nothing to learn from yet: the week's papers newest first, by the dates their cards show
    week = v.get("/papers/for-you?span=week")
    cards = {c.id: c for c in store.feed.period(*_week(app), sort="submitted", limit=1000)[0]}
    shown = _order(week.text)
    when = {i: (c.published.date() if c.published else c.feed_date) for i, c in cards.items()}
    assert len(shown) == 10 and "newest first" in week.text
    assert [when[i] for i in shown] == sorted((when[i] for i in shown), reverse=True)
    oldest_shown = min(when[i] for i in shown)
    assert all(when[i] <= oldest_shown for i in cards if i not in shown)
    liked = closest_pair(app, store, list(cards))  # a paper of the week's feed, upvoted
    store.feed.set_upvote(uid, liked, True)
    page = v.get("/papers/for-you?span=week")
    shown = _order(page.text)
    assert len(shown) > 3
    # exactly the model's order (what `paperwire recommend --batch` prints)
    model = ForYou(store, app.state.site.search.semantic())
    candidates = [c.id for c in store.feed.period(*_week(app), sort="submitted", limit=1000)[0]]
    unseen = [c for c in candidates if c != liked]
    want = [p.paper_id for p in model.rank([liked], unseen).picks]
    assert shown == want[: len(shown)] and liked not in shown  # known to the reader
    assert "(1 more that you saved, upvoted or marked “not interested” is left out)" in page.text
    # each card the model gives a reason says it; the others (weak matches) say none
    reasons = sum(p.because == liked for p in model.rank([liked], unseen).picks[: len(shown)])
    assert page.text.count(f'like <a href="/papers/{liked}">') == reasons >= 1

    # "not interested" takes the top card off; more feedback changes the order
    top = shown[0]
    store.signals.mark(uid, top, "dismissed", True)
    after = _order(v.get("/papers/for-you?span=week").text)
    assert top not in after
    other = next(i for i in shown[::-1] if i not in (liked, top))
    store.signals.mark(uid, other, "more_like_this", True)
    again = _order(v.get("/papers/for-you?span=week").text)
    assert again != after and top not in again


def closest_pair(app, store, papers: list[str]) -> str:
    """Of ``papers``, one with the closest neighbour among them (so that a card has a
    reason to give)."""
    import numpy as np

    vectors = app.state.site.search.semantic()
    V = np.stack([vectors.vector(store.papers.seq_of(i)) for i in papers])
    V /= np.linalg.norm(V, axis=1, keepdims=True)
    S = V @ V.T
    np.fill_diagonal(S, -1)
    return papers[int(S.max(axis=1).argmax())]


def _week(app):
    from paperwire.core import periods

    period = periods.week_of(app.state.site.clock.feed_date())
    return period.start, period.end


def test_a_quiet_site_ranks_its_latest_week_not_an_empty_one(searchable, monkeypatch):  # noqa: F811
    """The demo's feed ends months ago: This week is the week of the latest feed day."""
    from datetime import timedelta

    app, store, ids, _ = searchable
    clock = app.state.site.clock
    later = clock.feed_date() + timedelta(days=60)
    monkeypatch.setattr(clock, "feed_date", lambda moment=None: later)
    uid = add_user(store, "ada")
    store.feed.set_upvote(uid, ids[-1], True)
    v = Visitor(app)
    v.sign_in("ada")
    week = v.get("/papers/for-you?span=week")
    assert week.status_code == 200 and len(_order(week.text)) > 3
    day = v.get("/papers/for-you?span=day")
    assert len(_order(day.text)) >= 3


def _candidates(store, app):
    return store.feed.paper_ids(start=_week(app)[0], end=_week(app)[1])


def test_topics_start_the_tab_and_rank_it_by_meaning(web_both, embedder):  # noqa: F811
    """The cold start by free text, on both backends: topics kept by a CSRF form that says
    what it did, the tab then in exactly the model's order, each card naming its topic."""
    app, store, _, _ = web_both
    search_engine(store, embedder=embedder).indexer().embed_missing()
    uid = add_user(store, "ada")
    v = Visitor(app)
    v.sign_in("ada")
    cold = v.get("/papers/for-you?span=week")
    assert "Nothing to learn from yet" in cold.text and 'id="foryou-topic-form"' in cold.text
    assert v.client.post("/papers/for-you/topics", data={"topic": "x y"}).status_code == 403
    short = v.post("/papers/for-you/topics", {"topic": " x ", "span": "week"})
    assert short.status_code == 303 and short.headers["location"].endswith("topics=short")
    assert "A topic is 2 to 200 characters" in v.get(short.headers["location"]).text
    topic = "Gaussian splatting of street scenes"
    added = v.post("/papers/for-you/topics", {"topic": f"  {topic} ", "span": "week"})
    assert added.headers["location"] == "/papers/for-you?span=week&topics=added"
    page = v.get(added.headers["location"])
    assert "Topic added" in page.text and store.readers.topics(uid) == [topic]
    assert "The feed's papers ranked by your topic;" in page.text
    want = ForYou(store, app.state.site.search.semantic()).rank(
        [], _candidates(store, app), topics=[topic]
    )
    shown = _order(page.text)
    assert len(shown) > 3 and shown == [p.paper_id for p in want.picks][: len(shown)]
    assert f"about “{topic}”, one of your topics" in page.text
    again = v.post("/papers/for-you/topics", {"topic": topic.upper(), "span": "week"})
    assert again.headers["location"].endswith("topics=exists")
    hostile = "<script>alert(1)</script> diffusion"
    v.post("/papers/for-you/topics", {"topic": hostile, "span": "week"})
    html = v.get("/papers/for-you?span=week").text
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    for gone in (topic, hostile):
        r = v.post("/papers/for-you/topics", {"remove": gone, "span": "week"})
        assert r.headers["location"].endswith("topics=removed")
    assert "Nothing to learn from yet" in v.get("/papers/for-you?span=week").text
    assert (
        v.post("/papers/for-you/topics", {"topic": "x" * 201})
        .headers["location"]
        .endswith("topics=short")
    )


def test_a_collection_ranks_the_feed_for_its_owner_only(web_both, embedder):  # noqa: F811
    app, store, ids, _ = web_both
    search_engine(store, embedder=embedder).indexer().embed_missing()
    uid = add_user(store, "ada")
    add_user(store, "bob")
    reading = store.collections.create(uid, "Splatting <reading> list")
    store.collections.add(reading.id, ids[-1])
    store.feed.set_upvote(uid, ids[-2], True)  # liked, but not in the collection
    store.readers.add_topic(uid, "crowd counting")  # a topic: not this collection's
    v = Visitor(app)
    v.sign_in("ada")
    url = f"/papers/for-you?span=week&collection_id={reading.id}"
    page = v.get(url)
    assert page.status_code == 200
    assert "For you: papers for “Splatting &lt;reading&gt; list”" in page.text
    assert "ranked by the 1 paper in your collection" in page.text
    unseen = [c for c in _candidates(store, app) if c != ids[-1]]
    want = ForYou(store, app.state.site.search.semantic()).rank([ids[-1]], unseen)
    shown = _order(page.text)
    assert shown == [p.paper_id for p in want.picks][: len(shown)] and ids[-1] not in shown
    assert "one of your topics" not in page.text
    assert f'href="/papers/for-you?span=week&amp;collection_id={reading.id}' in page.text
    assert f'href="/collections/{reading.id}"' in page.text
    # the owner's collection page links to it; nobody else may rank by it
    assert url.replace("&", "&amp;") in v.get(f"/collections/{reading.id}").text
    bob = Visitor(app)
    bob.sign_in("bob")
    assert bob.get(url).status_code == 404
    assert v.get("/papers/for-you?collection_id=0").status_code == 400
    assert v.get("/papers/for-you?collection_id=99999999999").status_code == 400
    empty = store.collections.create(uid, "Empty")
    assert (
        "This collection has no papers yet"
        in v.get(f"/papers/for-you?collection_id={empty.id}").text
    )


def test_since_your_last_visit_ranks_what_reached_the_feed_since(web_both, embedder):  # noqa: F811
    app, store, ids, _ = web_both
    search_engine(store, embedder=embedder).indexer().embed_missing()
    uid = add_user(store, "ada")
    store.readers.add_topic(uid, "crowd counting")
    v = Visitor(app)
    v.sign_in("ada")
    first = v.get("/papers/for-you?span=new")
    assert "This is your first visit" in first.text and _order(first.text) == []
    # The visit before this one ended after every paper then on the feed; two arrive since.
    newest = max(store.feed.entry(i).submitted_at for i in ids)
    with store.begin() as conn:
        conn.execute(t.reader_visits.update().values(previous_at=newest + timedelta(seconds=1)))
    assert (
        "No new papers on the feed since your last visit" in v.get("/papers/for-you?span=new").text
    )
    curator = store.accounts.create_user("cur", "cur@example.org", None, role="curator")
    fresh = [p for p in (CROWD_NET, SPLAT_STREET) if p not in ids]
    for pid in fresh:
        store.feed.submit(pid, curator, date.today())
    page = v.get("/papers/for-you?span=new")
    assert sorted(_order(page.text)) == sorted(fresh)
    assert "Since " in page.text and f"· {len(fresh)} papers" in page.text
    assert store.feed.paper_ids(entered_after=newest) == fresh[::-1]  # latest entered first


def test_the_site_counts_new_feed_papers_words_in_the_background(searchable):  # noqa: F811
    import time

    app, store, ids, _ = searchable
    site = app.state.site
    site.warm_for_you()
    deadline = time.monotonic() + 30
    while (site.foryou is None or site._warming.locked()) and time.monotonic() < deadline:
        time.sleep(0.05)
    held = {key[0] for key in site.foryou._terms}
    assert {p.seq for p in store.papers.texts_by_id(ids).values()} <= held


def test_a_card_says_which_link_it_shares_with_the_readers_paper(searchable):  # noqa: F811
    app, store, _, _ = searchable
    uid = add_user(store, "linker")
    week = [c.id for c in store.feed.period(*_week(app), sort="submitted", limit=1000)[0]]
    liked, linked = week[0], week[-1]
    with store.begin() as conn:
        for pid, url in ((liked, "Code: github.com/Lab-X/one"), (linked, "github.com/lab-x/2")):
            conn.execute(t.papers.update().where(t.papers.c.id == pid).values(comment=url))
    store.feed.set_upvote(uid, liked, True)
    v = Visitor(app)
    v.sign_in("linker")
    page = v.get("/papers/for-you?span=week").text
    assert _order(page)[0] == linked
    assert f'links github.com/lab-x, like <a href="/papers/{liked}">' in page
