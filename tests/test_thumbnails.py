"""Thumbnails: PDFs made in the test, served by a local HTTP server, rendered by the real step
(PDFium, Pillow), stored on SQLite and PostgreSQL, served with caching headers, shown as a
grid of cards (markup here, Chromium screenshots at the end)."""

import io
import os
import threading
from datetime import timedelta

import pytest
from click.testing import CliRunner

from paperwire.cli import main
from paperwire.core.clock import utcnow
from paperwire.ingest.pdf_render import BadPdf, render_first_page, renderer_missing
from paperwire.ingest.thumbnails import LEASE, ThumbnailJob, ThumbnailScheduler, ThumbnailStats

from .pdfkit import article_pdf, make_pdf, page_stream, paper_pdf
from .replay import ReplayServer, Reply
from .webkit import Visitor, make_config, seed

if renderer_missing():
    pytest.skip(renderer_missing(), allow_module_level=True)

from PIL import Image  # noqa: E402 - after the check that it is installed

CAP = 60_000  # bytes: the size cap of these tests


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    assert image.format == "WEBP"
    image.load()
    return image.convert("RGB")


def dark(pixel) -> bool:
    return sum(pixel) < 100


def test_first_page_of_a_multi_page_pdf():
    rendered = render_first_page(paper_pdf("Thumbnails of papers"))
    card, page = decode(rendered.card), decode(rendered.page)
    assert card.size == rendered.card_size == (640, 400)
    assert page.width == 1000 and abs(page.height - 1294) <= 1  # US Letter's proportions
    assert rendered.page_size == page.size
    # The top of page 1: white margin, the dark title band, then the blue block; nothing of
    # the red second page or the green third.
    assert card.getpixel((320, 20)) == (255, 255, 255)
    assert dark(card.getpixel((320, 90)))
    r, g, b = card.getpixel((320, 300))
    assert b > 180 and r < 80
    colours = {px for _, px in card.getcolors(640 * 400)}
    assert not any(r > 200 and g < 60 and b < 60 for r, g, b in colours)
    # Same PDF, same images, same version; another PDF, another version.
    assert render_first_page(paper_pdf("Thumbnails of papers")).etag == rendered.etag
    assert render_first_page(paper_pdf("Another paper")).etag != rendered.etag


def test_odd_pages_are_fitted():
    """A landscape slide fills the card's top on white; a scroll is cut at 3 widths."""
    slide = render_first_page(make_pdf([page_stream("Slides", (0.2, 0.2, 0.2))], (800, 450)))
    card = decode(slide.card)
    assert card.size == (640, 400) and card.getpixel((320, 395)) == (255, 255, 255)
    scroll = render_first_page(make_pdf([page_stream("Poster", (0.5, 0.5, 0.5))], (300, 3000)))
    assert scroll.page_size == (1000, 3000)


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"<html>Not found</html>", "not a readable PDF"),
        (b"", "not a readable PDF"),
        (paper_pdf("cut")[:200], "not a readable PDF"),
    ],
)
def test_unreadable_pdfs_fail_with_a_reason(data, reason):
    with pytest.raises(BadPdf, match=reason):
        render_first_page(data)


def _newest_first(store, ids):
    """The order of the step: publication time, then the latest row first."""
    papers = [store.papers.get(pid) for pid in ids]
    return [p.id for p in sorted(papers, key=lambda p: (p.published, p.seq), reverse=True)]


def _pdf_server(ids, hits=None):
    """arXiv's PDF URLs on a local server: a 404, a broken PDF and one over the size cap
    among real PDFs."""
    missing, broken, huge = ids[:3]

    def handler(path, _query):
        pid = path.removeprefix("/pdf/")
        if hits is not None:
            hits.append(pid)
        if pid == missing:
            return Reply(404, b"not found", content_type="text/plain")
        if pid == broken:
            return Reply(200, b"%PDF-1.4 this is no PDF", content_type="application/pdf")
        if pid == huge:
            return Reply(200, paper_pdf(pid) + b"%" * CAP, content_type="application/pdf")
        return Reply(200, paper_pdf(pid), content_type="application/pdf")

    return ReplayServer(handler)


def _settings(tmp_path, server, **more):
    return make_config(
        tmp_path,
        pdf_url_base=f"{server.url}/pdf/",
        pdf_max_bytes=CAP,
        thumbnail_retry_hours=1.0,
        **more,
    )


