"""Two-factor sign-in (TOTP) end to end through the site, on SQLite and PostgreSQL: turning it
on (a right and a wrong code), signing in with a code, replayed codes refused, recovery codes
once each, new codes, turning it off, the admin requirement, rate limits, API tokens; and the
store's "use once" under concurrent requests."""

from __future__ import annotations

import re
import threading

import pytest

from paperwire.core import twofactor as tf
from paperwire.web.deps import TWO_FACTOR_REQUIRED
from paperwire.web.twofactor import EXPIRED, WRONG_CODE

from .webkit import PASSWORD, Visitor, add_user, site

STEP = 1_000_000  # the TOTP time step the tests stand at (frozen)


@pytest.fixture
def frozen(monkeypatch):
    """The clock of TOTP codes, frozen at STEP; ``frozen(n)`` moves it."""
    now = {"step": STEP}
    monkeypatch.setattr(tf, "current_step", lambda at=None: now["step"])

    def move(step: int) -> None:
        now["step"] = step

    return move


@pytest.fixture
def app_store(store, tmp_path):
    app, _config = site(store, tmp_path, rate_limit_auth=20)  # the walk below is over 10 steps
    return app, store


def signed_in(app, login: str) -> Visitor:
    visitor = Visitor(app)
    visitor.sign_in(login)
    return visitor


def is_signed_in(visitor: Visitor) -> bool:
    return visitor.get("/settings").status_code == 200


def setup_form(visitor: Visitor) -> tuple[str, str]:
    """The secret and signed setup field that the settings page shows."""
    r = visitor.get("/settings/two-factor")
    assert r.status_code == 200 and "Turn on two-factor sign-in" in r.text
    secret = re.search(r'<code class="token" id="secret">([A-Z2-7 ]+)</code>', r.text).group(1)
    setup = re.search(r'name="setup" value="([^"]+)"', r.text).group(1)
    return secret.replace(" ", ""), setup


def turn_on(visitor: Visitor, step: int = STEP - 1) -> tuple[str, list[str]]:
    """Two-factor sign-in on with a code of ``step``: the secret and the recovery codes."""
    secret, setup = setup_form(visitor)
    r = visitor.post(
        "/settings/two-factor/enable",
        {"setup": setup, "code": tf.code_at(secret, step), "password": PASSWORD},
    )
    assert r.status_code == 200, r.text
    codes = re.findall(r'<li><code class="token">([a-z2-7-]+)</code></li>', r.text)
    assert len(codes) == 10
    return secret, codes


def password_step(app, login: str = "ada", password: str = PASSWORD):
    """A new browser's first step: (visitor, response, the second step's token or None)."""
    visitor = Visitor(app)
    r = visitor.post("/signin", {"login": login, "password": password, "next": "/settings"})
    m = re.search(r'name="token" value="([^"]+)"', r.text)
    return visitor, r, m.group(1) if m else None


def code_step(visitor: Visitor, token: str, code: str):
    return visitor.post("/signin/two-factor", {"token": token, "code": code, "next": "/settings"})


