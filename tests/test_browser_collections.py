"""Collections and "not interested" in a real browser (Chromium via Playwright): save a paper
from a card, move it into a new collection, see it on the collection page, hide another card
from the feed and bring it back. Screenshots go to test-artifacts/screenshots/."""

import re

from .test_browser import browser, expect, live, page, shot  # noqa: F401 - the shared kit
from .webkit import PASSWORD, add_user


def _sign_in(page, url, name):  # noqa: F811
    page.goto(f"{url}/signin")
    page.get_by_label("User name or e-mail").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{url}/papers")


def test_save_to_a_new_collection_and_hide_a_card(page, live):  # noqa: F811
    url, store, ids, _ = live
    uid = add_user(store, "reader")
    _sign_in(page, url, "reader")
    cards = page.locator("article.card")
    first_id = cards.nth(0).get_attribute("id").removeprefix("paper-")
    second_id = cards.nth(1).get_attribute("id").removeprefix("paper-")
    first_title = store.feed.card(first_id).title

    # One click on a card's Save: a private "Reading list", said on the next page.
    cards.nth(0).get_by_role("button", name=re.compile("^Save")).click()
    notice = page.locator(".feedback")
    expect(notice).to_contain_text("Saved")
    expect(notice.get_by_role("link", name="Reading list")).to_be_visible()
    shot(page, "30-saved-from-card")
    [reading] = store.collections.of_user(uid, viewer=uid)
    assert (reading.name, reading.visibility) == ("Reading list", "private")

    # Choose collections: a new public one holding the paper.
    notice.get_by_role("link", name="Choose collections").click()
    page.get_by_label("Name").fill("Sensors and splats")
    page.get_by_role("radio", name=re.compile("Public")).check()
    page.get_by_role("button", name="Create and save").click()
    expect(page.locator(".feedback")).to_contain_text("Sensors and splats")
    page.locator(".feedback").get_by_role("link", name="Sensors and splats").click()
    expect(page.locator("h1")).to_have_text("Sensors and splats")
    expect(page.locator(f'[id="paper-{first_id}"] .title')).to_contain_text(first_title[:30])
    page.get_by_label("Note").fill("Read the ablations first.")
    page.get_by_role("button", name=re.compile("^Save note")).click()
    expect(page.get_by_label("Note")).to_have_value("Read the ablations first.")
    shot(page, "31-collection-page")
    # Anyone can read a public collection, with its note.
    other = page.context.browser.new_context()
    anon = other.new_page()
    anon.goto(page.url.split("#")[0])
    expect(anon.locator(".note")).to_have_text("Read the ablations first.")
    other.close()

    # Not interested: the card leaves the feed, and the undo brings it back.
    page.goto(f"{url}/papers")
    card = page.locator(f'[id="paper-{second_id}"]')
    card.get_by_role("button", name=re.compile("^Not interested")).click()
    expect(page.locator(".feedback")).to_contain_text("from your feeds")
    expect(page.locator(f'[id="paper-{second_id}"]')).to_have_count(0)
    shot(page, "32-not-interested")
    page.goto(f"{url}/papers")
    expect(page.locator(f'[id="paper-{second_id}"]')).to_have_count(0)  # stays hidden
    page.goto(f"{url}/papers?dismissed={second_id}")
    page.locator(".feedback").get_by_role("button", name="Undo").click()
    expect(page.locator(f'[id="paper-{second_id}"]')).to_have_count(1)
    assert store.signals.signals(uid)["negatives"] == []
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
