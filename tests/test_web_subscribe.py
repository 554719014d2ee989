"""Subscriptions on the site and in the API: double opt-in, the same answer for known and
unknown addresses, signed single-use links, one-click unsubscribe, bad input."""

from __future__ import annotations

import html
import re

import pytest
from fastapi.testclient import TestClient

from paperwire.mail import render as mail_render

from .test_web_auth import delivered, outbox
from .webkit import PASSWORD, Visitor, add_user


@pytest.fixture
def visitor(web):
    return Visitor(web[0])


def link(msg, path: str) -> str:
    body = msg.get_body(preferencelist=("plain",)).get_content()
    return re.search(rf"http://testserver({path}\S+)", body).group(1)


def form(**kw):
    data = {"email": "ada@example.org", "kind": "trending", "frequency": "daily",
            "timezone": "Europe/Paris"}  # fmt: skip
    data.update(kw)
    return data


def test_banner_on_feed_pages_and_topic_banner_on_search(web, visitor):
    r = visitor.get("/papers")
    assert "Get trending papers in your email inbox!" in r.text and 'href="/subscribe"' in r.text
    assert "Get trending papers in your email inbox!" in visitor.get("/papers/trending").text
    r = visitor.get("/papers?q=vision+language")
    assert "Get new papers about “vision language”" in r.text
    assert "/subscribe?kind=topic&amp;query=vision+language" in r.text
    r = visitor.get("/subscribe?kind=topic&query=vision+language")
    assert r.status_code == 200 and 'value="vision language"' in r.text


def test_banner_says_what_a_reader_already_gets(web, visitor):
    """A signed-in reader who subscribed is not offered the same again: the banner says what
    they get, with a link to manage it; nobody else sees it."""
    app, store, _, config = web
    uid = add_user(store, "ada")
    visitor.sign_in("ada")
    assert "Get trending papers in your email inbox!" in visitor.get("/papers").text
    r = visitor.post("/subscribe", form(email="ada@example.org"))
    assert r.status_code == 303
    [sub] = store.mail.subscriptions_of(uid, "ada@example.org")
    for path in ("/papers", "/papers/week", "/papers/trending"):
        banner = (
            visitor.get(path, follow_redirects=True)
            .text.split('class="subscribe-banner"')[1]
            .split("</aside>")[0]
        )
        assert "Get trending papers" not in banner
        assert "Daily (weekdays) digest of trending papers to ada@example.org" in banner
        if sub.status == "confirmed":
            assert "You get this by e-mail" in banner
        else:
            assert "waiting for confirmation" in banner
        token = html.unescape(re.search(r'href="/subscriptions/manage\?token=([^"]+)"', banner)[1])
        manage = visitor.get(f"/subscriptions/manage?token={token}")
        assert manage.status_code == 200 and "ada@example.org" in manage.text
    # A search still offers its own alert, until there is one for that query.
    assert "Get new papers about “vision language”" in visitor.get("/papers?q=vision+language").text
    visitor.post("/subscribe", form(email="ada@example.org", kind="topic", query="Vision language"))
    r = visitor.get("/papers?q=vision+language")
    assert "Get new papers about" not in r.text and "alert for “Vision language”" in r.text
    assert "Get new papers about “diffusion”" in visitor.get("/papers?q=diffusion").text
    # Another reader, and a signed-out visitor, get the offer.
    add_user(store, "bob")
    other = Visitor(app)
    other.sign_in("bob")
    for who in (other, Visitor(app)):
        r = who.get("/papers")
        assert "Get trending papers in your email inbox!" in r.text and "ada@" not in r.text


