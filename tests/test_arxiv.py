"""arXiv API: the parser on recorded responses, the client against a local replay server."""

import time
from datetime import date

import pytest

from paperwire.ingest.arxiv_api import (
    ArxivAPI,
    ArxivAPIError,
    category_query,
    import_arxiv,
    parse_atom,
)
from paperwire.ingest.http import PoliteClient, SourceError, TransientError, retry_after_seconds

from .replay import FIXTURES, ReplayServer, Reply, fixture
from .storekit import TRUST

API_DIR = FIXTURES / "arxiv-api"


def recorded(path: str, query: dict) -> Reply:
    """Serve the recording whose file name matches the request, like arXiv would answer."""
    if path != "/api/query":
        return Reply(404, b"not found", content_type="text/plain")
    if query.get("id_list"):
        stem = "id_" + query["id_list"].replace(",", "_").replace("/", "_") + "_s0_m100_"
    else:
        stem = f"q_{query['search_query']}_s{query['start']}_m{query['max_results']}_"
    matches = sorted(API_DIR.glob(stem + "*.xml"))
    if not matches:
        return Reply(500, b"no recording for this request", content_type="text/plain")
    status = 400 if "/api/errors" in matches[0].read_text() else 200
    return Reply(status, matches[0].read_bytes(), content_type="application/atom+xml")


def api_for(server, client, **kw):
    return ArxivAPI(client, f"{server.url}/api/query", **kw)


def test_parse_single_entry():
    page = parse_atom(fixture("arxiv-api", "id_1707.08567_s0_m100_6a1afebfc6a3.xml"))
    assert (page.total, page.errors) == (1, [])
    (p,) = page.records
    assert p.id == "1707.08567" and p.version == 1
    assert (
        p.title
        == "Proceedings of Workshop AEW10: Concepts in Information Theory and Communications"
    )
    assert p.authors[0] == "Kees A. Schouhamer Immink" and len(p.authors) == p.num_authors > 10
    assert p.primary_category == "cs.IT" and p.categories[0] == "cs.IT"
    assert p.comment.startswith("44 pages")
    assert p.published.isoformat() == "2017-07-27T08:18:33"
    assert p.source == "arxiv-api"


def test_parse_old_style_id_and_odd_title():
    (p,) = parse_atom(fixture("arxiv-api", "id_astro-ph_0601001_s0_m100_3150dca9dc76.xml")).records
    assert p.id == "astro-ph/0601001" and p.version == 1
    (q,) = parse_atom(fixture("arxiv-api", "id_2104.12255v1_s0_m100_6ae69987ffe1.xml")).records
    assert q.title == "0"  # a real paper with the title "0"


def test_parse_multi_entry_page():
    page = parse_atom(fixture("arxiv-api", "q_testing_s0_m10_bc5a6c384fe9.xml"))
    assert page.total == 214881 and len(page.records) == 10 and page.errors == []
    assert all(r.title and r.authors for r in page.records)


def test_error_feed_raises_with_arxiv_message():
    with pytest.raises(ArxivAPIError, match="incorrect id format for abc"):
        parse_atom(fixture("arxiv-api", "id_abc_s0_m100_b79c8dcf6bc3.xml"))


def test_empty_result_and_truncated_xml():
    assert parse_atom(fixture("arxiv-api", "id_0000.0000_s0_m100_8b51d9633a68.xml")).records == []
    body = fixture("arxiv-api", "q_testing_s0_m10_bc5a6c384fe9.xml")
    with pytest.raises(TransientError):
        parse_atom(body[: len(body) // 2])
    with pytest.raises(SourceError, match="not an Atom feed"):
        parse_atom(b"<html><body>maintenance</body></html>")


def test_category_query():
    q = category_query("cs.CV", date(2025, 3, 18), date(2025, 3, 19))
    assert q == "cat:cs.CV AND submittedDate:[202503180000 TO 202503200000]"


def test_client_pages_through_results(fast_client):
    with ReplayServer(recorded) as server:
        api = api_for(server, fast_client, page_size=10)
        pages = list(api.pages(search_query="testing", max_results=30))
    assert [len(p.records) for p in pages] == [10, 10, 10]
    assert [r.query["start"] for r in server.requests] == ["0", "10", "20"]
    assert all(r.query["max_results"] == "10" for r in server.requests)
    assert server.requests[0].query["sortBy"] == "submittedDate"
    assert "paperwire" in server.requests[0].headers["user-agent"]
    ids = [r.id for p in pages for r in p.records]
    assert len(set(ids)) == 30


def test_import_by_ids_reports_missing(store, fast_client):
    with ReplayServer(recorded) as server:
        report = import_arxiv(
            store, TRUST, api_for(server, fast_client), ids=["0808.05394", "1707.08567v1"]
        )
    assert (report.inserted, report.skipped) == (1, ["0808.05394: not found on arXiv"])
    assert store.papers.get("1707.08567").version == 1
    with ReplayServer(recorded) as server:
        again = import_arxiv(store, TRUST, api_for(server, fast_client), ids=["1707.08567"])
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 1)


def test_http_400_error_feed(fast_client):
    with ReplayServer(recorded) as server:
        with pytest.raises(ArxivAPIError, match="incorrect id format for abc"):
            list(api_for(server, fast_client).pages(id_list=["abc"]))
    assert len(server.requests) == 1  # a 4xx is not retried


def test_503_with_retry_after_is_honoured(fast_client):
    calls = []

    def handler(path, query):
        calls.append(1)
        if len(calls) == 1:
            return Reply(503, b"busy", {"Retry-After": "7"}, "text/plain")
        return recorded(path, query)

    with ReplayServer(handler) as server:
        (page,) = list(api_for(server, fast_client).pages(id_list=["1707.08567"]))
    assert page.records[0].id == "1707.08567"
    assert fast_client.naps == [7.0]


def test_truncated_response_is_retried(fast_client):
    calls = []

    def handler(path, query):
        calls.append(1)
        reply = recorded(path, query)
        if len(calls) == 1:
            reply.cut_after = len(reply.body) // 3
        return reply

    with ReplayServer(handler) as server:
        (page,) = list(api_for(server, fast_client).pages(id_list=["1707.08567"]))
    assert len(calls) == 2 and page.records[0].id == "1707.08567"


def test_gives_up_after_retries(fast_client):
    with ReplayServer(lambda p, q: Reply(502, b"bad gateway", content_type="text/plain")) as server:
        with pytest.raises(SourceError, match="giving up after 4 attempts"):
            list(api_for(server, fast_client).pages(search_query="x"))
    assert len(server.requests) == 4
    assert fast_client.naps == [0.01, 0.02, 0.04]  # exponential backoff


def test_timeouts_are_retried():
    calls = []

    def handler(path, query):
        calls.append(1)
        if len(calls) == 1:
            time.sleep(0.6)
        return recorded(path, query)

    client = PoliteClient(min_interval=0, retries=2, backoff=0.01, timeout=0.2)
    with client, ReplayServer(handler) as server:
        (page,) = list(api_for(server, client).pages(id_list=["1707.08567"]))
    assert len(calls) == 2 and page.records


def test_at_most_one_request_per_interval():
    client = PoliteClient(min_interval=0.25, retries=0)
    with client, ReplayServer(recorded) as server:
        api = api_for(server, client, page_size=10)
        list(api.pages(search_query="testing", max_results=30))
    times = [r.at for r in server.requests]
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    # The interval runs from the end of one request, so the server never sees two closer.
    assert len(gaps) == 2 and min(gaps) >= 0.25


def test_retry_after_parsing():
    assert retry_after_seconds("120") == 120.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None
