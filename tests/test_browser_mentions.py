"""In Chromium: @mention suggestions in the comment boxes. "@a" lists the people, the paper's
discussion first; the keyboard moves and picks, the comment posted names the person and
tells them. Screenshots of the open list at 1280 and 390 px, light and dark, go to
test-artifacts/screenshots/."""

import re

import pytest

from .test_browser import (  # noqa: F401 - shared fixtures
    browser,
    expect,
    live,
    shot,
    sign_in,
    watched_context,
)
from .webkit import add_user

pytestmark = pytest.mark.browser


def _people(store, pid):
    """ann commented on the paper; albert and alma did not (alma by her display name)."""
    ann = add_user(store, "ann")
    add_user(store, "albert")
    alma = add_user(store, "zoe")
    store.accounts.update_user(alma, fullname="Alma Zoe")
    cid = store.discussion.add(pid, ann, "The code is up.")
    add_user(store, "writer")
    return ann, cid


def _writing_on_a_paper(browser, live, **options):  # noqa: F811
    """The people of :func:`_people` about the first paper, and "writer" signed in on its
    page in a watched context (``options``: the context's): (context, page, errors, ann's
    id, ann's comment id)."""
    url, store, ids, _ = live
    ann, cid = _people(store, ids[0])
    context, page, errors = watched_context(browser, **options)
    sign_in(page, url, "writer")
    page.goto(f"{url}/papers/{ids[0]}")
    return context, page, errors, ann, cid


def _under_caret(page, box_id):
    """How far right of the box's text the open list starts, in pixels, after checking that
    it starts where the "@" before the caret is: under its line, at its left edge (±2 px)."""
    box, at, listed = page.evaluate(
        """id => {
            const box = document.getElementById(id);
            const list = document.getElementById(id + "-mentions");
            const text = box.value.slice(0, box.selectionStart);
            const start = text.lastIndexOf("@");
            // the "@" measured with a Range over the same text laid out in a div like the box
            const copy = document.createElement("div");
            const style = getComputedStyle(box);
            for (const p of ["width", "boxSizing", "padding", "border", "font", "lineHeight",
                             "letterSpacing"]) copy.style[p] = style[p];
            copy.style.whiteSpace = "pre-wrap";
            copy.style.position = "absolute";
            const b = box.getBoundingClientRect();
            copy.style.left = (b.left + scrollX) + "px";
            copy.style.top = (b.top + scrollY) + "px";
            copy.textContent = text;
            document.body.append(copy);
            const range = document.createRange();
            range.setStart(copy.firstChild, start);
            range.setEnd(copy.firstChild, start + 1);
            const r = range.getBoundingClientRect();
            copy.remove();
            const l = list.getBoundingClientRect();
            const inner = b.left + box.clientLeft + parseFloat(style.paddingLeft);
            return [[inner, b.top, b.bottom], [r.left, r.bottom], [l.left, l.top]];
        }""",
        box_id,
    )
    assert abs(listed[0] - at[0]) <= 2, (box, at, listed)
    assert at[1] <= listed[1] <= at[1] + 6 and listed[1] < box[2], (box, at, listed)
    return listed[0] - box[0]


