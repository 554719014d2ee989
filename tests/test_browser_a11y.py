"""Accessibility of every page: axe-core in Chromium, signed out and signed in, light and dark,
with zero violations of any impact. Pages in SHOT_WIDTHS are also checked at phone width and
screenshotted into test-artifacts/screenshots/.

axe-core comes from the npm registry at test-setup time (the Makefile's ``axe`` target, run by
``make test`` and so by .ci/run), never from the repository."""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest

from paperwire.core.models import RenderedPage
from paperwire.core.records import PaperRecord
from paperwire.mail import render as mail_render

from .conftest import require
from .storekit import TRUST
from .test_browser import SHOTS, browser  # noqa: F401 - the shared Chromium
from .webkit import PASSWORD, add_user, seed, serve_in_thread, site

pytestmark = pytest.mark.browser

# The pages to check: (name, path, HTTP status of the page shown, or statuses signed out and
# signed in). ``{paper}``, ``{manage}``, ``{user}``, ``{author}``, ``{confirm}``,
# ``{email}``, ``{collection}`` and ``{saved}`` are filled in by the ``pages`` fixture.
# Add a page here and it is checked in all four runs (signed out and in, light and dark); the
# signed-in visitor is an admin, so moderation controls are on the pages too. ``{foryou}``:
# the manage link of a For-you digest.
PAGES: list[tuple[str, str, int | tuple[int, int]]] = [
    ("home", "/", 200),
    ("daily", "/papers", 200),
    ("weekly", "/papers/week", 200),
    ("monthly", "/papers/month", 200),
    ("trending", "/papers/trending", 200),
    ("about-trending", "/about/trending", 200),
    ("paper", "/papers/{paper}", 200),
    ("comment-preview", "/papers/{paper}", 200),  # signed in: a comment previewed
    ("comment-given-back", "/papers/{paper}", 200),  # sent with a stale form: a 403
    ("mention-list", "/papers/{paper}", 200),  # signed in: "@a" typed, its list open
    ("paper-many-authors", "/papers/2601.09998", 200),  # its list folded, then opened
    ("author", "/authors/{author}", 200),
    ("pending", "/papers/pending", 200),  # signed out: the sign-in form
    ("organization-settings", "/organizations/a11y-lab/settings", 200),
    ("search", "/papers?q=learning+models", 200),
    ("search-empty", "/papers?q=zzzqqq+nothing", 200),
    ("search-unknown-category", "/papers?q=learning&category=cs.XX", 200),  # its notice
    ("search-only-excluded", "/papers?q=-vision+-language", 200),  # what to look for?
    ("search-did-you-mean", "/papers?q=difusion+modles&sort=date", 200),  # its notice
    ("future-month", "/papers/month/2099-01", 200),  # still to come
    ("submit", "/papers/submit", 200),
    ("signin", "/signin", 200),
    ("signup", "/signup", 200),
    ("confirm-account", "/confirm/{confirm}", 200),  # choose a password
    ("confirm-email", "/settings/email/{email}", 200),  # a new address's link
    ("reset", "/reset", 200),
    ("settings", "/settings", 200),  # signed out: the sign-in form
    ("settings-saved", "/settings?saved=timezone", 200),  # what was saved (its notice)
    ("delete-account", "/settings/delete", 200),  # signed out: the sign-in form
    ("two-factor", "/settings/two-factor", 200),  # signed out: the sign-in form
    ("profile", "/users/{user}", 200),
    ("organizations", "/organizations", 200),
    ("organization", "/organizations/a11y-lab", 200),
    ("subscribe", "/subscribe", 200),
    ("subscription", "/subscriptions/manage?token={manage}", 200),
    ("subscription-saved", "/subscriptions/manage?token={manage}&saved=saved", 200),
    ("check-mail", "/check-mail/subscription", 200),  # after subscribing (no address known)
    ("subscription-for-you", "/subscriptions/manage?token={foryou}", 200),
    ("unsubscribe", "/subscriptions/unsubscribe?token={manage}", 200),
    ("digest-preview", "/digest/preview", 200),
    ("api-docs", "/api/docs", 200),
    ("admin", "/admin", (401, 200)),
    ("security-activity", "/settings/security", 200),  # signed out: the sign-in form
    ("admin-audit", "/admin/audit", (401, 200)),
    ("admin-users", "/admin/users", (401, 200)),
    ("for-you", "/papers/for-you?span=week", 200),  # signed out: the sign-in form
    ("for-you-topic-added", "/papers/for-you?span=day&topics=added", 200),
    ("for-you-topic-refused", "/papers/for-you?span=week&topics=short", 200),
    ("for-you-since", "/papers/for-you?span=new", 200),  # (a first visit's message)
    ("for-you-collection", "/papers/for-you?span=week&collection_id={collection}", 200),
    ("collections", "/collections", 200),  # signed out: the sign-in form
    ("collection", "/collections/{collection}", 200),
    ("collection-picker", "/papers/{paper}/collections", 200),  # signed out: the sign-in form
    ("collection-saved", "/papers?saved_paper={paper}&collection={collection}", 200),
    ("feed-dismissed", "/papers?dismissed={saved}", 200),
    ("hidden-papers", "/settings/hidden-papers", 200),  # signed out: the sign-in form
    ("notifications", "/notifications", 200),  # signed out: the sign-in form
    ("paper-hidden", "/papers/{hidden}", 200),  # signed in: its way back to the feeds
    ("collection-noted", "/collections/{collection}?noted={saved}#item-{saved}", 200),
    ("not-found", "/no/such/page", 404),
    ("paper-not-indexed", "/papers/2501.99999", 404),
]


