"""Hugging Face api/daily_papers: parser on the recorded items, client with paging."""

import json
from datetime import date

import pytest

from paperwire.ingest.hf_daily import (
    HFDailyPapers,
    import_hf_days,
    import_hf_file,
    parse_daily_papers,
)
from paperwire.ingest.http import SourceError

from .replay import FIXTURES, ReplayServer, Reply
from .storekit import TRUST

RECORDED = FIXTURES / "hf-api" / "daily_papers_2024-10-25.first2.json"


def items():
    return json.loads(RECORDED.read_text())


def test_parse_recorded_items():
    parsed, problems = parse_daily_papers(items())
    assert problems == []
    first = parsed[0]
    assert first.paper.id == "2410.17243"
    assert first.paper.title.startswith("Breaking the Memory Barrier")
    assert first.paper.authors[0] == "Zesen Cheng" and first.paper.num_authors == 9
    assert first.paper.published.isoformat() == "2024-10-22T17:59:30"
    assert first.feed_date == date(2024, 10, 25)
    assert (first.upvotes, first.num_comments, first.submitted_by) == (64, 3, "ClownRat")
    assert first.submitter_fullname == "Zesen Cheng"
    assert first.thumbnail.endswith("2410.17243.png")


def test_bad_items_are_reported():
    data = items() + [
        {"paper": {"id": "<b>", "title": "x"}},
        "nope",
        {"paper": {"id": "2410.00001"}},
    ]
    parsed, problems = parse_daily_papers(data)
    assert len(parsed) == 2 and len(problems) == 3
    with pytest.raises(SourceError):
        parse_daily_papers({"error": "x"})


def test_file_import_creates_feed_and_is_idempotent(store, tmp_path):
    report = import_hf_file(store, TRUST, RECORDED)
    assert (report.inserted, report.feed_added, report.skipped) == (2, 2, [])
    again = import_hf_file(store, TRUST, RECORDED)
    assert (again.inserted, again.feed_added, again.unchanged) == (0, 0, 2)
    p = store.papers.get("2410.17243")
    assert p.upvotes == 64
    assert store.db.count("feed_entries") == 2 and store.db.count("users") == 2
    bad = tmp_path / "bad.json"
    bad.write_text("[{")
    with pytest.raises(SourceError, match="not valid JSON"):
        import_hf_file(store, TRUST, bad)


def test_client_pages_and_imports(store, fast_client):
    data = items()

    def handler(path, query):
        assert path == "/api/daily_papers"
        page = int(query["p"])
        return Reply(
            200, json.dumps(data[page : page + 1]).encode(), content_type="application/json"
        )

    with ReplayServer(handler) as server:
        api = HFDailyPapers(fast_client, server.url, page_size=1)
        report = import_hf_days(store, TRUST, api, [date(2024, 10, 25)])
    assert [r.query["p"] for r in server.requests] == ["0", "1", "2"]
    assert server.requests[0].query["date"] == "2024-10-25"
    assert (report.inserted, report.feed_added) == (2, 2)


def test_client_http_errors(store, fast_client):
    with ReplayServer(
        lambda p, q: Reply(400, b'{"error":"bad date"}', content_type="application/json")
    ) as s:
        with pytest.raises(SourceError, match="HTTP 400"):
            import_hf_days(store, TRUST, HFDailyPapers(fast_client, s.url), [date(2024, 10, 25)])
    with ReplayServer(lambda p, q: Reply(200, b"<html>", content_type="text/html")) as s:
        with pytest.raises(SourceError, match="not JSON"):
            import_hf_days(store, TRUST, HFDailyPapers(fast_client, s.url), [date(2024, 10, 25)])
