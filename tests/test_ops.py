"""Operations: readiness, Prometheus metrics (in-process and summed across the workers of a
real `paperwire serve --workers 2`), JSON access logs without secrets, backup and restore
on both backends."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import httpx
import numpy as np
import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from paperwire.cli import main
from paperwire.core import logs
from paperwire.store import Store

from .conftest import require
from .webkit import add_user, seed, site

LOCAL = ("127.0.0.1", 40000)
TOKEN = "eyJzdWIiOjQyfQ.c2VjcmV0LXNpZ25hdHVyZS1vZi10aGUtbGluaw"


def samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """The samples called ``name`` in a Prometheus exposition, by their sorted labels."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name:
                out[tuple(sorted(s.labels.items()))] = s.value
    return out


def scrape(app) -> str:
    r = TestClient(app, client=LOCAL).get("/metrics")
    assert r.status_code == 200, r.text
    return r.text


# -- readiness ---------------------------------------------------------------------------
def test_readyz_answers_ready_then_503_when_the_database_file_is_gone(sqlite_store, tmp_path):
    seed(sqlite_store, days=1)
    app, _ = site(sqlite_store, tmp_path, semantic_search=False)
    client = TestClient(app)
    r = client.get("/readyz")
    head = sqlite_store.db.head_revision()
    assert r.status_code == 200, r.text
    assert r.json() == {
        "ready": True,
        "db": "ok",
        "schema": head,
        "head": head,
        "storage": "ok",
        "index": {"enabled": False},
    }
    assert r.headers["cache-control"] == "no-store"
    assert client.get("/healthz").text == "ok"
    sqlite_store.db.sqlite_path.unlink()
    r = client.get("/readyz")
    assert r.status_code == 503 and "is missing" in r.json()["reason"]
    assert client.get("/healthz").status_code == 200  # the process itself still answers


def test_readyz_is_503_when_the_database_does_not_answer(tmp_path):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    store = Store(f"postgresql+psycopg://postgres@127.0.0.1:{port}/nothing")
    app, _ = site(store, tmp_path, semantic_search=False)
    r = TestClient(app).get("/readyz")
    assert r.status_code == 503
    assert r.json()["db"] == "unreachable" and "database unreachable" in r.json()["reason"]


def test_readyz_is_503_while_the_schema_is_behind(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'old.db'}")
    store.db.upgrade("0006")
    app, _ = site(store, tmp_path, semantic_search=False)
    client = TestClient(app)
    r = client.get("/readyz")
    assert r.status_code == 503
    assert r.json()["schema"] == "0006" and "paperwire db upgrade" in r.json()["reason"]
    store.db.upgrade()
    assert client.get("/readyz").status_code == 200


def test_readyz_waits_for_the_vector_index_and_reports_its_lag(sqlite_store, tmp_path):
    seed(sqlite_store, days=1)
    app, _ = site(sqlite_store, tmp_path)
    client = TestClient(app)
    r = client.get("/readyz")
    assert r.status_code == 503, r.text
    assert r.json()["index"] == {"enabled": True, "loaded": False}
    search = app.state.site.search
    search.warm()
    r = client.get("/readyz")
    assert r.status_code == 200, r.text
    assert r.json()["index"]["loaded"] is True and r.json()["index"]["lag_papers"] == 0
    # Vectors stored by another process (`paperwire index`) that this index has not read.
    seqs = [card.seq for card in sqlite_store.feed.latest(limit=3)]
    vecs = np.eye(3, search.vectors.dim, dtype=np.float32)
    sqlite_store.embeddings.save(search.vectors.model, list(zip(seqs, vecs, strict=True)))
    index = client.get("/readyz").json()["index"]
    assert index["lag_papers"] == 3 and index["lag_seconds"] >= 0
    assert samples(scrape(app), "paperwire_vector_index_lag_papers") == {(): 3.0}
    search.vectors.index().catch_up(sqlite_store.embeddings)
    assert client.get("/readyz").json()["index"]["lag_papers"] == 0


