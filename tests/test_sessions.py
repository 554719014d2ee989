"""Sessions and API tokens you can revoke (issue 14, items 2 and 3): server-side sessions,
CSRF tokens bound to the session and rotated at sign-in, __Host- cookies and HSTS over https,
token scopes and expiry, and what password resets and "sign out everywhere" end — on SQLite
and PostgreSQL."""

import re
from datetime import timedelta

from paperwire.core.clock import utcnow

from .test_web_auth import delivered, link_in
from .webkit import PASSWORD, Visitor, add_user, site

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
SAFARI = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
)


def browser(app, agent: str = FIREFOX) -> Visitor:
    v = Visitor(app)
    v.client.headers["User-Agent"] = agent
    return v


def signed_in(v: Visitor) -> bool:
    return "Sign out" in v.get("/papers").text


def test_sign_out_ends_the_session_on_the_server(web_both):
    app, store, _, _ = web_both
    add_user(store, "ada")
    v = browser(app)
    v.sign_in("ada")
    cookie = v.client.cookies.get("pw_session")
    assert cookie and signed_in(v)
    assert v.post("/signout", {}).status_code == 303
    # a copy of the cookie, kept by a thief or a shared machine, signs nobody in any more
    thief = Visitor(app)
    thief.client.cookies.set("pw_session", cookie)
    assert not signed_in(thief)
    assert store.sessions.of_user(store.accounts.get_user(username="ada").id) == []


def test_sessions_are_listed_and_revoked_one_by_one(web_both):
    app, store, _, _ = web_both
    uid = add_user(store, "ada")
    add_user(store, "bob")
    laptop, phone, bob = browser(app), browser(app, SAFARI), browser(app)
    laptop.sign_in("ada")
    phone.sign_in("ada")
    bob.sign_in("bob")
    page = laptop.get("/settings").text
    assert "Firefox on Linux" in page and "(this browser)" in page
    assert "Safari on iPhone" in page
    sessions = {s.user_agent: s for s in store.sessions.of_user(uid)}
    assert set(sessions) == {FIREFOX, SAFARI} and sessions[SAFARI].ip
    # bob cannot end ada's session (nothing happens), ada can
    [bobs] = store.sessions.of_user(store.accounts.get_user(username="bob").id)
    bob.get("/settings")
    assert bob.post(f"/settings/sessions/{sessions[SAFARI].id}/revoke", {}).status_code == 303
    assert signed_in(phone)
    r = laptop.post(f"/settings/sessions/{sessions[SAFARI].id}/revoke", {})
    assert r.status_code == 303 and r.headers["location"] == "/settings#sessions"
    assert not signed_in(phone) and signed_in(laptop) and signed_in(bob)
    # a session id out of range is a 404 page, not a server error
    assert laptop.post("/settings/sessions/99999999999/revoke", {}).status_code in (400, 404)
    assert bobs.id != sessions[FIREFOX].id


def test_sign_out_everywhere_ends_every_session_and_token(web_both):
    app, store, ids, _ = web_both
    uid = add_user(store, "ada")
    token = store.accounts.create_token(uid, "script")
    auth = {"Authorization": f"Bearer {token}"}
    api = Visitor(app).client
    assert api.get("/api/whoami", headers=auth).status_code == 200
    a, b = browser(app), browser(app, SAFARI)
    a.sign_in("ada")
    b.sign_in("ada")
    page = a.get("/settings").text
    assert "revokes all your API tokens" in page
    r = a.post("/settings/signout-everywhere", {})
    assert r.status_code == 303 and r.headers["location"] == "/signin"
    assert not signed_in(a) and not signed_in(b)
    assert api.get("/api/whoami", headers=auth).status_code == 401
    assert store.accounts.tokens(uid) == [] and store.sessions.of_user(uid) == []