def open_api_docs(page) -> None:
    """Swagger UI draws after loading: open an operation, try it, and open a schema, so that
    what they show is checked too."""
    page.locator(".opblock").first.wait_for()
    page.click("#operations-papers-daily_papers_api_daily_papers_get .opblock-summary-control")
    page.click(".opblock.is-open .try-out__btn")
    page.click(".opblock.is-open .execute")
    page.locator(".opblock.is-open .live-responses-table").wait_for()
    page.click("section.models h4 button")
    page.locator("section.models .json-schema-2020-12-accordion").first.click()
    page.locator("section.models .json-schema-2020-12__constraint").first.wait_for()


DRAFT = "**Bold** claim, $O(n^2)$, thanks @ada.\n\n| model | score |\n|:--|--:|\n| ours | 0.91 |"


def preview_comment(page) -> None:
    """A comment previewed (signed in; signed out, the page offers no comment form)."""
    form = page.locator("form.comment-form")
    if form.count() == 0:
        return
    form.locator("textarea").fill(DRAFT)
    form.locator("button[name=preview]").click()
    page.locator(".comment-preview").wait_for()


def send_a_stale_comment(page) -> int:
    """A comment sent with a form whose CSRF token no longer holds (the page stayed open
    across a sign-out, say): the 403 page that gives the text back. Signed out, the same
    form as it would have been on the page when signed in."""
    page.evaluate(
        """text => {
            let form = document.querySelector('form.comment-form');
            if (!form) {
                form = document.createElement('form');
                form.method = 'post';
                form.action = location.pathname + '/comments';
                form.innerHTML = '<input type="hidden" name="csrf_token">' +
                                 '<textarea name="body"></textarea>';
                document.body.append(form);
            }
            form.querySelector('[name=csrf_token]').value = 'stale';
            form.querySelector('[name=body]').value = text;
            form.submit();
        }""",
        DRAFT,
    )
    page.locator("#kept-text").wait_for()
    return 403


def open_mentions(page) -> None:
    """ "@a" typed in the comment box: its list of people open, the first one chosen
    (signed in; signed out, the page offers no comment form)."""
    box = page.locator("form.comment-form textarea")
    if box.count() == 0:
        return
    box.press_sequentially("Thanks @a", delay=20)
    page.locator('.mention-list [role="option"][aria-selected="true"]').wait_for()


