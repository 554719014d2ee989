"""Import a library from the site (issue 15, item 4): an uploaded BibTeX, RIS or CSV export
becomes a private collection of the papers found here, the page lists what was not found, and
the papers count for For you — on SQLite and PostgreSQL."""

from __future__ import annotations

import re

from .replay import FIXTURES
from .webkit import Visitor, add_user

LIB = FIXTURES / "library"


def _upload(v: Visitor, filename: str, data: bytes, **fields: str):
    form = {"csrf_token": v.csrf, **fields}
    return v.client.post("/collections/import", data=form, files={"library": (filename, data)})


def test_an_uploaded_library_becomes_a_collection(web_both):
    app, store, _, _ = web_both
    uid = add_user(store, "ada")
    v = Visitor(app)
    v.sign_in("ada")
    assert 'action="/collections/import"' in v.get("/collections").text
    r = _upload(v, "scholar.bib", (LIB / "scholar.bib").read_bytes(), name="From Scholar")
    assert r.status_code == 200, r.text
    assert "4 papers from your BibTeX file are in" in r.text
    assert "arXiv id 2" in r.text and "title 2" in r.text
    assert "Not found here (1)" in r.text and "Deep learning" in r.text
    mine = store.collections.of_user(uid, viewer=uid)
    assert [c.name for c in mine] == ["From Scholar"] and mine[0].visibility == "private"
    items = [i.paper_id for i in store.collections.items(mine[0].id)]
    assert items == ["2503.11731", "2503.12006", "2503.12049", "2503.12168"]  # file order
    assert set(items) <= set(store.signals.signals(uid)["positives"])  # For you learns
    form = v.get("/collections").text
    key = re.search(r'/collections/import".*?name="idempotency_key" value="([^"]+)"', form, re.S)
    ris = (LIB / "zotero.ris").read_bytes()
    r = _upload(v, "My reading_list.ris", ris, idempotency_key=key.group(1))
    assert r.status_code == 200 and "from your RIS file" in r.text
    # Named after the file when the name is left empty; a reload of the result (the same
    # form sent again) makes no second collection: it opens the one made.
    newest = store.collections.of_user(uid, viewer=uid)
    assert sorted(c.name for c in newest) == ["From Scholar", "My reading list"]
    made = next(c for c in newest if c.name == "My reading list")
    again = _upload(v, "My reading_list.ris", ris, idempotency_key=key.group(1))
    assert (again.status_code, again.headers["location"]) == (303, f"/collections/{made.id}")
    assert len(store.collections.of_user(uid, viewer=uid)) == 2
    # the result's address opened again (from the history): the form, not an error
    again = v.get("/collections/import")
    assert (again.status_code, again.headers["location"]) == (303, "/collections#import")


def test_a_bad_upload_is_refused_and_nothing_is_made(web_both):
    app, store, _, _ = web_both
    uid = add_user(store, "ada")
    v = Visitor(app)
    v.sign_in("ada")
    for name, data, problem in (
        ("junk.bin", bytes(range(256)) * 40, "not text"),
        ("notes.txt", b"just some words\n", "not a BibTeX, RIS or CSV export"),
        ("empty.bib", b"@comment{nothing here}\n", "no usable entry"),
    ):
        r = _upload(v, name, data)
        assert r.status_code == 400 and problem in r.text, (name, r.text[:300])
        # said at the import form, on the collections page (not a bare error page)
        assert 'id="import-error"' in r.text and 'action="/collections/import"' in r.text
    assert v.client.post("/collections/import", data={"csrf_token": v.csrf}).status_code == 400
    no_csrf = v.client.post("/collections/import", files={"library": ("a.bib", b"@misc{x}")})
    assert no_csrf.status_code == 403
    signed_out = Visitor(app)
    r = signed_out.client.post(
        "/collections/import",
        data={"csrf_token": signed_out.csrf},
        files={"library": ("scholar.bib", (LIB / "scholar.bib").read_bytes())},
    )
    assert r.status_code in (401, 403)
    assert store.collections.of_user(uid, viewer=uid) == []
