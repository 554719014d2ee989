"""Collections and feedback signals (issue 15, items 1 and 2): the store's rules and limits,
the pages (no JavaScript: forms that redirect back), the API, the Atom feed, and that a
private collection shows nowhere to anyone but its owner — on SQLite and PostgreSQL."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from paperwire.core.errors import CollectionRefused
from paperwire.store import collections as store_collections

from .storekit import race
from .webkit import Visitor, add_user, seed

ATOM = "{http://www.w3.org/2005/Atom}"


# -- the store ---------------------------------------------------------------------------------
def test_collections_items_order_notes_and_limits(store):
    ids = seed(store, days=1)
    uid = store.accounts.create_user("ada", None, None)
    c = store.collections.create(uid, "  RL   reading ", "Policy papers", "public")
    assert (c.name, c.description, c.visibility, c.owner, c.size) == (
        "RL reading",
        "Policy papers",
        "public",
        "ada",
        0,
    )
    assert [store.collections.add(c.id, pid) for pid in ids[:4]] == [True] * 4
    assert store.collections.add(c.id, ids[0]) is False  # there already: one row
    assert store.collections.add(c.id, "2999.99999") is None  # not indexed
    assert store.collections.add(999999, ids[0]) is None
    assert store.collections.get(c.id).size == 4
    assert store.collections.set_note(c.id, ids[2], "Read section 3 first.\nThen 5.")
    assert store.collections.move(c.id, ids[2], 0)
    assert store.collections.move(c.id, ids[0], 99)  # past the end: last
    items = store.collections.items(c.id)
    assert [i.paper_id for i in items] == [ids[2], ids[1], ids[3], ids[0]]
    assert [i.position for i in items] == [0, 1, 2, 3]
    assert items[0].note == "Read section 3 first.\nThen 5."
    assert store.collections.remove(c.id, ids[1]) and not store.collections.remove(c.id, ids[1])
    assert not store.collections.move(c.id, ids[1], 0)
    # Limits: clear refusals, nothing written.
    for bad in ("", "   ", "x" * 101, "\x19", "\u202e\u2066"):
        with pytest.raises(CollectionRefused):
            store.collections.create(uid, bad)
    with pytest.raises(CollectionRefused, match="1000"):
        store.collections.create(uid, "ok", "d" * 1001)
    with pytest.raises(CollectionRefused, match="visibility"):
        store.collections.create(uid, "ok", visibility="secret")
    with pytest.raises(CollectionRefused, match="2000"):
        store.collections.set_note(c.id, ids[2], "n" * 2001)
    assert store.collections.items(c.id)[0].note.startswith("Read")
    assert store.collections.update(c.id, uid + 1, name="stolen") is None  # not theirs
    assert not store.collections.delete(c.id, uid + 1)
    changed = store.collections.update(c.id, uid, name="Renamed", visibility="unlisted")
    assert (changed.name, changed.visibility, changed.description) == (
        "Renamed",
        "unlisted",
        "Policy papers",
    )


def test_limits_of_collections_per_user_and_papers_per_collection(store, monkeypatch):
    ids = seed(store, days=1)
    uid = store.accounts.create_user("ada", None, None)
    for i in range(store_collections.MAX_COLLECTIONS - 1):
        store.collections.create(uid, f"c{i}")
    last = store.collections.create(uid, "the 200th")
    with pytest.raises(CollectionRefused, match="200 collections"):
        store.collections.create(uid, "one too many")
    assert len(store.collections.of_user(uid, viewer=uid)) == 200
    monkeypatch.setattr(store_collections, "MAX_ITEMS", 3)
    for pid in ids[:3]:
        store.collections.add(last.id, pid)
    with pytest.raises(CollectionRefused, match="at most 3 papers"):
        store.collections.add(last.id, ids[3])
    assert store.collections.get(last.id).size == 3


def test_add_many_appends_known_papers_in_one_go(store, monkeypatch):
    ids = seed(store, days=1)
    uid = store.accounts.create_user("ada", None, None)
    c = store.collections.create(uid, "Imported")
    store.collections.add(c.id, ids[1])
    added = store.collections.add_many(c.id, [ids[0], ids[1], "2999.99999", ids[2], ids[0]])
    assert added == 2  # ids[1] was there, the unknown one and the repeat are passed over
    assert [i.paper_id for i in store.collections.items(c.id)] == [ids[1], ids[0], ids[2]]
    assert [i.position for i in store.collections.items(c.id)] == [0, 1, 2]
    assert store.collections.add_many(10**9, ids[:1]) is None
    monkeypatch.setattr(store_collections, "MAX_ITEMS", 4)
    with pytest.raises(CollectionRefused, match="at most 4 papers"):
        store.collections.add_many(c.id, ids[3:5])
    assert store.collections.get(c.id).size == 3  # nothing of the refused batch


def test_racing_writes_keep_order_and_limits(store, monkeypatch):
    """20 threads add papers to one collection at once, twice each: every paper once, the
    places 0..n-1 without a gap or a repeat; racing creates stop exactly at the limit."""
    seed(store, days=1)
    papers = [p.id for p in store.feed.latest(limit=100)][:40]
    uid = store.accounts.create_user("ada", None, None)
    c = store.collections.create(uid, "shared")
    race(lambda i: [store.collections.add(c.id, papers[i]) for _ in range(2)], list(range(40)), 20)
    items = store.collections.items(c.id)
    assert sorted(i.paper_id for i in items) == sorted(papers)
    assert [i.position for i in items] == list(range(40))
    monkeypatch.setattr(store_collections, "MAX_COLLECTIONS", 10)
    made: list[int] = []

    def create(i):
        try:
            made.append(store.collections.create(uid, f"c{i}").id)
        except CollectionRefused:
            pass

    race(create, list(range(20)), 20)
    assert len(made) == 9 and len(store.collections.of_user(uid, viewer=uid)) == 10


def test_who_sees_which_collection(store):
    ids = seed(store, days=1)
    ada = store.accounts.create_user("ada", None, None)
    bob = store.accounts.create_user("bob", None, None)
    made = {
        v: store.collections.create(ada, v, visibility=v) for v in ("public", "unlisted", "private")
    }
    for c in made.values():
        store.collections.add(c.id, ids[0])
    bobs = store.collections.create(bob, "bob's", visibility="private")
    store.collections.add(bobs.id, ids[0])
    names = lambda cs: sorted(c.name for c in cs)  # noqa: E731
    assert names(store.collections.of_user(ada)) == ["public"]
    assert names(store.collections.of_user(ada, viewer=bob)) == ["public"]
    assert names(store.collections.of_user(ada, viewer=ada)) == ["private", "public", "unlisted"]
    assert names(store.collections.including(ids[0], None)) == ["public"]
    assert names(store.collections.including(ids[0], bob)) == ["bob's", "public"]
    assert names(store.collections.including(ids[0], ada)) == ["private", "public", "unlisted"]
    assert store.collections.visible(made["private"].id, bob) is None
    assert store.collections.visible(made["private"].id, None) is None
    assert store.collections.visible(made["private"].id, ada) is not None
    assert store.collections.visible(made["unlisted"].id, None) is not None
    assert store.collections.holding(ada, ids[0]) == {c.id for c in made.values()}


def test_default_collection_and_signals_for_a_recommender(store):
    ids = seed(store, days=2)
    uid = store.accounts.create_user("ada", None, None)
    first = store.collections.default_for(uid)
    assert (first.name, first.visibility) == ("Reading list", "private")
    assert store.collections.default_for(uid).id == first.id  # not a second one
    store.collections.add(first.id, ids[0])
    store.feed.set_upvote(uid, ids[1], True)
    store.accounts.claim_authorship(uid, ids[2], "Someone")
    assert store.signals.mark(uid, ids[3], "more_like_this", True) is True
    assert store.signals.mark(uid, ids[3], "more_like_this", True) is False  # once
    assert store.signals.mark(uid, ids[4], "dismissed", True)
    assert store.signals.mark(uid, ids[0], "dismissed", True)  # saved, then dismissed
    assert store.signals.mark(uid, "2999.99999", "dismissed", True) is None
    got = store.signals.signals(uid)
    assert got == {"positives": sorted(ids[:4]), "negatives": [ids[4]]}
    assert store.signals.of_kind(uid, "dismissed", ids[3:6]) == {ids[4]}
    assert store.signals.mark(uid, ids[4], "dismissed", False) is True
    assert store.signals.signals(uid)["negatives"] == []
    other = store.accounts.create_user("bob", None, None)
    assert store.signals.signals(other) == {"positives": [], "negatives": []}
    with pytest.raises(ValueError):
        store.signals.mark(uid, ids[0], "loved", True)


def test_export_and_account_deletion_take_collections_and_signals(store):
    ids = seed(store, days=1)
    uid = store.accounts.create_user("ada", "ada@example.org", None)
    c = store.collections.create(uid, "Mine", "about", "public")
    store.collections.add(c.id, ids[0], "a note")
    store.signals.mark(uid, ids[1], "dismissed", True)
    data = store.people.export(uid)
    assert data["collections"][0]["name"] == "Mine"
    assert data["collections"][0]["items"][0] == {
        "paper_id": ids[0],
        "note": "a note",
        "added_at": data["collections"][0]["items"][0]["added_at"],
    }
    assert [(s["paper_id"], s["kind"]) for s in data["signals"]] == [(ids[1], "dismissed")]
    assert store.people.delete(uid)
    assert store.collections.get(c.id) is None
    assert store.collections.including(ids[0], None) == []
    assert store.signals.signals(uid) == {"positives": [], "negatives": []}
    assert store.people.export(uid)["collections"] == []


# -- pages -------------------------------------------------------------------------------------
def _member(app, store, name):
    add_user(store, name)
    v = Visitor(app)
    v.sign_in(name)
    v.get("/papers")
    return v


def _loc(r):
    assert r.status_code == 303, (r.status_code, r.text[:500])
    return r.headers["location"]


def test_save_from_a_card_without_javascript(web_both):
    app, store, ids, _ = web_both
    ada = _member(app, store, "ada")
    feed = ada.get("/papers").text
    pid = ids[0]
    assert f'action="/papers/{pid}/save"' in feed and f'action="/papers/{pid}/dismiss"' in feed
    # One click: a new private "Reading list", and the next page says so, with an undo.
    where = _loc(ada.post(f"/papers/{pid}/save", {"next": "/papers"}))
    mine = store.collections.of_user(store.accounts.get_user(username="ada").id, viewer=0)
    assert mine == []  # private: not even listed for "nobody"
    reading = store.collections.default_for(store.accounts.get_user(username="ada").id)
    assert (reading.name, reading.visibility) == ("Reading list", "private")
    assert where == f"/papers?saved_paper={pid}&collection={reading.id}"
    page = ada.get(where).text
    assert "Saved “" in page and f'href="/collections/{reading.id}">Reading list</a>' in page
    assert f'action="/collections/{reading.id}/items/remove"' in page  # the undo
    # Undo, then save again from the paper page, and a second click says "already in".
    _loc(ada.post(f"/collections/{reading.id}/items/remove", {"paper_id": pid, "next": "/papers"}))
    assert store.collections.items(reading.id) == []
    _loc(ada.post(f"/papers/{pid}/save", {"next": f"/papers/{pid}"}))
    again = _loc(ada.post(f"/papers/{pid}/save", {"next": f"/papers/{pid}"}))
    assert "Already in" in ada.get(again).text
    # The picker: a new named public collection with the paper, then another paper in it.
    picker = ada.get(f"/papers/{ids[1]}/collections?next=/papers").text
    assert "Add to Reading list" in picker
    made = _loc(
        ada.post(
            "/collections",
            {"name": "RL", "visibility": "public", "paper_id": ids[1], "next": "/papers"},
        )
    )
    rl = next(c for c in store.collections.including(ids[1], None) if c.name == "RL")
    assert made == f"/papers?saved_paper={ids[1]}&collection={rl.id}"
    _loc(ada.post(f"/collections/{rl.id}/items", {"paper_id": ids[2]}))
    _loc(ada.post(f"/collections/{rl.id}/items/note", {"paper_id": ids[2], "note": "<b>key</b>"}))
    _loc(ada.post(f"/collections/{rl.id}/items/move", {"paper_id": ids[2], "direction": "up"}))
    assert [i.paper_id for i in store.collections.items(rl.id)] == [ids[2], ids[1]]
    # a paper saved already stays where it is, though RL changed since: the page says where
    again = _loc(ada.post(f"/papers/{pid}/save", {"next": "/papers"}))
    assert again == f"/papers?saved_paper={pid}&collection={reading.id}&new=0"
    assert pid not in [i.paper_id for i in store.collections.items(rl.id)]
    shown = Visitor(app).get(f"/collections/{rl.id}").text  # anyone may see a public one
    assert shown.index(f'id="paper-{ids[2]}"') < shown.index(f'id="paper-{ids[1]}"')
    assert "&lt;b&gt;key&lt;/b&gt;" in shown and "<b>key</b>" not in shown
    assert f"/collections/{rl.id}/items/note" not in shown  # no owner's tools for others
    # Limits are clear 400s; a bad direction too.
    r = ada.post("/collections", {"name": "x" * 101})
    assert r.status_code == 400 and "100 characters" in r.text
    r = ada.post(f"/collections/{rl.id}/items/note", {"paper_id": ids[2], "note": "n" * 2001})
    assert r.status_code == 400 and "2000 characters" in r.text
    r = ada.post(f"/collections/{rl.id}/items/move", {"paper_id": ids[2], "direction": "left"})
    assert r.status_code == 400
    # Signed out: the save form sends to sign-in; a stale form is refused.
    anon = Visitor(app)
    assert 'action="/papers/' + pid + '/save"' not in anon.get("/papers").text
    assert _loc(anon.client.post(f"/papers/{pid}/save", data={})).startswith("/signin")
    assert ada.client.post(f"/papers/{pid}/save", data={"csrf_token": "x"}).status_code == 403


def test_edit_and_delete_a_collection(web_both):
    app, store, ids, _ = web_both
    ada = _member(app, store, "ada")
    cid = int(
        _loc(ada.post("/collections", {"name": "Old", "visibility": "private"})).split("/")[-1]
    )
    page = ada.get(f"/collections/{cid}").text
    assert "Edit or delete this collection" in page
    _loc(
        ada.post(
            f"/collections/{cid}/edit",
            {"name": "New", "description": "d", "visibility": "unlisted"},
        )
    )
    got = store.collections.get(cid)
    assert (got.name, got.description, got.visibility) == ("New", "d", "unlisted")
    bob = _member(app, store, "bob")
    assert bob.post(f"/collections/{cid}/edit", {"name": "Mine now"}).status_code == 404
    assert bob.post(f"/collections/{cid}/delete").status_code == 404
    assert bob.post(f"/collections/{cid}/items", {"paper_id": ids[0]}).status_code == 404
    # Without the box ticked (a stray click, a script without it): nothing is deleted.
    refused = ada.post(f"/collections/{cid}/delete")
    assert refused.status_code == 400 and "Tick the box to confirm" in refused.text
    assert store.collections.get(cid) is not None
    size = store.collections.get(cid).size
    where = _loc(ada.post(f"/collections/{cid}/delete", {"sure": "1"}))
    assert where == f"/collections?deleted=New&papers={size}"
    assert "Deleted “New”" in ada.get(where).text
    assert store.collections.get(cid) is None
    assert ada.get(f"/collections/{cid}").status_code == 404


def test_a_private_collection_shows_nowhere_but_to_its_owner(web_both):
    """Pages, API, Atom, profile, the paper page's list and counts: a private collection is
    a 404 or absent for everyone but its owner; an unlisted one is reachable by its link but
    listed nowhere; a public one everywhere. Anonymous pages are cached: a change of
    visibility shows at once."""
    app, store, ids, _ = web_both
    ada = _member(app, store, "ada")
    bob = _member(app, store, "bob")
    anon = Visitor(app)
    ada_id = store.accounts.get_user(username="ada").id
    c = store.collections.create(ada_id, "Secret reading", "hush", "public")
    store.collections.add(c.id, ids[0], "my private thoughts")
    token = store.accounts.create_token(store.accounts.get_user(username="bob").id, "t")
    bearer = {"Authorization": f"Bearer {token}"}

    def surfaces(v, headers=None):
        """What visitor ``v`` can see of the collection, surface by surface."""
        client = v.client
        return {
            "page": client.get(f"/collections/{c.id}").status_code,
            "atom": client.get(f"/feeds/collections/{c.id}.atom").status_code,
            "api": client.get(f"/api/collections/{c.id}", headers=headers or {}).status_code,
            "api_list": "Secret reading"
            in client.get("/api/users/ada/collections", headers=headers or {}).text,
            "profile": "Secret reading" in client.get("/users/ada").text,
            "paper": "Secret reading" in client.get(f"/papers/{ids[0]}").text,
            "count": "Collections (1)" in client.get("/users/ada").text,
        }

    everywhere = {"page": 200, "atom": 200, "api": 200, "api_list": True, "profile": True}
    everywhere |= {"paper": True, "count": True}
    for v in (anon, bob):
        assert surfaces(v) == everywhere
    assert surfaces(Visitor(app), bearer) == everywhere

    ada.client.patch(
        f"/api/collections/{c.id}",
        json={"visibility": "private"},
        headers={"X-CSRF-Token": ada.csrf},
    ).raise_for_status()
    nowhere = {"page": 404, "atom": 404, "api": 404, "api_list": False, "profile": False}
    nowhere |= {"paper": False, "count": False}
    for v in (anon, bob):
        assert surfaces(v) == nowhere
    assert surfaces(Visitor(app), bearer) == nowhere
    assert "my private thoughts" not in bob.get(f"/papers/{ids[0]}").text
    assert bob.client.get(f"/papers/{ids[0]}/collections").status_code == 200
    assert "Secret reading" not in bob.get(f"/papers/{ids[0]}/collections").text
    # Its owner sees it, marked private, on their profile and the paper page; its Atom
    # feed stays a 404 (feed readers share subscriptions).
    owner = surfaces(ada)
    assert owner | {"api_list": False} == {
        "page": 200,
        "atom": 404,
        "api": 200,
        "api_list": False,
        "profile": True,
        "paper": True,
        "count": True,
    }
    assert "Secret reading" in ada.client.get("/api/collections").text

    store.collections.update(c.id, ada_id, visibility="unlisted")
    by_link = {"page": 200, "atom": 200, "api": 200, "api_list": False, "profile": False}
    by_link |= {"paper": False, "count": False}
    for v in (anon, bob):
        assert surfaces(v) == by_link


def test_not_interested_hides_a_card_from_the_feeds_with_an_undo(web_both):
    app, store, ids, _ = web_both
    ada = _member(app, store, "ada")
    feed = ada.get("/papers").text
    shown = re.findall(r'<article class="card" id="paper-([^"]+)"', feed)
    pid = shown[1]
    where = _loc(ada.post(f"/papers/{pid}/dismiss", {"state": "1", "next": "/papers"}))
    assert where == f"/papers?dismissed={pid}"
    page = ada.get(where).text
    assert f'id="paper-{pid}"' not in page and "from your feeds" in page
    assert f'id="paper-{shown[0]}"' in page
    week = ada.get("/papers/week", follow_redirects=True).text
    assert f'id="paper-{pid}"' not in week
    # Others still see it; search and the paper page still show it to ada.
    assert f'id="paper-{pid}"' in Visitor(app).get("/papers").text
    assert f'id="paper-{pid}"' in _member(app, store, "bob").get("/papers").text
    assert ada.get(f"/papers/{pid}").status_code == 200
    # Undo: the card is back.
    assert _loc(ada.post(f"/papers/{pid}/dismiss", {"state": "0", "next": "/papers"})) == "/papers"
    assert f'id="paper-{pid}"' in ada.get("/papers").text
    # "More like this" on the paper page: a positive signal, pressed afterwards.
    _loc(ada.post(f"/papers/{pid}/more-like-this", {"state": "1"}))
    pressed = ada.get(f"/papers/{pid}").text
    assert 'aria-pressed="true">More like this' in pressed
    assert 'Noted: <a href="/papers/for-you">For you</a> ranks papers like this one' in pressed
    uid = store.accounts.get_user(username="ada").id
    assert pid in store.signals.signals(uid)["positives"]


def test_shared_rendered_cards_stay_shared(web_both):
    """The feed's cards are rendered once and shared by every signed-in visitor: one
    visitor's dismissals or saves never show on another's cards, and each gets their own
    CSRF token in the card forms."""
    app, store, ids, _ = web_both
    ada, bob = _member(app, store, "ada"), _member(app, store, "bob")
    pid = re.findall(r'id="paper-([^"]+)"', ada.get("/papers").text)[0]
    _loc(ada.post(f"/papers/{pid}/dismiss", {"next": "/papers"}))
    _loc(ada.post(f"/papers/{pid}/save", {"next": "/papers"}))
    theirs = bob.get("/papers").text
    assert f'id="paper-{pid}"' in theirs
    tokens = set(re.findall(r'name="csrf_token" value="([^"]+)"', theirs))
    assert tokens == {bob.csrf}


def _save_button(page, pid):
    """The label of a card's save action: "Save" (a one-click form) or "Saved" (the
    collections of the paper)."""
    m = re.search(
        rf'action="/papers/{re.escape(pid)}/(save|collections)" class="inline (save|picker)-form">'
        r'\s*(?:<input[^>]*>\s*)*<button class="link[^"]*"[^>]*>.*?</svg> (Save|Saved)<',
        page,
        re.S,
    )
    return m and m.group(3)


def test_cards_say_what_the_visitor_saved(web_both):
    """A saved paper's card says "Saved" (opening its collections) on every page of cards
    and on the paper page; another visitor's cards, rendered from the same shared ones,
    still say "Save"; removing the paper from the collection makes it "Save" again."""
    app, store, ids, _ = web_both
    ada, bob = _member(app, store, "ada"), _member(app, store, "bob")
    pid, other = ids[0], ids[1]
    assert _save_button(ada.get("/papers").text, pid) == "Save"
    _loc(ada.post(f"/papers/{pid}/save", {"next": "/papers"}))
    reading = store.collections.default_for(store.accounts.get_user(username="ada").id)
    title = store.feed.card(pid).title
    for path in (
        "/papers",
        "/papers/week",
        f"/papers?q={title[:40]}",
        f"/collections/{reading.id}",
    ):
        page = ada.get(path, follow_redirects=True).text
        assert _save_button(page, pid) == "Saved", path
        assert f'action="/papers/{pid}/save"' not in page, path
    assert _save_button(ada.get("/papers").text, other) == "Save"
    assert _save_button(bob.get("/papers").text, pid) == "Save"  # the shared cards
    # A paper you upvoted offers no "Not interested" (the walkthrough saw it on a profile's
    # upvoted papers); another's card of it still does.
    dismiss = f'action="/papers/{other}/dismiss"'
    assert dismiss in ada.get("/papers").text
    assert ada.post(f"/papers/{other}/upvote", {"state": "1", "next": "/papers"}).status_code == 303
    assert dismiss not in ada.get("/papers").text
    assert dismiss not in ada.get("/users/ada").text and dismiss in bob.get("/papers").text
    paper = ada.get(f"/papers/{pid}").text
    assert f'href="/papers/{pid}/collections" title="In your collections' in paper
    assert f'action="/papers/{pid}/save"' not in paper
    assert f'action="/papers/{pid}/save"' in bob.get(f"/papers/{pid}").text
    # ada's profile lists the paper she upvoted, as saved
    _loc(ada.post(f"/papers/{pid}/upvote", {"state": "1", "next": "/papers"}))
    assert _save_button(ada.get("/users/ada").text, pid) == "Saved"
    # Removed: "Save" again, everywhere.
    _loc(ada.post(f"/collections/{reading.id}/items/remove", {"paper_id": pid}))
    assert _save_button(ada.get("/papers").text, pid) == "Save"
    assert f'action="/papers/{pid}/save"' in ada.get(f"/papers/{pid}").text
    # The script's answer names the collection, for the note it shows in place.
    r = ada.post(f"/papers/{pid}/save", {"next": "/papers"}, headers={"Accept": "application/json"})
    assert r.json() == {
        "saved": True,
        "added": True,
        "collection": reading.id,
        "name": "Reading list",
        "visibility": "private",  # the note says when a save went public
    }


def test_hidden_papers_are_counted_listed_and_can_come_back(web_both):
    app, store, ids, _ = web_both
    ada = _member(app, store, "ada")
    day = ada.get("/papers").text
    total = int(re.search(r'data-shown="(\d+)">(\d+) papers', day).group(1))
    assert 'data-hidden="0"' in day and "<span hidden> · " in day  # nothing hidden yet
    assert "hidden by you" not in Visitor(app).get("/papers").text
    shown = re.findall(r'<article class="card" id="paper-([^"]+)"', day)
    for pid in shown[:2]:
        _loc(ada.post(f"/papers/{pid}/dismiss", {"state": "1", "next": "/papers"}))
    day = ada.get("/papers").text
    assert f'data-shown="{total - 2}">{total - 2} papers</span>' in day
    assert 'data-hidden="2">2 hidden by you</a>' in day
    # The list, latest first, each with a way back.
    listed = ada.get("/settings/hidden-papers").text
    assert "2 papers, the latest hidden first" in listed
    assert listed.index(f'id="paper-{shown[1]}"') < listed.index(f'id="paper-{shown[0]}"')
    # The paper page says so too, with its own way back.
    paper = ada.get(f"/papers/{shown[0]}").text
    assert "You marked this paper “Not interested”" in paper
    back = _loc(
        ada.post(
            f"/papers/{shown[0]}/dismiss",
            {"state": "0", "next": "/settings/hidden-papers"},
        )
    )
    assert back == "/settings/hidden-papers"
    assert f'id="paper-{shown[0]}"' not in ada.get(back).text
    assert "You marked this paper" not in ada.get(f"/papers/{shown[0]}").text
    assert 'data-hidden="1">1 hidden by you' in ada.get("/papers").text
    # Paging past the end, bad pages, and signed out.
    assert "No more hidden papers" in ada.get("/settings/hidden-papers?p=3").text
    for bad in ("-1", "10001", "x"):
        assert ada.get(f"/settings/hidden-papers?p={bad}").status_code in (400, 422)
    r = Visitor(app).get("/settings/hidden-papers")
    assert r.status_code == 303 and r.headers["location"].startswith("/signin")
    # Nothing hidden: the page says how to hide one.
    _loc(ada.post(f"/papers/{shown[1]}/dismiss", {"state": "0", "next": "/papers"}))
    assert "You have not hidden any paper" in ada.get("/settings/hidden-papers").text
    assert "/settings/hidden-papers" in ada.get("/settings").text


def test_a_saved_note_is_confirmed(web_both):
    app, store, ids, _ = web_both
    ada = _member(app, store, "ada")
    _loc(ada.post(f"/papers/{ids[0]}/save", {"next": "/papers"}))
    reading = store.collections.default_for(store.accounts.get_user(username="ada").id)
    where = _loc(
        ada.post(f"/collections/{reading.id}/items/note", {"paper_id": ids[0], "note": "ok"})
    )
    assert where == f"/collections/{reading.id}?noted={ids[0]}#item-{ids[0]}"
    owner_page = ada.get(where).text
    assert 'role="status">Note saved.</p>' in owner_page
    assert 'class="link dismiss"' not in owner_page  # in one's own collection: Remove
    where = _loc(
        ada.post(f"/collections/{reading.id}/items/note", {"paper_id": ids[0], "note": ""})
    )
    assert 'role="status">Note removed.</p>' in ada.get(where).text


def test_notes_and_descriptions_are_markdown_and_safe(web_both):
    """A note and a description render as the comments' Markdown, with math, for the owner
    and for a visitor; raw HTML and script links come out as text."""
    app, store, ids, _ = web_both
    ada = _member(app, store, "ada")
    _loc(ada.post(f"/papers/{ids[0]}/save", {"next": "/papers"}))
    uid = store.accounts.get_user(username="ada").id
    reading = store.collections.default_for(uid)
    store.collections.update(
        reading.id, uid, visibility="public", description="My **core** reading <b>x</b>"
    )
    note = (
        "Read **section 3**, then [the code](https://example.org/c).\n\n- $O(n^2)$\n"
        "- <script>alert(1)</script> [x](javascript:alert(1))"
    )
    ada.post(f"/collections/{reading.id}/items/note", {"paper_id": ids[0], "note": note})
    for who in (ada, Visitor(app)):
        page = who.get(f"/collections/{reading.id}").text
        assert "<strong>section 3</strong>" in page and "<strong>core</strong>" in page
        assert '<a href="https://example.org/c" rel="nofollow ugc noopener">the code</a>' in page
        assert "<math" in page and "<li>" in page
        assert "<script>alert" not in page and 'href="javascript' not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "&lt;b&gt;x&lt;/b&gt;" in page


# -- API ---------------------------------------------------------------------------------------
def test_collections_api_with_tokens_and_sessions(web_both):
    app, store, ids, _ = web_both
    uid = add_user(store, "ada")
    write = {"Authorization": f"Bearer {store.accounts.create_token(uid, 'w')}"}
    read = {"Authorization": f"Bearer {store.accounts.create_token(uid, 'r', ('read',))}"}
    api = Visitor(app).client
    r = api.post(
        "/api/collections", json={"name": "Diffusion", "visibility": "public"}, headers=write
    )
    assert r.status_code == 201, r.text
    c = r.json()
    assert (c["name"], c["visibility"], c["owner"], c["size"]) == ("Diffusion", "public", "ada", 0)
    cid = c["id"]
    assert api.post("/api/collections", json={"name": "x"}, headers=read).status_code == 403
    assert api.post("/api/collections", json={"name": "x"}).status_code in (401, 403)
    r = api.post(
        f"/api/collections/{cid}/items", json={"arxivId": ids[0], "note": "n1"}, headers=write
    )
    assert r.status_code == 201 and r.json()["paper"]["id"] == ids[0]
    r = api.post(
        f"/api/collections/{cid}/items", json={"arxivId": f"arXiv:{ids[1]}"}, headers=write
    )
    assert r.status_code == 201
    again = api.post(f"/api/collections/{cid}/items", json={"arxivId": ids[1]}, headers=write)
    assert again.status_code == 200
    r = api.patch(
        f"/api/collections/{cid}/items/{ids[1]}",
        json={"position": 0, "note": "first"},
        headers=write,
    )
    assert r.status_code == 200 and r.json()["position"] == 0 and r.json()["note"] == "first"
    got = api.get(f"/api/collections/{cid}", headers=read).json()
    assert [i["arxivId"] for i in got["items"]] == [ids[1], ids[0]]
    assert [c["id"] for c in api.get("/api/collections", headers=read).json()] == [cid]
    assert api.get("/api/collections").status_code == 401
    r = api.patch(f"/api/collections/{cid}", json={"description": "about diffusion"}, headers=write)
    assert r.json()["description"] == "about diffusion" and r.json()["name"] == "Diffusion"
    assert api.delete(f"/api/collections/{cid}/items/{ids[0]}", headers=write).status_code == 200
    assert api.delete(f"/api/collections/{cid}/items/{ids[0]}", headers=write).status_code == 404
    # Clear 400s.
    for body, words in (
        ({"name": "x" * 101}, "100"),
        ({"name": "ok", "description": "d" * 1001}, "1000"),
        ({"name": "ok", "visibility": "secret"}, "visibility"),
        ({"name": "   "}, "name"),
    ):
        r = api.post("/api/collections", json=body, headers=write)
        assert r.status_code == 400 and words in r.json()["error"], (body, r.text)
    r = api.post(
        f"/api/collections/{cid}/items", json={"arxivId": ids[0], "note": "n" * 2001}, headers=write
    )
    assert r.status_code == 400
    r = api.post(f"/api/collections/{cid}/items", json={"arxivId": "2999.99999"}, headers=write)
    assert r.status_code == 404
    # Someone else's: 404 whatever the call; a session needs its X-CSRF-Token.
    bob = _member(app, store, "bob")
    for method, path in (
        ("patch", f"/api/collections/{cid}"),
        ("delete", f"/api/collections/{cid}"),
        ("post", f"/api/collections/{cid}/items"),
    ):
        body = {"arxivId": ids[2]} if method == "post" else {"name": "mine"}
        kw = {} if method == "delete" else {"json": body}
        r = getattr(bob.client, method)(path, headers={"X-CSRF-Token": bob.csrf}, **kw)
        assert r.status_code == 404, (method, path, r.text)
    assert bob.client.post("/api/collections", json={"name": "b"}).status_code == 403
    r = bob.client.post("/api/collections", json={"name": "b"}, headers={"X-CSRF-Token": bob.csrf})
    assert r.status_code == 201
    assert api.get("/api/users/nobody/collections").status_code == 404
    assert api.delete(f"/api/collections/{cid}", headers=write).json() == {"deleted": cid}
    assert api.get(f"/api/collections/{cid}").status_code == 404


def test_collections_limit_answers_400_on_pages_and_api(web_both):
    app, store, ids, _ = web_both
    uid = add_user(store, "ada")
    for i in range(store_collections.MAX_COLLECTIONS):
        store.collections.create(uid, f"c{i}")
    write = {"Authorization": f"Bearer {store.accounts.create_token(uid, 'w')}"}
    r = Visitor(app).client.post("/api/collections", json={"name": "more"}, headers=write)
    assert r.status_code == 400 and "200 collections" in r.json()["error"]
    v = Visitor(app)
    v.sign_in("ada")
    v.get("/collections")
    r = v.post("/collections", {"name": "more"})
    assert r.status_code == 400 and "200 collections" in r.text


def test_collection_atom_feed_is_well_formed_and_in_order(web_both):
    app, store, ids, _ = web_both
    uid = add_user(store, "ada")
    c = store.collections.create(uid, "Feed <&> me", visibility="public")
    for pid in (ids[3], ids[1], ids[2]):
        store.collections.add(c.id, pid, "Read **this** one" if pid == ids[1] else "")
    r = Visitor(app).client.get(f"/feeds/collections/{c.id}.atom")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/atom+xml")
    root = ET.fromstring(r.content)
    assert "Feed <&> me" in root.find(f"{ATOM}title").text
    entries = [e.find(f"{ATOM}link").get("href") for e in root.findall(f"{ATOM}entry")]
    assert [e.rsplit("/", 1)[-1] for e in entries] == [ids[3], ids[1], ids[2]]
    # Each entry is as new as its addition (feed readers show what was added), with the note.
    items = {i.paper_id: i for i in store.collections.items(c.id)}
    for e in root.findall(f"{ATOM}entry"):
        pid = e.find(f"{ATOM}id").text.rsplit("/", 1)[-1]
        stamp = e.find(f"{ATOM}updated").text
        assert stamp == items[pid].added_at.replace(microsecond=0).isoformat() + "+00:00"
        assert e.find(f"{ATOM}summary").text.startswith("Note: Read **this** one") == (
            pid == ids[1]
        )
    assert Visitor(app).client.get("/feeds/collections/999999.atom").status_code == 404


def test_openapi_documents_the_collections_api(web):
    schema = Visitor(web[0]).client.get("/openapi.json").json()
    paths = schema["paths"]
    for path, methods in (
        ("/api/collections", {"get", "post"}),
        ("/api/collections/{collection_id}", {"get", "patch", "delete"}),
        ("/api/collections/{collection_id}/items", {"post"}),
        ("/api/collections/{collection_id}/items/{arxiv_id}", {"patch", "delete"}),
        ("/api/users/{username}/collections", {"get"}),
    ):
        assert methods <= set(paths[path]), path
        for m in methods:
            assert "400" in paths[path][m]["responses"]
            if m != "get":
                assert {"401", "403", "404"} <= set(paths[path][m]["responses"])


def test_save_from_search_results_comes_back_to_the_search(web):
    app, store, ids, _ = web
    ada = _member(app, store, "ada")
    page = ada.get("/papers?q=models").text
    found = re.findall(r'<article class="card" id="paper-([^"]+)"', page)
    assert found, "the search finds papers"
    assert 'name="next" value="/papers?q=models"' in page
    where = _loc(ada.post(f"/papers/{found[0]}/save", {"next": "/papers?q=models"}))
    assert where.startswith(f"/papers?q=models&saved_paper={found[0]}&collection=")
    assert "Saved “" in ada.get(where).text


def test_a_collection_downloads_as_bibtex_to_whoever_may_see_it(web_both):
    """Your data as BibTeX (issue 15, item 6): the collection's papers in its order, with
    distinct keys; a private one is nobody else's download."""
    from paperwire.web.render import unique_bibtex_keys

    app, store, ids, _ = web_both
    uid = add_user(store, "ada")
    add_user(store, "bob")
    shelf = store.collections.create(uid, "To cite", visibility="private")
    for pid in (ids[2], ids[0]):
        store.collections.add(shelf.id, pid)
    owner = Visitor(app)
    owner.sign_in("ada")
    assert f"/collections/{shelf.id}/bibtex" in owner.get(f"/collections/{shelf.id}").text
    r = owner.get(f"/collections/{shelf.id}/bibtex")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/x-bibtex")
    assert "attachment" in r.headers["content-disposition"]
    eprints = re.findall(r"eprint = \{([^}]+)\}", r.text)
    assert eprints == [ids[2], ids[0]]
    keys = re.findall(r"@misc\{([^,]+),", r.text)
    assert len(keys) == 2 and len(set(keys)) == 2
    other = Visitor(app)
    other.sign_in("bob")
    assert other.get(f"/collections/{shelf.id}/bibtex").status_code == 404
    assert Visitor(app).get(f"/collections/{shelf.id}/bibtex").status_code == 404
    store.collections.update(shelf.id, uid, visibility="public")
    assert Visitor(app).get(f"/collections/{shelf.id}/bibtex").status_code == 200
    same = ["@misc{lee2025deep,\n  title = {A}\n}", "@misc{lee2025deep,\n  title = {B}\n}"]
    assert [e.split(",")[0] for e in unique_bibtex_keys(same)] == [
        "@misc{lee2025deep",
        "@misc{lee2025deepa",
    ]


def test_a_feed_page_past_the_end_or_all_hidden_says_so(web_both):
    app, store, ids, _ = web_both
    v = Visitor(app)
    week = v.get("/papers/week", follow_redirects=True)
    path = week.url.path
    total = int(re.search(r'data-shown="(\d+)"', week.text).group(1))
    past = v.get(f"{path}?p=500&sort=upvotes").text
    assert f"No more papers on this page: all {total} are on the pages before it." in past
    assert f'href="{path}?sort=upvotes">Back to the first page' in past
    assert "No papers here yet" not in past
    # A reader who hid every paper of a day is told so, not that the day is empty.
    ada = _member(app, store, "ada")
    day = ada.get("/papers").text
    for pid in re.findall(r'<article class="card" id="paper-([^"]+)"', day):
        _loc(ada.post(f"/papers/{pid}/dismiss", {"state": "1", "next": "/papers"}))
    day = ada.get("/papers").text
    assert "You hid every paper on this page." in day and "No papers here yet" not in day