# -- metrics -----------------------------------------------------------------------------
def test_metrics_count_requests_by_route_template_and_read_the_database(web):
    app, store, ids, _ = web
    client = TestClient(app)
    before = scrape(app)
    for pid in ids[:3]:
        assert client.get(f"/papers/{pid}").status_code == 200
    client.get("/papers?q=vision+transformer")
    for n in range(3):
        assert client.get(f"/no/such/page-{n}").status_code == 404
    client.post("/api/papers/2401.00001/upvote")  # 401: no token
    store.queue.enqueue("paper", "2501.00001", {"arxiv_id": "2501.00001"}, max_attempts=3)
    text = scrape(app)

    def grew(name, **labels):
        key = tuple(sorted(labels.items()))
        return samples(text, name).get(key, 0) - samples(before, name).get(key, 0)

    count = "paperwire_http_request_duration_seconds_count"
    assert grew(count, method="GET", route="/papers/{arxiv_id}") == 3
    assert grew(count, method="GET", route="<unmatched>") == 3
    requests = "paperwire_http_requests_total"
    assert grew(requests, method="GET", route="<unmatched>", status="4xx") == 3
    assert grew(requests, method="POST", route="/api/papers/{arxiv_id}/upvote", status="4xx") == 1
    assert grew("paperwire_search_duration_seconds_count", kind="query") == 1
    assert grew("paperwire_search_duration_seconds_count", kind="similar") >= 1
    routes = {dict(k)["route"] for k in samples(text, count)}
    assert not any(pid in r or "page-" in r for r in routes for pid in ids)  # templates only
    assert samples(text, "paperwire_papers") == {(): 60.0}
    assert samples(text, "paperwire_jobs") == {(("kind", "paper"), ("state", "queued")): 1.0}
    assert samples(text, "paperwire_database_up") == {(): 1.0}
    assert samples(text, "paperwire_last_paper_ingested_timestamp_seconds")[()] > 1.7e9


def test_metrics_are_for_operators_only(sqlite_store, tmp_path):
    app, _ = site(sqlite_store, tmp_path, semantic_search=False)
    outside = TestClient(app, client=("203.0.113.7", 5000))
    assert outside.get("/metrics").status_code == 403
    assert TestClient(app, client=("::1", 5000)).get("/metrics").status_code == 200
    app, _ = site(sqlite_store, tmp_path, semantic_search=False, metrics_token="s3cret-metrics")
    outside = TestClient(app, client=("203.0.113.7", 5000))
    assert outside.get("/metrics", headers={"Authorization": "Bearer nope"}).status_code == 403
    r = outside.get("/metrics", headers={"Authorization": "Bearer s3cret-metrics"})
    assert r.status_code == 200 and "paperwire_http_requests_total" in r.text
    app, _ = site(sqlite_store, tmp_path, semantic_search=False, metrics_allow="203.0.113.0/24")
    assert TestClient(app, client=("203.0.113.7", 5000)).get("/metrics").status_code == 200
    assert TestClient(app, client=LOCAL).get("/metrics").status_code == 403


# -- logs --------------------------------------------------------------------------------
SECRET_URLS = (
    f"/confirm/{TOKEN}",
    f"/reset/{TOKEN}",
    f"/subscriptions/manage?token={TOKEN}",
    f"/subscriptions/unsubscribe?token={TOKEN}&x=1",
    f"/confirm/{TOKEN}/mistyped",
    f"/subscriptions/manage?to%6Ben={TOKEN}",  # an escaped key is read as the app reads it
)


def test_json_access_lines_carry_the_fields_and_never_a_token(sqlite_store, tmp_path, capsys):
    app, config = site(sqlite_store, tmp_path, semantic_search=False, log_format="json")
    logs.configure(config.ops)
    try:
        client = TestClient(app, client=("198.51.100.4", 5000))
        capsys.readouterr()
        client.get("/papers?q=vision&page=0")
        for url in SECRET_URLS:
            client.get(url)
        err = capsys.readouterr().err
    finally:
        logs.configure(config.ops.__class__(), "WARNING")
    lines = [json.loads(line) for line in err.splitlines()]  # every line is JSON
    ours = [x for x in lines if x["logger"].startswith("paperwire")]  # not the test client's
    assert ours and TOKEN not in json.dumps(ours)
    access = [x for x in lines if x["logger"] == "paperwire.access"]
    assert len(access) == 1 + len(SECRET_URLS)
    first = access[0]
    assert {"time", "level", "logger", "message", "method", "path", "status", "duration_ms",
            "client"} <= set(first)  # fmt: skip
    assert first["path"] == "/papers?q=vision&page=0" and first["method"] == "GET"
    assert first["status"] == 200 and first["client"] == "198.51.100.4"
    assert first["level"] == "info" and first["duration_ms"] > 0
    assert [x["path"] for x in access[1:]] == [
        "/confirm/[redacted]",
        "/reset/[redacted]",
        "/subscriptions/manage?token=[redacted]",
        "/subscriptions/unsubscribe?token=[redacted]&x=1",
        "/confirm/[redacted]/mistyped",
        "/subscriptions/manage?token=[redacted]",
    ]


