"""What a new user found in a real browser (Chromium): tables that split words, popovers that
would not close, items whose parts did not belong together."""

import re
from datetime import timedelta

from paperwire.core.clock import utcnow

from .test_browser import browser, expect, live, page, sign_in  # noqa: F401 - fixtures
from .test_browser_a11y import axe_source, run_axe  # noqa: F401
from .test_pending import submit_job
from .webkit import add_user

# Words of the cells under ``selector`` laid out on more than one line (split mid-word).
SPLIT_WORDS = """(selector) => {
  const split = [];
  for (const cell of document.querySelectorAll(selector)) {
    const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      for (const m of node.data.matchAll(/\\S+/g)) {
        const range = document.createRange();
        range.setStart(node, m.index);
        range.setEnd(node, m.index + m[0].length);
        const tops = new Set([...range.getClientRects()].map((r) => Math.round(r.top)));
        if (tops.size > 1) split.push(m[0]);
      }
    }
  }
  return split;
}"""


def test_the_pending_table_wraps_at_words_on_a_phone_and_on_the_submit_page(page, live, axe_source):  # noqa: F811
    url, store, ids, config = live
    uid = add_user(store, "member")
    submit_job(store, uid, pid="2611.00001")
    job = store.queue.claim("test", 60)
    store.queue.retry(
        job,
        "arXiv could not be reached: it keeps asking in the background",
        utcnow() + timedelta(hours=1),
    )
    sign_in(page, url, "member")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{url}/papers/pending")
    expect(page.get_by_role("heading", name="Waiting for arXiv")).to_have_count(1)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert page.evaluate(SPLIT_WORDS, "main td") == []
    assert run_axe(page, axe_source) == []  # the stacked rows are still a table to read
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{url}/papers/submit")
    expect(page.get_by_role("heading", name="Waiting for arXiv")).to_have_count(1)
    assert page.evaluate(SPLIT_WORDS, "main td, main th") == []


def test_typing_a_topic_chooses_a_topic_alert(page, live):  # noqa: F811
    url = live[0]
    page.goto(f"{url}/subscribe")
    expect(page.get_by_role("radio", name="Trending papers")).to_be_checked()
    page.get_by_label("Topic (for a topic alert)").fill("graph neural networks")
    expect(page.get_by_role("radio", name="A topic alert")).to_be_checked()


# The space between a field's label and its box (negative: the label is not above it).
LABEL_GAP = """(id) => {
  const label = document.querySelector(`label[for="${id}"]`).getBoundingClientRect();
  const box = document.getElementById(id).getBoundingClientRect();
  return box.top - label.bottom;
}"""


def test_the_submit_forms_label_is_spaced_like_other_forms(page, live):  # noqa: F811
    url, store = live[0], live[1]
    add_user(store, "member")
    page.goto(f"{url}/signin")
    signin_gap = page.evaluate(LABEL_GAP, "login")
    sign_in(page, url, "member")
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(f"{url}/papers/submit")
        assert abs(page.evaluate(LABEL_GAP, "arxiv_id") - signin_gap) < 1, width


# Each link's colour against the background behind it: (text, contrast ratio).
LINK_CONTRAST = """() => {
  const rgb = (s) => s.match(/[\\d.]+/g).slice(0, 3).map(Number);
  const lum = (c) => {
    const [r, g, b] = c.map((v) => {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const behind = (el) => {
    for (; el; el = el.parentElement) {
      const bg = getComputedStyle(el).backgroundColor;
      if (bg && !bg.startsWith("rgba(0, 0, 0, 0)") && bg !== "transparent") return rgb(bg);
    }
    return [255, 255, 255];
  };
  return [...document.querySelectorAll("a")].map((a) => {
    const [l1, l2] = [lum(rgb(getComputedStyle(a).color)), lum(behind(a))].sort((x, y) => y - x);
    return [a.textContent.trim().slice(0, 40), (l1 + 0.05) / (l2 + 0.05)];
  });
}"""


def test_links_in_dark_e_mails_are_readable(browser):  # noqa: F811
    from paperwire.mail import render as mail_render

    url = "https://papers.example.org/subscriptions/confirm?token=abc"
    mails = {
        "confirm": {"about": "trending papers, daily", "confirm_url": url},
        "already": {"about": "trending papers, daily", "manage_url": url},
    }
    context = browser.new_context(color_scheme="dark")
    try:
        page = context.new_page()
        for template, values in mails.items():
            _, _, html = mail_render.notice("Paperwire", template, "Subject", **values)
            page.set_content(html)
            for text, ratio in page.evaluate(LINK_CONTRAST):
                assert ratio >= 4.5, (template, text, round(ratio, 2))
    finally:
        context.close()


def test_markdown_code_and_quotes_look_the_same_everywhere(page, live):  # noqa: F811
    """Inline code has its background in a collection's description as in comments, and a
    quotation has its rule on the left in both."""
    url, store, ids = live[0], live[1], live[2]
    uid = add_user(store, "ada")
    reading = store.collections.default_for(uid)
    text = "Uses `torch.compile` here.\n\n> A quoted line"
    store.collections.update(reading.id, uid, visibility="public", description=text)
    store.collections.add(reading.id, ids[0], note=text)
    store.discussion.add(ids[0], uid, text)
    looks = """(sel) => {
      const s = getComputedStyle(document.querySelector(sel));
      return [s.backgroundColor, s.borderLeftWidth, s.borderLeftStyle];
    }"""
    page.goto(f"{url}/papers/{ids[0]}")
    code = page.evaluate(looks, ".c-body code")
    quote = page.evaluate(looks, ".c-body blockquote")
    assert quote[1:] == ["3px", "solid"]
    page.goto(f"{url}/collections/{reading.id}")
    for where in (".description", ".note"):
        assert page.evaluate(looks, f"{where} code")[0] == code[0] != "rgba(0, 0, 0, 0)"
        assert page.evaluate(looks, f"{where} blockquote")[1:] == quote[1:]