def test_step_renders_newest_first_and_records_failures(store, tmp_path, fast_client):
    newest_first = _newest_first(store, seed(store))
    missing, broken, huge = newest_first[:3]
    hits: list[str] = []
    with _pdf_server(newest_first, hits) as server:
        settings = _settings(tmp_path, server)
        stats = ThumbnailJob(store, settings, client=fast_client).run(limit=100)
        assert hits == newest_first  # only feed papers (scope "feed"), newest first
        assert (stats.due, stats.rendered, stats.failed) == (15, 12, 3)

        reasons = {pid: store.thumbnails.state(pid).error for pid in (missing, broken, huge)}
        assert "HTTP 404" in reasons[missing]
        assert "not a readable PDF" in reasons[broken]
        assert f"more than the {CAP}" in reasons[huge]
        assert store.thumbnails.counts() == {"ok": 12, "failed": 3}
        first = store.thumbnails.state(missing)
        assert first.attempts == 1
        assert timedelta(minutes=59) < first.next_attempt_at - utcnow() <= timedelta(hours=1)

        # Nothing is due until the wait is over; --retry-failed does not wait.
        assert ThumbnailJob(store, settings, client=fast_client).run().due == 0
        again = ThumbnailJob(store, settings, client=fast_client).run(retry_failed=True)
        assert (again.due, again.failed) == (3, 3)
        second = store.thumbnails.state(missing)
        assert second.attempts == 2
        assert second.next_attempt_at - utcnow() > timedelta(hours=1, minutes=59)  # doubled
        # Past the wait, failed papers are due again, until thumbnail_max_attempts.
        later = utcnow() + timedelta(days=1)
        assert set(store.thumbnails.due(10, now=later)) == {missing, broken, huge}
        assert store.thumbnails.due(10, now=later, max_attempts=2) == []

    rendered = [c for c in store.feed.cards(newest_first) if c.thumb]
    assert {c.id for c in rendered} == set(newest_first[3:])
    image = store.thumbnails.image(rendered[0].id, "card")
    assert image.etag == rendered[0].thumb and decode(image.data).size == (640, 400)
    page = store.thumbnails.image(rendered[0].id, "page")
    assert decode(page.data).width == 1000 and page.height == rendered[0].thumb_height
    # A paper's images go with it.
    assert store.papers.delete(rendered[0].id)
    assert store.thumbnails.image(rendered[0].id, "card") is None


def test_a_later_failure_keeps_the_images(store):
    (pid,) = seed(store, days=1)[:1]
    store.thumbnails.save(pid, render_first_page(paper_pdf(pid)))
    store.thumbnails.fail(pid, "HTTP 503", timedelta(hours=1))
    state = store.thumbnails.state(pid)
    assert state.status == "ok" and store.thumbnails.image(pid, "page") is not None


def test_one_instance_at_a_time(store, tmp_path):
    seed(store, days=1)
    store.jobs.acquire_lease(LEASE, "elsewhere:1", 60)
    settings = make_config(tmp_path, pdf_url_base="http://127.0.0.1:9/pdf/")
    stats = ThumbnailJob(store, settings).run()
    assert stats.busy and stats.due == 0 and store.thumbnails.counts() == {}


def test_scheduler_survives_failing_runs(tmp_path, monkeypatch):
    settings = make_config(tmp_path)
    sched = ThumbnailScheduler(settings, interval=0.01)
    calls = []

    def tick():
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("database is down")
        if len(calls) >= 3:
            sched.stop()
        return ThumbnailStats()

    monkeypatch.setattr(sched, "tick", tick)
    thread = threading.Thread(target=sched.run, daemon=True)
    thread.start()
    thread.join(timeout=10)
    assert not thread.is_alive() and sched.runs == 3


def test_background_step_of_serve_and_worker(sqlite_store, tmp_path):
    """The thread `serve` and `worker` start: one tick renders a batch, newest first."""
    from paperwire.cli.site import _thumbnail_scheduler

    newest = _newest_first(sqlite_store, seed(sqlite_store))
    with _pdf_server(newest) as server:
        settings = _settings(tmp_path, server, database_url=sqlite_store.url, thumbnail_batch=5)
        sched = _thumbnail_scheduler(settings)
        stats = sched.tick()
    assert (stats.due, stats.rendered, stats.failed) == (5, 2, 3)
    assert {c.id for c in sqlite_store.feed.cards(newest) if c.thumb} == set(newest[3:5])
    assert _thumbnail_scheduler(settings.replace(thumbnail_interval=0)) is None