def test_turn_on_sign_in_replay_recovery_and_turn_off(app_store, frozen):
    app, store = app_store
    uid = add_user(store, "ada")
    ada = signed_in(app, "ada")
    elsewhere = signed_in(app, "ada")
    secret, setup = setup_form(ada)
    page = ada.get("/settings/two-factor").text
    assert "otpauth://totp/Paperwire%3Aada?secret=" in page
    assert page.count('<svg role="img" aria-label="QR code of the link below"') == 1
    assert "Set up or change two-factor sign-in" in ada.get("/settings").text

    # A wrong code, a right code with a wrong password: still off.
    r = ada.post(
        "/settings/two-factor/enable",
        {"setup": setup, "code": tf.code_at(secret, STEP + 5), "password": PASSWORD},
    )
    assert r.status_code == 400 and WRONG_CODE in r.text
    assert secret[:4] in r.text  # the same secret again, to try once more
    r = ada.post(
        "/settings/two-factor/enable",
        {"setup": setup, "code": tf.code_at(secret, STEP), "password": "wrong password!"},
    )
    assert r.status_code == 400 and "password is wrong" in r.text
    r = ada.post("/settings/two-factor/enable", {"setup": "forged", "code": "123456"})
    assert r.status_code == 400 and "expired" in r.text
    assert store.twofactor.get(uid) is None

    r = ada.post(
        "/settings/two-factor/enable",
        {"setup": setup, "code": tf.code_at(secret, STEP - 1), "password": PASSWORD},
    )
    assert r.status_code == 200 and "Two-factor sign-in is on" in r.text
    codes = re.findall(r'<li><code class="token">([a-z2-7-]+)</code></li>', r.text)
    assert len(codes) == 10 and len(set(codes)) == 10
    state = store.twofactor.get(uid)
    assert state.recovery_left == 10 and state.last_step == STEP - 1
    assert secret not in state.secret_sealed  # sealed, not plain
    assert is_signed_in(ada) and not is_signed_in(elsewhere)  # other sessions ended
    assert codes[0] not in ada.get("/settings/two-factor").text  # shown once
    # A second setup form (an old tab) cannot turn it on again.
    r = ada.post(
        "/settings/two-factor/enable",
        {"setup": setup, "code": tf.code_at(secret, STEP), "password": PASSWORD},
    )
    assert r.status_code == 400  # the setup was bound to the sessions that just ended

    # The password alone no longer signs in; a wrong password says nothing about 2FA.
    browser, r, token = password_step(app, password="wrong password!")
    assert r.status_code == 400 and token is None and "Two-factor" not in r.text
    browser, r, token = password_step(app)
    assert r.status_code == 200 and token and "authenticator app" in r.text
    assert "pw_session" not in r.headers.get("set-cookie", "") and not is_signed_in(browser)
    r = code_step(browser, token, "000000" if tf.code_at(secret, STEP) != "000000" else "111111")
    assert r.status_code == 400 and WRONG_CODE in r.text and not is_signed_in(browser)
    r = code_step(browser, token, tf.code_at(secret, STEP - 1))  # the confirming code
    assert r.status_code == 400 and WRONG_CODE in r.text
    r = code_step(browser, token, tf.code_at(secret, STEP))
    assert r.status_code == 303 and r.headers["location"] == "/settings"
    assert is_signed_in(browser)
    # The token is good once, and the code too.
    r = code_step(Visitor(app), token, tf.code_at(secret, STEP + 1))
    assert r.status_code == 400 and EXPIRED in r.text
    other, _, token2 = password_step(app)
    r = code_step(other, token2, tf.code_at(secret, STEP))
    assert r.status_code == 400 and not is_signed_in(other)
    # A recovery code works once (spaces, capitals and hyphens are all the same to it).
    r = code_step(other, token2, codes[0])
    assert r.status_code == 303 and is_signed_in(other)
    third, _, token3 = password_step(app)
    assert code_step(third, token3, codes[0]).status_code == 400
    typed = codes[1].upper().replace("-", " ")
    assert code_step(third, token3, typed).status_code == 303 and is_signed_in(third)
    assert "Recovery codes left: 8" in ada.get("/settings/two-factor").text

    # New recovery codes: the password, then the old ones are void.
    r = ada.post("/settings/two-factor/recovery-codes", {"password": "wrong password!"})
    assert r.status_code == 400
    page = ada.get("/settings/two-factor").text
    key = re.search(r'recovery-codes".*?name="idempotency_key" value="([^"]+)"', page, re.S)
    form = {"password": PASSWORD, "idempotency_key": key.group(1)}
    r = ada.post("/settings/two-factor/recovery-codes", form)
    fresh = re.findall(r'<li><code class="token">([a-z2-7-]+)</code></li>', r.text)
    assert r.status_code == 200 and len(fresh) == 10 and not set(fresh) & set(codes)
    # A reload of that page sends the form again: the codes just shown stay the ones that work.
    r = ada.post("/settings/two-factor/recovery-codes", form)
    assert "This form was sent already" in r.text and 'class="token"' not in r.text
    fourth, _, token4 = password_step(app)
    assert code_step(fourth, token4, codes[2]).status_code == 400
    assert code_step(fourth, token4, fresh[0]).status_code == 303

    # Turning it off takes the password and a code.
    frozen(STEP + 1)
    r = ada.post("/settings/two-factor/disable", {"password": PASSWORD, "code": "not a code"})
    assert r.status_code == 400 and store.twofactor.enabled(uid)
    r = ada.post(
        "/settings/two-factor/disable",
        {"password": "wrong password!", "code": tf.code_at(secret, STEP + 1)},
    )
    assert r.status_code == 400 and store.twofactor.enabled(uid)
    r = ada.post(
        "/settings/two-factor/disable",
        {"password": PASSWORD, "code": tf.code_at(secret, STEP + 1)},
    )
    assert r.status_code == 200 and "Two-factor sign-in is off" in r.text
    assert store.twofactor.get(uid) is None
    _, r, token = password_step(app)
    assert r.status_code == 303 and token is None  # the password alone again


