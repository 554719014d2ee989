"""Hostile text (control characters, NUL, bidi overrides) is cleaned where it comes in, and
every XML document stays well-formed whatever the input (issue 14, item 7)."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from lxml import etree

from paperwire.core.records import PaperRecord
from paperwire.core.text import clean, xml_safe

from .storekit import TRUST
from .webkit import Visitor, add_user

HOSTILE = ["a\x01b", "a\x0bb", "a\x00b", "evil\u202egnp.exe", "\ud800lone", "x\ufffey", "\x1b[31m"]


def test_clean_keeps_text_and_drops_controls():
    assert clean("  Ada\x00 Lovelace\x01 ") == "Ada Lovelace"
    assert clean("evil\u202egnp.exe") == "evilgnp.exe"
    assert clean("line one\r\nline\ttwo") == "line one\nline\ttwo"
    assert clean("line one\nline two", lines=False) == "line one line two"
    family = "\U0001f469\u200d\U0001f469\u200d\U0001f467"  # joined emoji survive
    assert clean(f"Caf\u0065\u0301 {family}") == f"Café {family}"
    assert clean("\ue000\ud800\x7f") == ""


@pytest.mark.parametrize("value", HOSTILE)
def test_xml_safe_output_parses(value):
    root = etree.fromstring(f"<t a='{xml_safe(value)}'>{xml_safe(value)}</t>".encode())
    assert root.tag == "t"


SENT = [quote(q, errors="surrogatepass") for q in HOSTILE] + ["a%01b", "%ED%A0%80", "%FF%FE"]


@pytest.mark.parametrize("q", SENT)
def test_search_feed_is_well_formed_for_any_query(web, q):
    app, store, ids, _ = web
    r = Visitor(app).get(f"/feeds/search.atom?q={q}")
    if "%00" in q:  # refused before routing (tests/test_guards.py)
        assert r.status_code == 400
        return
    assert r.status_code == 200
    feed = etree.fromstring(r.content)  # raises on a document that is not well-formed
    assert feed.tag.endswith("feed")


def test_feeds_stay_well_formed_when_a_source_sends_control_characters(web):
    app, store, ids, _ = web
    record = PaperRecord(
        id=ids[0], title="Sh\x01ort \x0btitle\x1f", abstract="Abs\x08tract", source="arxiv-api"
    ).validated()
    store.papers.upsert([record], {**TRUST, "arxiv-api": 100})
    for path in ("/feeds/daily.atom", "/feeds/trending.atom", "/feeds/weekly.atom"):
        r = Visitor(app).get(path)
        assert r.status_code == 200
        etree.fromstring(r.content)


def test_names_and_bios_lose_controls_and_overrides(web):
    app, store, _, _ = web
    add_user(store, "mallory")
    v = Visitor(app)
    v.sign_in("mallory")
    v.get("/settings")
    r = v.post("/settings/profile", {"fullname": "Mal\u202elory\x00", "bio": "hi\x01\nthere"})
    assert r.status_code == 303
    user = store.accounts.get_user(login="mallory")
    assert user is not None and (user.fullname, user.bio) == ("Mallory", "hi\nthere")


def test_a_password_is_taken_as_typed(web):
    """Cleaning is for text that is shown; a password with a tab still signs in."""
    app, store, _, _ = web
    add_user(store, "tabby", password="tab\there password")
    v = Visitor(app)
    v.sign_in("tabby", "tab\there password")
