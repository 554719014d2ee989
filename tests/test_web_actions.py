"""Upvotes, comments, moderation, authorship claims, submission and administration."""

import re
from datetime import date

import lxml.html
import pytest

from paperwire.core.display import short_date
from paperwire.core.records import Popularity
from paperwire.search.model import model_key

from .replay import ReplayServer, Reply
from .storekit import race
from .test_arxiv import recorded
from .webkit import Visitor, add_user, site


@pytest.fixture
def member(web):
    add_user(web[1], "member")
    v = Visitor(web[0])
    v.sign_in("member")
    v.get("/papers")
    return v


def test_upvote_form_and_json(web, member):
    store, pid = web[1], web[2][0]
    r = member.post(f"/papers/{pid}/upvote", {"state": "1", "next": "/papers"})
    assert r.status_code == 303 and r.headers["location"] == "/papers"
    assert store.feed.card(pid).upvotes == 1
    again = member.post(
        f"/papers/{pid}/upvote", {"state": "1"}, headers={"Accept": "application/json"}
    )
    assert again.json() == {"upvoted": True, "upvotes": 1, "changed": False}  # idempotent
    assert 'aria-pressed="true"' in member.get(f"/papers/{pid}").text
    off = member.post(
        f"/papers/{pid}/upvote", {"state": "0"}, headers={"Accept": "application/json"}
    )
    assert off.json() == {"upvoted": False, "upvotes": 0, "changed": True}
    r = member.post(f"/papers/{pid}/upvote", {"state": "1", "next": "https://evil.example/"})
    assert r.headers["location"] == f"/papers/{pid}"  # no open redirect
    for other_site in ("//evil.example/", "/\\evil.example/"):
        r = member.post(f"/papers/{pid}/upvote", {"state": "1", "next": other_site})
        assert r.headers["location"] == f"/papers/{pid}", other_site
    assert member.post("/papers/2501.00001/upvote", {"state": "1"}).status_code == 404


def test_anonymous_upvote_goes_to_sign_in(web):
    v = Visitor(web[0])
    v.get("/papers")
    pid = web[2][0]
    assert v.post(f"/papers/{pid}/upvote", {}).headers["location"].startswith("/signin")
    r = v.post(f"/papers/{pid}/upvote", {}, headers={"Accept": "application/json"})
    assert r.status_code == 401


def test_concurrent_upvotes_are_exact(store):
    """50 users click at once, some twice, some take it back: the count is exact on both
    backends."""
    from .webkit import seed

    ids = seed(store, days=1)
    pid = ids[0]
    users = [store.accounts.create_user(f"u{i}", None, None) for i in range(50)]
    # imported votes stay on top of local ones
    with store.begin() as conn:
        store.papers.set_popularity(conn, [Popularity(pid, 7)])

    def click(uid):
        store.feed.set_upvote(uid, pid, True)
        store.feed.set_upvote(uid, pid, True)  # double click
        if uid % 5 == 0:
            store.feed.set_upvote(uid, pid, False)

    race(click, users, 25)
    expected = sum(1 for u in users if u % 5 != 0)
    assert store.feed.card(pid).upvotes == 7 + expected
    assert len(store.feed.upvoted(users[1], [pid])) == (users[1] % 5 != 0)