def test_double_opt_in_confirm_manage_unsubscribe(web, visitor):
    app, store, _, config = web
    r = visitor.post_and_follow("/subscribe", form(kind="topic", query="  vision   transformers "))
    assert r.status_code == 200 and "Check your inbox" in r.text
    assert "We have sent a message to ada@example.org: follow its link to confirm" in r.text
    [sub] = [s for s in store.mail.active_subscriptions()] or [None]
    assert sub is None  # nothing is sent before confirmation
    pending = store.mail.find_subscription("ada@example.org", "topic", "vision transformers")
    assert pending.status == "pending" and pending.timezone == "Europe/Paris"
    assert len(pending.query_vector) == 384 * 4  # embedded at once, not at sending time
    assert outbox(config) == []  # queued, not sent inside the request
    [msg] = delivered(store, config)
    assert msg["To"] == "ada@example.org" and "Confirm" in msg["Subject"]
    assert msg.get_body(("html",)) is not None
    url = link(msg, "/subscriptions/confirm")
    # GET only shows a button (mail scanners follow links); the POST confirms
    page = visitor.get(url)
    assert page.status_code == 200 and "Confirm subscription" in page.text
    assert store.mail.get_subscription(pending.id).status == "pending"
    token = re.search(r'name="token" value="([^"]+)"', page.text).group(1)
    r = visitor.post_and_follow("/subscriptions/confirm", {"token": token})
    assert r.status_code == 200 and "Subscribed!" in r.text
    assert store.mail.get_subscription(pending.id).status == "confirmed"
    # single use: used again (the form sent twice, the link opened twice), it says so and
    # confirms nothing more
    twice = visitor.post_and_follow("/subscriptions/confirm", {"token": token})
    for again in (twice, visitor.get(url)):
        assert again.status_code == 200 and "Already confirmed: you are subscribed" in again.text
        assert "Confirm subscription" not in again.text
    assert store.mail.get_subscription(pending.id).status == "confirmed"
    # manage: change topic and frequency
    manage = re.search(r'name="token" value="([^"]+)"', r.text).group(1)
    r = visitor.post_and_follow("/subscriptions/manage", {"token": manage, "kind": "topic",
                                "query": "efficient vision transformers", "frequency": "weekly",
                                "timezone": "Asia/Tokyo"})  # fmt: skip
    assert r.status_code == 200 and "Saved." in r.text
    sub = store.mail.get_subscription(pending.id)
    assert (sub.query, sub.frequency, sub.timezone) == (
        "efficient vision transformers",
        "weekly",
        "Asia/Tokyo",
    )
    assert sub.query_vector and sub.query_vector != pending.query_vector
    bad = visitor.post("/subscriptions/manage", {"token": manage, "kind": "topic", "query": "",
                       "frequency": "weekly", "timezone": "Mars/Olympus"})  # fmt: skip
    assert bad.status_code == 400 and "time zone" in bad.text
    # unsubscribe: GET asks, POST stops
    ask = visitor.get(f"/subscriptions/unsubscribe?token={manage}")
    assert ask.status_code == 200 and "Stop" in ask.text
    assert store.mail.get_subscription(pending.id).status == "confirmed"
    r = visitor.post_and_follow("/subscriptions/unsubscribe", {"token": manage})
    assert r.status_code == 200 and "You are unsubscribed. No more e-mails" in r.text
    assert store.mail.get_subscription(pending.id).status == "unsubscribed"


def test_same_answer_whether_or_not_subscribed(web, visitor):
    app, store, _, config = web
    sub = store.mail.create_subscription("grace@example.org", "trending", None, "daily", "UTC",
                                    confirmed=True)  # fmt: skip
    r1 = visitor.post("/subscribe", form(email="grace@example.org"))
    shown1 = visitor.follow(r1)
    r2 = visitor.post("/subscribe", form(email="fresh@example.org"))
    shown2 = visitor.follow(r2)
    strip = lambda t: re.sub(r"\S+@example\.org", "", t)  # noqa: E731
    assert r1.status_code == r2.status_code == 303 and r1.text == r2.text
    assert r1.headers["location"] == r2.headers["location"] == "/check-mail/subscription"
    assert shown1.status_code == shown2.status_code == 200
    assert strip(shown1.text) == strip(shown2.text) and "grace@example.org" in shown1.text
    assert len(store.queue.list(kind="mail", state="queued")) == 2 and outbox(config) == []
    mails = {m["To"]: m for m in delivered(store, config)}
    assert "already subscribed" in mails["grace@example.org"].get_body(("plain",)).get_content()
    assert "Confirm" in mails["fresh@example.org"]["Subject"]
    # the known subscription did not change, and no second one was made
    assert store.mail.get_subscription(sub.id).timezone == "UTC"
    assert len(store.mail.active_subscriptions()) == 1