def test_second_step_token_is_bound_to_the_account(app_store, frozen):
    app, store = app_store
    uid = add_user(store, "ada")
    secret, _codes = turn_on(signed_in(app, "ada"))
    browser, _, token = password_step(app)
    # The password changed (sessions ended) between the two steps: the token is void.
    store.accounts.end_sessions(uid)
    r = code_step(browser, token, tf.code_at(secret, STEP))
    assert r.status_code == 400 and EXPIRED in r.text and not is_signed_in(browser)
    # Forged, cut or altered tokens, and odd codes: a clear 400, never a 500.
    for bad in ("", "x" * 2000, token[:-2] + "AA", "W10.abc.def"):
        assert code_step(browser, bad, tf.code_at(secret, STEP)).status_code == 400
    _, _, token = password_step(app)
    for odd in ("", "１２３４５６", "\x00" * 6, "9" * 500, "²²²²²²"):
        assert code_step(browser, token, odd).status_code == 400
    # After wrong tries, the same token still takes the right code.
    assert code_step(browser, token, tf.code_at(secret, STEP)).status_code == 303


def test_a_password_reset_link_still_asks_for_a_code(web, frozen):
    from .test_web_auth import delivered, link_in

    app, store, _, config = web
    add_user(store, "ada")
    secret, _codes = turn_on(signed_in(app, "ada"))
    browser = Visitor(app)
    browser.post("/reset", {"email": "ada@example.org"})
    [msg] = [m for m in delivered(store, config) if "Reset your" in m["Subject"]]
    r = browser.post(link_in(msg, "/reset"), {"password": "a brand new password"})
    assert r.status_code == 200 and "Password changed." in r.text and "authenticator" in r.text
    assert not is_signed_in(browser)
    token = re.search(r'name="token" value="([^"]+)"', r.text).group(1)
    assert code_step(browser, token, tf.code_at(secret, STEP)).status_code == 303
    assert is_signed_in(browser)
    assert browser.get("/signin/two-factor").headers["location"] == "/signin"


def test_api_tokens_are_their_own_credential(app_store, frozen):
    app, store = app_store
    uid = add_user(store, "ada")
    ada = signed_in(app, "ada")
    api_token = store.accounts.create_token(uid, "script")
    turn_on(ada)
    bearer = {"Authorization": f"Bearer {api_token}"}
    r = ada.client.get("/api/whoami", headers=bearer)
    assert r.status_code == 200 and r.json()["name"] == "ada"  # no code asked for
    r = Visitor(app).client.post(
        "/settings/two-factor/disable", data={"password": PASSWORD}, headers=bearer
    )
    assert r.status_code == 403 and store.twofactor.enabled(uid)


def test_second_step_is_rate_limited(store, tmp_path, frozen):
    app, _ = site(store, tmp_path, rate_limit_auth=3)
    add_user(store, "ada")
    secret, _codes = turn_on(signed_in(app, "ada"))
    browser, _, token = password_step(app)
    wrong = "000000" if tf.code_at(secret, STEP) != "000000" else "111111"
    codes = [code_step(browser, token, wrong).status_code for _ in range(4)]
    assert codes == [400, 400, 400, 429]
    r = code_step(browser, token, tf.code_at(secret, STEP))
    assert r.status_code == 429 and r.headers["retry-after"]  # even the right code waits
    assert not is_signed_in(browser)


def test_admins_must_turn_it_on_when_required(store, tmp_path, frozen):
    app, _ = site(store, tmp_path, require_2fa_for_admins=True)
    admin_id = add_user(store, "root", role="admin")
    add_user(store, "ada")
    root = signed_in(app, "root")  # signed in, password alone
    r = root.get("/admin")
    assert r.status_code == 403 and TWO_FACTOR_REQUIRED in r.text
    assert 'href="/settings/two-factor"' in r.text and "Set up two-factor sign-in" in r.text
    r = root.post("/admin/organizations", {"name": "lab", "fullname": "Lab"})
    assert r.status_code == 403 and store.accounts.get_organization("lab") is None
    # A token minted with the password alone has no admin powers either.
    api_token = store.accounts.create_token(admin_id, "script", ["read", "write", "admin"])
    r = root.client.post(
        "/admin/organizations",
        data={"name": "lab", "fullname": "Lab"},
        headers={"Authorization": f"Bearer {api_token}", "Accept": "application/json"},
    )
    assert r.status_code == 403 and r.json()["error"] == TWO_FACTOR_REQUIRED
    page = root.get("/settings/two-factor").text
    assert "Admins of this site must turn on two-factor sign-in" in page
    # Other users are not asked; admins with it on have their pages.
    assert signed_in(app, "ada").get("/settings").status_code == 200
    turn_on(root)
    assert root.get("/admin").status_code == 200
    # Without the setting, an admin without two-factor sign-in has the admin pages.
    app2, _ = site(store, tmp_path)
    add_user(store, "root2", role="admin")
    assert signed_in(app2, "root2").get("/admin").status_code == 200


