"""Report abuse (issue 14): a reader reports a comment from under it or through the API; the
report waits in the admins' queue until an admin hides the comment or dismisses it — on
SQLite and PostgreSQL."""

from __future__ import annotations

from paperwire.store.reports import REASONS
from paperwire.web.reports import ReportBody

from .webkit import Visitor, add_user


def test_a_reported_comment_waits_for_an_admin_who_hides_it(web_both):
    app, store, ids, _ = web_both
    ada, bob = add_user(store, "ada"), add_user(store, "bob")
    add_user(store, "chief", role="admin")
    pid = ids[0]
    spam = store.discussion.add(pid, ada, "Buy cheap watches")
    fine = store.discussion.add(pid, ada, "A fair question about table 2")
    mine = store.discussion.add(pid, bob, "My own words")

    reader = Visitor(app)
    reader.sign_in("bob")
    paper = reader.get(f"/papers/{pid}").text
    assert f'action="/comments/{spam}/report"' in paper
    assert f'action="/comments/{mine}/report"' not in paper  # nobody reports themselves
    assert f'action="/comments/{spam}/report"' not in Visitor(app).get(f"/papers/{pid}").text

    r = reader.post(f"/comments/{spam}/report", {"reason": "spam", "note": "an ad\x00 <b>"})
    assert r.status_code == 200 and "Thanks for the report" in r.text
    assert reader.post(f"/comments/{mine}/report", {"reason": "spam"}).status_code == 400
    assert reader.post(f"/comments/{spam}/report", {"reason": "boring"}).status_code == 400
    assert reader.post("/comments/999999/report", {"reason": "spam"}).status_code == 404
    assert reader.post(f"/comments/{spam}/report", {"reason": "x" * 600}).status_code == 400
    assert Visitor(app).post(f"/comments/{spam}/report", {"reason": "spam"}).status_code == 401
    # again: one report per reader, its reason replaced
    reader.post(f"/comments/{spam}/report", {"reason": "harassment", "note": "an ad\x00 <b>"})
    token = store.accounts.create_token(add_user(store, "cy"), "script")
    api = Visitor(app).client
    auth = {"Authorization": f"Bearer {token}"}
    r = api.post(f"/api/comments/{spam}/report", json={"reason": "spam"}, headers=auth)
    assert r.status_code == 202 and r.json() == {"reported": True}
    r = api.post(f"/api/comments/{fine}/report", json={"reason": "other"}, headers=auth)
    assert r.status_code == 202
    for bad in ({"reason": "nope"}, {"reason": "spam", "note": "x" * 501}, {}):
        assert api.post(f"/api/comments/{spam}/report", json=bad, headers=auth).status_code == 400
    anonymous = api.post(f"/api/comments/{spam}/report", json={"reason": "spam"})
    assert anonymous.status_code == 401  # no token, no session: as every API write

    queue = store.reports.open()
    assert [(q.comment_id, q.reports) for q in queue] == [(spam, 2), (fine, 1)]
    assert queue[0].reasons == ["harassment", "spam"] and queue[0].notes == ["an ad <b>"]

    admin = Visitor(app)
    admin.sign_in("chief")
    page = admin.get("/admin").text
    assert "Buy cheap watches" in page and "an ad &lt;b&gt;" in page and "<b>" not in page
    assert reader.post(f"/admin/reports/{spam}", {"decision": "hide"}).status_code == 403
    assert admin.post(f"/admin/reports/{spam}", {"decision": "shrug"}).status_code == 400
    assert admin.post(f"/admin/reports/{spam}", {"decision": "hide"}).status_code == 303
    assert admin.post(f"/admin/reports/{fine}", {"decision": "dismiss"}).status_code == 303
    assert store.reports.open() == []
    assert store.discussion.get(spam).hidden and not store.discussion.get(fine).hidden
    assert "Buy cheap watches" not in Visitor(app).get(f"/papers/{pid}").text
    assert "No reported comments." in admin.get("/admin").text
    kinds = [e.kind for e in store.audit.events(limit=20)]
    assert {"comment-reported", "comment-hidden", "reports-dismissed"} <= set(kinds)
    # reported again after a dismissal: back in the queue
    reader.post(f"/comments/{fine}/report", {"reason": "off-topic"})
    assert [q.comment_id for q in store.reports.open()] == [fine]


def test_the_api_and_the_forms_offer_the_same_reasons():
    assert set(ReportBody.model_fields["reason"].annotation.__args__) == set(REASONS)