def test_signed_in_owner_of_a_confirmed_address_skips_the_email(web, visitor):
    app, store, _, config = web
    uid = add_user(store, "lin")
    store.accounts.confirm_user(uid)
    visitor.sign_in("lin", PASSWORD)
    assert 'value="lin@example.org"' in visitor.get("/subscribe").text
    r = visitor.post_and_follow("/subscribe", form(email="lin@example.org"))
    assert r.status_code == 200
    [sub] = store.mail.active_subscriptions()
    assert sub.user_id == uid and delivered(store, config) == []
    # told what happened (nothing was mailed), with the subscription's own manage form
    assert "We have sent" not in r.text and "Check your inbox" not in r.text
    said = html.unescape(r.text)
    assert (
        "You're subscribed: Daily (weekdays) digest of trending papers to lin@example.org "
        "is active" in said
    )
    manage = re.search(r'name="token" value="([^"]+)"', r.text).group(1)
    assert visitor.get(f"/subscriptions/manage?token={manage}").status_code == 200
    again = visitor.post_and_follow("/subscribe", form(email="lin@example.org", frequency="weekly"))
    assert "You were already subscribed" in again.text and "No e-mail was sent" in again.text
    assert store.mail.get_subscription(sub.id).frequency == "weekly"
    assert delivered(store, config) == []
    r = visitor.get("/settings")
    assert "Weekly digest of trending papers" in r.text and "Change or stop" in r.text


def test_signed_in_user_subscribing_another_address_gets_the_anonymous_answer(web, visitor):
    app, store, _, config = web
    uid = add_user(store, "lin")
    store.accounts.confirm_user(uid)
    store.mail.create_subscription("grace@example.org", "trending", None, "daily", "UTC",
                                   confirmed=True)  # fmt: skip
    visitor.sign_in("lin", PASSWORD)
    known = visitor.post_and_follow("/subscribe", form(email="grace@example.org"))
    fresh = visitor.post_and_follow("/subscribe", form(email="fresh@example.org"))
    strip = lambda t: re.sub(r"\S+@example\.org", "", t)  # noqa: E731
    assert known.status_code == fresh.status_code == 200
    assert strip(known.text) == strip(fresh.text) and "Check your inbox" in known.text
    said = html.unescape(known.text)
    assert "You're subscribed" not in said and "already subscribed" not in said


def test_bad_input_is_refused_cleanly(web, visitor):
    app, store, _, config = web
    for bad in ["not-an-email", "a@b", "ada@example.org\r\nBcc: x@example.org",
                "<script>@example.org", "x" * 300 + "@example.org"]:  # fmt: skip
        r = visitor.post("/subscribe", form(email=bad))
        assert r.status_code == 400 and "e-mail address like" in r.text
        assert "<script>@" not in r.text
    r = visitor.post("/subscribe", form(kind="topic", query="   "))
    assert r.status_code == 400 and "Describe the topic" in r.text
    r = visitor.post("/subscribe", form(kind="nonsense", frequency="hourly", timezone="x/y"))
    assert r.status_code == 400
    assert "Choose trending" in r.text and "daily (weekdays)" in r.text and "time zone" in r.text
    r = visitor.post("/subscribe", form(kind="topic", query="q" * 301))
    assert r.status_code == 400
    # CSRF
    r = visitor.client.post("/subscribe", data=form())
    assert r.status_code == 403
    # forged, altered and expired tokens
    for token in ["", "garbage", "x" * 600]:
        assert visitor.get(f"/subscriptions/manage?token={token}").status_code in (400, 422)
        assert visitor.get(f"/subscriptions/confirm?token={token}").status_code in (400, 422)
    sub = store.mail.create_subscription("e@example.org", "trending", None, "daily", "UTC")
    signer = app.state.site.signer
    good = mail_render.manage_token(signer, sub)
    assert visitor.get(f"/subscriptions/manage?token={good}").status_code == 200
    # an altered signature (not its last characters: base64's unused bits can leave the
    # decoded bytes unchanged, so "...xx" for "...xx" made this test flaky)
    altered = good[:-8] + ("A" if good[-8] != "A" else "B") + good[-7:]
    assert visitor.get(f"/subscriptions/manage?token={altered}").status_code == 400
    other = type(signer)("another-secret")
    assert (
        visitor.get(
            f"/subscriptions/manage?token={mail_render.manage_token(other, sub)}"
        ).status_code
        == 400
    )
    confirm = mail_render.confirm_token(signer, sub)
    mail_render.CONFIRM_MAX_AGE, saved = -1, mail_render.CONFIRM_MAX_AGE
    try:
        assert visitor.get(f"/subscriptions/confirm?token={confirm}").status_code == 400
    finally:
        mail_render.CONFIRM_MAX_AGE = saved
    assert visitor.get(f"/subscriptions/confirm?token={confirm}").status_code == 200
    # a manage token is not a confirmation token, and the other way round
    assert visitor.get(f"/subscriptions/confirm?token={good}").status_code == 400
    assert visitor.get(f"/subscriptions/manage?token={confirm}").status_code == 400
    # no unsubscribing without a valid token
    r = TestClient(app).post("/subscriptions/unsubscribe?token=forged",
                             content="List-Unsubscribe=One-Click")  # fmt: skip
    assert r.status_code == 400
    assert store.mail.get_subscription(sub.id).status == "pending"