# What to do on a page before checking it (pages that draw or open things after loading, and
# states a form leads to); it may return the HTTP status of the page it ends on.
PREPARE: dict[str, Callable[[Any], int | None]] = {
    "api-docs": open_api_docs,
    "paper-many-authors": lambda page: page.locator(".more-authors summary").click(),
    "comment-preview": preview_comment,
    "comment-given-back": send_a_stale_comment,
    "mention-list": open_mentions,
    # (shown: "Did you mean diffusion models?")
    "search-did-you-mean": lambda page: (
        page.locator(".notices")
        .get_by_role("link", name="diffusion models", exact=True)
        .wait_for(timeout=5000)
    ),
}
# Pages screenshotted (signed in), and checked again, at these widths.
SHOT_WIDTHS = {
    "daily": (1280, 390),
    "paper": (1280, 390),
    "paper-many-authors": (1280, 390),
    "search": (1280, 390),
    "author": (1280, 390),
    "trending": (1280, 390),
    "subscribe": (1280, 390),
    "api-docs": (1280, 390),
    "settings": (1280, 390),  # signed in: sessions and tokens tables
    "settings-saved": (1280, 390),
    "search-unknown-category": (1280, 390),
    "search-only-excluded": (1280, 390),
    "search-did-you-mean": (1280, 390),
    "future-month": (1280, 390),
    "comment-preview": (1280, 390),
    "comment-given-back": (1280, 390),
    "mention-list": (1280, 390),
    "confirm-account": (1280, 390),
    "collection": (1280, 390),
    "collection-picker": (1280, 390),
    "hidden-papers": (1280, 390),
    "notifications": (1280, 390),
    "for-you-topic-added": (1280, 390),
    "for-you-collection": (1280, 390),
}
AXE_MAJOR = "4."  # the Makefile pins the exact release


def _thumbnail() -> RenderedPage:
    """Two small WebP images standing in for a rendered first page."""
    from PIL import Image

    def webp(size: tuple[int, int]) -> bytes:
        out = io.BytesIO()
        Image.new("RGB", size, (250, 250, 250)).save(out, "WEBP")
        return out.getvalue()

    return RenderedPage("a11y", webp((640, 400)), (640, 400), webp((1000, 1294)), (1000, 1294))


def axe_script() -> Path:
    """axe.min.js as installed by ``make axe`` into the virtualenv running the tests."""
    default = Path(sys.prefix) / "axe" / "node_modules" / "axe-core" / "axe.min.js"
    return Path(os.environ.get("PAPERWIRE_AXE", default))


@pytest.fixture(scope="module")
def axe_source() -> str:
    path = axe_script()
    require(
        "axe-core", None if path.exists() else f"no {path} (run: make axe, or set PAPERWIRE_AXE)"
    )
    source = path.read_text(encoding="utf-8")
    assert source.startswith(f"/*! axe v{AXE_MAJOR}"), source[:40]
    return source


