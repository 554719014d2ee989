"""Accounts: sign-up confirmed by e-mail, sign-in, reset, sessions, CSRF, rate limits, tokens,
and no user enumeration."""

import email
import re
from pathlib import Path

import pytest

from .webkit import PASSWORD, Visitor, add_user, send_queued_mail, site


def delivered(store, config) -> list[email.message.EmailMessage]:
    """The outbox after the queue worker sent what visitors' requests queued."""
    send_queued_mail(store, config)
    return outbox(config)


def outbox(config) -> list[email.message.EmailMessage]:
    folder = Path(config.mail.outbox_dir)
    files = (
        sorted(folder.glob("*.eml"), key=lambda p: p.stat().st_mtime_ns) if folder.exists() else []
    )
    return [email.message_from_bytes(f.read_bytes(), policy=email.policy.default) for f in files]


def link_in(msg, path: str) -> str:
    body = msg.get_body(preferencelist=("plain",)).get_content()
    return re.search(rf"http://testserver({path}/\S+)", body).group(1)


@pytest.fixture
def visitor(web):
    return Visitor(web[0])


def test_signup_confirm_signin_flow(web, visitor):
    app, store, _, config = web
    r = visitor.post(
        "/signup", {"username": "ada", "email": "Ada@Example.org", "password": PASSWORD}
    )
    assert r.status_code == 200 and "Check your inbox" in r.text
    assert store.accounts.get_user(username="ada").is_active is False
    # not usable before the address is confirmed
    r = visitor.post("/signin", {"login": "ada", "password": PASSWORD})
    assert r.status_code == 400
    assert outbox(config) == []  # queued, not sent inside the request
    [msg] = delivered(store, config)
    assert msg["To"] == "ada@example.org" and "Confirm" in msg["Subject"]
    url = link_in(msg, "/confirm")
    r = confirm_by_button(visitor, url)
    assert r.status_code == 200 and "Welcome, ada" in r.text
    assert "pw_session=" in r.headers["set-cookie"]
    assert visitor.get(url).status_code == 400  # single use
    assert "ada" in visitor.get("/papers").text and "Sign out" in visitor.get("/papers").text


def confirm_by_button(visitor, url: str):
    """What a person does with the link: open it, press the button."""
    form = visitor.get(url)
    assert form.status_code == 200 and "Confirm my account" in form.text
    token = re.search(r'name="token" value="([^"]+)"', form.text).group(1)
    return visitor.post("/confirm", {"token": token})


def header(page: str) -> str:
    return page[page.index('<header class="top">') : page.index("</header>")]


def test_account_confirmation_needs_the_button_and_signs_in_at_once(web, visitor):
    app, store, _, config = web
    visitor.post("/signup", {"username": "ada", "email": "ada@example.org", "password": PASSWORD})
    [msg] = delivered(store, config)
    url = link_in(msg, "/confirm")
    token = url.rsplit("/", 1)[1]
    # a mail scanner following the link (GET, HEAD, no cookies) confirms nothing
    scanner = Visitor(app)
    assert scanner.get(url).status_code == 200 and scanner.client.head(url).status_code in (
        200,
        405,
    )
    assert store.accounts.get_user(username="ada").confirmed_at is None
    assert "pw_session=" not in scanner.get(url).headers.get("set-cookie", "")
    # the POST needs the visitor's CSRF token
    forged = Visitor(app).client.post("/confirm", data={"token": token, "csrf_token": "x"})
    assert forged.status_code == 403
    assert store.accounts.get_user(username="ada").is_active is False
    # the button confirms; the page it answers with shows the new user in the header
    r = confirm_by_button(visitor, url)
    assert r.status_code == 200 and "you are signed in" in r.text
    top = header(r.text)
    assert "Sign out" in top and 'href="/users/ada"' in top
    assert "Sign in" not in top and "Sign up" not in top
    assert r.headers["cache-control"] == "no-store"
    assert store.accounts.get_user(username="ada").confirmed_at is not None
    # once: the same token is refused on the page and on a second POST
    assert visitor.get(url).status_code == 400
    assert visitor.post("/confirm", {"token": token}).status_code == 400
    assert visitor.post("/confirm", {"token": "garbage"}).status_code == 400
    assert "Sign out" in header(visitor.get("/papers").text)