def test_comments_replies_markdown_and_mentions(web, member):
    store, pid = web[1], web[2][0]
    body = (
        "**Nice** paper, see [code](https://example.org) and @curator1 — "
        "<script>alert(1)</script> [x](javascript:alert(2)) $O(n^2)$ @nobody"
    )
    r = member.post(f"/papers/{pid}/comments", {"body": body})
    assert r.status_code == 303
    cid = int(r.headers["location"].rsplit("-", 1)[1])
    card = member.get("/papers/week", follow_redirects=True).text
    assert f'href="/papers/{pid}#comments" aria-label="1 comment"' in card  # (not "1 comments")
    member.post(f"/papers/{pid}/comments", {"body": "A reply", "parent_id": str(cid)})
    page = member.get(f"/papers/{pid}").text
    assert "<strong>Nice</strong>" in page
    assert '<a href="/users/curator1" class="mention"' in page or 'href="/users/curator1"' in page
    assert "@nobody" in page and 'href="/users/nobody"' not in page
    assert "<script>alert(1)" not in page and "&lt;script&gt;" in page
    assert 'href="javascript:' not in page
    assert "&lt;/script&gt; x <math" in page  # the unsafe link's words, not its Markdown
    assert 'rel="nofollow ugc noopener"' in page
    assert "$O(n^2)$" in page
    assert re.search(r'class="replies">\s*<div class="comment[^"]*" id="comment-\d+"', page)
    assert store.feed.card(pid).num_comments == 2
    api = member.client.get(f"/api/papers/{pid}/comments").json()
    assert api[0]["replies"][0]["body"] == "A reply"


def test_comment_limits(web, member, tmp_path):
    pid = web[2][0]
    assert member.post(f"/papers/{pid}/comments", {"body": "   "}).status_code == 400
    r = member.post(f"/papers/{pid}/comments", {"body": "x" * 10001})
    assert r.status_code == 400 and "limited to 10,000 characters; this one has 10,001" in r.text
    # The text is not lost: the paper's page keeps it in its box, saying what is wrong.
    assert 'aria-describedby="new-comment-problem">' + "x" * 10001 + "</textarea>" in r.text
    assert "Your text is kept below." in r.text and web[1].feed.card(pid).num_comments == 0
    assert (
        member.post(f"/papers/{pid}/comments", {"body": "hi", "parent_id": "999"}).status_code
        == 404
    )
    huge = member.post(f"/papers/{pid}/comments", {"body": "x" * 2_000_000})
    assert huge.status_code == 413


def test_edit_delete_and_moderation(web, member):
    app, store, ids, _ = web
    pid = ids[0]
    cid = int(
        member.post(f"/papers/{pid}/comments", {"body": "first"})
        .headers["location"]
        .rsplit("-", 1)[1]
    )
    member.post(f"/comments/{cid}/edit", {"body": "first, edited"})
    assert store.discussion.get(cid).body == "first, edited"
    # The day shows; the hour, in UTC, on hover (for the comment and its edit).
    c = store.discussion.get(cid)
    shown = member.get(f"/papers/{pid}").text
    assert f'title="{short_date(c.created_at)}, {c.created_at:%H:%M} UTC"' in shown
    assert f'title="edited {short_date(c.edited_at)}, {c.edited_at:%H:%M} UTC">(edited)' in shown
    add_user(store, "stranger")
    stranger = Visitor(app)
    stranger.sign_in("stranger")
    stranger.get("/papers")
    assert stranger.post(f"/comments/{cid}/edit", {"body": "hacked"}).status_code == 403
    assert stranger.post(f"/comments/{cid}/delete", {}).status_code == 403
    assert stranger.post(f"/comments/{cid}/hide", {}).status_code == 403
    add_user(store, "boss", role="admin")
    admin = Visitor(app)
    admin.sign_in("boss")
    admin.get("/papers")
    admin.post(f"/comments/{cid}/hide", {"hidden": "1"})
    assert store.feed.card(pid).num_comments == 0
    assert "hidden by a moderator" in stranger.get(f"/papers/{pid}").text
    assert "first, edited" in admin.get(f"/papers/{pid}").text  # admins still see it
    assert "first, edited" in admin.get("/admin").text
    admin.post(f"/comments/{cid}/hide", {"hidden": "0"})
    stranger.post(f"/papers/{pid}/comments", {"body": "a reply", "parent_id": str(cid)})
    member.post(f"/comments/{cid}/delete", {})
    assert store.discussion.get(cid).deleted and store.feed.card(pid).num_comments == 1
    page = stranger.get(f"/papers/{pid}").text
    assert "first, edited" not in page
    # Kept for its reply, the deleted comment names no one, on the page or in the API.
    name = store.accounts.get_user(id=store.discussion.get(cid).user_id).username
    gone = page.split(f'id="comment-{cid}"', 1)[1].split('class="replies"', 1)[0]
    assert "deleted comment" in gone and name not in gone and "(edited)" not in gone
    [top] = [c for c in stranger.client.get(f"/api/papers/{pid}/comments").json() if c["id"] == cid]
    assert top["author"] is None and top["deleted"] and top["replies"][0]["body"] == "a reply"
    # Its reply deleted too, nothing of the thread is left to show.
    stranger.post(f"/comments/{top['replies'][0]['id']}/delete", {})
    assert f'id="comment-{cid}"' not in stranger.get(f"/papers/{pid}").text
    assert all(c["id"] != cid for c in stranger.client.get(f"/api/papers/{pid}/comments").json())


