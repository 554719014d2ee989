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


# A long formula and the walkthrough's abstract, whose "$-$19.0pp" once paired the next
# dollar and made a paragraph of prose one formula, 1,565 px wide on a phone.
WIDE = "A sum $" + " + ".join(f"a_{{{i}}} b_{{{i}}}" for i in range(14)) + "$ holds."
PAIRED = (
    "Qwen: up to $-$19.0pp for Judgment biases). Despite near-orthogonal bias "
    "representations across models (mean cosine similarity 0.01), steering reduces bias at "
    "similar rates across architectures ($r(246)$=.621, $p$ < .001)."
)


def test_math_never_widens_the_page_on_a_phone(page, sqlite_store, tmp_path):  # noqa: F811
    seed(sqlite_store, days=1)
    add_paper(sqlite_store, "2601.00002", "Steering biases", f"{PAIRED} {WIDE}")
    app, _ = site(sqlite_store, tmp_path)
    with serve_in_thread(app) as url:
        page.set_viewport_size({"width": 390, "height": 844})
        for path in ("/papers/2601.00002", "/papers?q=steering+biases"):
            page.goto(url + path)
            assert page.evaluate("document.documentElement.scrollWidth") <= 390, path
        page.goto(f"{url}/papers/2601.00002")
        math = page.locator(".abstract-full math")
        # "$-$", "$r(246)$", "$p$" and the sum: four formulas, the prose between them text
        assert math.count() == 4
        assert "Despite near-orthogonal" in page.locator(".abstract-full").evaluate(
            "a => [...a.childNodes].filter(n => n.nodeType === 3).map(n => n.data).join('')"
        )
        wide = math.nth(3)
        assert wide.evaluate("m => m.scrollWidth > m.clientWidth")  # it scrolls by itself
        page.locator(".abstract-full").screenshot(path=str(SHOTS / "math-wide-390.png"))