def test_signup_does_not_reveal_known_addresses(web, visitor):
    app, store, _, config = web
    add_user(store, "grace")
    r1 = visitor.post(
        "/signup", {"username": "newname", "email": "grace@example.org", "password": PASSWORD}
    )
    r2 = visitor.post(
        "/signup", {"username": "other", "email": "fresh@example.org", "password": PASSWORD}
    )
    strip = lambda t: re.sub(r"\S+@example\.org|[\w-]{40,}", "", t)  # noqa: E731
    assert r1.status_code == r2.status_code == 200
    assert strip(r1.text) == strip(r2.text)
    assert outbox(config) == []
    assert sorted(j.payload["user_id"] is None for j in store.queue.list(kind="mail")) == [
        False,
        True,
    ]
    mails = {m["To"]: m for m in delivered(store, config)}
    assert "already has one" in mails["grace@example.org"].get_content()
    assert store.accounts.get_user(username="newname") is None


def test_signup_validation(visitor):
    r = visitor.post("/signup", {"username": "x", "email": "not-an-email", "password": "short"})
    assert r.status_code == 400
    assert (
        "2–39 letters" in r.text and "e-mail address like" in r.text and "10 characters" in r.text
    )
    r = visitor.post("/signup", {"username": "curator1", "email": "a@b.org", "password": PASSWORD})
    assert "taken" in r.text


def test_signin_errors_are_generic(web, visitor):
    add_user(web[1], "alan")
    wrong_pw = visitor.post("/signin", {"login": "alan", "password": "nope-nope-nope"})
    no_user = visitor.post("/signin", {"login": "nobody", "password": "nope-nope-nope"})
    assert wrong_pw.status_code == no_user.status_code == 400
    assert "Wrong user name/e-mail or password" in wrong_pw.text
    assert wrong_pw.text.replace("alan", "nobody") == no_user.text
    assert (
        visitor.post("/signin", {"login": "ALAN@example.org", "password": PASSWORD}).status_code
        == 303
    )


def test_csrf_is_required_on_every_form(web, visitor):
    add_user(web[1], "eve")
    visitor.sign_in("eve")
    pid = web[2][0]
    for url, data in [
        ("/signin", {"login": "eve", "password": PASSWORD}),
        (f"/papers/{pid}/upvote", {"state": "1"}),
        (f"/papers/{pid}/comments", {"body": "hi"}),
        ("/papers/submit", {"arxiv_id": pid}),
        ("/settings/tokens", {"name": "t"}),
        ("/signout", {}),
    ]:
        for token in ("", "forged-token"):
            r = visitor.client.post(url, data={**data, "csrf_token": token})
            assert r.status_code == 403, (url, token)
    assert web[1].feed.card(pid).upvotes == 0


def test_cross_site_form_without_cookie_is_refused(web):
    fresh = Visitor(web[0])
    r = fresh.client.post("/signin", data={"login": "x", "password": "y", "csrf_token": "abc"})
    assert r.status_code == 403 and "expired" in r.text


def test_signin_rate_limit(web, tmp_path):
    app, config = site(web[1], tmp_path, rate_limit_auth=3)
    v = Visitor(app)
    add_user(web[1], "target")
    codes = [
        v.post("/signin", {"login": "target", "password": "wrong-wrong-wrong"}).status_code
        for _ in range(5)
    ]
    assert codes == [400, 400, 400, 429, 429]
    r = v.post("/signin", {"login": "target", "password": PASSWORD})
    assert r.status_code == 429 and r.headers["retry-after"]  # even the right password waits


