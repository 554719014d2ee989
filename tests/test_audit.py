"""The audit log: security events recorded by the routes, kept per account, pruned."""

from datetime import timedelta

import sqlalchemy as sa

from paperwire.core.clock import utcnow
from paperwire.store import schema as t
from paperwire.web.audit import short_agent

from .webkit import PASSWORD, Visitor, add_user

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"


def test_record_list_and_prune(store):
    uid = add_user(store, "ada")
    first = store.audit.record("signin", uid, uid, "192.0.2.1", "Firefox on Linux")
    store.audit.record("token-created", uid, uid, "192.0.2.1", None, name="ci", n=1)
    store.audit.record("role-change", 999, uid, old="user", new="admin")
    with store.begin() as conn:  # in the transaction of the change it describes
        store.audit.record("signout", uid, conn=conn)
    mine = store.audit.events(user_id=uid)
    assert [e.kind for e in mine] == ["signout", "token-created", "signin"]  # newest first
    assert mine[1].detail == {"name": "ci", "n": 1} and mine[2].ip == "192.0.2.1"
    assert [e.kind for e in store.audit.events(kind="role-change")] == ["role-change"]
    assert [e.kind for e in store.audit.events(user_id=uid, limit=1, offset=1)] == ["token-created"]
    with store.begin() as conn:
        conn.execute(
            t.audit_events.update()
            .where(t.audit_events.c.id == first)
            .values(created_at=utcnow() - timedelta(days=400))
        )
    assert store.audit.prune(0) == 0  # 0: keep everything
    assert store.audit.prune(365) == 1
    assert len(store.audit.events()) == 3


def test_short_agent():
    assert short_agent(FIREFOX) == "Firefox on Linux"
    assert short_agent("curl/8.5.0") == "curl"  # core.display.device_label knows it
    assert short_agent("x" * 500) == "x" * 60


def test_routes_record_security_events(web):
    app, store, _, _ = web
    uid = add_user(store, "eve")
    admin = add_user(store, "root", role="admin")
    v = Visitor(app)
    v.client.headers["user-agent"] = FIREFOX
    assert v.post("/signin", {"login": "eve", "password": "wrong-wrong"}).status_code == 400
    assert v.post("/signin", {"login": "nobody", "password": "wrong-wrong"}).status_code == 400
    v.sign_in("eve")
    v.get("/settings")
    r = v.post("/settings/password", {"current": PASSWORD, "password": "another password"})
    assert r.status_code == 303
    v.get("/settings")
    assert v.post("/settings/tokens", {"name": "ci"}).status_code == 200
    [token] = store.accounts.tokens(uid)
    v.get("/settings")
    assert v.post(f"/settings/tokens/{token.id}/delete", {}).status_code == 303
    v.get("/settings")
    assert v.post("/signout", {}).status_code == 303
    kinds = [e.kind for e in store.audit.events(user_id=uid)]
    assert kinds == [
        "signout",
        "token-revoked",
        "token-created",
        "password-change",
        "signin",
        "signin-failed",
    ]
    failed = store.audit.events(user_id=uid, kind="signin-failed")[0]
    assert failed.actor_id is None and failed.ip and failed.agent == "Firefox on Linux"
    assert store.audit.events(kind="token-created")[0].detail == {"name": "ci", "scopes": "read"}
    assert store.audit.events(kind="token-revoked")[0].detail == {"name": "ci"}  # not its id
    # an unknown login is no account's event
    with store.begin() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(t.audit_events)).scalar() == 6
    boss = Visitor(app)
    boss.sign_in("root")
    boss.get("/admin")
    assert boss.post(f"/admin/users/{uid}/role", {"role": "curator"}).status_code == 303
    [change] = store.audit.events(kind="role-change")
    assert (change.user_id, change.actor_id) == (uid, admin)
    assert change.detail == {"old": "user", "new": "curator"}


