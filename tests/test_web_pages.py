"""The site's pages through an in-process client: feeds, navigation, paper pages, errors,
hostile input."""

import re
from datetime import date, datetime, timedelta

import lxml.html
import pytest
import sqlalchemy as sa

from paperwire.core.periods import week_of

from .storekit import TRUST
from .webkit import Visitor, add_user


@pytest.fixture
def visitor(web):
    return Visitor(web[0])


def test_home_redirects_and_papers_shows_today(web, visitor):
    from paperwire.core.display import short_date

    app, store, ids, _ = web
    assert visitor.get("/").headers["location"] == "/papers"
    r = visitor.get("/papers")
    assert r.status_code == 200
    today = store.feed.cards(ids[:5])
    for card in today:
        assert card.title.split()[0] in r.text
        # a card's date says what it is: not the feed's day but arXiv's
        said = (
            f"Published on arXiv {short_date(card.published)}"
            if card.published
            else f"On the feed {short_date(card.feed_date)}"  # (the kit's papers have no date)
        )
        assert f'title="{said}"' in r.text
    with store.db.engine.begin() as conn:  # a paper with its arXiv date
        conn.execute(
            sa.text("UPDATE papers SET published = :at WHERE id = :id"),
            {"at": datetime(2026, 6, 23, 17, 59), "id": ids[0]},
        )
    app.state.page_cache.version.written()  # as the app's own writes say (the cache)
    r = visitor.get("/papers")
    assert '<time datetime="2026-06-23T17:59:00" title="Published on arXiv Jun 23, 2026">' in r.text
    assert "Daily Papers" in r.text and date.today().strftime("%B") in r.text
    assert 'rel="prev"' in r.text and 'rel="next"' not in r.text  # nothing after today


def test_papers_says_when_today_has_none_yet(web, visitor):
    """/papers opens on the latest day with papers; when that is not today it says so (the
    demo's papers end months before its clock: the walkthrough took them for today's)."""
    from paperwire.core.display import short_date
    from paperwire.store import schema as t

    app, store, ids, _ = web
    today = date.today()
    assert "No papers on today’s feed" not in visitor.get("/papers").text
    for back, said in (
        (1, "these are the latest."),
        (20, "these are the latest, from 20 days ago."),
    ):
        with store.begin() as conn:
            conn.execute(t.feed_entries.update().values(feed_date=today - timedelta(days=back)))
        app.state.page_cache.version.written()  # as the app's own writes say (the cache)
        page = visitor.get("/papers").text
        assert f"No papers on today’s feed ({short_date(today)}) yet: {said}" in page, back
        day = visitor.get(f"/papers/date/{today - timedelta(days=back)}").text
        assert "No papers on today’s feed" not in day  # a day asked for by its date


def test_feed_orders_by_upvotes_and_paginates(web, visitor):
    app, store, ids, _ = web
    uid = add_user(store, "voter")
    day = date.today()
    favourite = ids[3]
    store.feed.set_upvote(uid, favourite, True)
    r = visitor.get(f"/papers/date/{day}")
    first = r.text.index('id="paper-')
    assert r.text[first:].startswith(f'id="paper-{favourite}"')
    week = week_of(day)
    store.feed.submit(  # make sure this week holds more than one page (10 cards)
        *[p.id for p in store.feed.latest(limit=100) if p.id not in ids][:1], uid, day
    )
    for pid in [p.id for p in store.feed.latest(limit=100) if p.id not in ids][1:12]:
        store.feed.submit(pid, uid, week.start)
    total = store.feed.period(week.start, week.end)[1]
    assert total > 10
    first = visitor.get(week.path)
    assert first.text.count('class="card"') == 10 and "More papers" in first.text
    page2 = visitor.get(f"{week.path}?p=1&sort=upvotes&fragment=1")
    assert page2.text.count('class="card"') == min(10, total - 10)
    assert "<html" not in page2.text  # the infinite scroll gets cards only
    assert "page-place" not in page2.text and "page-place" not in first.text
    # Opened at its own address (a reload after "More papers"), page 2 links back.
    alone = visitor.get(f"{week.path}?p=1&sort=upvotes&saved_paper=x")
    assert f'<a href="{week.path}?sort=upvotes" rel="prev">← Previous papers</a>' in alone.text