def test_seal_opens_only_for_its_user_and_instance():
    secret = tf.new_secret()
    sealed = tf.seal(b"instance", 7, secret)
    assert secret not in sealed and tf.unseal(b"instance", 7, sealed) == secret
    assert tf.seal(b"instance", 7, secret) != sealed  # a new nonce every time
    assert tf.unseal(b"instance", 8, sealed) is None
    assert tf.unseal(b"another", 7, sealed) is None
    flipped = sealed[:-3] + ("A" if sealed[-3] != "A" else "B") + sealed[-2:]
    assert tf.unseal(b"instance", 7, flipped) is None
    for junk in ("", "v2.", "v2.!!!!", "v1." + sealed[3:], "v9." + sealed[3:], "v2." + "A" * 10):
        assert tf.unseal(b"instance", 7, junk) is None


def test_codes_match_their_step_only():
    secret = tf.new_secret()
    here = tf.current_step()
    now = here * tf.STEP + 1
    assert tf.matching_step(secret, tf.code_at(secret, here), now) == here
    assert tf.matching_step(secret, tf.code_at(secret, here - 1), now) == here - 1
    assert tf.matching_step(secret, tf.code_at(secret, here + 1), now) == here + 1
    assert tf.matching_step(secret, tf.code_at(secret, here + 2), now) is None
    assert tf.matching_step(secret, "12345", now) is None
    codes = tf.new_recovery_codes()
    assert all(re.fullmatch(r"[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}", c) for c in codes)
    assert tf.recovery_hash(codes[0].upper().replace("-", "")) == tf.recovery_hash(codes[0])