def test_password_reset_revokes_every_session_and_token(web_both):
    app, store, _, config = web_both
    uid = add_user(store, "ada")
    token = store.accounts.create_token(uid, "leaked")
    other = browser(app)
    other.sign_in("ada")
    v = browser(app)
    v.post("/reset", {"email": "ada@example.org"})
    [msg] = delivered(store, config)
    r = v.post(link_in(msg, "/reset"), {"password": "a brand new password"})
    assert r.status_code == 200 and "every API token" in r.text
    assert signed_in(v) and not signed_in(other)
    api = Visitor(app).client
    assert api.get("/api/whoami", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_password_change_keeps_this_browser_and_ends_the_others(web_both):
    app, store, _, _ = web_both
    uid = add_user(store, "ada")
    token = store.accounts.create_token(uid, "kept")
    here, there = browser(app), browser(app, SAFARI)
    here.sign_in("ada")
    there.sign_in("ada")
    here.get("/settings")
    r = here.post("/settings/password", {"current": PASSWORD, "password": "another password"})
    assert r.status_code == 303 and "API tokens kept" in here.get(r.headers["location"]).text
    assert signed_in(here) and not signed_in(there)
    api = Visitor(app).client
    assert api.get("/api/whoami", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_csrf_token_is_bound_to_the_session(web_both):
    """An attacker's own nonce/token pair, with the nonce planted as the victim's cookie
    (e.g. from a sibling subdomain), no longer passes with the victim's session."""
    app, store, ids, _ = web_both
    add_user(store, "victim")
    attacker = Visitor(app)
    attacker.get("/signin")
    nonce, token = attacker.client.cookies.get("pw_csrf"), attacker.csrf
    victim = browser(app)
    victim.sign_in("victim")
    victim.client.cookies.set("pw_csrf", nonce)
    r = victim.client.post(f"/papers/{ids[0]}/upvote", data={"state": "1", "csrf_token": token})
    assert r.status_code == 403
    assert store.feed.card(ids[0]).upvotes == 0
    # the victim's own page carries a token that works
    victim.get(f"/papers/{ids[0]}")
    assert victim.post(f"/papers/{ids[0]}/upvote", {"state": "1"}).status_code in (200, 303)
    assert store.feed.card(ids[0]).upvotes == 1


def test_csrf_token_and_nonce_rotate_at_sign_in(web_both):
    app, store, ids, _ = web_both
    add_user(store, "ada")
    v = browser(app)
    v.get("/signin")
    before, nonce = v.csrf, v.client.cookies.get("pw_csrf")
    r = v.post("/signin", {"login": "ada", "password": PASSWORD, "next": "/papers"})
    assert r.status_code == 303
    assert v.client.cookies.get("pw_csrf") != nonce  # a new nonce cookie came with it
    # the token of the page shown before signing in is worthless now
    r = v.client.post(f"/papers/{ids[0]}/upvote", data={"state": "1", "csrf_token": before})
    assert r.status_code == 403
    v.get("/papers")
    assert v.csrf != before


def test_sign_in_replaces_the_browser_s_previous_session(web_both):
    """Session fixation: a session the browser already had (maybe planted) ends at sign-in."""
    app, store, _, _ = web_both
    uid = add_user(store, "ada")
    add_user(store, "bob")
    v = browser(app)
    v.sign_in("bob")
    planted = v.client.cookies.get("pw_session")
    v.get("/signin")
    v.sign_in("ada")
    assert v.client.cookies.get("pw_session") != planted
    assert len(store.sessions.of_user(uid)) == 1
    assert store.sessions.user_for(planted) is None


def test_token_scopes(web_both):
    app, store, ids, _ = web_both
    admin_id = add_user(store, "boss", role="admin")
    api = Visitor(app).client
    read = {"Authorization": f"Bearer {store.accounts.create_token(admin_id, 'r', ['read'])}"}
    write = {"Authorization": f"Bearer {store.accounts.create_token(admin_id, 'w')}"}
    full = store.accounts.create_token(admin_id, "a", ["read", "write", "admin"])
    admin = {"Authorization": f"Bearer {full}"}
    # read: GETs only
    who = api.get("/api/whoami", headers=read)
    assert who.status_code == 200 and who.json()["scopes"] == ["read"]
    assert api.get("/api/whoami", headers=admin).json()["scopes"] == ["read", "write", "admin"]
    r = api.post(f"/api/papers/{ids[0]}/upvote", headers=read)
    assert r.status_code == 403 and "read scope" in r.json()["error"]
    assert api.post(f"/api/papers/{ids[0]}/upvote", headers=write).status_code == 200
    # a leaked read/write token of an admin is no admin
    r = api.get("/admin", headers=write)
    assert r.status_code == 403 and "admin scope" in r.text
    assert api.get("/admin", headers=admin).status_code == 200
    assert api.get("/admin", headers=read).status_code == 403


def test_tokens_are_made_with_scopes_and_expiry_in_settings(web_both):
    app, store, ids, _ = web_both
    uid = add_user(store, "ada")
    v = browser(app)
    v.sign_in("ada")
    page = v.get("/settings").text
    assert 'name="scope_admin"' not in page  # not offered to a plain user
    r = v.post("/settings/tokens", {"name": "reader", "expires": "7"})
    assert r.status_code == 200
    r = v.post("/settings/tokens", {"name": "admin?", "scope_admin": "on", "expires": "30"})
    assert r.status_code == 400 and "admin tokens" in r.text
    assert v.post("/settings/tokens", {"name": "x", "expires": "9999"}).status_code == 400
    v.post("/settings/tokens", {"name": "writer", "scope_write": "on", "expires": "never"})
    tokens = {t.name: t for t in store.accounts.tokens(uid)}
    assert tokens["reader"].scope_list == ["read"]
    assert tokens["writer"].scope_list == ["read", "write"]
    assert tokens["writer"].expires_at is None
    left = tokens["reader"].expires_at - utcnow()
    assert timedelta(days=6, hours=23) < left <= timedelta(days=7)
    page = v.get("/settings").text
    assert "read, write" in page and "never" in page


def test_an_expired_token_is_refused(web_both):
    app, store, _, _ = web_both
    uid = add_user(store, "ada")
    old = store.accounts.create_token(uid, "old", expires_at=utcnow() - timedelta(seconds=1))
    live = store.accounts.create_token(uid, "live", expires_at=utcnow() + timedelta(days=1))
    api = Visitor(app).client
    r = api.get("/api/whoami", headers={"Authorization": f"Bearer {old}"})
    assert r.status_code == 401 and "expired" in r.json()["error"]
    assert api.get("/api/whoami", headers={"Authorization": f"Bearer {live}"}).status_code == 200
    [used] = [t for t in store.accounts.tokens(uid) if t.name == "live"]
    assert used.last_used_at is not None


def test_token_last_use_is_written_at_most_every_few_minutes(web_both):
    app, store, _, _ = web_both
    uid = add_user(store, "ada")
    token = store.accounts.create_token(uid, "t")
    api = Visitor(app).client
    auth = {"Authorization": f"Bearer {token}"}
    api.get("/api/whoami", headers=auth)
    [first] = store.accounts.tokens(uid)
    api.get("/api/whoami", headers=auth)
    [second] = store.accounts.tokens(uid)
    assert first.last_used_at == second.last_used_at  # a read stays a read


def test_https_sites_use_host_cookies_and_hsts(sqlite_store, tmp_path):
    from .webkit import seed

    seed(sqlite_store)
    app, _ = site(sqlite_store, tmp_path, base_url="https://papers.example.org")
    add_user(sqlite_store, "ada")
    v = Visitor(app)
    v.client.base_url = "https://testserver"
    page = v.get("/signin")
    assert page.headers["strict-transport-security"].startswith("max-age=")
    nonce_cookie = page.headers["set-cookie"]
    assert nonce_cookie.startswith("__Host-pw_csrf=")
    assert "Secure" in nonce_cookie and "Path=/" in nonce_cookie and "Domain" not in nonce_cookie
    r = v.post("/signin", {"login": "ada", "password": PASSWORD, "next": "/papers"})
    assert r.status_code == 303
    cookies = r.headers.get_list("set-cookie")
    session = next(c for c in cookies if c.startswith("__Host-pw_session="))
    assert "Secure" in session and "HttpOnly" in session and "Path=/" in session
    # the plain name is not taken over https: a cookie planted under it signs nobody in
    assert "Sign out" in v.get("/papers").text
    # and over plain http, no HSTS
    http_app, _ = site(sqlite_store, tmp_path / "http")
    assert "strict-transport-security" not in Visitor(http_app).get("/signin").headers


def test_forged_and_oversized_session_cookies_are_ignored(web_both):
    app = web_both[0]
    for value in ("WzEsMF0.forged.signature", "x" * 5000, ""):
        v = Visitor(app)
        v.client.cookies.set("pw_session", value)
        r = v.get("/papers")
        assert r.status_code == 200 and "Sign in" in r.text


def test_a_disabled_user_is_signed_out_everywhere(web_both):
    app, store, _, _ = web_both
    uid = add_user(store, "ada")
    token = store.accounts.create_token(uid, "t")
    v = browser(app)
    v.sign_in("ada")
    with store.db.engine.begin() as conn:
        from paperwire.store import schema as t

        conn.execute(t.users.update().where(t.users.c.id == uid).values(is_active=False))
    assert not signed_in(v)
    api = Visitor(app).client
    assert api.get("/api/whoami", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_settings_shows_device_names(web_both):
    app, store, _, _ = web_both
    add_user(store, "ada")
    v = browser(app, "curl/8.5.0")
    v.sign_in("ada")
    assert re.search(r"curl.*\(this browser\)", v.get("/settings").text)


def test_a_bearer_header_never_falls_back_to_the_session_cookie(web):
    """An empty or bad Bearer credential is refused even beside a valid session cookie (a
    script's broken token must not act as the browser's user); other schemes (a proxy's
    Basic auth) are not the site's and leave the cookie in charge."""
    app, store, _, _ = web
    add_user(store, "ada")
    browser = Visitor(app)
    browser.sign_in("ada")
    for bad in ("Bearer", "Bearer ", "bearer   ", "Bearer not-a-token"):
        r = browser.client.get("/api/whoami", headers={"Authorization": bad})
        assert r.status_code == 401, bad
    r = browser.client.get("/api/whoami", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert r.status_code == 200 and r.json()["name"] == "ada"