def _all_on_the_feed_today(store) -> None:
    """The seeded papers' feed days (today and the two days before) all today: on a Monday
    or a Tuesday some of them would be in the week before, which a test of "this week"
    must not depend on."""
    from paperwire.store import schema as t

    with store.begin() as conn:
        conn.execute(t.feed_entries.update().values(feed_date=date.today()))


def test_week_and_month_navigation(web, visitor):
    """Previous and next go to the nearest week (month) with papers, as the day pages do,
    not into the empty ones between."""
    from paperwire.core.periods import month

    app, store, ids, _ = web
    _all_on_the_feed_today(store)
    uid = add_user(store, "navigator")
    week = week_of(date.today())
    earlier = week.shift(-5)  # four empty weeks between
    far = month(earlier.start.year - 1, 6)  # a month with papers far back
    spare, other = [p.id for p in store.feed.latest(limit=200) if p.id not in ids][:2]
    # Stored before any page is asked for: a page kept in the cache is only replaced once
    # the site sees the data version change.
    store.feed.submit(spare, uid, earlier.start)
    store.feed.submit(other, uid, far.start)
    r = visitor.get(week.path)
    assert r.status_code == 200 and week.key in week.path
    assert visitor.get("/papers/week").headers["location"] == week.path
    assert f'href="{earlier.path}"' in r.text and f'href="{week.shift(-1).path}"' not in r.text
    back = visitor.get(earlier.path)
    assert f'href="{week.path}"' in back.text  # next: back to this week, over the empty ones
    # The month page after the far one is the next month holding papers, not the one after.
    after_far = visitor.get(far.path).text
    assert 'href="/papers/month/' in after_far and f'href="{far.shift(1).path}"' not in after_far


def test_week_and_month_tabs_open_on_the_latest_papers(web, visitor):
    """An instance whose latest papers came weeks ago: Weekly and Monthly open on the
    period holding them, as Daily and the Atom feeds do, not on empty periods."""
    from paperwire.core.periods import month
    from paperwire.store import schema as t

    app, store, ids, _ = web
    old = date.today() - timedelta(days=75)
    with store.begin() as conn:
        conn.execute(t.feed_entries.update().values(feed_date=old))
    assert visitor.get("/papers/week").headers["location"] == week_of(old).path
    assert visitor.get("/papers/month").headers["location"] == month(old.year, old.month).path
    r = visitor.get("/papers/week", follow_redirects=True)
    assert r.status_code == 200 and r.text.count('class="card"') == 10


def test_previous_day_link_skips_empty_days(web, visitor):
    app, store, ids, _ = web
    old = date.today() - timedelta(days=30)
    uid = add_user(store, "sub")
    extra = [p.id for p in store.feed.latest(limit=100) if p.id not in ids][0]
    store.feed.submit(extra, uid, old)
    earliest = date.today() - timedelta(days=2)
    r = visitor.get(f"/papers/date/{earliest}")
    assert f'href="/papers/date/{old}"' in r.text


def test_a_period_still_to_come_says_so(web, visitor):
    from paperwire.core.display import short_date
    from paperwire.core.periods import day, month

    ahead = date.today() + timedelta(days=400)
    for period in (day(ahead), week_of(ahead), month(ahead.year, ahead.month)):
        r = visitor.get(period.path)
        assert r.status_code == 200 and f"{period.label} is still to come" in r.text
        # ... and when: the feed's day is not the reader's, nor UTC's (the kit's is UTC's)
        assert f"this feed reaches it on {short_date(period.start)} at 00:00 UTC" in r.text
        assert "(its days change at midnight UTC)" in r.text
        assert '<a href="/papers">See the latest papers</a>' in r.text
        assert "No papers on the feed" not in r.text
    empty = day(date.today() - timedelta(days=20))  # before the fixture's papers
    r = visitor.get(empty.path)
    assert f"No papers on the feed for {empty.label}." in r.text and "to come" not in r.text


