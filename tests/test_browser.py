"""End to end in a real browser: Debian's Chromium driven by Playwright. Screenshots of each
step go to test-artifacts/screenshots/."""

import os
import re
import shutil
from datetime import date, timedelta
from pathlib import Path

import pytest

from .conftest import require
from .storekit import search_engine
from .test_search import embedder  # noqa: F401 - the session's embedding model
from .test_web_auth import delivered, link_in
from .webkit import PASSWORD, add_user, seed, serve_in_thread, site

CHROMIUM = os.environ.get("PAPERWIRE_CHROMIUM", "/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "screenshots"


def _chromium_problem() -> str | None:
    if not Path(CHROMIUM).exists() and not shutil.which(CHROMIUM):
        return f"no Chromium at {CHROMIUM} (apt install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed"
    return None


@pytest.fixture(scope="module")
def browser():
    require("Chromium with Playwright", _chromium_problem())
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture
def live(sqlite_store, tmp_path):
    ids = seed(sqlite_store)
    app, config = site(sqlite_store, tmp_path, submit_max_age_days=0)
    with serve_in_thread(app) as url:
        yield url, sqlite_store, ids, config


def watched_context(browser, **options):
    """A new context at 1280 × 900 (``options`` as Playwright takes them) and its page, with
    the list its JavaScript errors and console errors (CSP violations) go to."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, **options)
    p = context.new_page()
    errors: list[str] = []
    p.on("pageerror", lambda exc: errors.append(str(exc)))
    p.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    return context, p, errors


@pytest.fixture
def page(browser):
    context, p, errors = watched_context(browser)
    yield p
    context.close()
    assert not errors, errors  # no JavaScript errors, no CSP violations


def expect(locator):
    from playwright.sync_api import expect as _expect

    return _expect(locator)


def sign_in(page, url, name):
    """Sign ``name`` in through the form (the kit's password), landing on the feed."""
    page.goto(f"{url}/signin")
    page.get_by_label("User name or e-mail").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{url}/papers")


def shot(page, name):
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=False)


def test_sign_up_confirm_upvote_comment_submit(page, live):
    url, store, ids, config = live
    page.goto(f"{url}/papers")
    shot(page, "01-daily")
    page.get_by_role("link", name="Sign up").click()
    page.get_by_label("User name").fill("marie")
    page.get_by_label("E-mail").fill("marie@example.org")
    page.get_by_role("button", name="Sign up").click()
    page.get_by_text("Check your inbox").first.wait_for()
    shot(page, "02-check-inbox")
    [msg] = delivered(store, config)
    page.goto(url + link_in(msg, "/confirm"))
    # the password is chosen here, by whoever reads the mailbox
    page.get_by_label("Password (at least 10 characters)").fill(PASSWORD)
    page.get_by_role("button", name="Create my account").click()
    page.get_by_text("Welcome, marie!").wait_for()
    expect(page.locator("header").get_by_role("link", name="marie")).to_be_visible()

    # upvote without a page reload
    page.goto(f"{url}/papers")
    sel = f'[id="paper-{ids[0]}"]'
    card = page.locator(sel)
    button = card.get_by_role("button", name=re.compile("Upvote"))
    before = int(button.locator(".count").inner_text())
    page.evaluate("window.__marker = 1")
    button.click()
    expect(button).to_have_attribute("aria-pressed", "true")
    expect(button.locator(".count")).to_have_text(str(before + 1))
    assert page.evaluate("window.__marker") == 1  # same page, no reload
    shot(page, "03-upvoted")
    assert store.feed.card(ids[0]).upvotes == before + 1
    button.click()  # and back
    expect(button).to_have_attribute("aria-pressed", "false")
    expect(button.locator(".count")).to_have_text(str(before))
    assert store.feed.card(ids[0]).upvotes == before

    # comment with Markdown
    page.get_by_role("link", name=store.feed.card(ids[0]).title).click()
    page.get_by_label(re.compile("Add a comment")).fill("Great **results** <script>x</script>")
    page.get_by_role("button", name="Comment").click()
    page.locator(".c-body strong", has_text="results").wait_for()
    assert page.locator(".c-body script").count() == 0
    shot(page, "04-comment")

    # submit a paper that is not on the feed yet
    extra = next(p.id for p in store.feed.latest(limit=100) if p.id not in ids)
    page.get_by_role("link", name="Submit").first.click()
    page.get_by_label("arXiv id or URL").fill(f"https://arxiv.org/abs/{extra}")
    page.get_by_role("button", name="Submit").click()
    page.get_by_text("Added to today's feed").wait_for()
    shot(page, "05-submitted")
    assert store.feed.entry(extra).feed_date == date.today()


def test_sign_in_navigate_days_and_keyboard(page, live):
    url, store, ids, _ = live
    uid = add_user(store, "kbd")
    for pid in [p.id for p in store.feed.latest(limit=100) if p.id not in ids][:8]:
        store.feed.submit(pid, uid, date.today())  # today: 13 papers, more than a page
    page.goto(f"{url}/signin")
    page.get_by_label("User name or e-mail").fill("kbd")
    page.get_by_label("Password").fill(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{url}/papers")
    assert page.get_by_role("navigation", name="Main").get_by_role("link", name="kbd").is_visible()
    yesterday = date.today() - timedelta(days=1)
    page.locator("a[rel=prev]").click()
    page.wait_for_url(f"{url}/papers/date/{yesterday}")
    shot(page, "06-previous-day")
    assert page.locator(".card").count() == 5
    page.locator("a[rel=next]").click()
    page.wait_for_url(f"{url}/papers/date/{date.today()}")
    page.get_by_role("link", name="Weekly").click()
    assert "/papers/week/" in page.url and page.locator(".card").count() == 10
    from paperwire.core.periods import week_of

    week = week_of(date.today())
    total = store.feed.period(week.start, week.end)[1]
    page.get_by_role("link", name="More papers").click()
    expect(page.locator(".card")).to_have_count(min(20, total))
    expect(page.locator(".card").nth(10).locator(".title a")).to_be_focused()  # on from there
    shot(page, "07-week-more")
    # The address follows, so a reload opens page 2, which links back to page 1.
    assert page.url == f"{url}{week.path}?p=1&sort=upvotes"
    page.reload()
    expect(page.locator(".page-place")).to_have_text("Page 2 · ← Previous papers")
    page.locator(".page-place a").click()
    page.wait_for_url(f"{url}{week.path}?sort=upvotes")
    expect(page.locator(".card")).to_have_count(10)
    # keyboard only: skip link, then Tab to the first upvote button and press Enter
    page.goto(f"{url}/papers")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    first = page.locator(".upvote").first
    first.focus()
    page.keyboard.press("Enter")
    expect(first).to_have_attribute("aria-pressed", "true")
    expect(first).to_be_focused()  # the keyboard stays where it was, not at the page's top
    expect(first).not_to_have_attribute("aria-disabled", "true")
    # Save moves the keyboard to the star that took its place ("Saved: change which").
    card = page.locator(".card").first
    card.locator("form.save-form button").focus()
    page.keyboard.press("Enter")
    expect(card.locator(".saved-note")).to_contain_text("Saved to")
    expect(card.locator("form.picker-form button")).to_be_focused()


def test_an_upvote_clicked_signed_out_counts_after_signing_in(page, live):
    url, store, ids, _ = live
    add_user(store, "late")
    title = store.feed.card(ids[2]).title
    before = store.feed.card(ids[2]).upvotes
    page.goto(f"{url}/papers")
    page.locator(f'[id="paper-{ids[2]}"]').get_by_role("button", name=re.compile("Upvote")).click()
    page.get_by_text(f"Sign in to upvote “{title}”").wait_for()
    page.get_by_label("User name or e-mail").fill("late")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_text(f"Your upvote of “{title}” counts.").wait_for()
    assert page.url.startswith(f"{url}/papers?")
    button = page.locator(f'[id="paper-{ids[2]}"]').get_by_role("button", name=re.compile("Upvote"))
    expect(button).to_have_attribute("aria-pressed", "true")
    expect(button.locator(".count")).to_have_text(str(before + 1))
    shot(page, "03b-upvoted-after-sign-in")
    assert store.feed.card(ids[2]).upvotes == before + 1


def test_dark_mode_and_small_screen(page, live):
    url, store, ids, _ = live
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{url}/papers")
    page.get_by_role("button", name="Switch light/dark theme").click()
    assert page.evaluate("document.documentElement.dataset.theme") in ("dark", "light")
    if page.evaluate("document.documentElement.dataset.theme") != "dark":
        page.get_by_role("button", name="Switch light/dark theme").click()
    bg = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert bg == "rgb(11, 15, 25)"
    page.reload()
    assert page.evaluate("document.documentElement.dataset.theme") == "dark"  # remembered
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390  # nothing overflows sideways on a phone
    shot(page, "08-phone-dark")
    page.goto(f"{url}/papers/{ids[0]}")
    shot(page, "09-paper-phone-dark")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


def test_search_by_meaning_filters_and_similar(page, live, embedder):  # noqa: F811
    """Type a question in the header box, get highlighted results by words and meaning,
    re-sort, filter, open a paper and follow a similar paper."""
    url, store, _, _ = live
    search_engine(store, embedder=embedder).indexer().embed_missing()
    page.goto(f"{url}/papers")
    page.fill("#q", "counting people in dense crowds")
    page.press("#q", "Enter")
    expect(page.locator("h1")).to_have_text("Results for “counting people in dense crowds”")
    expect(page.locator(".card").first).to_be_visible()
    expect(page.locator(".card .title mark").first).to_be_visible()
    titles = page.locator(".card .title").all_inner_texts()
    assert any("Crowd" in t for t in titles[:3]), titles[:3]
    expect(page.locator(".card .why").first).to_contain_text("similarity")
    shot(page, "20-search")
    page.click("nav.sorts >> text=Newest")
    expect(page.locator('nav.sorts a[aria-current="true"]')).to_have_text("Newest")
    page.check("input[name=code]")
    page.click("form.filters button")
    expect(page).to_have_url(re.compile(r"code=1"))
    # The fields left empty stay out of the address.
    assert not re.search(r"[?&](from|to|author|category)=", page.url), page.url
    expect(page.locator("h1")).to_contain_text("counting people")
    shot(page, "21-search-filtered")
    page.goto(f"{url}/papers/2503.12061")
    similar = page.locator("section.similar li a")
    expect(similar.first).to_be_visible()
    similar.first.click()
    expect(page.locator("h1")).not_to_have_text("EHNet")
    shot(page, "22-similar")
    # On a phone the unused filters start folded, so the first result is on the first
    # screen; one tap opens them. Filters in use stay open.
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{url}/papers?q=crowd+counting")
    expect(page.locator("details.filters-box")).not_to_have_attribute("open", "")
    assert page.locator(".card").first.bounding_box()["y"] < 844
    page.get_by_text("Filters", exact=True).click()
    expect(page.locator("form.filters")).to_be_visible()
    shot(page, "23-search-phone-filters")
    page.goto(f"{url}/papers?q=crowd+counting&code=1")
    expect(page.locator("form.filters")).to_be_visible()
    # The header is two rows there: links of the second rank are under Menu.
    expect(page.locator(".links .wide-only").first).to_be_hidden()
    assert page.locator("header.top").bounding_box()["height"] < 130
    page.locator("details.menu > summary").click()
    expect(page.locator(".menu-items").get_by_role("link", name="Submit")).to_be_visible()
    page.keyboard.press("Escape")  # closes it, back on its button
    expect(page.locator(".menu-items").get_by_role("link", name="Submit")).to_be_hidden()
    expect(page.locator("details.menu > summary")).to_be_focused()


def test_subscribe_confirm_preview_and_unsubscribe(page, live):
    url, store, ids, config = live
    page.goto(f"{url}/papers")
    banner = page.locator(".subscribe-banner")
    expect(banner).to_contain_text("Get trending papers in your email inbox!")
    banner.get_by_role("link", name="Subscribe").click()
    # the browser's own time zone is filled in
    tz = page.get_by_label("Time zone").input_value()
    assert tz and tz == page.evaluate("Intl.DateTimeFormat().resolvedOptions().timeZone")
    page.get_by_label("E-mail address").fill("nadia@example.org")
    page.get_by_role("radio", name="A topic alert").check()
    page.get_by_label("Topic (for a topic alert)").fill("vision language models")
    page.get_by_label("Weekly (Mondays)").check()
    shot(page, "23-subscribe")
    page.get_by_role("button", name="Subscribe").click()
    expect(page.get_by_role("heading", name="Check your inbox")).to_be_visible()
    # a reload shows the page again, and sends nothing again (Post/Redirect/Get)
    page.reload()
    expect(page.get_by_role("status")).to_contain_text("a message to nadia@example.org")
    [msg] = delivered(store, config)
    body = msg.get_body(preferencelist=("plain",)).get_content()
    page.goto(url + re.search(r"http://testserver(/subscriptions/confirm\S+)", body).group(1))
    page.get_by_role("button", name="Confirm subscription").click()
    expect(page.get_by_role("status")).to_contain_text("Subscribed!")
    page.reload()
    expect(page.get_by_role("status")).to_contain_text("Subscribed!")
    sub = store.mail.find_subscription("nadia@example.org", "topic", "vision language models")
    assert sub.status == "confirmed" and sub.frequency == "weekly" and sub.timezone == tz
    # Managing it: the topic is there while it is an alert, gone while trending is chosen
    manage_topic = page.get_by_label("Topic", exact=True)
    expect(manage_topic).to_have_value("vision language models")
    page.get_by_role("radio", name="Trending papers").check()
    expect(manage_topic).to_be_hidden()
    page.get_by_role("radio", name="A topic alert").check()
    expect(manage_topic).to_be_visible()
    shot(page, "24-subscription")
    # the preview of the next e-mail opens from the manage page
    page.get_by_role("link", name="Preview the next e-mail").click()
    # a page of the site (its header, its skip link), the e-mail framed in it
    expect(page.get_by_role("heading", name="Preview of the next e-mail")).to_be_visible()
    expect(page.get_by_role("link", name="Skip to content")).to_be_attached()
    mail = page.frame_locator("iframe.mail-preview")
    expect(mail.locator("body")).to_contain_text("vision language models")
    shot(page, "25-digest-preview")
    # a paper's link in the e-mail opens in the window, not in the frame (the e-mail links
    # to base_url, here http://testserver: answered by the test)
    page.route("http://testserver/**", lambda route: route.fulfill(body="the paper's page"))
    mail.locator("a[href*='/papers/']").first.click()
    page.wait_for_url(re.compile(r"^http://testserver/papers/\d{4}\.\d{4,5}$"))
    expect(page.locator("body")).to_have_text("the paper's page")
    page.unroute("http://testserver/**")
    page.go_back()
    page.go_back()
    page.get_by_role("button", name="Unsubscribe").click()
    expect(page.get_by_role("status")).to_contain_text("You are unsubscribed")
    assert store.mail.get_subscription(sub.id).status == "unsubscribed"


def test_author_page_from_a_paper(page, live):
    """An author's name on a paper page leads to their page: their papers as the feed's
    cards, an Atom feed; it fits a phone, in both schemes."""
    url, store, ids, _ = live
    card = store.feed.card(ids[0])
    name = card.authors[0]
    page.goto(f"{url}/papers/{ids[0]}")
    page.get_by_role("list", name="Authors").get_by_role("link", name=name, exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(name)
    expect(page.locator(f"#paper-{ids[0]}".replace(".", "\\."))).to_be_visible()
    assert page.locator('link[rel="alternate"][type="application/atom+xml"]').count() == 1
    shot(page, "author-1280-light")
    page.set_viewport_size({"width": 390, "height": 844})
    page.get_by_role("button", name="Switch light/dark theme").click()
    if page.evaluate("document.documentElement.dataset.theme") != "dark":
        page.get_by_role("button", name="Switch light/dark theme").click()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shot(page, "author-390-dark")