def test_store_uses_each_step_and_recovery_code_once_under_races(store):
    uid = add_user(store, "ada")
    codes = tf.new_recovery_codes()
    assert store.twofactor.enable(uid, "v1.x", 100, [tf.recovery_hash(c) for c in codes])
    assert not store.twofactor.enable(uid, "v1.y", 100, [])  # on already
    assert not store.twofactor.use_step(uid, 100) and not store.twofactor.use_step(uid, 99)

    def race(attempt) -> list[bool]:
        results: list[bool] = []
        barrier = threading.Barrier(6)

        def run() -> None:
            barrier.wait()
            results.append(attempt())

        threads = [threading.Thread(target=run) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return results

    assert sorted(race(lambda: store.twofactor.use_step(uid, 101))) == [False] * 5 + [True]
    code = tf.recovery_hash(codes[0])
    assert sorted(race(lambda: store.twofactor.use_recovery_code(uid, code))) == [False] * 5 + [
        True
    ]
    assert sorted(race(lambda: store.twofactor.finish_signin(uid, 0))) == [False] * 5 + [True]
    assert store.twofactor.get(uid).recovery_left == 9
    assert store.twofactor.replace_recovery_codes(uid, [tf.recovery_hash("a" * 12)])
    assert not store.twofactor.use_recovery_code(uid, tf.recovery_hash(codes[1]))
    assert store.twofactor.disable(uid) and store.twofactor.get(uid) is None
    assert not store.twofactor.replace_recovery_codes(uid, [])
    assert not store.twofactor.use_step(uid, 500)


def test_operator_turns_it_off_from_the_command_line(sqlite_store, tmp_path, frozen):
    """A lost phone and lost recovery codes (or a changed secret_key): `paperwire user
    two-factor-off NAME`, and the password alone signs in again."""
    from click.testing import CliRunner

    from paperwire.cli.main import main

    app, _ = site(sqlite_store, tmp_path)
    add_user(sqlite_store, "ada")
    turn_on(signed_in(app, "ada"))
    assert password_step(app)[2] is not None

    def run(*args):
        return CliRunner().invoke(main, ["--db", sqlite_store.url, "user", *args])

    r = run("two-factor-off", "ada")
    assert r.exit_code == 0 and "two-factor sign-in of ada is off" in r.output
    _, r, token = password_step(app)
    assert r.status_code == 303 and token is None
    assert run("two-factor-off", "ada").exit_code == 2  # off already
    assert run("two-factor-off", "nobody").exit_code == 2


def test_deleting_the_account_asks_for_a_code_too(app_store, frozen):
    """As turning two-factor sign-in off does: a stolen session and password are not enough
    to delete the account (walkthrough). The page names the public collections that go."""
    app, store = app_store
    uid = add_user(store, "ada")
    shelf = store.collections.create(uid, "Public shelf", visibility="public")
    v = signed_in(app, "ada")
    secret, codes = turn_on(v)
    page = v.get("/settings/delete").text
    assert 'name="code"' in page and "authenticator app" in page
    assert f'href="/collections/{shelf.id}">Public shelf</a>' in page
    for code in ("", "000000", tf.code_at(secret, STEP - 1)):  # none, wrong, spent already
        r = v.post("/settings/delete", {"password": PASSWORD, "code": code})
        assert r.status_code == 400 and WRONG_CODE in r.text.replace("&#39;", "'"), code
        assert store.accounts.get_user(username="ada") is not None
    r = v.post("/settings/delete", {"password": PASSWORD, "code": tf.code_at(secret, STEP)})
    assert r.status_code == 200 and "Your account is deleted" in r.text
    assert store.accounts.get_user(username="ada") is None
    assert store.collections.get(shelf.id) is None


def test_an_upvote_clicked_signed_out_counts_after_signing_in(web_both, frozen):
    """A signed-out upvote leads to sign-in, which names the paper and applies the upvote
    once the reader is in (through a wrong password and the two-factor step too), once."""
    app, store, ids, _ = web_both
    pid, other = ids[0], ids[1]
    title = store.feed.card(pid).title
    before = store.feed.card(pid).upvotes
    uid = add_user(store, "ada")
    add_user(store, "bob")
    secret, _ = turn_on(signed_in(app, "bob"))
    for login in ("ada", "bob"):
        visitor = Visitor(app)
        r = visitor.post(f"/papers/{pid}/upvote", {"state": "1", "next": "/papers"})
        assert r.status_code == 303
        where = r.headers["location"]
        assert where.startswith("/signin?") and f"upvote={pid}" in where
        page = visitor.get(where)
        assert f"Sign in to upvote “{title}”" in page.text
        assert f'name="upvote" value="{pid}"' in page.text
        form = {"login": login, "next": "/papers", "upvote": pid}
        wrong = visitor.post("/signin", {**form, "password": "not it"})
        assert wrong.status_code == 400 and f'name="upvote" value="{pid}"' in wrong.text
        r = visitor.post("/signin", {**form, "password": PASSWORD})
        if login == "bob":  # the code step carries it
            assert f'name="upvote" value="{pid}"' in r.text
            token = re.search(r'name="token" value="([^"]+)"', r.text).group(1)
            wrong = visitor.post(
                "/signin/two-factor", {"token": token, "code": "000000", "next": "/papers",
                                       "upvote": pid})  # fmt: skip
            assert wrong.status_code == 400 and f'name="upvote" value="{pid}"' in wrong.text
            r = visitor.post(
                "/signin/two-factor", {"token": token, "code": tf.code_at(secret, STEP),
                                       "next": "/papers", "upvote": pid})  # fmt: skip
        assert r.status_code == 303 and r.headers["location"] == f"/papers?upvoted={pid}"
        shown = visitor.get(r.headers["location"]).text
        assert f"Your upvote of “{title}” counts." in shown
        assert "Your upvote of" not in visitor.get(f"/papers?upvoted={other}").text
    assert store.feed.card(pid).upvotes == before + 2
    assert pid in store.signals.marks(uid, [pid]).upvoted
    # Signing in again with the same intent does not count twice.
    visitor = Visitor(app)
    visitor.post("/signin", {"login": "ada", "password": PASSWORD, "next": "/", "upvote": pid})
    assert store.feed.card(pid).upvotes == before + 2
    # In place (JavaScript), the answer says where to sign in; nonsense names nothing.
    js = Visitor(app).client.post(
        f"/papers/{pid}/upvote", data={"state": "1", "next": f"/papers/{pid}"},
        headers={"Accept": "application/json"},
    )  # fmt: skip
    assert js.status_code == 401 and f"upvote={pid}" in js.json()["signin"]
    for bogus in ("nonsense", "9999.99999", "x" * 61, "<b>"):
        page = Visitor(app).get("/signin", params={"upvote": bogus})
        assert page.status_code in (200, 400) and "Sign in to upvote" not in page.text
        r = Visitor(app).post("/signin", {"login": "ada", "password": PASSWORD, "upvote": bogus})
        assert r.status_code == 303 and "upvoted" not in r.headers["location"]