@pytest.mark.parametrize(
    "url",
    [
        "/papers/date/2026-13-01",
        "/papers/date/yesterday",
        "/papers/week/2026-W60",
        "/papers/month/2026-00",
        "/papers/not-an-id",
        "/papers/1234.5678/../../etc/passwd",
    ],
)
def test_bad_periods_and_ids_are_clean_404s(visitor, url):
    r = visitor.get(url)
    assert r.status_code == 404
    assert "text/html" in r.headers["content-type"] and "Back to today" in r.text


def test_bad_query_parameters_are_400_not_500(visitor):
    for url in (
        "/papers?p=-1",
        "/papers?p=abc",
        "/papers?sort=random",
        "/papers/trending?p=99999999999",
    ):
        r = visitor.get(url)
        assert r.status_code == 400, (url, r.status_code)


def test_an_id_arxiv_never_issued_says_so_not_that_it_may_exist(visitor):
    """Month 99, or four digits after 2015: no such paper can exist, so the page does not
    offer to index it from arXiv; a possible id still does."""
    for pid, why in (("9999.99999", "there is no month 99"),
                     ("2606.3173", "ids since 2015 have five digits after the dot"),
                     ("0612.0001", "ids of this form began in April 2007")):  # fmt: skip
        r = visitor.get(f"/papers/{pid}")
        assert r.status_code == 404, pid
        assert f"arXiv has no paper {pid}" in r.text and why in r.text, pid
        assert "Index it from arXiv" not in r.text and "Sign in to index it" not in r.text
    maybe = visitor.get("/papers/2606.31734")
    assert maybe.status_code == 404 and "is not indexed yet" in maybe.text


def test_a_search_sort_left_when_the_last_filter_is_cleared_shows_the_feed(visitor):
    """Clearing the last filter of a search sorted by date (the form keeps its sort) gave
    a 400: the feed now takes the search's sorts as its own of the same kind."""
    newest, top = visitor.get("/papers?sort=published"), visitor.get("/papers")
    for url, same in (("/papers?sort=date", newest), ("/papers?q=&sort=date", newest),
                      ("/papers?q=&sort=relevance", top)):  # fmt: skip
        r = visitor.get(url)
        assert r.status_code == 200, url
        order = re.findall(r'href="/papers/(\d{4}\.\d{5})"', r.text)
        assert order and order == re.findall(r'href="/papers/(\d{4}\.\d{5})"', same.text), url


def test_paper_page_full(web, visitor):
    app, store, ids, _ = web
    pid = ids[0]
    card = store.feed.card(pid)
    r = visitor.get(f"/papers/{pid}")
    assert r.status_code == 200
    for expected in (
        card.authors[0],
        f"https://arxiv.org/pdf/{pid}",
        "@misc{",
        "submitted by",
        "curator1",
        "Discussion (0)",
        "Sign in</a> to comment",
    ):
        assert expected in r.text, expected
    bib = visitor.get(f"/papers/{pid}/bibtex")
    assert bib.status_code == 200 and f"eprint = {{{pid}}}" in bib.text
    # What Zotero's connector and link previews read, in the head, one tag per author.
    head = lxml.html.fromstring(r.text).head
    meta = {}
    for m in head.iter("meta"):
        key = m.get("name") or m.get("property")
        meta.setdefault(key, []).append(m.get("content"))
    assert meta["citation_author"] == card.authors
    assert meta["citation_arxiv_id"] == [pid]
    assert meta["citation_pdf_url"] == [f"https://arxiv.org/pdf/{pid}"]
    if card.published:  # (no date: no tag, never 1970)
        assert meta["citation_publication_date"] == [card.published.strftime("%Y/%m/%d")]
    else:
        assert "citation_publication_date" not in meta
    assert meta["og:url"] == [f"http://testserver/papers/{pid}"]
    assert meta["og:title"] == meta["citation_title"] and meta["og:title"][0]
    assert head.find("link[@rel='canonical']").get("href") == f"http://testserver/papers/{pid}"