@pytest.fixture
def pages(sqlite_store, tmp_path):
    """The live site, with a commented paper, an organization and a subscription: its URL and
    the pages to check, as (name, path)."""
    store = sqlite_store
    ids = seed(store)
    uid = add_user(store, "ada", role="admin")
    # Settings lists tokens and another signed-in device, in tables that must fit a phone.
    store.accounts.create_token(uid, "a long token name for a script", ["read", "write", "admin"])
    store.sessions.create(uid, 3600, ip="2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", agent="curl/8")
    store.accounts.update_user(uid, fullname="Ada Lovelace", bio="Counting machines.")
    paper = ids[0]
    first = store.discussion.add(
        paper, uid, "Nice **result**, see [the code](https://example.org)."
    )
    store.discussion.add(paper, uid, "Thanks @ada, `x = 1`.", parent_id=first)
    store.discussion.add(paper, uid, r"Energy $E=mc^2$, and $$\sum_{i=1}^n x_i\,dx$$ too.")
    hidden = store.discussion.add(paper, uid, "Off-topic.")
    store.discussion.set_flag(hidden, hidden=True)
    store.accounts.claim_authorship(uid, ids[2], store.feed.card(ids[2]).authors[0])
    store.feed.set_upvote(uid, paper, True)
    # A card's code link with its stars: its accessible name must hold its visible words
    # ("Code · 1.2k", label-content-name-mismatch).
    store.papers.record_github(paper, stars=1234, etag=None, repo="example/splats")
    store.audit.record("signin", uid, uid, "192.0.2.1", "Firefox on Linux")
    # Users lists a disabled account with a long address; a deleted one's comment stays
    other = store.accounts.create_user(
        "grace", "grace.brewster.murray.hopper@computing-history.example.org", None
    )
    store.people.set_active(other, False)
    gone = add_user(store, "gone")
    store.discussion.add(paper, gone, "Written before leaving.")
    store.people.delete(gone)
    store.audit.record("token-created", uid, uid, "192.0.2.1", None, name="ci")
    store.reactions.set(first, uid, "thumbs_up", True)
    # A paper waiting for arXiv, and a thumbnail (its list of cards becomes a grid).
    store.queue.enqueue(
        "submit-paper",
        "2501.00001",
        {"user_id": uid},
        max_attempts=3,
        owner_id=uid,
        last_error="arXiv did not answer in time.",
    )
    store.thumbnails.save(ids[0], _thumbnail())
    many = [f"Author {chr(65 + i % 26)}. Collaborator{i}" for i in range(573)]
    big = PaperRecord(id="2601.09998", title="A collaboration of 573", abstract="All of us.",
                      authors=many, source="arxiv-api")  # fmt: skip
    store.papers.upsert([big.validated()], {**TRUST})
    org = store.accounts.create_organization("a11y-lab", "Accessibility Lab")
    store.accounts.set_paper_organization(ids[1], org)
    # A public collection with notes (its owner's tools on it, signed in), and another.
    shelf = store.collections.create(uid, "Vision reading", "Papers to read first.", "public")
    store.collections.add(shelf.id, ids[0], "Start with the ablations.\nThen section 4.")
    store.collections.add(shelf.id, ids[3])
    store.collections.create(uid, "Private notes", visibility="private")
    store.signals.mark(uid, ids[4], "dismissed", True)  # "1 hidden by you", and its list
    # For-you topics, one long enough to wrap on a phone
    store.readers.add_topic(uid, "vision transformers for medical image segmentation")
    store.readers.add_topic(uid, "counting")
    sub = store.mail.create_subscription("ada@example.org", "topic", "vision", "weekly", "UTC")
    app, _ = site(store, tmp_path, submit_max_age_days=0)
    app.state.site.speller.refresh()  # (built at the first search otherwise, and shown after)
    manage = mail_render.manage_token(app.state.site.signer, sub)
    reader = store.accounts.create_user("a11y-reader", "reader@example.org", None)
    theirs = store.mail.create_subscription(  # (Ada's For-you tab keeps its subscribe form)
        "reader@example.org", "foryou", None, "daily", "UTC", user_id=reader, confirmed=True
    )
    foryou = mail_render.manage_token(app.state.site.signer, theirs)
    # A reply to Ada and a mention of her: her header's count, and her notifications.
    reply = store.discussion.add(paper, reader, "Which **ablation** first?", parent_id=first)
    store.notifications.for_comment(reply, first, [])
    mention = store.discussion.add(ids[1], reader, "@ada wrote about this " + "at length " * 30)
    store.notifications.for_comment(mention, None, ["ada"])
    author = store.feed.card(paper).authors[0]
    confirm = app.state.site.signer.dumps("confirm", ["newbie", "newbie@example.org"])
    new_address = ["ada@example.org", "ada.lovelace@analytical-engines.example.org"]
    email = app.state.site.signer.dumps("email", [uid, *new_address])
    values = {
        "paper": paper,
        "user": "ada",
        "manage": manage,
        "foryou": foryou,
        "author": quote(author, safe=""),
        "confirm": confirm,
        "email": email,
        "collection": shelf.id,
        "saved": ids[3],
        "hidden": ids[4],
    }
    with serve_in_thread(app) as url:
        yield url, [(name, path.format(**values), status) for name, path, status in PAGES]


