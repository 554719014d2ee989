"""The For-you tab (issue 15, item 3): the feed's papers ranked for a signed-in reader by
what they liked, with the liked paper behind each card; what they dismiss stays out, and new
feedback changes the order — the same ranking `paperwire recommend` gives."""

from __future__ import annotations

import re

from paperwire.rank.foryou import ForYou

from .test_search import embedder  # noqa: F401 - the session's embedding model fixture
from .test_web_search import searchable  # noqa: F401 - the site with every paper embedded
from .webkit import Visitor, add_user

CARD = re.compile(r'id="paper-([^"]+)"')


def _order(html: str) -> list[str]:
    return CARD.findall(html)


def test_for_you_ranks_the_feed_by_what_the_reader_liked(searchable):  # noqa: F811
    app, store, ids, _ = searchable
    uid = add_user(store, "ada")
    assert Visitor(app).get("/papers/for-you").headers["location"].startswith("/signin")
    v = Visitor(app)
    v.sign_in("ada")
    assert 'href="/papers/for-you"' in v.get("/papers").text
    cold = v.get("/papers/for-you?span=week")
    assert cold.status_code == 200 and "Nothing to learn from yet" in cold.text
    assert v.get("/papers/for-you?span=year").status_code == 400

    week = v.get("/papers/for-you?span=week")
    assert _order(week.text) == []
    liked = ids[-1]  # an older paper of the feed, liked (upvoted)
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
    assert f'like <a href="/papers/{liked}">' in page.text and "one of yours" in page.text

    # "not interested" takes the top card off; more feedback changes the order
    top = shown[0]
    store.signals.mark(uid, top, "dismissed", True)
    after = _order(v.get("/papers/for-you?span=week").text)
    assert top not in after
    other = next(i for i in shown[::-1] if i not in (liked, top))
    store.signals.mark(uid, other, "more_like_this", True)
    again = _order(v.get("/papers/for-you?span=week").text)
    assert again != after and top not in again


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
