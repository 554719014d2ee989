"""Two-factor sign-in in Chromium: turn it on from the settings page, sign out, sign in with
the password and then a code; every page of the way passes axe-core, light and dark, at
desktop and phone width."""

from __future__ import annotations

import io
import re

import pytest
from PIL import Image

from paperwire.core import twofactor as tf

from .test_browser import browser  # noqa: F401 - the shared Chromium
from .test_browser_a11y import axe_source, checked_page  # noqa: F401 - axe-core, checks
from .webkit import PASSWORD, add_user, serve_in_thread, site

pytestmark = pytest.mark.browser
STEP = 1_000_000


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_turn_on_then_sign_in_with_a_code(
    browser,  # noqa: F811
    axe_source,  # noqa: F811
    sqlite_store,
    tmp_path,
    monkeypatch,
    scheme,
):
    now = {"step": STEP}
    monkeypatch.setattr(tf, "current_step", lambda at=None: now["step"])
    add_user(sqlite_store, "ada", role="admin")
    app, _ = site(sqlite_store, tmp_path, require_2fa_for_admins=True)
    with (
        checked_page(browser, scheme, axe_source, "two-factor-") as checks,
        serve_in_thread(app) as url,
    ):
        page, check = checks.page, checks.check
        page.goto(f"{url}/signin")
        page.get_by_label("User name or e-mail").fill("ada")
        page.get_by_label("Password").fill(PASSWORD)
        page.keyboard.press("Enter")
        page.wait_for_url(f"{url}/papers")
        # An admin without it: the admin page says where to turn it on.
        assert page.goto(f"{url}/admin").status == 403
        check("admin-required", 403)
        page.get_by_role("link", name="Set up two-factor sign-in").click()
        page.wait_for_url(f"{url}/settings/two-factor")
        check("setup")
        secret = page.locator("#secret").inner_text().replace(" ", "")
        uri = page.locator("#otpauth").get_attribute("href")
        assert uri.startswith("otpauth://totp/") and secret in uri
        # The QR code, as the phone's camera sees it on screen, reads back as that link.
        assert read_qr(page.locator(".qr-frame svg").screenshot()) == [uri]
        page.get_by_label("Code from the app").fill(tf.code_at(secret, STEP))
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Turn on two-factor sign-in").click()
        page.get_by_role("heading", name="Your recovery codes").wait_for()
        codes = page.locator(".recovery-codes code").all_inner_texts()
        assert len(codes) == 10
        check("codes")
        assert page.goto(f"{url}/admin").status == 200

        page.get_by_role("button", name="Sign out").click()
        page.goto(f"{url}/signin?next=/admin")
        page.get_by_label("User name or e-mail").fill("ada")
        page.get_by_label("Password").fill(PASSWORD)
        page.keyboard.press("Enter")
        code_box = page.get_by_label("Code from your authenticator app, or a recovery code")
        code_box.wait_for()
        check("signin-code")
        code_box.fill(tf.code_at(secret, STEP))  # the code that turned it on: used
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("alert").wait_for()
        assert "not right" in page.get_by_role("alert").inner_text()
        check("signin-wrong-code", 400)
        now["step"] = STEP + 1
        page.get_by_label(re.compile("Code from your authenticator app")).fill(
            tf.code_at(secret, STEP + 1)
        )
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{url}/admin")
        assert page.get_by_role("link", name="Admin").count() == 1
    assert not checks.problems, "\n".join(checks.problems)


def read_qr(png: bytes) -> list[str]:
    """The texts of the QR codes in a screenshot, read by ZXing (a decoder independent of the
    encoder the site uses)."""
    import zxingcpp

    image = Image.open(io.BytesIO(png)).convert("L")
    found = zxingcpp.read_barcodes(image)
    return [r.text for r in found if r.format == zxingcpp.BarcodeFormat.QRCode]