def run_axe(page, source: str) -> list[str]:
    """Each violation as one readable line: rule, impact, and the first nodes."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(source)  # through DevTools, so the page's CSP does not apply
    found = page.evaluate(
        """async () => (await axe.run(document, {resultTypes: ['violations']})).violations
             .map(v => ({id: v.id, impact: v.impact, help: v.help,
                         nodes: v.nodes.map(n => n.target.join(' ') + ' :: ' +
                                (n.failureSummary || '').replace(/\\s+/g, ' '))}))"""
    )
    return [
        f"{v['id']} ({v['impact']}, {len(v['nodes'])} nodes): {v['help']}; "
        + " | ".join(v["nodes"][:3])
        for v in found
    ]


class PageChecks:
    """A page of a path through the site, checked state by state (:meth:`check`): axe-core
    and the window's width at desktop and phone width, a full-page screenshot of each, and
    the JavaScript errors and CSP violations seen since the last check. ``problems`` holds
    what was found; assert it is empty at the end."""

    def __init__(self, page, scheme: str, axe_source: str, prefix: str = ""):
        self.page, self.scheme, self.axe_source, self.prefix = page, scheme, axe_source, prefix
        self.errors: list[str] = []
        self.problems: list[str] = []
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)

    def check(self, name: str, status: int = 200) -> None:
        page = self.page
        for width in (1280, 390):
            page.set_viewport_size({"width": width, "height": 900 if width > 600 else 844})
            where = f"{name} @{width}px {self.scheme}"
            self.problems.extend(f"{where}: {v}" for v in run_axe(page, self.axe_source))
            if page.evaluate("document.documentElement.scrollWidth") > width:
                self.problems.append(f"{where}: wider than the window")
            shot = SHOTS / f"{self.prefix}{name}-{width}-{self.scheme}.png"
            page.screenshot(path=str(shot), full_page=True)
        page.set_viewport_size({"width": 1280, "height": 900})
        seen = [e for e in self.errors if f"status of {status}" not in e]
        self.problems.extend(f"{name}: {e}" for e in seen)
        self.errors.clear()


@contextmanager
def checked_page(chromium, scheme: str, axe_source: str, prefix: str = "") -> Iterator[PageChecks]:
    """A new browser context in this colour scheme and its page, as :class:`PageChecks`."""
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, color_scheme=scheme)
    try:
        yield PageChecks(context.new_page(), scheme, axe_source, prefix)
    finally:
        context.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("signed_in", [False, True], ids=["signed-out", "signed-in"])
def test_every_page_has_no_axe_violations(browser, pages, axe_source, scheme, signed_in):  # noqa: F811
    url, todo = pages
    context = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme=scheme)
    page = context.new_page()
    errors: list[str] = []
    outside: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    here = urlsplit(url).netloc
    page.on(
        "request", lambda r: None if urlsplit(r.url).netloc in (here, "") else outside.append(r.url)
    )
    problems: list[str] = []
    try:
        if signed_in:
            page.goto(f"{url}/signin")
            page.get_by_label("User name or e-mail").fill("ada")
            page.get_by_label("Password").fill(PASSWORD)
            page.keyboard.press("Enter")
            page.wait_for_url(f"{url}/papers")
        for name, path, statuses in todo:
            status = statuses[signed_in] if isinstance(statuses, tuple) else statuses
            for width in SHOT_WIDTHS.get(name, (1280,)):
                where = f"{name} @{width}px {scheme} signed-{'in' if signed_in else 'out'}"
                page.set_viewport_size({"width": width, "height": 900 if width > 600 else 844})
                response = page.goto(url + path)
                if response.status != status:
                    problems.append(f"{where}: HTTP {response.status}, not {status}")
                if status >= 400:  # the browser reports the page's own status as an error
                    errors[:] = [e for e in errors if f"status of {status}" not in e]
                if name in PREPARE and (shown := PREPARE[name](page)) and shown >= 400:
                    errors[:] = [e for e in errors if f"status of {shown}" not in e]
                problems += [f"{where}: {v}" for v in run_axe(page, axe_source)]
                if page.evaluate("document.documentElement.scrollWidth") > width:
                    problems.append(f"{where}: wider than the window")
                problems += [f"{where}: {e}" for e in errors]
                errors.clear()  # JavaScript errors and CSP violations, page by page
                if signed_in and name in SHOT_WIDTHS:
                    shot = SHOTS / f"{name}-{width}-{scheme}.png"
                    page.screenshot(path=str(shot), full_page=True)
    finally:
        context.close()
    assert not problems, "\n".join(problems)
    assert not outside, f"requests left the server: {outside}"


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_focused_skip_link_is_readable(browser, pages, axe_source, scheme):  # noqa: F811
    """The skip link shows only when focused (the first Tab), which a page-load check never
    sees: axe-core on the page with it focused, in both colour schemes."""
    url, _ = pages
    context = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme=scheme)
    try:
        page = context.new_page()
        page.goto(f"{url}/papers")
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.className") == "skip"
        assert run_axe(page, axe_source) == []
    finally:
        context.close()