def test_password_reset_is_single_use_and_ends_sessions(web, visitor):
    app, store, _, config = web
    add_user(store, "reset-me")
    other = Visitor(app)
    other.sign_in("reset-me")
    assert "reset-me" in other.get("/papers").text
    r = visitor.post("/reset", {"email": "reset-me@example.org"})
    unknown = visitor.post("/reset", {"email": "nobody@example.org"})
    assert r.status_code == unknown.status_code == 200
    assert r.text.replace("reset-me", "nobody") == unknown.text
    assert len(store.queue.list(kind="mail", state="queued")) == 2  # one each: the same path
    [msg] = delivered(store, config)  # the worker found one account
    assert sorted(j.result for j in store.queue.list(kind="mail")) == [
        "not sent: no active account has this address",
        "sent to reset-me@example.org",
    ]
    url = link_in(msg, "/reset")
    assert visitor.get(url).status_code == 200
    assert visitor.post(url, {"password": "short"}).status_code == 400
    r = visitor.post(url, {"password": "a brand new password"})
    assert r.status_code == 200 and "Password changed" in r.text
    assert "Sign out" in header(r.text) and "Sign in" not in header(r.text)  # as it says
    assert visitor.get(url).status_code == 400  # used
    assert "reset-me" not in other.get("/papers").text  # the old session ended
    assert visitor.post(url[:-3] + "abc", {"password": "x" * 12}).status_code == 400
    fresh = Visitor(app)
    fresh.sign_in("reset-me", "a brand new password")


def test_forged_session_cookie_is_ignored(web):
    v = Visitor(web[0])
    v.client.cookies.set("pw_session", "WzEsMF0.forged.signature")
    r = v.get("/papers")
    assert r.status_code == 200 and "Sign in" in r.text


def test_settings_profile_password_and_signout(web, visitor):
    store = web[1]
    add_user(store, "set")
    assert visitor.get("/settings").headers["location"].startswith("/signin")
    visitor.sign_in("set")
    visitor.get("/settings")
    r = visitor.post("/settings/profile", {"fullname": "Set <Theory>", "bio": "sets"})
    assert r.status_code == 200 and "Set &lt;Theory&gt;" in r.text
    r = visitor.post("/settings/password", {"current": "wrong", "password": "another password"})
    assert r.status_code == 400
    r = visitor.post("/settings/password", {"current": PASSWORD, "password": "another password"})
    assert r.status_code == 200 and "other sessions were signed out" in r.text
    assert "set" in visitor.get("/settings").text  # this browser stays signed in
    r = visitor.post("/signout", {})
    assert r.status_code == 303
    assert visitor.get("/settings").status_code == 303


def test_api_tokens(web, visitor):
    app, store, ids, _ = web
    add_user(store, "scripter")
    visitor.sign_in("scripter")
    visitor.get("/settings")
    r = visitor.post("/settings/tokens", {"name": "laptop"})
    token = re.search(r'id="new-token">([^<]+)<', r.text).group(1)
    api = Visitor(app).client
    auth = {"Authorization": f"Bearer {token}"}
    assert api.get("/api/whoami", headers=auth).json()["name"] == "scripter"
    r = api.post(f"/api/papers/{ids[0]}/upvote", headers=auth)
    assert r.status_code == 200 and r.json()["upvotes"] == 1
    assert store.accounts.tokens(store.accounts.get_user(username="scripter").id)[0].last_used_at
    assert api.get("/api/whoami", headers={"Authorization": "Bearer pw_wrong"}).status_code == 401
    [t] = store.accounts.tokens(store.accounts.get_user(username="scripter").id)
    visitor.get("/settings")
    visitor.post(f"/settings/tokens/{t.id}/delete", {})
    assert api.get("/api/whoami", headers=auth).status_code == 401
    assert token not in visitor.get("/settings").text  # shown once only
