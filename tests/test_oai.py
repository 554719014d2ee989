"""OAI-PMH: parser on recorded responses; harvests with resumption tokens, errors, crashes."""

import os
import signal
import subprocess
import sys
import threading
import time

import pytest
import sqlalchemy as sa

from paperwire.ingest.http import SourceError, TransientError
from paperwire.ingest.oai import OAIError, OAIHarvester, harvest_oai, parse_oai
from paperwire.store import Store

from .replay import ReplayServer, Reply, fixture
from .storekit import TRUST

PAGES = ["arxiv-physics-hep-th.xml", "arxiv-physics-hep-ex.xml", "arxiv-single.xml"]
TOKENS = ["tok-1|100", "tok-2|200", None]


def paged(n: int) -> bytes:
    """Recorded page n, with the resumption token a multi-page ListRecords answer carries
    (the recordings are single pages; the token element is the only thing added)."""
    body = fixture("oai-pmh", PAGES[n])
    token = TOKENS[n]
    element = (
        f'<resumptionToken cursor="{3 * n}" completeListSize="7">{token}</resumptionToken>'
        if token
        else f'<resumptionToken cursor="{3 * n}" completeListSize="7"/>'
    )
    return body.replace(b"</ListRecords>", element.encode() + b"</ListRecords>")


def oai_server(fail_page: int | None = None, blocker: threading.Event | None = None):
    def handler(path, query):
        if query.get("verb") != "ListRecords":
            return Reply(400, b"bad verb", content_type="text/plain")
        token = query.get("resumptionToken")
        n = 0 if token is None else TOKENS.index(token) + 1
        if n == 0 and query.get("metadataPrefix") != "arXiv":
            return Reply(400, b"bad prefix", content_type="text/plain")
        if n == fail_page:
            if blocker is not None:
                blocker.wait(30)
            else:
                return Reply(500, b"internal error", content_type="text/plain")
        return Reply(200, paged(n))

    return ReplayServer(handler)


def test_parse_list_records():
    page = parse_oai(fixture("oai-pmh", "arxiv-physics-hep-th.xml"))
    assert [r.id for r in page.records] == ["1412.8323", "1507.07790", "1607.01710"]
    first = page.records[0]
    assert first.authors == ["Philipp A Hoehn"]
    assert first.title.startswith("Toolbox for reconstructing quantum theory")
    assert first.categories[:2] == ["quant-ph", "gr-qc"] and first.primary_category == "quant-ph"
    assert first.published.date().isoformat() == "2014-12-29"
    assert first.updated.date().isoformat() == "2017-12-13"
    assert first.comment.startswith("78 pages") and first.source == "oai"
    assert page.token is None and page.errors == []


def test_parse_get_record_without_default_namespace():
    (rec,) = parse_oai(fixture("oai-pmh", "sample_arxiv_record0.xml")).records
    assert rec.id == "1601.03238"
    assert rec.authors[0] == "Planck Collaboration" and rec.authors[1] == "Jieci Wang"
    assert rec.doi == "10.1103/PhysRevD.93.016005"  # the first of several DOIs
    assert rec.journal_ref == "Phys.Rev. D93 (2015) 016005"


def test_parse_token_deleted_bad_and_errors():
    body = (
        paged(0)
        .replace(
            b"<record>",
            b'<record><header status="deleted"><identifier>oai:arXiv.org:1111.0001'
            b"</identifier></header></record><record>",
            1,
        )
        .replace(b"<id>1507.07790</id>", b"<id>not-an-id</id>")
    )
    page = parse_oai(body)
    assert page.token == "tok-1|100" and page.complete_size == 7 and page.cursor == 0
    assert page.deleted == ["oai:arXiv.org:1111.0001"]
    assert [r.id for r in page.records] == ["1412.8323", "1607.01710"]
    assert len(page.errors) == 1 and "not-an-id" in page.errors[0]
    none = (
        b'<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/">'
        b'<error code="noRecordsMatch"/></OAI-PMH>'
    )
    assert parse_oai(none).records == []
    bad = none.replace(b"noRecordsMatch", b"badArgument")
    with pytest.raises(OAIError, match="badArgument"):
        parse_oai(bad)
    with pytest.raises(TransientError):
        parse_oai(paged(0)[:500])
    with pytest.raises(SourceError):
        parse_oai(b"<feed/>")


def harvester(server, client):
    return OAIHarvester(client, f"{server.url}/oai")


