"""Changing an account's e-mail address (issue 14): asked for with the password, done only
through the link mailed to the new address, noticed to the old one, single-use, and the same
answer whether or not the new address has an account — on SQLite and PostgreSQL."""

from __future__ import annotations

import re

from .test_web_auth import delivered, link_in
from .webkit import PASSWORD, Visitor, add_user


def _to(messages, address: str):
    return [m for m in messages if m["To"] == address]


def test_a_new_address_takes_effect_through_its_link_once(web_both):
    app, store, _, config = web_both
    uid = add_user(store, "ada")
    add_user(store, "bob")
    v = Visitor(app)
    v.sign_in("ada")
    form = {"email": "Ada@New.example.org", "password": PASSWORD}
    assert v.post("/settings/email", {**form, "password": "wrong password"}).status_code == 400
    assert v.post("/settings/email", {**form, "email": "not an address"}).status_code == 400
    same = v.post("/settings/email", {**form, "email": "ada@example.org"})
    assert same.status_code == 400 and "already" in same.text
    r = v.post("/settings/email", form)
    assert r.status_code == 200 and "We sent a link to ada@new.example.org" in r.text
    assert store.accounts.get_user(id=uid).email == "ada@example.org"  # not yet

    sent = delivered(store, config)
    notice = _to(sent, "ada@example.org")
    assert len(notice) == 1 and "ada@new.example.org" in notice[0].get_content()
    link = link_in(_to(sent, "ada@new.example.org")[0], "/settings/email")
    page = Visitor(app).get(link)  # opening it (a mail scanner may) changes nothing
    assert page.status_code == 200 and store.accounts.get_user(id=uid).email == "ada@example.org"
    other = Visitor(app)  # whoever holds the mailbox, signed in or not
    assert other.post(link).status_code == 200
    assert store.accounts.get_user(id=uid).email == "ada@new.example.org"
    assert other.post(link).status_code == 400  # once
    assert Visitor(app).get(link).status_code == 400
    assert Visitor(app).get(link[:-3] + "abc").status_code == 400  # altered
    # the old address is told; the new one signs in
    changed = [m for m in delivered(store, config) if "was changed" in m["Subject"]]
    assert [m["To"] for m in changed] == ["ada@example.org"]
    Visitor(app).sign_in("ada@new.example.org")
    kinds = [e.kind for e in store.audit.events(user_id=uid) if e.kind.startswith("email")]
    assert kinds == ["email-changed", "email-change-requested"]


def test_an_address_with_an_account_gets_the_same_answer_and_is_not_taken(web_both):
    app, store, _, config = web_both
    uid = add_user(store, "ada")
    add_user(store, "bob")
    v = Visitor(app)
    v.sign_in("ada")
    taken = v.post("/settings/email", {"email": "bob@example.org", "password": PASSWORD})
    free = v.post("/settings/email", {"email": "carol@example.org", "password": PASSWORD})
    assert taken.status_code == free.status_code == 200
    same = [
        re.sub(r'name="idempotency_key" value="[^"]+"', "", r.text.replace(who, "X@"))
        for r, who in ((taken, "bob@"), (free, "carol@"))
    ]  # (each page's forms carry their own random key)
    assert same[0] == same[1]
    sent = delivered(store, config)
    to_bob = _to(sent, "bob@example.org")
    assert len(to_bob) == 1 and "/settings/email/" not in to_bob[0].get_content()
    # two links out at once: the first used ends the other (the account's address moved)
    link = link_in(_to(sent, "carol@example.org")[0], "/settings/email")
    v.post("/settings/email", {"email": "dan@example.org", "password": PASSWORD})
    second = link_in(_to(delivered(store, config), "dan@example.org")[0], "/settings/email")
    assert Visitor(app).post(second).status_code == 200
    assert Visitor(app).post(link).status_code == 400
    assert store.accounts.get_user(id=uid).email == "dan@example.org"
    # an address taken between the link and its use: 409, nothing changes
    v.post("/settings/email", {"email": "erin@example.org", "password": PASSWORD})
    late = link_in(_to(delivered(store, config), "erin@example.org")[0], "/settings/email")
    add_user(store, "erin")
    assert Visitor(app).post(late).status_code == 409
    assert store.accounts.get_user(id=uid).email == "dan@example.org"