def test_type_at_a_choose_with_the_keyboard_and_post(browser, live):  # noqa: F811
    store = live[1]
    context, page, errors, ann, cid = _writing_on_a_paper(browser, live)
    box = page.locator("#new-comment")
    listbox = page.get_by_role("listbox", name="People to mention")
    expect(box).to_have_attribute("aria-autocomplete", "list")
    expect(box).to_have_attribute("aria-controls", "new-comment-mentions")
    box.click()
    box.press_sequentially("Thanks @a", delay=20)
    expect(listbox).to_be_visible()
    options = listbox.get_by_role("option")
    expect(options).to_have_count(3)
    # the discussion first, then by user name, then by display name
    expect(options.nth(0)).to_contain_text("ann")
    expect(options.nth(1)).to_contain_text("albert")
    expect(options.nth(2)).to_contain_text("zoe")
    expect(options.nth(2)).to_contain_text("Alma Zoe")
    assert options.nth(0).locator("img.avatar").evaluate("i => i.complete && i.naturalWidth > 0")
    expect(options.nth(0)).to_have_attribute("aria-selected", "true")
    expect(box).to_have_attribute("aria-activedescendant", "new-comment-mentions-0")
    expect(page.locator("#mention-status")).to_have_text(re.compile("^3 people"))
    # The list opens under the "@" being typed, not under the box's left edge.
    at_first = _under_caret(page, "new-comment")
    page.keyboard.press("ArrowDown")
    expect(options.nth(1)).to_have_attribute("aria-selected", "true")
    expect(box).to_have_attribute("aria-activedescendant", "new-comment-mentions-1")
    page.keyboard.press("ArrowUp")
    page.keyboard.press("ArrowUp")  # round to the last
    expect(options.nth(2)).to_have_attribute("aria-selected", "true")
    page.keyboard.press("ArrowDown")  # and back to the first
    shot(page, "mentions-01-list-1280-light")
    page.keyboard.press("Enter")
    expect(listbox).to_be_hidden()
    expect(box).to_have_value("Thanks @ann ")
    assert box.evaluate("b => b.selectionStart") == len("Thanks @ann ")
    assert box.get_attribute("aria-activedescendant") is None
    # Escape closes without changing the text; typing on opens it again
    box.press_sequentially("and @al", delay=20)
    expect(options).to_have_count(2)  # albert, Alma
    assert _under_caret(page, "new-comment") > at_first  # further along the line
    page.keyboard.press("Escape")
    expect(listbox).to_be_hidden()
    expect(box).to_have_value("Thanks @ann and @al")
    box.press_sequentially("b", delay=20)
    expect(options).to_have_count(1)
    page.keyboard.press("Tab")
    expect(box).to_have_value("Thanks @ann and @albert ")
    box.press_sequentially("for the data.", delay=10)
    page.get_by_role("button", name="Comment", exact=True).click()
    page.wait_for_url(re.compile(r"#comment-\d+$"))
    new = page.locator(".comment").last
    expect(new.locator("a.mention", has_text="@ann")).to_have_attribute("href", "/users/ann")
    expect(new.locator("a.mention", has_text="@albert")).to_have_attribute("href", "/users/albert")
    assert store.notifications.unread(ann) == 1
    albert = store.accounts.get_user(username="albert").id
    assert store.notifications.unread(albert) == 1

    # A click picks too, in a reply box; the list fits a phone, in both colour schemes.
    page.set_viewport_size({"width": 390, "height": 844})
    comment = page.locator(f"#comment-{cid}")
    comment.locator("summary", has_text="Reply").click()
    reply = comment.locator(f"#reply-{cid}")
    reply.press_sequentially("@a", delay=20)
    expect(page.locator(f"#reply-{cid}-mentions [role=option]")).to_have_count(3)
    right = page.locator(f"#reply-{cid}-mentions").evaluate("l => l.getBoundingClientRect().right")
    assert right <= 390 and page.evaluate("document.documentElement.scrollWidth") <= 390
    shot(page, "mentions-02-reply-390-light")
    page.locator(f"#reply-{cid}-mentions [role=option]").nth(2).click()
    expect(reply).to_have_value("@zoe ")
    expect(reply).to_be_focused()
    context.close()
    assert not errors, errors


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_open_list_at_both_widths(browser, live, scheme):  # noqa: F811
    context, page, errors, *_ = _writing_on_a_paper(browser, live, color_scheme=scheme)
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900 if width > 600 else 844})
        box = page.locator("#new-comment")
        box.fill("")
        box.press_sequentially("Hello @a", delay=20)
        listbox = page.locator("#new-comment-mentions")
        expect(listbox.get_by_role("option")).to_have_count(3)
        listbox.scroll_into_view_if_needed()
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        shot(page, f"mentions-open-{width}-{scheme}")
        page.keyboard.press("Escape")
    context.close()
    assert not errors, errors


def test_without_javascript_the_box_is_plain(browser, live):  # noqa: F811
    context, page, *_ = _writing_on_a_paper(browser, live, java_script_enabled=False)
    box = page.locator("#new-comment")
    assert box.get_attribute("aria-controls") is None
    box.fill("Thanks @ann")
    page.get_by_role("button", name="Comment", exact=True).click()
    page.wait_for_url(re.compile(r"#comment-\d+$"))
    expect(page.locator(".comment").last.locator("a.mention")).to_have_text("@ann")
    assert page.locator(".mention-list").count() == 0
    context.close()