def test_moderation_is_recorded(web):
    app, store, ids, _ = web
    author = add_user(store, "writer")
    admin = add_user(store, "mod", role="admin")
    comment = store.discussion.add(ids[0], author, "Buy cheap pills")
    v = Visitor(app)
    v.sign_in("mod")
    v.get(f"/papers/{ids[0]}")
    assert v.post(f"/comments/{comment}/hide", {"hidden": "1"}).status_code == 303
    assert v.post(f"/comments/{comment}/delete", {}).status_code == 303
    events = store.audit.events(user_id=author)
    assert [e.kind for e in events] == ["comment-deleted", "comment-hidden"]
    assert {e.actor_id for e in events} == {admin}
    assert events[0].detail == {"comment_id": comment}


def test_notice_mails_arrive_over_smtp(sqlite_store, tmp_path):
    from .mailkit import SMTPServer
    from .webkit import send_queued_mail, site

    store = sqlite_store
    uid = add_user(store, "kim")
    with SMTPServer() as smtp:
        app, config = site(store, tmp_path, **smtp.settings)
        v = Visitor(app)
        v.client.headers["user-agent"] = FIREFOX
        v.sign_in("kim")
        v.get("/settings")
        r = v.post("/settings/password", {"current": PASSWORD, "password": "another password"})
        assert r.status_code == 303
        v.get("/settings")
        assert v.post("/settings/tokens", {"name": "laptop"}).status_code == 200
        assert send_queued_mail(store, config).claimed == 2
        by_subject = {m["Subject"]: m for m in smtp.messages}
    assert sorted(by_subject) == [
        "A new API token 'laptop' was created (Paperwire)",
        "Your password was changed (Paperwire)",
    ]
    text = by_subject["Your password was changed (Paperwire)"].get_content()
    assert "changed at " in text and "from testclient (Firefox on Linux)" in text
    assert "http://testserver/reset" in text
    assert all(m["To"] == "kim@example.org" for m in by_subject.values())
    assert [e.kind for e in store.audit.events(user_id=uid)][:2] == [
        "token-created",
        "password-change",
    ]


def test_security_activity_and_admin_audit_pages(web):
    app, store, _, _ = web
    uid = add_user(store, "pat")
    add_user(store, "boss", role="admin")
    for i in range(35):
        store.audit.record("signin", uid, uid, f"192.0.2.{i}", "Firefox on Linux")
    store.audit.record("role-change", 12345, None, old="<b>x</b>")
    v = Visitor(app)
    assert v.get("/settings/security").headers["location"].startswith("/signin")
    v.sign_in("pat")
    assert 'href="/settings/security"' in v.get("/settings").text
    store.audit.record("token-created", uid, uid, "192.0.2.99", None, name="cli", scopes="read")
    first = v.get("/settings/security").text
    assert "192.0.2.34" in first and "192.0.2.4<" not in first and "page=2" in first
    # in words, not the kinds' names
    assert "<td>API token created <span" in first
    assert "(name: cli, scopes: read)" in first and "name=cli" not in first
    assert "<td>Signed in</td>" in first and ">signin<" not in first
    store.audit.record("signin", uid, uid, "192.0.2.100", None, two_factor=True)
    latest = v.get("/settings/security").text
    assert 'Signed in <span class="sub">(with a two-factor code)</span>' in latest
    assert "True" not in latest
    second = v.get("/settings/security?page=2").text
    assert "192.0.2.4<" in second and "role-change" not in second  # only their own
    assert v.get("/settings/security?page=0").status_code in (400, 422)
    assert v.get("/admin/audit").status_code == 403
    boss = Visitor(app)
    boss.sign_in("boss")
    r = boss.get("/admin/audit?kind=role-change")
    assert r.status_code == 200 and "&lt;b&gt;x&lt;/b&gt;" in r.text and "192.0.2" not in r.text
    r = boss.get("/admin/audit?user=pat&page=2")
    assert r.status_code == 200 and "192.0.2.0<" in r.text and "kind=" not in r.text
    assert "user=pat&amp;page=1" in r.text
    assert boss.get("/admin/audit?user=nobody").status_code == 404
    assert boss.get("/admin/audit?page=99999").status_code in (400, 422)
