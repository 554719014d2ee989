"""For you from a cold start in a real browser (Chromium via Playwright; issue 15, item 3): a
new reader describes a topic in their own words and the tab ranks the week by it, each card
naming the topic; "Since your last visit" explains itself on a first visit; the owner of a
collection ranks the feed for it from the collection's page. Every state is checked with
axe-core, at desktop and phone width in both colour schemes, and screenshotted."""

from __future__ import annotations

import re

import pytest

from paperwire.rank.foryou import ForYou

from .test_browser import browser, expect, sign_in  # noqa: F401 - the shared kit
from .test_browser_a11y import axe_source, checked_page  # noqa: F401 - axe-core, checks
from .test_browser_library import _shown, live_embedded  # noqa: F401 - the embedded site
from .test_search import embedder  # noqa: F401 - the session's embedding model fixture
from .test_web_foryou import _week, closest_pair
from .webkit import add_user

pytestmark = pytest.mark.browser
TOPIC = "Gaussian splatting of street scenes"


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_a_topic_starts_for_you_and_a_collection_ranks_its_own(
    browser,  # noqa: F811
    live_embedded,  # noqa: F811
    axe_source,  # noqa: F811
    scheme,
):
    url, store, _, app = live_embedded
    uid = add_user(store, "reader")
    with checked_page(browser, scheme, axe_source) as checks:
        page, check = checks.page, checks.check
        sign_in(page, url, "reader")
        page.get_by_role("link", name="For you").first.click()
        page.get_by_role("link", name=re.compile("This week")).click()
        expect(page.get_by_text("Nothing to learn from yet")).to_be_visible()
        check("44-for-you-cold-start")

        # A topic too short is refused with a reason; a real one ranks the week by meaning.
        field = page.get_by_label("Add a topic")
        field.evaluate("f => f.removeAttribute('minlength')")  # what a script could send
        field.fill("x")
        page.get_by_role("button", name="Add", exact=True).click()
        expect(page.get_by_role("status")).to_contain_text("A topic is 2 to 200 characters")
        page.get_by_label("Add a topic").fill(TOPIC)
        page.get_by_role("button", name="Add", exact=True).click()
        expect(page.get_by_role("status")).to_contain_text("Topic added")
        cards = page.locator("article.card")
        expect(cards.first).to_be_visible()
        expect(cards.first.locator(".why")).to_have_text(f"about “{TOPIC}”, one of your topics")
        week = store.feed.paper_ids(start=_week(app)[0], end=_week(app)[1])
        model = ForYou(store, app.state.site.search.semantic())
        want = [p.paper_id for p in model.rank([], week, topics=[TOPIC]).picks]
        shown = _shown(page)
        assert len(shown) > 3 and shown == want[: len(shown)]
        check("45-for-you-topic")

        # Since your last visit: on a first visit, it says what it will show.
        page.get_by_role("link", name="Since your last visit").click()
        expect(page.get_by_text("This is your first visit")).to_be_visible()
        check("46-for-you-since-first-visit")

        # A collection's owner ranks the feed by its papers, from the collection's page.
        shelf = store.collections.create(uid, "Crowds to read")
        crowd = closest_pair(app, store, week)  # a paper with a close one in the week
        store.collections.add(shelf.id, crowd)
        page.goto(f"{url}/collections/{shelf.id}")
        page.get_by_role("link", name="New papers for this collection").click()
        expect(page.locator("h1")).to_have_text("For you: papers for “Crowds to read”")
        rest = [i for i in week if i != crowd]
        want = [p.paper_id for p in model.rank([crowd], rest).picks]
        shown = _shown(page)
        assert shown == want[: len(shown)]
        expect(page.locator("article.card .why a").first).to_have_attribute(
            "href", f"/papers/{crowd}"
        )
        check("47-for-you-collection")

        # Without the topic, the tab ranks by the saved paper alone.
        page.goto(f"{url}/papers/for-you?span=week")
        page.get_by_role("button", name=f"Remove the topic “{TOPIC}”").click()
        expect(page.get_by_role("status")).to_contain_text("Topic removed")
        expect(page.locator(".foryou-topics li")).to_have_count(0)
        assert _shown(page) == want[: len(_shown(page))]
        expect(page.get_by_text("one of your topics")).to_have_count(0)
    assert not checks.problems, "\n".join(checks.problems)