def test_subscribe_is_rate_limited(web, visitor, monkeypatch):
    app, store, _, config = web
    limit = config.digests.rate_limit_subscribe
    codes = [visitor.post("/subscribe", form(email="same@example.org")).status_code]
    [first] = delivered(store, config)
    codes += [visitor.post("/subscribe", form(email="same@example.org")).status_code
              for _ in range(limit)]  # fmt: skip
    assert codes[:-1] == [303] * limit and codes[-1] == 429
    # the requests made while one confirmation waited in the queue made no second one; the
    # message then sent carries the newest link (signed when sent), the earlier one is void
    mails = delivered(store, config)
    assert len(mails) == 2
    assert len(store.mail.active_subscriptions()) == 0
    assert visitor.get(link(first, "/subscriptions/confirm")).status_code == 400  # superseded
    assert visitor.get(link(mails[-1], "/subscriptions/confirm")).status_code == 200


def test_api_subscribe_list_change_stop(web):
    app, store, _, config = web
    client = TestClient(app)
    r = client.post("/api/subscriptions", json={"email": "api@example.org", "kind": "topic",
                    "query": "graph neural networks", "frequency": "weekly"})  # fmt: skip
    assert r.status_code == 202 and r.json()["status"] == "accepted"
    again = client.post("/api/subscriptions", json={"email": "api@example.org", "kind": "topic",
                        "query": "graph neural networks", "frequency": "weekly"})  # fmt: skip
    assert again.json() == r.json()
    assert client.post("/api/subscriptions", data={"email": "x@example.org"}).status_code in (
        400,
        415,
    )
    bad = client.post("/api/subscriptions", json={"email": "nope", "kind": "topic"})
    assert bad.status_code == 400 and set(bad.json()["fields"]) == {"email", "query"}
    assert client.get("/api/subscriptions").status_code == 401
    # with a token, the account's confirmed address is subscribed at once
    uid = add_user(store, "tok")
    store.accounts.confirm_user(uid)
    token = store.accounts.create_token(uid, "script")
    auth = {"Authorization": f"Bearer {token}"}
    r = client.post("/api/subscriptions", headers=auth, json={"email": "tok@example.org"})
    assert r.status_code == 200 and r.json()["status"] == "active"  # no confirmation to wait for
    assert "You're subscribed" in r.json()["message"]
    [mine] = client.get("/api/subscriptions", headers=auth).json()
    assert mine == r.json()["subscription"]
    assert mine["status"] == "confirmed" and mine["kind"] == "trending"
    r = client.patch(f"/api/subscriptions/{mine['id']}", headers=auth,
                     json={"frequency": "weekly", "timezone": "America/Chicago"})  # fmt: skip
    assert r.status_code == 200 and r.json()["frequency"] == "weekly"
    assert client.patch(f"/api/subscriptions/{mine['id']}", headers=auth,
                        json={"timezone": "Nowhere/None"}).status_code == 400  # fmt: skip
    other = store.mail.find_subscription("api@example.org", "topic", "graph neural networks")
    assert client.delete(f"/api/subscriptions/{other.id}", headers=auth).status_code == 404
    r = client.delete(f"/api/subscriptions/{mine['id']}", headers=auth)
    assert r.status_code == 200 and r.json()["status"] == "unsubscribed"
    assert "/api/subscriptions" in client.get("/openapi.json").json()["paths"]


