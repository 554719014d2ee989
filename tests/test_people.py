"""Accounts' lifecycle (issue 14, item 5): `paperwire user disable|enable|delete`, and a
deleted account as a tombstone that keeps every count exact — on SQLite and PostgreSQL."""

from __future__ import annotations

from click.testing import CliRunner

from paperwire.cli.main import main

from .webkit import PASSWORD, Visitor, add_user


def _cli(store, *args: str):
    return CliRunner().invoke(main, ["--db", store.url, "user", *args])


def _signed_in(v: Visitor) -> bool:
    return "Sign out" in v.get("/papers").text


def test_disable_ends_sessions_and_tokens_and_enable_lets_the_account_back(web_both):
    app, store, ids, _ = web_both
    uid = add_user(store, "ada")
    token = store.accounts.create_token(uid, "script")
    browser = Visitor(app)
    browser.sign_in("ada")
    store.feed.set_upvote(uid, ids[0], True)
    r = _cli(store, "disable", "ada")
    assert r.exit_code == 0 and "disabled" in r.output
    assert not _signed_in(browser)
    api = Visitor(app).client
    assert api.get("/api/whoami", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    again = Visitor(app).post("/signin", {"login": "ada", "password": PASSWORD})
    assert again.status_code == 400  # the same answer as a wrong password
    assert store.feed.card(ids[0]).upvotes == 1  # what it made stays
    assert _cli(store, "enable", "ada").exit_code == 0
    Visitor(app).sign_in("ada")
    assert [e.kind for e in store.audit.events(user_id=uid)][:2] == [
        "signin",
        "account-enabled",
    ]
    assert _cli(store, "disable", "nobody").exit_code == 2


def test_delete_leaves_a_tombstone_and_every_count_exact(web_both):
    app, store, ids, config = web_both
    uid = add_user(store, "ada")
    other = add_user(store, "bob")
    pid = ids[0]
    store.feed.set_upvote(uid, pid, True)
    store.feed.set_upvote(other, pid, True)
    comment = store.discussion.add(pid, uid, "A comment that stays")
    store.accounts.create_token(uid, "script")
    store.accounts.claim_authorship(uid, pid, store.feed.card(pid).authors[0])
    store.mail.create_subscription(
        "ada@example.org", "trending", None, "daily", "UTC", user_id=uid, confirmed=True
    )
    store.mail.create_subscription("ada@example.org", "topic", "vision", "weekly", "UTC")
    browser = Visitor(app)
    browser.sign_in("ada")
    before = store.feed.card(pid).upvotes

    assert _cli(store, "delete", "ada").exit_code == 1  # asks first: no answer, aborted
    assert store.accounts.get_user(username="ada") is not None
    r = _cli(store, "delete", "ada", "--yes")
    assert r.exit_code == 0 and f"deleted-{uid}" in r.output

    assert store.accounts.get_user(username="ada") is None
    tomb = store.accounts.get_user(id=uid)
    assert tomb.username == f"deleted-{uid}" and tomb.origin == "deleted"
    assert tomb.email is None and tomb.password_hash is None and not tomb.is_active
    assert store.feed.card(pid).upvotes == before  # counts exact
    assert any(c.id == comment for c in store.discussion.thread(pid))
    assert store.accounts.tokens(uid) == [] and store.sessions.of_user(uid) == []
    assert store.accounts.claims(paper_id=pid) == []
    assert store.mail.subscriptions_of(uid, "ada@example.org") == []
    assert not _signed_in(browser)
    assert Visitor(app).post("/signin", {"login": "ada", "password": PASSWORD}).status_code == 400
    assert Visitor(app).get(f"/users/deleted-{uid}").status_code == 404
    # the comment stays, under "deleted user", with no link to a profile that is gone
    page = Visitor(app).get(f"/papers/{pid}").text
    assert "A comment that stays" in page and "deleted user" in page
    assert f"/users/deleted-{uid}" not in page and "/users/ada" not in page
    # the name and the address are free again
    assert store.accounts.username_taken("ada") is False
    assert store.accounts.address_taken("ada@example.org") is False
    assert _cli(store, "delete", f"deleted-{uid}", "--yes").exit_code == 2  # no account


def test_download_my_data_holds_mine_and_nothing_of_others(web_both):
    import json

    app, store, ids, _ = web_both
    uid = add_user(store, "ada")
    bob = add_user(store, "bob")
    store.feed.set_upvote(uid, ids[0], True)
    store.feed.set_upvote(bob, ids[1], True)
    store.discussion.add(ids[0], uid, "Mine")
    store.discussion.add(ids[0], bob, "Bob's")
    store.accounts.create_token(uid, "laptop", ["read"])
    store.mail.create_subscription("ada@example.org", "topic", "vision", "weekly", "UTC")
    assert Visitor(app).get("/settings/export").status_code == 303  # signed out
    v = Visitor(app)
    v.sign_in("ada")
    assert 'href="/settings/export"' in v.get("/settings").text
    r = v.get("/settings/export")
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    assert r.headers["content-disposition"].startswith('attachment; filename="paperwire-ada-')
    data = json.loads(r.text)
    assert data["profile"]["username"] == "ada" and data["profile"]["email"] == "ada@example.org"
    assert [c["body"] for c in data["comments"]] == ["Mine"]
    assert [u["paper_id"] for u in data["upvotes"]] == [ids[0]]
    assert [(t["name"], t["scopes"]) for t in data["api_tokens"]] == [("laptop", "read")]
    assert [s["query"] for s in data["subscriptions"]] == ["vision"]
    assert len(data["sessions"]) == 1
    text = r.text
    assert "bob" not in text.lower() and "argon2" not in text and "token_hash" not in text


def test_delete_my_account_needs_the_password_and_signs_out(web_both):
    app, store, ids, _ = web_both
    uid = add_user(store, "ada")
    store.feed.set_upvote(uid, ids[0], True)
    before = store.feed.card(ids[0]).upvotes
    v = Visitor(app)
    v.sign_in("ada")
    page = v.get("/settings/delete")
    assert page.status_code == 200 and "cannot be undone" in page.text
    r = v.post("/settings/delete", {"password": "wrong password"})
    assert r.status_code == 400 and "password is wrong" in r.text
    assert store.accounts.get_user(username="ada") is not None
    forged = Visitor(app)
    forged.sign_in("ada")
    assert forged.client.post("/settings/delete", data={"password": PASSWORD}).status_code == 403
    r = v.post("/settings/delete", {"password": PASSWORD})
    assert r.status_code == 200 and "Your account is deleted" in r.text
    assert "Sign in" in r.text  # the page is already signed out
    assert store.accounts.get_user(username="ada") is None
    assert store.accounts.get_user(id=uid).origin == "deleted"
    assert store.feed.card(ids[0]).upvotes == before
    assert not _signed_in(v) and not _signed_in(forged)
    assert [e.kind for e in store.audit.events(user_id=uid)][0] == "account-deleted"


def test_admins_find_disable_enable_and_delete_accounts_from_the_site(web_both):
    app, store, ids, _ = web_both
    add_user(store, "chief", role="admin")
    ada = add_user(store, "ada")
    add_user(store, "adam_smith")
    bob = add_user(store, "bob")
    store.accounts.update_user(bob, fullname="Robert 100% Percent")
    token = store.accounts.create_token(ada, "script")
    browser = Visitor(app)
    browser.sign_in("ada")
    store.discussion.add(ids[0], ada, "A comment by Ada")

    assert Visitor(app).get("/admin/users").status_code == 401
    assert browser.get("/admin/users").status_code == 403
    admin = Visitor(app)
    admin.sign_in("chief")
    page = admin.get("/admin/users?q=ADA").text
    assert "ada@example.org" in page and "adam_smith" in page and "bob@" not in page
    assert "1 session" in page and "1 API token" in page
    # the query is text, never a pattern: "%" and "_" match themselves only
    assert "bob@" in admin.get("/admin/users?q=100%25").text
    assert "ada@" not in admin.get("/admin/users?q=%25").text
    assert "ada@" not in admin.get("/admin/users?q=a_a").text
    assert admin.get("/admin/users?status=sideways").status_code == 400
    assert admin.get("/admin/users?page=0").status_code == 400
    assert admin.get("/admin/users?q=" + "x" * 101).status_code == 400

    r = admin.post(f"/admin/users/{ada}/active", {"active": "0"})
    assert r.status_code == 303
    assert not _signed_in(browser)
    auth = {"Authorization": f"Bearer {token}"}
    assert Visitor(app).client.get("/api/whoami", headers=auth).status_code == 401
    assert "disabled" in admin.get("/admin/users?q=ada&status=disabled").text
    assert "ada@" not in admin.get("/admin/users?status=active").text
    assert admin.post(f"/admin/users/{ada}/active", {"active": "1"}).status_code == 303
    Visitor(app).sign_in("ada")

    me = store.accounts.get_user(username="chief").id
    assert admin.post(f"/admin/users/{me}/active", {"active": "0"}).status_code == 400
    assert admin.post(f"/admin/users/{me}/delete", {"confirm": "chief"}).status_code == 400
    assert admin.post("/admin/users/999999/active", {"active": "0"}).status_code == 404
    r = admin.post(f"/admin/users/{ada}/delete", {"confirm": "adam"})
    assert r.status_code == 400 and "nothing was deleted" in r.text
    assert store.accounts.get_user(username="ada") is not None
    r = admin.post(f"/admin/users/{ada}/delete", {"confirm": "ada"})
    assert r.status_code == 200 and f"deleted-{ada}" in r.text
    assert store.accounts.get_user(username="ada") is None
    assert "A comment by Ada" in Visitor(app).get(f"/papers/{ids[0]}").text  # stays
    assert "deleted-" not in admin.get("/admin/users").text  # tombstones are not accounts
    assert admin.post(f"/admin/users/{ada}/active", {"active": "1"}).status_code == 404

    by_admin = [e.kind for e in store.audit.events(user_id=ada) if e.actor_id == me]
    assert by_admin == ["account-deleted", "account-enabled", "account-disabled"]
