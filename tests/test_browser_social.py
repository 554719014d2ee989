"""In Chromium: the time-zone picker starts from the browser's zone, reactions work with and
without JavaScript, avatars load under the site's CSP. Screenshots go to
test-artifacts/screenshots/."""

import re

import pytest

from .test_browser import (  # noqa: F401 - shared fixtures
    browser,
    expect,
    live,
    shot,
    sign_in,
    watched_context,
)
from .webkit import add_user

pytestmark = pytest.mark.browser


def test_time_zone_picker_starts_from_the_browser_zone(browser, live):  # noqa: F811
    url, store, _, _ = live
    context, page, errors = watched_context(browser, timezone_id="Asia/Tokyo")
    page.goto(f"{url}/subscribe")
    field = page.get_by_label("Time zone")
    expect(field).to_have_value("Asia/Tokyo")
    assert field.get_attribute("list") == "sub-tz-zones"  # a searchable list of zones
    assert page.locator("#sub-tz-zones option").count() > 300
    shot(page, "social-01-subscribe-timezone")
    page.get_by_label("E-mail address").fill("tokyo@example.org")
    page.get_by_role("button", name="Subscribe").click()
    page.get_by_text("Check your inbox").first.wait_for()
    assert store.mail.find_subscription("tokyo@example.org", "trending", None).timezone == (
        "Asia/Tokyo"
    )
    assert not errors, errors
    # A zone that does not exist is refused with a clear message, next to the field (the
    # page's 400 status is the only console error).
    page.goto(f"{url}/subscribe")
    page.get_by_label("E-mail address").fill("mars@example.org")
    page.get_by_label("Time zone").fill("Mars/Olympus_Mons")
    page.get_by_role("button", name="Subscribe").click()
    expect(page.locator("#sub-tz-err")).to_contain_text("Unknown time zone 'Mars/Olympus_Mons'")
    expect(page.get_by_label("Time zone")).to_have_value("Mars/Olympus_Mons")
    context.close()
    assert all("status of 400" in e for e in errors), errors

    # Without JavaScript the server's default stands.
    context, page, _ = watched_context(
        browser, timezone_id="America/Sao_Paulo", java_script_enabled=False
    )
    page.goto(f"{url}/subscribe")
    expect(page.get_by_label("Time zone")).to_have_value("UTC")
    context.close()

    # A signed-in user's saved zone wins over the browser's guess.
    add_user(store, "kyoko")
    context, page, errors = watched_context(browser, timezone_id="Europe/Paris")
    sign_in(page, url, "kyoko")
    page.goto(f"{url}/settings")
    expect(page.get_by_label(re.compile("Your time zone"))).to_have_value("Europe/Paris")
    page.get_by_label(re.compile("Your time zone")).fill("Asia/Kolkata")
    page.get_by_role("button", name="Save time zone").click()
    page.get_by_text("Time zone saved: new subscriptions start from Asia/Kolkata.").wait_for()
    page.goto(f"{url}/subscribe")
    expect(page.get_by_label("Time zone")).to_have_value("Asia/Kolkata")
    context.close()
    assert not errors, errors


def _commented(store, pid):
    uid = store.accounts.get_user(username="curator1").id
    return store.discussion.add(pid, uid, "Which dataset did you use?")


def test_reactions_in_place_and_without_javascript(browser, live):  # noqa: F811
    url, store, ids, _ = live
    pid = ids[0]
    cid = _commented(store, pid)
    add_user(store, "rea")
    context, page, errors = watched_context(browser)
    sign_in(page, url, "rea")
    page.goto(f"{url}/papers/{pid}")
    comment = page.locator(f"#comment-{cid}")
    avatar = comment.locator("img.avatar")
    expect(avatar).to_have_attribute("src", re.compile(r"^/avatars/users/curator1\.svg"))
    assert avatar.evaluate("img => img.complete && img.naturalWidth > 0")  # loaded, CSP allows
    page.evaluate("window.__marker = 1")
    comment.get_by_text("React", exact=True).click()
    tada = comment.get_by_role("button", name=re.compile("^Hooray"))
    expect(tada).to_have_attribute("aria-pressed", "false")
    shot(page, "social-02-reaction-menu")
    tada.click()
    expect(tada).to_have_attribute("aria-pressed", "true")
    expect(tada.locator(".count")).to_have_text("1")
    assert page.evaluate("window.__marker") == 1  # no reload
    assert store.reactions.counts([cid])[cid]["tada"] == (1, False)
    shot(page, "social-03-reacted")
    tada.click()
    expect(tada).to_have_attribute("aria-pressed", "false")
    expect(tada.locator(".count")).to_have_text("0")
    assert store.reactions.counts([cid]) == {}
    context.close()
    assert not errors, errors

    # Without JavaScript: a form post, back at the comment (in the dark scheme).
    context, page, _ = watched_context(browser, java_script_enabled=False, color_scheme="dark")
    sign_in(page, url, "rea")
    page.goto(f"{url}/papers/{pid}")
    comment = page.locator(f"#comment-{cid}")
    comment.get_by_text("React", exact=True).click()
    comment.get_by_role("button", name=re.compile("^Rocket")).click()
    page.wait_for_url(re.compile(rf"/papers/{re.escape(pid)}#comment-{cid}$"))
    rocket = page.locator(f"#comment-{cid}").get_by_role("button", name=re.compile("^Rocket"))
    expect(rocket).to_have_attribute("aria-pressed", "true")
    expect(rocket.locator(".count")).to_have_text("1")
    shot(page, "social-04-reacted-without-js-dark")
    context.close()


