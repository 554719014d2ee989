"""MathML renders in Chromium under the site's CSP: no script, no error, raised superscripts."""

import pytest

from .test_browser import SHOTS, browser, page  # noqa: F401 - the shared browser fixtures
from .test_web_math import ABSTRACT, TITLE, add_paper
from .webkit import seed, serve_in_thread, site

pytestmark = pytest.mark.browser


def test_mathml_renders(page, sqlite_store, tmp_path):  # noqa: F811
    seed(sqlite_store, days=1)
    add_paper(sqlite_store, "2601.00001", TITLE, ABSTRACT)
    app, _ = site(sqlite_store, tmp_path)
    with serve_in_thread(app) as url:
        page.goto(f"{url}/papers/2601.00001")
        h1 = page.locator("h1 math").first
        assert h1.evaluate("m => getComputedStyle(m).display") == "math"  # MathML Core layout
        base, sup = (page.locator("h1 msup").first.locator(t) for t in ("mi", "mn"))
        assert sup.bounding_box()["y"] + 2 < base.bounding_box()["y"]  # n² has a raised 2
        block = page.locator('.abstract-full math[display="block"]')
        assert block.evaluate("m => getComputedStyle(m).display") == "block math"
        page.locator("h1").screenshot(path=str(SHOTS / "math-title.png"))