def test_authorship_claim_and_badge(web, member):
    app, store, ids, _ = web
    pid = ids[0]
    author = store.feed.card(pid).authors[0]
    assert member.post(f"/papers/{pid}/claim", {"author_name": "Not An Author"}).status_code == 400
    member.post(f"/papers/{pid}/claim", {"author_name": author})
    [claim] = store.accounts.claims(status="pending")
    assert member.post(f"/admin/claims/{claim.id}", {"decision": "approve"}).status_code == 403
    add_user(store, "root", role="admin")
    admin = Visitor(app)
    admin.sign_in("root")
    assert author in admin.get("/admin").text
    admin.post(f"/admin/claims/{claim.id}", {"decision": "approve"})
    member.post(f"/papers/{pid}/comments", {"body": "Author here"})
    assert 'title="Author of this paper">author</span>' in member.get(f"/papers/{pid}").text


def test_submission_rules(web, member, tmp_path):
    app, store, ids, _ = web
    not_on_feed = [p.id for p in store.feed.latest(limit=100) if p.id not in ids][0]
    r = member.post("/papers/submit", {"arxiv_id": ids[0]})
    assert r.status_code == 409 and "Already on the feed" in r.text
    assert f'<a href="/papers/{ids[0]}">See the paper</a>' in r.text
    assert "You need to be signed in" not in r.text  # (they are)
    r = member.post("/papers/submit", {"arxiv_id": not_on_feed})
    assert r.status_code == 400 and "last 14 days" in r.text  # published 2025-03
    r = member.post("/papers/submit", {"arxiv_id": "not an id"})
    assert r.status_code == 400 and "not an arXiv id" in r.text
    anyone, _ = site(store, tmp_path, submit_max_age_days=0, submit_daily_limit=1)
    v = Visitor(anyone)
    v.sign_in("member")
    v.get("/papers/submit")
    r = v.post("/papers/submit", {"arxiv_id": f"https://arxiv.org/abs/{not_on_feed}v1"})
    assert r.status_code == 303 and r.headers["location"] == f"/papers/{not_on_feed}?submitted=1"
    entry = store.feed.entry(not_on_feed)
    assert (
        entry.feed_date == date.today()
        and entry.submitted_by == store.accounts.get_user(username="member").id
    )
    second = [p.id for p in store.feed.latest(limit=100) if not store.feed.entry(p.id)][0]
    r = v.post("/papers/submit", {"arxiv_id": second})
    assert r.status_code == 429 and "limit" in r.text
    assert Visitor(anyone).get("/papers/submit").text.count("Sign in to submit") == 1