def test_author_chips_are_one_height_beside_and_n_more(page, live):  # noqa: F811
    from paperwire.store.schema import papers

    url, store, ids = live[0], live[1], live[2]
    names = [f"Author Number{i}" for i in range(30)]
    with store.db.begin() as conn:
        conn.execute(
            papers.update().where(papers.c.id == ids[0]).values(authors=names, num_authors=224)
        )
    page.goto(f"{url}/papers/{ids[0]}")
    expect(page.get_by_text("and 194 more")).to_be_visible()
    heights = page.evaluate(
        """() => [...document.querySelectorAll('ul[aria-label="Authors"] > li')]
                 .map((li) => Math.round(li.getBoundingClientRect().height))"""
    )
    assert len(set(heights[:12] + heights[-1:])) == 1, heights  # the chips and "and 194 more"
    assert heights[12] <= heights[0], heights  # "and 18 more" (a button) no taller


def test_the_reaction_menu_closes_and_covers_nothing(page, live):  # noqa: F811
    url, store, ids = live[0], live[1], live[2]
    uid = add_user(store, "member")
    store.discussion.add(ids[0], uid, "A first comment")
    sign_in(page, url, "member")
    page.goto(f"{url}/papers/{ids[0]}")
    menu = page.locator("details.add-reaction")
    react = menu.locator("summary")
    # Escape from an emoji in the menu closes it, back on React.
    react.click()
    expect(menu).to_have_attribute("open", "")
    react.focus()
    page.keyboard.press("Tab")
    expect(menu.locator("button").first).to_be_focused()
    page.keyboard.press("Escape")
    expect(menu).not_to_have_attribute("open", "")
    expect(react).to_be_focused()
    # Open, it covers none of the comment's tools.
    react.click()
    for name in ("Reply", "Edit", "Delete"):
        tool = page.locator(".c-tools summary, .c-tools button").filter(has_text=name).first
        box = tool.bounding_box()
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        covered = page.evaluate(
            "([x, y]) => !!document.elementFromPoint(x, y).closest('.add-reaction')", [x, y]
        )
        assert not covered, name
    # A click elsewhere closes it.
    page.locator("h1").click()
    expect(menu).not_to_have_attribute("open", "")


def test_a_collection_items_card_note_and_remove_go_together(page, live):  # noqa: F811
    url, store, ids = live[0], live[1], live[2]
    uid = add_user(store, "member")
    reading = store.collections.default_for(uid)
    for pid in ids[:3]:
        store.collections.add(reading.id, pid, note="Read section 3.")
    sign_in(page, url, "member")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{url}/collections/{reading.id}")
    inside = """(item) => {
      const box = item.getBoundingClientRect();
      const within = (el) => {
        const r = el.getBoundingClientRect();
        return r.top >= box.top && r.bottom <= box.bottom && r.left >= box.left
          && r.right <= box.right;
      };
      return getComputedStyle(item).borderTopStyle !== "none"
        && [...item.querySelectorAll(".card, .note, .item-tools")].every(within);
    }"""
    items = page.locator(".collection-items > .item")
    expect(items).to_have_count(3)
    for i in range(3):
        item = items.nth(i)
        assert item.evaluate(inside), i  # one framed card holds the paper, note and tools
        title = store.feed.card(item.get_attribute("id")[5:]).title
        remove = item.get_by_role("button", name=f"Remove {title} from this collection")
        expect(remove).to_have_count(1)
        move = item.get_by_role("button", name=re.compile("^Move")).last
        assert abs(move.bounding_box()["y"] - remove.bounding_box()["y"]) < 2, i  # one row
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


def test_the_settings_tables_wrap_at_words(page, live):  # noqa: F811
    """Sessions, subscriptions and tokens: no word split ("confirma/tion"), on a phone rows of
    labelled lines, never wider than the window."""
    url, store = live[0], live[1]
    uid = add_user(store, "member")
    store.accounts.create_token(uid, "a long token name for a script", ["read", "write"])
    store.sessions.create(uid, 3600, ip="192.0.2.7", agent="curl/8")
    topic = "efficient vision transformers for background removal"
    store.mail.create_subscription("member@example.org", "topic", topic, "daily", "UTC")
    sign_in(page, url, "member")
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(f"{url}/settings")
        expect(page.get_by_text("waiting for confirmation")).to_be_visible()
        assert page.evaluate(SPLIT_WORDS, "main td") == [], width
        assert page.evaluate("document.documentElement.scrollWidth") <= width


def test_the_admin_tables_wrap_at_words(page, live):  # noqa: F811
    """The admin's accounts and reported comments: words whole, on a phone rows of labelled
    lines, never wider than the window."""
    url, store = live[0], live[1]
    add_user(store, "moderator", role="admin")
    for i in range(3):
        add_user(store, f"participant{i}")
    sign_in(page, url, "moderator")
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        for path in ("/admin", "/admin/users"):
            page.goto(f"{url}{path}")
            assert page.evaluate(SPLIT_WORDS, "main td") == [], (path, width)
            assert page.evaluate("document.documentElement.scrollWidth") <= width, (path, width)