def test_preview_in_the_browser(web, visitor):
    app, store, ids, config = web
    uid = add_user(store, "fan")
    for pid in ids[:3]:
        store.feed.set_upvote(uid, pid, True)
    # the page: the site's own layout (skip link, header, footer), the e-mail in a frame
    r = visitor.get("/digest/preview")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    page = r.text
    assert '<a class="skip" href="#main">Skip to content</a>' in page
    assert '<header class="top">' in page and '<footer class="foot wrap">' in page
    assert "<h1>Preview of the next e-mail</h1>" in page and "Subject: <strong>" in page
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]  # the site's own
    frame = re.search(r'<iframe class="mail-preview" src="([^"]+)" title="The e-mail: [^"]+" '
                      r'sandbox="([^"]+)"', page)  # fmt: skip
    assert frame and "allow-scripts" not in frame[2] and "allow-same-origin" not in frame[2]
    assert html.unescape(frame[1]) == "/digest/preview/email?kind=trending&query=&frequency=daily"
    assert 'href="/subscribe?kind=trending&amp;query=&amp;frequency=daily">Subscribe</a>' in page
    # the e-mail: its own styles, no scripts, framed by this site only
    r = visitor.get(html.unescape(frame[1]))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "script-src" not in r.headers["content-security-policy"]
    assert "'unsafe-inline'" in r.headers["content-security-policy"]
    assert "frame-ancestors 'self'" in r.headers["content-security-policy"]
    assert r.headers["x-frame-options"] == "SAMEORIGIN"
    assert '<base target="_top">' in r.text  # its links open in the window, not the frame
    for card in store.feed.cards(ids[:3]):
        assert f"/papers/{card.id}" in r.text
    assert '<header class="top">' not in r.text
    text = visitor.get("/digest/preview?format=text")
    assert text.headers["content-type"].startswith("text/plain") and "Why: trending" in text.text
    topic = visitor.get("/digest/preview?kind=topic&query=vision+language&frequency=weekly")
    assert topic.status_code == 200 and "/digest/preview/email?kind=topic&amp;query=vision" in (
        topic.text
    )
    nothing = visitor.get("/digest/preview?kind=topic&query=qqxqzvbnmkj")
    assert nothing.status_code == 200 and "<iframe" not in nothing.text
    assert "Nothing new for this subscription: no e-mail would be sent." in nothing.text
    assert '<header class="top">' in nothing.text
    assert visitor.get("/digest/preview?kind=topic&query=").status_code == 400
    assert visitor.get("/digest/preview?token=forged").status_code == 400
    assert visitor.get("/digest/preview/email?token=forged").status_code == 400
    # a subscription's preview leads back to it
    sub = store.mail.create_subscription("p@example.org", "trending", None, "daily", "UTC")
    token = mail_render.manage_token(app.state.site.signer, sub)
    page = visitor.get(f"/digest/preview?token={token}").text
    assert f'href="/subscriptions/manage?token={token}">Change or stop' in page
    assert f'src="/digest/preview/email?token={token}"' in page