def test_submit_unknown_paper_fetches_it_from_arxiv(web, member, tmp_path):
    app, store, ids, _ = web
    with ReplayServer(recorded) as server:
        app2, _ = site(
            store, tmp_path, submit_max_age_days=0, arxiv_api_url=f"{server.url}/api/query"
        )
        v = Visitor(app2)
        v.sign_in("member")
        v.get("/papers")
        r = v.post("/papers/submit", {"arxiv_id": "1707.08567"})
        assert r.status_code == 303, r.text
        missing = v.post("/papers/submit", {"arxiv_id": "0000.0000"})  # recorded: no result
    assert store.papers.get("1707.08567").title
    assert store.feed.entry("1707.08567")
    # Embedded at once: findable by meaning before the next `paperwire index`.
    assert store.embeddings.of(model_key(), "1707.08567") is not None
    assert missing.status_code == 404 and "arXiv has no paper 0000.0000" in missing.text


def test_index_from_404_page(web, member, tmp_path):
    store = web[1]
    with ReplayServer(recorded) as server:
        app2, _ = site(store, tmp_path, arxiv_api_url=f"{server.url}/api/query")
        v = Visitor(app2)
        v.sign_in("member")
        assert v.get("/papers/1707.08567").status_code == 404
        r = v.post("/papers/index", {"arxiv_id": "1707.08567"})
    assert r.headers["location"] == "/papers/1707.08567"
    assert v.get("/papers/1707.08567").status_code == 200
    with ReplayServer(lambda p, q: Reply(503)) as down:
        app3, _ = site(store, tmp_path, arxiv_api_url=f"{down.url}/api/query")
        v3 = Visitor(app3)
        v3.sign_in("member")
        r = v3.post("/papers/index", {"arxiv_id": "2401.09417"})
        # arXiv down: accepted as pending, never a 5xx (tests/test_pending.py has the rest).
        assert r.status_code == 303 and r.headers["location"] == "/papers/pending?id=2401.09417"
        page = v3.get(r.headers["location"]).text
    assert "keeps asking" in page and "HTTP 503" in page


def test_admin_pages_and_actions(web, member):
    app, store, ids, _ = web
    assert member.get("/admin").status_code == 403
    assert Visitor(app).get("/admin").status_code == 401
    add_user(store, "chief", role="admin")
    admin = Visitor(app)
    admin.sign_in("chief")
    admin.get("/admin")
    assert admin.post("/admin/organizations", {"name": "bad name!"}).status_code == 400
    admin.post("/admin/organizations", {"name": "mila", "fullname": "Mila"})
    assert admin.post("/admin/organizations", {"name": "mila"}).status_code == 409
    admin.post("/admin/papers/organization", {"arxiv_id": ids[1], "organization": "mila"})
    assert store.feed.card(ids[1]).org == "mila"
    uid = store.accounts.get_user(username="member").id
    admin.post(f"/admin/users/{uid}/role", {"role": "curator"})
    assert store.accounts.get_user(id=uid).role == "curator"
    assert admin.post(f"/admin/users/{uid}/role", {"role": "emperor"}).status_code == 400
    me = store.accounts.get_user(username="chief").id
    assert admin.post(f"/admin/users/{me}/role", {"role": "user"}).status_code == 400