def test_a_long_author_list_folds_on_the_paper_page(web, visitor):
    """573 authors would push the abstract thousands of pixels down on a phone: the first 12
    show, the rest fold under "and N more" (all of them still links, no script needed)."""
    from paperwire.core.records import PaperRecord

    app, store, _, _ = web
    names = [f"Author Number{i}" for i in range(40)]
    rec = PaperRecord(id="2601.09999", title="A big collaboration", abstract="Many of us.",
                      authors=names, source="arxiv-api")  # fmt: skip
    store.papers.upsert([rec.validated()], TRUST)
    page = visitor.get("/papers/2601.09999").text
    at = page.index('aria-label="Authors"')
    authors = page[at : page.index("</details>", at)]
    assert "<summary>and 28 more</summary>" in authors
    folded = authors[authors.index("<details>") :]
    assert all(n in authors for n in names) and "Author Number11<" not in folded
    assert "Author Number12<" in folded and "Author Number39<" in folded


def test_versioned_and_url_ids_redirect_to_canonical(web, visitor):
    pid = web[2][0]
    assert visitor.get(f"/papers/{pid}v3").headers["location"] == f"/papers/{pid}"


def test_unknown_paper_offers_to_index(web, visitor):
    r = visitor.get("/papers/2501.00001")
    assert r.status_code == 404 and "not indexed yet" in r.text
    assert "Sign in to index it" in r.text
    add_user(web[1], "reader")
    visitor.sign_in("reader")
    r = visitor.get("/papers/2501.00001")
    assert 'action="/papers/index"' in r.text


def test_hostile_abstract_and_title_are_escaped(web, visitor):
    from paperwire.core.records import PaperRecord

    store = web[1]
    evil = PaperRecord(
        id="2503.99999",
        title='<script>alert("t")</script> $\\frac{a}{b}$ & <b>bold</b>',
        abstract="<img src=x onerror=alert(1)> We show $x<y$ and </p><script>alert(2)</script>",
        authors=['"><svg onload=alert(3)>'],
        categories=["cs.LG"],
        source="arxiv-api",
    ).validated()
    store.papers.upsert([evil], TRUST)
    uid = add_user(store, "evil")
    store.feed.submit("2503.99999", uid, date.today())
    for url in ("/papers/2503.99999", "/papers", "/feeds/daily.atom", "/papers?q=frac"):
        r = visitor.get(url)
        assert r.status_code == 200, url
        assert "<script>alert" not in r.text and "<img src=x" not in r.text, url
        assert "<svg onload" not in r.text, url
    page = visitor.get("/papers/2503.99999").text
    assert "&lt;script&gt;alert(&#34;t&#34;)&lt;/script&gt;" in page
    assert "x&lt;y" in page and '<meta name="description" content="&lt;img' in page


def test_search_page(web, visitor):
    store = web[1]
    title = store.feed.card(web[2][0]).title
    word = max(title.split(), key=len).strip(":,.")
    r = visitor.get(f"/papers?q={word}")
    assert r.status_code == 200 and "Results for" in r.text and title[:30] in r.text
    for q in ('"unbalanced', "-", "OR OR", "a" * 10000, "((", "漢字", "%00"):
        assert visitor.get("/papers", params={"q": q}).status_code == 200, q
    assert visitor.get("/papers", params={"q": "a" * 10001}).status_code == 400


def test_security_headers_and_cookies(visitor):
    r = visitor.get("/papers")
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "camera=()" in r.headers["permissions-policy"]
    # A page without a form that needs the CSRF token sets no cookie (proxies may share it)...
    assert "set-cookie" not in r.headers and "csrf" not in r.text.lower()
    # ... a page with one sets the nonce behind the token.
    cookie = visitor.get("/signin").headers["set-cookie"]
    assert "pw_csrf=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie


def test_profile_and_organization_pages(web, visitor):
    app, store, ids, _ = web
    assert visitor.get("/users/curator1").status_code == 200
    assert visitor.get("/users/nobody").status_code == 404
    org = store.accounts.create_organization("deepmind", "Google DeepMind")
    store.accounts.set_paper_organization(ids[0], org)
    r = visitor.get("/organizations/deepmind")
    assert r.status_code == 200 and store.feed.card(ids[0]).title[:30] in r.text
    assert "Google DeepMind" in visitor.get("/papers").text  # the card shows the organization
    assert visitor.get("/organizations").status_code == 200
    assert visitor.get("/organizations/none").status_code == 404


def test_trending_page_explains_formula(web, visitor):
    r = visitor.get("/papers/trending")
    assert r.status_code == 200
    assert "How trending works" in r.text and "log2(1 + GitHub stars" in r.text
    assert r.text.count('class="card"') == 10


def test_static_and_robots(visitor):
    assert visitor.get("/static/style.css").status_code == 200
    assert visitor.get("/static/app.js").status_code == 200
    assert "Disallow: /admin" in visitor.get("/robots.txt").text
    assert visitor.get("/healthz").text == "ok"


def test_remaining_redirects_and_errors(visitor):
    today = date.today()
    assert visitor.get("/papers/month").headers["location"] == f"/papers/month/{today:%Y-%m}"
    assert visitor.get("/about/trending").headers["location"] == "/papers/trending#formula"
    assert visitor.get("/papers/2501.00001/bibtex").status_code == 404
    assert visitor.get("/papers/submit").status_code == 200
    r = visitor.get("/api/nothing-here")
    assert r.status_code == 404 and r.json() == {"error": "No such API path: /api/nothing-here."}
    r = visitor.client.put("/papers")
    assert r.status_code == 405
    r = visitor.get("/nothing-here")  # a page: its heading once, the message in words
    assert r.status_code == 404 and "<title>Not found · Paperwire</title>" in r.text
    assert "<h1>Not found</h1>" in r.text and "Not Found" not in r.text
    assert "There is no page at this address" in r.text


def test_bad_parameters_are_told_in_words(web):
    """A bad parameter gets a sentence about it (not pydantic's wording, not a pattern), and
    an impossible path a 404 (walkthrough: "span: String should match pattern
    '^(day|week|new)$'", "collection_id: Input should be a valid integer")."""
    app = web[0]
    v = Visitor(app)
    for url, status, said in [
        (
            "/papers/for-you?span=bogus",
            400,
            "span must be one of day, week, new (not &#39;bogus&#39;)",
        ),
        ("/papers?q=x&p=-1", 400, "p must be at least 0"),
        ("/papers?q=x&p=x", 400, "p must be a whole number (not &#39;x&#39;)"),
        ("/collections/abc", 404, "There is no page at /collections/abc."),
    ]:
        r = v.get(url)
        assert r.status_code == status and said in r.text, (url, r.status_code, r.text[-600:])
        assert "should" not in r.text.split("<main")[1] and "pattern" not in r.text
    r = v.get("/api/papers/search", params={"q": "x", "limit": "5000"})
    assert r.status_code == 400 and r.json() == {"error": "limit must be at most 120 (not '5000')"}
    assert v.get("/api/collections/abc").status_code == 404
    r = v.get("/api/papers/not-an-id/similar")
    assert r.status_code == 400
    assert (
        r.json()["error"]
        == "'not-an-id' is not an arXiv id: they look like 2401.09417 or hep-th/9901001"
    )


def test_a_picked_day_opens_that_days_feed(visitor):
    """The daily page's date field (a plain GET form): the day's page; a bad day, a 400."""
    page = visitor.get("/papers").text
    assert '<form class="jump" action="/papers/date" method="get">' in page
    r = visitor.get("/papers/date?on=2026-03-18")
    assert (r.status_code, r.headers["location"]) == (302, "/papers/date/2026-03-18")
    assert visitor.get("/papers/date").headers["location"].startswith("/papers/date/")
    for bad in ("2026-02-30", "yesterday", "9999-01-01"):
        assert visitor.get(f"/papers/date?on={bad}").status_code == 400, bad
