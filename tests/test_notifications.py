"""Notifications: a reply to a reader's comment and a comment that @mentions them reach that
reader (never its own author, never twice), counted in the header, listed newest first with
links into the discussion, read once seen; deleted comments and deleted accounts take theirs
along. On SQLite and PostgreSQL."""

from __future__ import annotations

import re

from .webkit import Visitor, add_user


def _comment(visitor: Visitor, pid: str, body: str, parent: int | None = None) -> int:
    data = {"body": body, **({"parent_id": str(parent)} if parent else {})}
    r = visitor.post(f"/papers/{pid}/comments", data)
    assert r.status_code == 303, r.text
    return int(r.headers["location"].rsplit("#comment-", 1)[1])


def _listed(page: str) -> int:
    return page.split('<ul class="notifications">', 1)[1].split("</ul>", 1)[0].count("<li")


def _badge(page: str) -> str | None:
    m = re.search(r'<span class="count-badge">([^<]+)<span class="sr-only"> unread', page)
    return m.group(1) if m else None


def _three(app, store) -> tuple[dict[str, int], list[Visitor]]:
    """ada, bob and carol: their user ids, and each signed in."""
    people = {name: add_user(store, name) for name in ("ada", "bob", "carol")}
    visitors = [Visitor(app) for _ in people]
    for name, v in zip(people, visitors, strict=True):
        v.sign_in(name)
    return people, visitors


def test_replies_and_mentions_notify_the_reader_once(web_both):
    app, store, ids, _ = web_both
    pid, other = ids[0], ids[1]
    people, (ada, bob, carol) = _three(app, store)
    assert _badge(ada.get("/papers").text) is None
    assert "Nothing yet" in ada.get("/notifications").text
    first = _comment(ada, pid, "Where is the code?")
    # A reply that also names its parent's author and its own: one reply, to ada only.
    reply = _comment(bob, pid, "Here, @ada: github.com/x/y. cc @bob @nobody", parent=first)
    assert store.notifications.unread(people["ada"]) == 1
    assert store.notifications.unread(people["bob"]) == 0
    # A mention elsewhere, hostile text and all; carol replies to bob's reply (one level of
    # threading: it joins ada's thread) and bob, whom she answered, is told.
    hostile = "@ada <script>alert(1)</script> **bold** " + "long " * 80
    mention = _comment(carol, other, hostile)
    _comment(carol, pid, "Thanks!", parent=reply)
    assert store.notifications.unread(people["bob"]) == 1
    assert store.notifications.unread(people["ada"]) == 2
    page = ada.get("/papers").text
    assert _badge(page) == "2"
    shown = ada.get("/notifications").text
    items = re.findall(r"<li( class=\"unread\")?>\s*<p>(.*?)</p>", shown, re.S)
    assert len(items) == 2 and all(unread for unread, _ in items)
    assert (
        "carol</a> mentioned you" in items[0][1]
        and "bob</a> replied to your comment" in (items[1][1])
    )
    assert f'href="/papers/{other}#comment-{mention}"' in shown
    assert f'href="/papers/{pid}#comment-{reply}"' in shown
    assert "<script>alert" not in shown and "&lt;script&gt;alert(1)&lt;/script&gt;" in shown
    assert "long long" in shown and "…</blockquote>" in shown  # the start of it
    assert "@ada &lt;script&gt;alert(1)&lt;/script&gt; bold long" in shown  # words, no marks
    # Seen: the header's count is gone on that very page, and they are no longer new.
    assert _badge(shown) is None and store.notifications.unread(people["ada"]) == 0
    again = ada.get("/notifications").text
    assert 'class="unread"' not in again and _listed(again) == 2
    # An edit that adds a name tells that reader, once; names already told are not again.
    r = carol.post(f"/comments/{mention}/edit", {"body": hostile + " and @bob"})
    assert r.status_code == 303, r.text
    carol.post(f"/comments/{mention}/edit", {"body": hostile + " and @bob, again"})
    assert store.notifications.unread(people["bob"]) == 2
    assert store.notifications.unread(people["ada"]) == 0
    # A deleted comment takes its notification along.
    assert bob.post(f"/comments/{reply}/delete", {}).status_code == 303
    assert f"#comment-{reply}" not in ada.get("/notifications").text
    # Twenty names at most per comment.
    crowd = [add_user(store, f"fan{i}") for i in range(25)]
    _comment(carol, pid, " ".join(f"@fan{i}" for i in range(25)))
    assert sum(store.notifications.unread(u) for u in crowd) == 20
    # Signed out: sign in first. Bad paging: a clear 400.
    r = Visitor(app).get("/notifications")
    assert r.status_code == 303 and r.headers["location"].startswith("/signin")
    assert ada.get("/notifications?before=0").status_code == 400
    assert ada.get("/notifications?before=abc").status_code == 400


