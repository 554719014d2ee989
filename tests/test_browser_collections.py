"""Collections and "not interested" in a real browser (Chromium via Playwright): save a paper
from a card, move it into a new collection, see it on the collection page, hide another card
from the feed and bring it back. Screenshots go to test-artifacts/screenshots/."""

import re

from .test_browser import browser, expect, live, page, shot, sign_in  # noqa: F401 - the shared kit
from .webkit import add_user


def test_save_to_a_new_collection_and_hide_a_card(page, live):  # noqa: F811
    url, store, ids, _ = live
    uid = add_user(store, "reader")
    sign_in(page, url, "reader")
    cards = page.locator("article.card")
    first_id = cards.nth(0).get_attribute("id").removeprefix("paper-")
    second_id = cards.nth(1).get_attribute("id").removeprefix("paper-")
    first_title = store.feed.card(first_id).title

    # One click on a card's Save, further down the page: a private "Reading list", said in
    # place, where the page stays.
    page.set_viewport_size({"width": 1280, "height": 500})
    cards.nth(3).scroll_into_view_if_needed()
    fourth_id = cards.nth(3).get_attribute("id").removeprefix("paper-")
    y = page.evaluate("scrollY")
    assert y > 0
    cards.nth(3).get_by_role("button", name=re.compile("^Save")).click()
    note = cards.nth(3).locator(".saved-note")
    expect(note).to_contain_text("Saved to Reading list.")
    expect(cards.nth(3).get_by_role("button", name=re.compile("^Saved"))).to_be_visible()
    assert page.evaluate("scrollY") == y and page.url == f"{url}/papers"
    shot(page, "30-saved-in-place")
    [reading] = store.collections.of_user(uid, viewer=uid)
    assert (reading.name, reading.visibility) == ("Reading list", "private")
    assert [i.paper_id for i in store.collections.items(reading.id)] == [fourth_id]
    # Undo, in place too; then the page as reloaded says "Saved" on the card saved.
    note.get_by_role("button", name="Undo").click()
    expect(cards.nth(3).get_by_role("button", name=re.compile("^Save "))).to_be_focused()
    assert store.collections.items(reading.id) == []
    cards.nth(0).get_by_role("button", name=re.compile("^Save")).click()
    expect(cards.nth(0).locator(".saved-note")).to_contain_text("Saved to Reading list.")
    page.set_viewport_size({"width": 1280, "height": 900})
    page.reload()
    saved = cards.nth(0).get_by_role("button", name=re.compile("^Saved"))
    expect(saved).to_be_visible()
    expect(cards.nth(3).get_by_role("button", name=re.compile("^Save "))).to_be_visible()
    shot(page, "30-saved-from-card")
    saved.click()  # the paper's collections
    expect(page.locator("h1")).to_contain_text("Save")
    page.go_back()
    # Without a script, the same click goes through the next page's notice.
    cards.nth(1).locator("form.save-form").evaluate("f => f.submit()")
    notice = page.locator(".feedback")
    expect(notice).to_contain_text("Saved")
    expect(notice.get_by_role("link", name="Reading list")).to_be_visible()
    notice.locator("form button", has_text="Undo").click()
    page.goto(f"{url}/papers?saved_paper={first_id}&collection={reading.id}&new=0")
    notice = page.locator(".feedback")
    expect(notice).to_contain_text("Already in")

    # Choose collections: a new public one holding the paper.
    notice.get_by_role("link", name="Choose collections").click()
    page.get_by_label("Name").fill("Sensors and splats")
    page.get_by_role("radio", name=re.compile("Public")).check()
    page.get_by_role("button", name="Create and save").click()
    expect(page.locator(".feedback")).to_contain_text("Sensors and splats")
    page.locator(".feedback").get_by_role("link", name="Sensors and splats").click()
    expect(page.locator("h1")).to_have_text("Sensors and splats")
    expect(page.locator(f'[id="paper-{first_id}"] .title')).to_contain_text(first_title[:30])
    note = page.get_by_role("textbox", name=re.compile("^Note"))
    note.fill("Read the ablations first.")
    page.get_by_role("button", name=re.compile("^Save note")).click()
    expect(note).to_have_value("Read the ablations first.")
    expect(page.get_by_role("status")).to_have_text("Note saved.")
    assert page.evaluate("document.activeElement.id") == f"item-{first_id}"  # focus stays there
    shot(page, "31-collection-page")
    # Anyone can read a public collection, with its note.
    other = page.context.browser.new_context()
    anon = other.new_page()
    anon.goto(page.url.split("#")[0])
    expect(anon.locator(".note")).to_have_text("Read the ablations first.")
    other.close()
    # Save now goes into that collection, the last changed: the note says it is public.
    page.goto(f"{url}/papers")
    page.locator(f'[id="paper-{fourth_id}"]').get_by_role(
        "button", name=re.compile("^Save")
    ).click()
    expect(page.locator(f'[id="paper-{fourth_id}"] .saved-note')).to_have_text(
        re.compile(r"^Saved to Sensors and splats, a public collection\. Undo$")
    )
    page.locator(f'[id="paper-{fourth_id}"] .saved-note').get_by_role("button", name="Undo").click()
    public = next(c for c in store.collections.of_user(uid, viewer=uid) if c.visibility == "public")
    page.goto(f"{url}/papers?saved_paper={first_id}&collection={public.id}&new=0")
    expect(page.locator(".feedback p")).to_contain_text("Sensors and splats, a public collection.")

    # Not interested: the card gives way to a note with an undo, the count follows.
    page.goto(f"{url}/papers")
    count = page.locator("[data-shown]")
    before = count.inner_text()
    n = int(before.split()[0])
    card = page.locator(f'[id="paper-{second_id}"]')
    card.get_by_role("button", name=re.compile("^Not interested")).click()
    note = page.locator(".dismissed-note")
    expect(note).to_contain_text("from your feeds")
    expect(note.get_by_role("button", name="Undo")).to_be_focused()
    expect(card).to_be_hidden()
    expect(count).to_have_text(f"{n - 1} papers")
    expect(page.get_by_role("link", name="1 hidden by you")).to_be_visible()
    shot(page, "32-not-interested")
    note.get_by_role("button", name="Undo").click()
    expect(card).to_be_visible()
    expect(count).to_have_text(before)
    expect(page.get_by_role("link", name=re.compile("hidden by you"))).to_be_hidden()
    assert store.signals.signals(uid)["negatives"] == []
    card.get_by_role("button", name=re.compile("^Not interested")).click()
    expect(note).to_be_visible()
    page.reload()
    expect(page.locator(f'[id="paper-{second_id}"]')).to_have_count(0)  # stays hidden
    expect(count).to_have_text(f"{n - 1} papers")
    # The papers you hid, and the way back.
    page.get_by_role("link", name="1 hidden by you").click()
    expect(page.locator("h1")).to_have_text("Papers you hid")
    shot(page, "33-papers-you-hid")
    page.get_by_role("button", name=re.compile("^Show again")).click()
    expect(page.locator(".empty")).to_contain_text("You have not hidden any paper")
    page.goto(f"{url}/papers")
    expect(page.locator(f'[id="paper-{second_id}"]')).to_have_count(1)
    assert store.signals.signals(uid)["negatives"] == []
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