def test_phone_header_scrolls_away_and_menus_and_anchors_fit(browser, live):  # noqa: F811
    """At 390 px the header (three rows there) scrolls away, a nested reply's reaction menu
    stays on the screen; on a desktop a jump to a comment lands below the sticky header
    (walkthrough: 🚀 cut off at 420 px; anchors hidden under the header)."""
    url, store, ids, _ = live
    pid = ids[1]
    uid = store.accounts.get_user(username="curator1").id
    cid = _commented(store, pid)
    for depth in range(3):
        cid = store.discussion.add(pid, uid, f"A reply, {depth + 1} deep.", parent_id=cid)
    add_user(store, "phone")
    context, page, errors = watched_context(browser)
    sign_in(page, url, "phone")
    page.set_viewport_size({"width": 1280, "height": 700})
    page.goto(f"{url}/papers/{pid}#comment-{cid}")
    header = page.locator("header.top, .top").first
    bottom = header.evaluate("h => h.getBoundingClientRect().bottom")
    top = page.locator(f"#comment-{cid}").evaluate("c => c.getBoundingClientRect().top")
    assert page.evaluate("scrollY") > 0 and top >= bottom - 1, (top, bottom)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{url}/papers/{pid}")
    comment = page.locator(f"#comment-{cid}")
    comment.scroll_into_view_if_needed()
    assert header.evaluate("h => h.getBoundingClientRect().bottom") <= 0  # scrolled away
    comment.get_by_text("React", exact=True).click()
    rocket = comment.get_by_role("button", name=re.compile("^Rocket"))
    expect(rocket).to_be_visible()
    assert rocket.evaluate("b => b.getBoundingClientRect().right") <= 390
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shot(page, "social-05-reaction-menu-phone")
    context.close()
    assert not errors, errors


def test_organization_admin_uploads_a_picture(browser, live, tmp_path):  # noqa: F811

    from PIL import Image

    url, store, ids, _ = live
    org_id = store.accounts.create_organization("vision-lab", "Vision Lab")
    store.accounts.set_paper_organization(ids[0], org_id)
    uid = add_user(store, "olga")
    store.members.add_admin(org_id, uid)
    picture = tmp_path / "logo.png"
    Image.new("RGB", (320, 200), (20, 120, 90)).save(picture)
    huge = tmp_path / "huge.png"
    huge.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(600 * 1024))
    context, page, errors = watched_context(browser)
    sign_in(page, url, "olga")
    page.goto(f"{url}/organizations/vision-lab")
    page.get_by_role("link", name="Organization settings").click()
    field = page.get_by_label(re.compile("PNG, JPEG or WebP image"))
    field.set_input_files(str(huge))  # refused in the page, before anything is sent
    assert "larger than 512 KB" in field.evaluate("el => el.validationMessage")
    field.set_input_files(str(picture))
    assert field.evaluate("el => el.validationMessage") == ""
    page.get_by_role("button", name="Upload").click()
    page.get_by_text("New picture saved.").wait_for()
    logo = page.locator("h1 img.avatar")
    expect(logo).to_have_attribute("src", re.compile(r"^/avatars/organizations/vision-lab\.webp"))
    assert logo.evaluate("img => img.complete && img.naturalWidth") == 200  # square, re-encoded
    shot(page, "social-05-organization-picture")
    page.goto(f"{url}/papers/{ids[0]}")
    assert page.locator(".org-line img.avatar").evaluate("img => img.naturalWidth") == 200
    context.close()
    assert not errors, errors