def test_a_comment_previews_as_it_will_show_and_posts_only_when_asked(web, member):
    store, pid = web[1], web[2][0]
    text = "**Bold** claim, $O(n^2)$, @curator1 and @nobody. <script>alert(1)</script>"
    r = member.post(f"/papers/{pid}/comments", {"body": text, "preview": "1"})
    assert r.status_code == 200 and store.feed.card(pid).num_comments == 0
    page = lxml.html.fromstring(r.text)
    [preview] = page.xpath("//div[@class='comment-preview']//div[@class='c-body']")
    shown = lxml.html.tostring(preview, encoding="unicode")
    assert "<strong>Bold</strong>" in shown and "<math" in shown
    assert 'href="/users/curator1"' in shown and 'href="/users/nobody"' not in shown
    assert "<script>" not in shown and "&lt;script&gt;" in shown
    [box] = page.xpath("//textarea[@id='new-comment']")
    assert box.text == text and box.get("autofocus") is not None
    # Posting it then is the ordinary form: the same words, once.
    key = page.xpath("//form[@class='comment-form']//input[@name='idempotency_key']")[0]
    r = member.post(f"/papers/{pid}/comments", {"body": text, "idempotency_key": key.get("value")})
    assert r.status_code == 303 and store.feed.card(pid).num_comments == 1
    # A reply previews inside its own form, opened; an empty preview just says so.
    [top] = [c for c in store.discussion.thread(pid) if c.parent_id is None]
    r = member.post(
        f"/papers/{pid}/comments", {"body": "_me too_", "parent_id": str(top.id), "preview": "1"}
    )
    page = lxml.html.fromstring(r.text)
    [opened] = page.xpath(f"//textarea[@id='reply-{top.id}']/ancestor::details")
    assert opened.get("open") is not None
    assert "<em>me too</em>" in lxml.html.tostring(opened, encoding="unicode")
    assert page.xpath("//textarea[@id='new-comment']")[0].text in (None, "")
    r = member.post(f"/papers/{pid}/comments", {"body": " ", "preview": "1"})
    assert r.status_code == 200 and "The comment is empty." in r.text
    assert store.feed.card(pid).num_comments == 1


def test_a_comment_sent_after_signing_out_elsewhere_is_given_back(web, member):
    """The session ended (signed out in another tab) while a comment was being written:
    nothing is posted, and the error page gives the text back to copy, with the way to sign
    in and back to the paper."""
    pid = web[2][0]
    page = member.get(f"/papers/{pid}")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    member.client.post("/signout", data={"csrf_token": token})
    text = "A long <b>thought</b> about this paper,\nwritten over ten minutes."
    where = f"http://testserver/papers/{pid}"
    r = member.client.post(
        f"/papers/{pid}/comments",
        data={"csrf_token": token, "body": text},
        headers={"referer": where},
    )
    assert r.status_code == 403 and web[1].feed.card(pid).num_comments == 0
    doc = lxml.html.fromstring(r.text)
    assert "You are signed out" in doc.xpath("//p[@role='alert']")[0].text_content()
    assert doc.xpath("//textarea[@id='kept-text']")[0].text == text  # escaped, whole
    assert "<b>thought</b>" not in r.text
    assert doc.xpath("//main//a[text()='Sign in']")[0].get("href") == f"/signin?next=/papers/{pid}"
    assert (
        doc.xpath("//a[text()='Back to the page you were on']")[0].get("href") == f"/papers/{pid}"
    )
    # Another site's page named as the referrer is not linked back to.
    r = member.client.post(
        f"/papers/{pid}/comments",
        data={"csrf_token": "forged", "body": "x"},
        headers={"referer": "https://evil.example/papers/1"},
    )
    assert r.status_code == 403 and "Back to the page you were on" not in r.text


def test_a_markdown_image_shows_its_words_not_nothing():
    """Nothing is loaded from elsewhere (no tracking pixel; the CSP refuses it anyway), but an
    image's words stay: a link to it when its address is safe, plain text when not."""
    from paperwire.web import render

    html = render.markdown("A ![cat on a mat](https://x.org/cat.png) and ![bad](javascript:x)")
    assert (
        '<a href="https://x.org/cat.png" rel="nofollow ugc noopener">[image: cat on a mat]</a>'
        in html
    )
    assert "and [image: bad]" in html and "<img" not in html and "javascript" not in html
    hostile = render.markdown('![<b>x</b> "q"](https://x.org/a.png"onerror=alert(1))')
    assert "<b>" not in hostile and "onerror=" not in hostile.replace("%22onerror=", "")
    assert "<img" not in hostile