def test_command_renders_with_progress_and_retries(sqlite_store, tmp_path, monkeypatch):
    newest = _newest_first(sqlite_store, seed(sqlite_store))
    monkeypatch.setenv("PAPERWIRE_ARXIV_MIN_INTERVAL", "0")
    monkeypatch.setenv("PAPERWIRE_HTTP_RETRIES", "0")
    with _pdf_server(newest) as server:
        monkeypatch.setenv("PAPERWIRE_PDF_URL_BASE", f"{server.url}/pdf/")
        monkeypatch.setenv("PAPERWIRE_PDF_MAX_BYTES", str(CAP))
        run = CliRunner().invoke
        db = ["--db", sqlite_store.url]
        r = run(main, [*db, "thumbnails", "--limit", "5"])
        assert r.exit_code == 1, r.output  # some failed: partial, for cron
        assert "5 due: 2 rendered, 3 failed" in r.output
        assert "HTTP 404" in r.output
        r = run(main, [*db, "thumbnails", "--limit", "5"])
        assert r.exit_code == 0 and "5 due: 5 rendered, 0 failed" in r.output
        r = run(main, [*db, "thumbnails", "--retry-failed", "--limit", "100"])
        assert "8 due: 5 rendered, 3 failed" in r.output


def test_size_cap_holds_without_content_length(fast_client):
    """A chunked answer declares no length: reading stops at the cap."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from paperwire.ingest.http import TooLarge

    body = paper_pdf("chunked") + b"%" * 5000

    class Chunked(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "application/pdf")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(0, len(body), 1000):
                part = body[i : i + 1000]
                self.wfile.write(b"%x\r\n" % len(part) + part + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Chunked)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}/pdf/x"
    try:
        with pytest.raises(TooLarge, match="more than the 4000 bytes"):
            fast_client.get(url, max_bytes=4000)
        resp = fast_client.get(url, max_bytes=len(body))
        assert resp.status_code == 200 and resp.content == body
        assert render_first_page(resp.content).card_size == (640, 400)
    finally:
        httpd.shutdown()


# -- the site ------------------------------------------------------------------------------
@pytest.fixture
def rendered_site(web):
    app, store, ids, _config = web
    for pid in ids[1:]:  # the first feed paper stays without one
        store.thumbnails.save(pid, render_first_page(paper_pdf(pid)))
    return Visitor(app), store, ids


def test_route_serves_versioned_images_with_caching_headers(rendered_site):
    visitor, store, ids = rendered_site
    card = store.feed.card(ids[1])
    url = f"/papers/{card.id}/thumbnail.webp"
    r = visitor.get(f"{url}?size=card&v={card.thumb}")
    assert r.status_code == 200 and r.headers["content-type"] == "image/webp"
    assert r.headers["etag"] == f'"{card.thumb}"'
    assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert decode(r.content).size == (640, 400)
    r = visitor.get(f"{url}?size=page")  # no version: a short cache, then revalidate
    assert r.headers["cache-control"] == "public, max-age=300"
    assert decode(r.content).size == (1000, card.thumb_height)
    r = visitor.get(url, headers={"If-None-Match": f'W/"x", "{card.thumb}"'})
    assert r.status_code == 304 and not r.content and r.headers["etag"] == f'"{card.thumb}"'
    assert visitor.get(f"{url}?size=huge").status_code == 400
    assert visitor.get(f"/papers/{ids[0]}/thumbnail.webp").status_code == 404
    assert visitor.get("/papers/2401.99999/thumbnail.webp").status_code == 404


def test_cards_and_paper_page_show_local_images(rendered_site):
    visitor, store, ids = rendered_site
    card = store.feed.card(ids[1])
    html = visitor.get(f"/papers/date/{card.feed_date.isoformat()}").text
    img = (
        f'<a class="thumb" href="/papers/{card.id}" tabindex="-1"><img '
        f'src="/papers/{card.id}/thumbnail.webp?size=card&amp;v={card.thumb}" width="640" '
        f'height="400" loading="lazy" decoding="async" alt="First page of '
    )
    assert img in html
    assert html.count('id="paper-') == 5
    assert html.count('class="thumb"') == 4  # the first paper has none
    assert "arxiv.org/pdf" not in html and "cdn-thumbnails" not in html
    page = visitor.get(f"/papers/{card.id}").text
    assert (
        f'src="/papers/{card.id}/thumbnail.webp?size=page&amp;v={card.thumb}" width="1000" '
        f'height="{card.thumb_height}"'
    ) in page
    assert 'class="first-page"' not in visitor.get(f"/papers/{ids[0]}").text
    # The API points to the image here too.
    items = visitor.get("/api/daily_papers?limit=100").json()
    by_id = {i["paper"]["id"]: i["thumbnail"] for i in items}
    assert by_id[card.id].startswith(f"http://testserver/papers/{card.id}/thumbnail.webp?")


def test_lists_without_thumbnails_stay_lists(web):
    app, store, ids, _config = web
    day = store.feed.card(ids[0]).feed_date.isoformat()
    html = Visitor(app).get(f"/papers/date/{day}").text
    assert html.count('id="paper-') == 5 and 'class="thumb"' not in html


# -- in Chromium ---------------------------------------------------------------------------
@pytest.mark.browser
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_grid_of_cards_at_desktop_and_phone_width(sqlite_store, tmp_path, scheme):
    from .conftest import require
    from .test_browser import SHOTS, _chromium_problem
    from .webkit import serve_in_thread, site

    require("Chromium with Playwright", _chromium_problem())
    from playwright.sync_api import sync_playwright

    # Nine papers on today's feed, all but the first with their first page.
    ids = seed(sqlite_store, days=1)
    curator = sqlite_store.accounts.get_user(username="curator1").id
    day = sqlite_store.feed.card(ids[0]).feed_date
    more = [c.id for c in sqlite_store.feed.latest(limit=60) if c.feed_date is None][:4]
    for pid in more:
        sqlite_store.feed.submit(pid, curator, day, utcnow())
    ids += more
    for pid in ids[1:]:
        p = sqlite_store.papers.get(pid)
        sqlite_store.thumbnails.save(
            pid, render_first_page(article_pdf(p.title, p.authors[:8], p.abstract))
        )
    app, _config = site(sqlite_store, tmp_path)
    SHOTS.mkdir(parents=True, exist_ok=True)
    chromium = os.environ.get("PAPERWIRE_CHROMIUM", "/usr/bin/chromium")
    with serve_in_thread(app) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            for width, columns in ((1280, 3), (390, 1)):
                context = browser.new_context(
                    viewport={"width": width, "height": 900}, color_scheme=scheme
                )
                page = context.new_page()
                outside: list[str] = []
                page.on(
                    "request",
                    lambda req, seen=outside: (
                        seen.append(req.url) if not req.url.startswith(url) else None
                    ),
                )
                page.goto(f"{url}/papers/date/{day.isoformat()}")
                page.wait_for_load_state("networkidle")
                grid = page.evaluate(
                    "getComputedStyle(document.querySelector('.cards'))"
                    ".gridTemplateColumns.split(' ').length"
                )
                assert grid == columns
                first = page.locator(".card .thumb img").first
                first.scroll_into_view_if_needed()
                page.wait_for_function(
                    "() => { const i = document.querySelector('.card .thumb img');"
                    " return i.complete && i.naturalWidth === 640; }"
                )
                box = first.bounding_box()
                assert abs(box["width"] / box["height"] - 1.6) < 0.02
                assert page.evaluate("document.documentElement.scrollWidth") <= width
                page.evaluate("window.scrollTo(0, 0)")
                page.screenshot(path=str(SHOTS / f"thumbnails-grid-{width}-{scheme}.png"))
                page.goto(f"{url}/papers/{ids[1]}")
                fig = page.locator(".first-page img")
                fig.scroll_into_view_if_needed()
                page.wait_for_function(
                    "() => document.querySelector('.first-page img').naturalWidth === 1000"
                )
                page.screenshot(path=str(SHOTS / f"thumbnails-paper-{width}-{scheme}.png"))
                assert outside == []  # no request to any third party
                context.close()
        finally:
            browser.close()