def test_pages_of_notifications_and_what_account_deletion_takes(web_both):
    app, store, ids, _ = web_both
    ada, bob = add_user(store, "ada"), add_user(store, "bob")
    first = store.discussion.add(ids[0], ada, "A question.")
    made = []
    for i in range(55):
        cid = store.discussion.add(ids[0], bob, f"Answer {i} for @ada", parent_id=first)
        assert store.notifications.for_comment(cid, first, ["ada"]) == [ada]
        made.append(cid)
    assert store.notifications.for_comment(made[0], first, ["ada"]) == []  # never twice
    visitor = Visitor(app)
    visitor.sign_in("ada")
    assert _badge(visitor.get("/papers").text) == "55"
    latest = visitor.get("/notifications").text
    assert _listed(latest) == 50 and "Answer 54 for" in latest and "Answer 4 for" not in latest
    older = re.search(r'href="(/notifications\?before=\d+)"', latest).group(1)
    rest = visitor.get(older).text
    assert _listed(rest) == 5 and "Answer 4 for" in rest and "Answer 0 for" in rest
    exported = store.people.export(ada)["notifications"]
    assert len(exported) == 55 and {n["kind"] for n in exported} == {"reply"}
    # The author deletes their account: the notifications name nobody, link nowhere.
    assert store.people.delete(bob)
    shown = visitor.get("/notifications").text
    assert "A deleted user replied to your comment" in shown and "/users/deleted-" not in shown
    assert store.notifications.recent(ada)[0].actor_name == "A deleted user"
    assert store.people.delete(ada)
    assert store.people.export(ada).get("notifications", []) == []
    assert store.notifications.recent(ada) == [] and store.notifications.unread(ada) == 0


def test_unread_notifications_come_by_email_gathered_once(web_both, tmp_path):
    """Replies and mentions still unread after NOTIFY_DELAY reach the reader in one e-mail
    over SMTP (escaped, with links into the discussion and a one-click way to stop them);
    never again for the same ones, not for what the reader saw on the site, not while they
    turned them off, and at most one e-mail per QUIET."""
    from datetime import timedelta

    from paperwire.core.clock import utcnow
    from paperwire.jobs import QueueRunner
    from paperwire.mail import notify, outgoing

    from .mailkit import SMTPServer
    from .webkit import make_config

    app, store, ids, _ = web_both
    pid, other = ids[0], ids[1]
    uid, (ada, bob, carol) = _three(app, store)
    first = _comment(ada, pid, "Where is the code?")
    reply = _comment(bob, pid, "Here: github.com/x/y", parent=first)
    mention = _comment(carol, other, "@ada <script>alert(1)</script> **look** at $O(n^2)$")

    def later(minutes: int) -> int:
        return notify.sweep(store, utcnow() + timedelta(minutes=minutes))

    with SMTPServer() as smtp:
        config = make_config(tmp_path, **smtp.settings)
        runner = QueueRunner(store, outgoing.handlers(store, config))
        assert later(0) == 0  # time to see them on the site first
        assert later(11) == 1 and later(11) == 1  # ada; asked twice, one job
        assert runner.step().done == 1 and runner.step().claimed == 0
        [msg] = smtp.messages
        assert msg["To"] == "ada@example.org"
        assert msg["Subject"] == "2 new replies and mentions on Paperwire"
        off = msg["List-Unsubscribe"].strip("<>")
        assert off.startswith("http://testserver/notifications/email-off?token=")
        assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        text = msg.get_body(("plain",)).get_content()
        html = msg.get_body(("html",)).get_content()
        assert "carol mentioned you on “" in text and "bob replied to your comment" in text
        assert f"http://testserver/papers/{pid}#comment-{reply}" in text
        assert f"http://testserver/papers/{other}#comment-{mention}" in html
        assert "<script>" not in html and "&lt;script&gt;" in html
        assert "look at O(n²)" in text and "**" not in text  # its words, math as text
        # Sent once: not again, though still unread on the site.
        assert store.notifications.unread(uid["ada"]) == 2
        assert later(30) == 0

        # A new reply, seen on the site before the delay: no e-mail.
        _comment(bob, pid, "Also see the appendix.", parent=first)
        assert later(5) == 0
        ada.get("/notifications")
        assert later(30) == 0

        # Another; within QUIET of the last e-mail it waits, then goes alone.
        _comment(bob, pid, "And the errata.", parent=first)
        assert later(11) == 0 and later(16) == 1
        assert runner.step().done == 1 and len(smtp.messages) == 2
        assert smtp.messages[1]["Subject"] == "bob replied to your comment on Paperwire"

        # Stopped by the link, signed out, as a mail client's one-click POST does.
        signed_out = Visitor(app)
        assert signed_out.client.get(off.replace("http://testserver", "")).status_code == 200
        assert "Stop these e-mails" in signed_out.client.get(off).text
        assert signed_out.client.post(off, data={"List-Unsubscribe": "One-Click"}).text == (
            "No more notification e-mails.\n"
        )
        bad = signed_out.client.post(off.rsplit("=", 1)[0] + "=forged")
        assert bad.status_code == 400
        _comment(carol, other, "@ada again")
        assert later(30) == 0
        assert "E-mails about replies and mentions are off" in signed_out.client.get(off).text
        # Turned on again in Settings (a CSRF form): what waits goes out.
        assert 'name="notify_email" value="1">' in ada.get("/settings").text
        r = ada.get(ada.post("/settings/notifications", {"notify_email": "1"}).headers["location"])
        assert "replies and mentions come by e-mail too" in r.text
        assert 'name="notify_email" value="1" checked>' in r.text
        assert ada.client.post("/settings/notifications", data={}).status_code == 403
        assert later(30) == 1 and runner.step().done == 1 and len(smtp.messages) == 3
        assert "carol mentioned you" in smtp.messages[2].get_body(("plain",)).get_content()