def test_markdown_tables_keep_their_column_alignment_and_nothing_else(web, member):
    """`|:--|:-:|--:|` aligns a comment's table columns: a class the stylesheet aligns by (the
    site's CSP refuses inline styles); hostile input gets no other style, class or
    attribute past either wall (the Markdown renderer, then the sanitizer)."""
    from paperwire.web import render

    html = render.markdown("| left | mid | right | plain |\n|:--|:-:|--:|---|\n| 1 | 2 | 3 | 4 |")
    assert html.count('<th class="align-left">') == 1 and html.count('<td class="align-left">') == 1
    assert '<th class="align-center">mid</th>' in html and '<td class="align-right">3</td>' in html
    assert "<th>plain</th>" in html and "<td>4</td>" in html and "style" not in html
    # Raw HTML in a comment is text: no attribute of it reaches the page.
    hostile = render.markdown(
        '| <td style="position:fixed" class="align-right x">a</td> | b |\n|--:|:-:|\n'
        '| <span style="background:url(data:x)">c</span> | d |\n'
        '| style="color:red" | class="evil" |'
    )
    assert set(re.findall(r"</?([a-z]+)", hostile)) == {"table", "thead", "tbody", "tr", "th", "td"}
    assert not re.search(r"<[^>]*(style|onclick|position|url\()", hostile)
    assert re.findall(r'<t[hd] class="([^"]*)">', hostile) == ["align-right", "align-center"] * 3
    assert re.findall(r"<(?!/)[^>]*>", hostile) == re.findall(
        r"<(?:table|thead|tbody|tr|t[hd] class=\"align-(?:right|center)\")>", hostile
    )  # no other attribute on any tag
    # The sanitizer alone (the second wall) keeps only an alignment class on a cell.
    walled = render.sanitize(
        '<table><tbody><tr><th class="align-right evil" style="color:red;text-align:right" '
        'align="right" onclick="x()" id="i">a</th><td class="align-centre align-left" '
        'style="text-align:center">b</td><td class="align-right" style="text-align: '
        'right; background: url(javascript:alert(1))">c</td></tr></tbody></table>'
        '<p class="align-right" style="text-align:right">p</p><span class="align-left">s</span>'
    )
    assert walled == (
        '<table><tbody><tr><th class="align-right">a</th><td class="align-left">b</td>'
        '<td class="align-right">c</td></tr></tbody></table><p>p</p>s'
    )
    # On the page: the comment's table, aligned by the stylesheet.
    pid = web[2][0]
    r = member.post(f"/papers/{pid}/comments", {"body": "| n | score |\n|---|--:|\n| a | 0.91 |"})
    assert r.status_code == 303
    page = member.get(f"/papers/{pid}").text
    assert (
        '<th class="align-right">score</th>' in page and '<td class="align-right">0.91</td>' in page
    )
    css = member.get("/static/style.css").text
    assert "th.align-right, td.align-right { text-align: right; }" in css
    assert "th.align-center, td.align-center { text-align: center; }" in css


def test_an_unknown_papers_age_is_told_by_the_month_of_its_id(web, member):
    """A paper this instance does not know yet: its id says the month, not the day."""
    for raw, month in (("2401.09417", "January 2024"), ("hep-th/9901001", "January 1999")):
        r = member.post("/papers/submit", {"arxiv_id": raw})
        assert r.status_code == 400, r.text
        assert f"From {month}: only papers from the last 14 days" in r.text
        assert "Jan 31" not in r.text


def test_the_comments_address_opened_again_is_the_papers_discussion(web, member):
    """A preview or an error page lives at POST .../comments: its address opened with GET
    (reload, back, a shared link) goes to the paper's comments, not a 404."""
    pid, visitor = web[2][0], Visitor(web[0])
    for who in (member, visitor):
        r = who.get(f"/papers/{pid}/comments")
        assert r.status_code == 303 and r.headers["location"] == f"/papers/{pid}#comments"
    r = visitor.get("/papers/hep-th/9901001v2/comments")
    assert r.status_code == 303 and r.headers["location"] == "/papers/hep-th/9901001#comments"
    assert visitor.get("/papers/not-an-id/comments").status_code == 404
    assert visitor.get(f"/feeds/papers/{pid}/comments.atom").status_code == 200