def test_subscribe_and_manage_redirect_so_a_reload_sends_nothing_again(web, visitor):
    """Post/Redirect/Get: each form answers with a redirect to a page that says what it did;
    reloading that page sends nothing again. Bad input is answered on the form itself."""
    app, store, _, config = web
    r = visitor.post("/subscribe", form(kind="topic", query="graph neural networks"))
    assert (r.status_code, r.headers["location"]) == (303, "/check-mail/subscription")
    for _reload in range(2):
        shown = visitor.get(r.headers["location"])
        assert "We have sent a message to ada@example.org: follow its link" in shown.text
    assert len(store.queue.list(kind="mail")) == 1  # one confirmation, not one per reload
    sub = store.mail.find_subscription("ada@example.org", "topic", "graph neural networks")
    store.mail.confirm_subscription(sub.id, sub.confirm_nonce or "")
    token = mail_render.manage_token(app.state.site.signer, sub)
    change = {"token": token, "kind": "topic", "query": "graph transformers",
              "frequency": "weekly", "timezone": "Asia/Tokyo"}  # fmt: skip
    r = visitor.post("/subscriptions/manage", change)
    assert r.status_code == 303 and r.headers["location"].startswith("/subscriptions/manage?")
    store.mail.update_subscription(sub.id, frequency="daily")  # changed elsewhere meanwhile
    for _reload in range(2):  # the reload shows the page, and changes nothing back
        shown = visitor.get(r.headers["location"])
        assert shown.status_code == 200 and "Saved." in shown.text
        assert store.mail.get_subscription(sub.id).frequency == "daily"
    assert store.mail.get_subscription(sub.id).query == "graph transformers"
    # bad input: the form again, 400, with the message and what was typed
    bad = visitor.post("/subscriptions/manage", {**change, "query": "  ", "frequency": "hourly",
                                                 "timezone": "Mars/Olympus"})  # fmt: skip
    assert bad.status_code == 400 and "Saved." not in bad.text
    assert "Describe the topic" in bad.text and "daily (weekdays)" in bad.text
    assert 'value="Mars/Olympus"' in bad.text and 'aria-describedby="m-query-err"' in bad.text
    bad = visitor.post("/subscriptions/manage", {**change, "kind": "x", "query": "diffusion",
                                                 "timezone": "Nowhere"})  # fmt: skip
    assert (
        bad.status_code == 400 and 'value="diffusion"' in bad.text and "Choose trending" in bad.text
    )
    assert store.mail.get_subscription(sub.id).query == "graph transformers"
    r = visitor.post("/subscribe", form(email="not-an-email", kind="topic", query="diffusion"))
    assert (
        r.status_code == 400 and 'value="not-an-email"' in r.text and 'value="diffusion"' in r.text
    )
    # what a page says is only ever true: an unknown key says nothing, and an old "saved"
    # address opened once the subscription is stopped does not say it is active
    manage = f"/subscriptions/manage?token={token}"
    assert 'class="notice"' not in visitor.get(f"{manage}&saved=nonsense").text
    r = visitor.post("/subscriptions/unsubscribe", {"token": token})
    assert r.status_code == 303 and "saved=unsubscribed" in r.headers["location"]
    assert "You are unsubscribed. No more e-mails" in visitor.get(r.headers["location"]).text
    stale = visitor.get(f"{manage}&saved=saved")
    assert stale.status_code == 200 and 'class="notice"' not in stale.text


def test_subscribing_the_own_address_redirects_to_the_subscription(web, visitor):
    app, store, _, config = web
    uid = add_user(store, "lin")
    store.accounts.confirm_user(uid)
    visitor.sign_in("lin", PASSWORD)
    r = visitor.post("/subscribe", form(email="lin@example.org"))
    assert r.status_code == 303 and "saved=subscribed" in r.headers["location"]
    for _reload in range(2):
        shown = html.unescape(visitor.get(r.headers["location"]).text)
        assert "You're subscribed: Daily (weekdays) digest of trending papers" in shown
    assert len(store.mail.active_subscriptions()) == 1
    again = visitor.post("/subscribe", form(email="lin@example.org", frequency="weekly"))
    assert again.status_code == 303 and "saved=already" in again.headers["location"]
    said = html.unescape(visitor.get(again.headers["location"]).text)
    assert "You were already subscribed: Weekly digest" in said


def test_a_topic_typed_for_trending_papers_is_not_dropped(web, visitor):
    """A topic typed while "What to send" stayed on trending: the form again, with both
    values kept and the choice to make, not a confirmation for trending papers."""
    visitor.get("/subscribe")
    r = visitor.post("/subscribe", form(kind="trending", query="graph neural networks"))
    assert r.status_code == 400
    text = html.unescape(r.text)
    assert "You typed a topic: choose \u201cA topic alert\u201d, or clear the topic." in text
    assert 'value="graph neural networks"' in r.text and 'value="ada@example.org"' in r.text
    assert 'id="sub-query" name="query"' in r.text and 'aria-describedby="err-query"' in r.text
    assert visitor.post("/subscribe", form(kind="trending", query="  ")).status_code != 400
