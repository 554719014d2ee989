"""Idempotency-Key on comment and submission POSTs: a retried request writes once."""

from __future__ import annotations

import re
import threading

from .webkit import Visitor, add_user


def _client(web_both, name="idem"):
    app, store, ids, _ = web_both
    uid = add_user(store, name)
    token = store.accounts.create_token(uid, "ci")
    return Visitor(app).client, {"Authorization": f"Bearer {token}"}, store, ids


def test_retry_posts_once(web_both):
    api, auth, store, ids = _client(web_both)
    pid = ids[1]
    h = {**auth, "Idempotency-Key": "k-1"}
    first = api.post(f"/api/papers/{pid}/comments", headers=h, json={"body": "once"})
    assert first.status_code == 201 and "Idempotent-Replayed" not in first.headers
    again = api.post(f"/api/papers/{pid}/comments", headers=h, json={"body": "once"})
    assert again.status_code == 201 and again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert [c.body for c in store.discussion.thread(pid)] == ["once"]
    # Another body under the same key: 422, nothing written.
    other = api.post(f"/api/papers/{pid}/comments", headers=h, json={"body": "twice"})
    assert other.status_code == 422
    # A new key is a new request.
    h2 = {**auth, "Idempotency-Key": "k-2"}
    r = api.post(f"/api/papers/{pid}/comments", headers=h2, json={"body": "once"})
    assert r.status_code == 201
    assert len(store.discussion.thread(pid)) == 2


def test_bad_keys_are_400(web_both):
    api, auth, store, ids = _client(web_both)
    pid = ids[1]
    for key in ["", "x" * 256, "tab\there"]:
        h = {**auth, "Idempotency-Key": key}
        r = api.post(f"/api/papers/{pid}/comments", headers=h, json={"body": "no"})
        assert r.status_code == 400, key
    assert store.discussion.thread(pid) == []


def test_concurrent_duplicates_post_once(web_both):
    api, auth, store, ids = _client(web_both)
    pid = ids[1]
    h = {**auth, "Idempotency-Key": "same"}
    codes: list[int] = []

    def go() -> None:
        r = api.post(f"/api/papers/{pid}/comments", headers=h, json={"body": "race"})
        codes.append(r.status_code)

    threads = [threading.Thread(target=go) for _ in range(10)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(codes) == 10 and set(codes) <= {201, 409}, codes
    assert len(store.discussion.thread(pid)) == 1


def test_index_retry_replays_and_errors_are_not_kept(web_both):
    api, auth, store, ids = _client(web_both, "indexer")
    h = {**auth, "Idempotency-Key": "idx-1"}
    first = api.post("/api/papers/index", headers=h, json={"arxivId": ids[0]})
    assert first.status_code == 200, first.text
    again = api.post("/api/papers/index", headers=h, json={"arxivId": ids[0]})
    assert again.status_code == 200 and again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    # A refused submission (already on the feed) is not kept: a retry runs it again.
    h = {**auth, "Idempotency-Key": "sub-1"}
    for _ in range(2):
        r = api.post("/api/daily_papers", headers=h, json={"arxivId": ids[0]})
        assert r.status_code == 409 and "Idempotent-Replayed" not in r.headers


def test_form_retry_posts_once(web_both):
    app, store, ids, _ = web_both
    add_user(store, "former")
    v = Visitor(app)
    v.sign_in("former")
    pid = ids[1]
    page = v.get(f"/papers/{pid}").text
    keys = re.findall(r'name="idempotency_key" value="([^"]+)"', page)
    assert keys
    form = {"csrf_token": v.csrf, "body": "form once", "idempotency_key": keys[0]}
    first = v.client.post(f"/papers/{pid}/comments", data=form, follow_redirects=False)
    again = v.client.post(f"/papers/{pid}/comments", data=form, follow_redirects=False)
    assert first.status_code == again.status_code == 303
    assert first.headers["location"] == again.headers["location"]
    assert [c.body for c in store.discussion.thread(pid)] == ["form once"]
    # A freshly rendered form has a new key.
    assert (
        re.findall(r'name="idempotency_key" value="([^"]+)"', v.get(f"/papers/{pid}").text)[0]
        != keys[0]
    )
