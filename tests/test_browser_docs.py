"""/api/docs in Chromium: Swagger UI from the package renders every operation under the site's
strict CSP, and the browser asks no other host for anything."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from paperwire.web.app import SECURITY_HEADERS

from .test_browser import SHOTS, browser, live  # noqa: F401 - shared fixtures

pytestmark = pytest.mark.browser


def test_api_docs_render_offline_under_the_csp(browser, live):  # noqa: F811
    url, _, _, _ = live
    csp = SECURITY_HEADERS["Content-Security-Policy"]
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    requests: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("request", lambda r: requests.append(r.url))
    try:
        response = page.goto(f"{url}/api/docs")
        assert response.headers["content-security-policy"] == csp
        daily = page.locator("#operations-papers-daily_papers_api_daily_papers_get")
        daily.locator(".opblock-summary").click()
        # expanded: its parameters, from the OpenAPI document
        page.locator(".opblock.is-open .parameters").get_by_text("sort", exact=True).wait_for()
        assert daily.get_by_text("Papers of the daily feed").is_visible()
        assert page.locator(".opblock").count() >= 10
        assert page.get_by_role("heading", name="API", exact=True).is_visible()
        # "Authorize" alone, not inside an empty padded panel
        bar = page.locator(".scheme-container").bounding_box()
        button = page.locator(".btn.authorize").bounding_box()
        assert bar and button and bar["height"] <= button["height"] + 8, (bar, button)
        page.screenshot(path=str(SHOTS / "30-api-docs.png"))
        # ... nor a grey strip beside it in the dark theme (Swagger's own rule won there)
        page.emulate_media(color_scheme="dark")
        page.reload()
        page.locator(".btn.authorize").wait_for()
        shade = "e => getComputedStyle(e).backgroundColor"
        assert page.locator(".scheme-container").evaluate(shade) == "rgba(0, 0, 0, 0)"
        here = urlsplit(url).netloc
        outside = [u for u in requests if urlsplit(u).netloc not in (here, "")]
        assert not outside, outside
        assert any(u.endswith("/swagger-ui-bundle.js") for u in requests)
        assert not errors, errors  # CSP violations are console errors
    finally:
        context.close()


def test_api_docs_assets_are_cached_and_nothing_else_is_served(live):  # noqa: F811
    import httpx

    url, _, _, _ = live
    page = httpx.get(f"{url}/api/docs").text
    from paperwire.web.docs import ASSETS, BUNDLE_VERSION

    assert f"{ASSETS}/{BUNDLE_VERSION}/swagger-ui.css" in page
    r = httpx.get(f"{url}{ASSETS}/{BUNDLE_VERSION}/swagger-ui-bundle.js")
    assert r.status_code == 200 and "SwaggerUIBundle" in r.text[:2000]
    assert r.headers["content-type"].startswith("text/javascript")
    assert "immutable" in r.headers["cache-control"]
    for bad in ["redoc.standalone.js", "..%2F__init__.py", "favicon.png"]:
        assert httpx.get(f"{url}{ASSETS}/{BUNDLE_VERSION}/{bad}").status_code == 404
    assert httpx.get(f"{url}{ASSETS}/0.0.1/swagger-ui.css").status_code == 404