def test_a_bad_log_format_is_a_configuration_error(run_cli):
    r = run_cli("stats", env={"PAPERWIRE_LOG_FORMAT": "xml"})
    assert r.exit_code == 5 and "log_format" in r.output


# -- several workers ---------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_ready(base: str, proc: subprocess.Popen, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        try:
            if httpx.get(f"{base}/readyz", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError("the server never became ready")


@pytest.mark.processes
def test_serve_workers_sum_their_metrics_and_log_json(tmp_path):
    """A real `paperwire serve --workers 2`: /metrics, answered by either worker, counts the
    requests both answered; a killed worker's live gauges go; access lines are JSON without
    tokens; the metrics directory is removed at exit."""
    db = tmp_path / "serve.db"
    with Store(f"sqlite:///{db}") as store:
        store.db.upgrade()
        seed(store, days=1)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAPERWIRE_", "PROMETHEUS"))}
    env.update(TMPDIR=str(tmp_path), PAPERWIRE_LOG_FORMAT="json", PAPERWIRE_SEMANTIC_SEARCH="0",
               PAPERWIRE_DIGEST_INTERVAL="0", PAPERWIRE_JOB_INTERVAL="0",
               PAPERWIRE_THUMBNAIL_INTERVAL="0")  # fmt: skip
    env.pop("XDG_RUNTIME_DIR", None)
    cmd = [sys.executable, "-m", "paperwire", "--db", f"sqlite:///{db}",
           "serve", "--port", str(port), "--workers", "2"]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _wait_ready(base, proc)
        (metrics_dir,) = tmp_path.glob("paperwire-metrics-*")
        sent = 0

        def hammer(n: int) -> None:
            nonlocal sent
            for _ in range(n):
                with httpx.Client() as c:  # a new connection each time: either worker
                    assert c.get(f"{base}/papers").status_code == 200
                sent += 1

        deadline = time.monotonic() + 60
        while len(list(metrics_dir.glob("counter_*.db"))) < 2 and time.monotonic() < deadline:
            threads = [threading.Thread(target=hammer, args=(10,)) for _ in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        assert len(list(metrics_dir.glob("counter_*.db"))) == 2  # both workers answered
        for _ in range(3):  # whichever worker answers the scrape sees both workers' counts
            text = httpx.get(f"{base}/metrics").text
            count = samples(text, "paperwire_http_requests_total")
            assert count[(("method", "GET"), ("route", "/papers"), ("status", "2xx"))] == sent
        for url in SECRET_URLS:
            httpx.get(base + url)
        # A worker killed outright: its live gauges are dropped at the next scrape.
        pids = {int(p.stem.rsplit("_", 1)[1]) for p in metrics_dir.glob("gauge_livemax_*.db")}
        assert len(pids) == 2
        victim = pids.pop()
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                text = httpx.get(f"{base}/metrics", timeout=5).text
            except httpx.HTTPError:
                continue
            if not (metrics_dir / f"gauge_livemax_{victim}.db").exists():
                break
        assert not (metrics_dir / f"gauge_livemax_{victim}.db").exists()
        count = samples(text, "paperwire_http_requests_total")
        assert count[(("method", "GET"), ("route", "/papers"), ("status", "2xx"))] == sent
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert not list(tmp_path.glob("paperwire-metrics-*"))
    text = err.decode()
    assert TOKEN not in text
    lines = [json.loads(line) for line in text.splitlines()]  # nothing but JSON
    access = [x for x in lines if x["logger"] == "paperwire.access"]
    assert sum(1 for x in access if x["path"] == "/papers" and x["status"] == 200) == sent
    assert any(x["path"] == "/confirm/[redacted]" for x in access)
    assert {x["client"] for x in access} == {"127.0.0.1"}


# -- backup and restore ------------------------------------------------------------------
@pytest.fixture
def run_cli(monkeypatch):
    for key in list(os.environ):
        if key.startswith("PAPERWIRE_") and key != "PAPERWIRE_TEST_PG":
            monkeypatch.delenv(key)

    def invoke(*args, db=None, env=None):
        head = ["--db", db] if db else []
        return CliRunner().invoke(main, [*head, *args], env=env, catch_exceptions=False)

    return invoke


def _content(store) -> dict:
    """Counts and a few rows that a restore must bring back exactly."""
    stats = store.db.stats()
    keys = ("papers", "feed_entries", "users", "upvotes", "comments", "paper_embeddings")
    papers = store.feed.latest(limit=5)
    return {
        "counts": {k: stats[k] for k in keys},
        "papers": [(p.id, p.title, p.upvotes, p.num_comments) for p in papers],
        "thread": [(c.body, c.username) for c in store.discussion.thread(papers[0].id)],
        "user": store.accounts.get_user(username="alice").email,
    }


def _fill(store) -> None:
    seed(store, days=2)
    alice = add_user(store, "alice")
    bob = add_user(store, "bob")
    papers = [p.id for p in store.feed.latest(limit=5)]
    for pid in papers[:3]:
        store.feed.set_upvote(alice, pid, True)
    store.feed.set_upvote(bob, papers[0], True)
    store.discussion.add(papers[0], alice, "A first comment, with **Markdown**.")
    store.discussion.add(papers[0], bob, "A reply 🙂")
    seqs = [store.papers.seq_of(p) for p in papers]
    vectors = [(s, np.full(4, i, np.float32)) for i, s in enumerate(seqs)]
    store.embeddings.save("test-model", vectors)


def _pg_tools_problem(store) -> str | None:
    """Why pg_dump/pg_restore cannot work with this server (missing, or older than it)."""
    if not (shutil.which("pg_dump") and shutil.which("pg_restore")):
        return "not installed (Debian: postgresql-client)"
    out = subprocess.run(["pg_dump", "--version"], capture_output=True, text=True).stdout
    client = int(re.search(r"(\d+)\.", out).group(1))
    with store.db.connect() as conn:
        server = int(conn.execute(sa.text("SHOW server_version_num")).scalar()) // 10000
    return None if client >= server else f"pg_dump {client} cannot dump a PostgreSQL {server}"


def test_backup_then_restore_brings_back_the_same_content(store, tmp_path, run_cli):
    if store.dialect == "postgresql":
        require("pg_dump and pg_restore matching the server", _pg_tools_problem(store))
    _fill(store)
    before = _content(store)
    archive = tmp_path / "paperwire.backup"
    r = run_cli("backup", str(archive), db=store.url)
    assert r.exit_code == 0, r.output
    # Changed and partly wiped after the backup.
    pid = before["papers"][0][0]
    alice = store.accounts.get_user(username="alice")
    store.discussion.add(pid, alice.id, "written after the backup")
    store.accounts.update_user(alice.id, email="changed@example.org")
    add_user(store, "carol")
    assert _content(store) != before
    r = run_cli("restore", str(archive), db=store.url)
    assert r.exit_code == 4 and "--force" in r.output  # data there: refused, nothing changed
    assert _content(store)["user"] == "changed@example.org"
    r = run_cli("restore", str(archive), "--force", db=store.url)
    assert r.exit_code == 0, r.output
    store.db.engine.dispose()
    assert _content(store) == before
    assert store.db.revision() == store.db.head_revision()
    assert store.accounts.get_user(username="carol") is None


def test_restore_refuses_what_is_not_a_backup(store, tmp_path, run_cli):
    if store.dialect == "postgresql":
        require("pg_dump and pg_restore matching the server", _pg_tools_problem(store))
    junk = tmp_path / "notes.txt"
    junk.write_text("not a database\n" * 100)
    r = run_cli("restore", str(junk), "--force", db=store.url)
    assert r.exit_code == 4
    assert "not a Paperwire SQLite backup" in r.output or "not a pg_dump archive" in r.output


def test_restore_migrates_an_older_backup_and_drops_the_stale_index_snapshot(tmp_path, run_cli):
    old = Store(f"sqlite:///{tmp_path / 'old.db'}")
    old.db.upgrade("0006")
    old.close()
    target = tmp_path / "new.db"
    snapshot = tmp_path / "new.db.index"
    snapshot.mkdir()
    (snapshot / "CURRENT").write_text("snap-1")
    r = run_cli("restore", str(tmp_path / "old.db"), db=f"sqlite:///{target}")
    assert r.exit_code == 0, r.output
    assert "migrated from 0006" in r.output and not snapshot.exists()
    with Store(f"sqlite:///{target}") as store:
        assert store.db.revision() == store.db.head_revision()


def test_a_web_process_bounds_its_threads_and_puts_its_startup_out_of_the_collectors_way(
    sqlite_store, tmp_path
):
    """The lifespan of a web process: `threads` threads for blocking work (not anyio's 40),
    and what startup loaded frozen out of full garbage collections."""
    import gc

    import anyio.to_thread

    from .webkit import site

    app, _ = site(sqlite_store, tmp_path, threads=3)
    with TestClient(app) as client:  # runs the lifespan
        tokens = client.portal.call(
            lambda: anyio.to_thread.current_default_thread_limiter().total_tokens
        )
        assert client.get("/healthz").status_code == 200
    assert tokens == 3
    assert gc.get_freeze_count() > 0