def test_harvest_follows_tokens_and_is_idempotent(store, fast_client):
    with oai_server() as server:
        report = harvest_oai(store, TRUST, harvester(server, fast_client), set_="physics")
    assert (report.seen, report.inserted, report.skipped) == (7, 7, [])
    assert [r.query.get("resumptionToken") for r in server.requests] == [
        None,
        "tok-1|100",
        "tok-2|200",
    ]
    assert server.requests[0].query == {
        "verb": "ListRecords",
        "metadataPrefix": "arXiv",
        "set": "physics",
    }
    run = store.jobs.runs("oai")[0]
    assert run.status == "ok" and run.state is None and run.stats["pages"] == 3
    with oai_server() as server:
        again = harvest_oai(store, TRUST, harvester(server, fast_client), set_="physics")
    assert (again.inserted, again.unchanged) == (0, 7)
    assert store.db.count("papers") == 7


def test_failed_harvest_resumes_from_last_token(store, fast_client):
    with oai_server(fail_page=2) as server:
        with pytest.raises(SourceError, match="giving up"):
            harvest_oai(store, TRUST, harvester(server, fast_client))
    assert store.db.count("papers") == 6
    run = store.jobs.runs("oai")[0]
    assert run.status == "failed" and run.state == {"token": "tok-2|200"}
    with oai_server() as server:
        report = harvest_oai(store, TRUST, harvester(server, fast_client))
    assert [r.query.get("resumptionToken") for r in server.requests] == ["tok-2|200"]
    assert (report.seen, report.inserted) == (7, 7)  # totals carry over from the first run
    assert store.db.count("papers") == 7
    assert store.jobs.runs("oai")[0].status == "ok"


def test_expired_token_starts_over(store, fast_client):
    with oai_server(fail_page=1) as server:
        with pytest.raises(SourceError):
            harvest_oai(store, TRUST, harvester(server, fast_client))

    def expired(path, query):
        if query.get("resumptionToken") == "tok-1|100" and not expired.seen:
            expired.seen = True
            return Reply(
                200,
                b'<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/">'
                b'<error code="badResumptionToken">expired</error></OAI-PMH>',
            )
        n = 0 if "resumptionToken" not in query else TOKENS.index(query["resumptionToken"]) + 1
        return Reply(200, paged(n))

    expired.seen = False
    with ReplayServer(expired) as server:
        harvest_oai(store, TRUST, harvester(server, fast_client))
    assert store.db.count("papers") == 7
    assert [r.query.get("resumptionToken") for r in server.requests] == [
        "tok-1|100",
        None,
        "tok-1|100",
        "tok-2|200",
    ]


def test_restart_ignores_interrupted_run(store, fast_client):
    with oai_server(fail_page=2) as server, pytest.raises(SourceError):
        harvest_oai(store, TRUST, harvester(server, fast_client))
    with oai_server() as server:
        harvest_oai(store, TRUST, harvester(server, fast_client), restart=True)
    assert server.requests[0].query.get("resumptionToken") is None
    statuses = [r.status for r in store.jobs.runs("oai")]
    assert statuses == ["ok", "abandoned"]


def test_dry_run_writes_nothing(store, fast_client):
    with oai_server() as server:
        report = harvest_oai(store, TRUST, harvester(server, fast_client), dry_run=True)
    assert report.inserted == 7
    assert store.db.count("papers") == 0 and store.jobs.runs() == []


def _cli(url: str, oai_url: str):
    env = dict(
        os.environ,
        PAPERWIRE_DATABASE_URL=url,
        PAPERWIRE_ARXIV_OAI_URL=oai_url,
        PAPERWIRE_ARXIV_MIN_INTERVAL="0",
        PAPERWIRE_HTTP_BACKOFF="0.01",
    )
    return [sys.executable, "-m", "paperwire", "-q", "ingest", "oai", "--from", "2017-12-14"], env


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_killed_process_resumes_without_loss_or_duplicates(backend, tmp_path, request):
    """A real harvest process is killed (SIGKILL) while waiting for page 3; the next run
    continues from the token saved with page 2."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'crash.db'}"
        store = Store(url)
        store.db.upgrade()
    else:
        store = request.getfixturevalue("pg_store")
        from .conftest import _truncate

        _truncate(store)
        url = store.url
    blocker = threading.Event()
    with oai_server(fail_page=2, blocker=blocker) as server:
        cmd, env = _cli(url, f"{server.url}/oai")
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while len(server.requests) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(server.requests) == 3, proc.communicate(timeout=5)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        blocker.set()
    assert proc.returncode == -signal.SIGKILL
    assert store.db.count("papers") == 6
    run = store.jobs.runs("oai")[0]
    assert run.status == "running" and run.state == {"token": "tok-2|200"}

    with oai_server() as server:
        cmd, env = _cli(url, f"{server.url}/oai")
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "resuming harvest run" in done.stderr
    assert [r.query.get("resumptionToken") for r in server.requests] == ["tok-2|200"]
    assert "7 seen, 7 new" in done.stdout
    with store.db.engine.connect() as conn:
        ids = conn.execute(sa.text("SELECT id FROM papers")).scalars().all()
    assert len(ids) == len(set(ids)) == 7
    assert store.jobs.runs("oai")[0].status == "ok"
