"""The command line: exit codes, dry runs, stats, backup, settings, bad input."""

import json
import os

import pytest
from click.testing import CliRunner

from paperwire.cli import main
from paperwire.store import Store

from .replay import FIXTURES, ReplayServer, Reply
from .storekit import TRUST
from .test_arxiv import recorded

KAGGLE = FIXTURES / "kaggle" / "arxiv-metadata-oai-snapshot.sample.jsonl"
HF = FIXTURES / "hf-api" / "daily_papers_2024-10-25.first2.json"


@pytest.fixture
def run(sqlite_url, monkeypatch):
    monkeypatch.delenv("PAPERWIRE_CONFIG", raising=False)
    for key in list(os.environ):
        if key.startswith("PAPERWIRE_") and key != "PAPERWIRE_TEST_PG":
            monkeypatch.delenv(key)
    monkeypatch.setenv("PAPERWIRE_ARXIV_MIN_INTERVAL", "0")
    monkeypatch.setenv("PAPERWIRE_HTTP_MIN_INTERVAL", "0")
    monkeypatch.setenv("PAPERWIRE_HTTP_BACKOFF", "0.01")

    def invoke(*args, db=sqlite_url):
        return CliRunner().invoke(main, ["--db", db, *args], catch_exceptions=False)

    return invoke


def test_db_upgrade_and_stats(run, sqlite_url):
    r = run("db", "upgrade")
    with Store(sqlite_url) as store:
        head = store.db.head_revision()  # the newest migration
    assert r.exit_code == 0 and f"revision {head} " in r.output
    r = run("stats", "--json")
    assert r.exit_code == 0 and json.loads(r.output)["papers"] == 0


def test_snapshot_dry_run_then_real(run):
    r = run("ingest", "snapshot", str(KAGGLE), "--dry-run")
    assert r.exit_code == 0, r.output
    assert "dry run (nothing written): 200 seen, 200 new" in r.output
    assert json.loads(run("stats", "--json").output)["papers"] == 0
    r = run("ingest", "snapshot", str(KAGGLE), "--category", "hep-ph", "--limit", "5")
    assert r.exit_code == 0 and "5 seen, 5 new" in r.output
    r = run("ingest", "snapshot", str(KAGGLE))
    assert r.exit_code == 0 and "200 seen, 195 new" in r.output


def test_partial_import_exits_1_and_lists_skips(run, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(KAGGLE.read_text().splitlines()[0] + "\n{oops\n")
    r = run("ingest", "snapshot", str(bad))
    assert r.exit_code == 1
    assert "1 new" in r.output and "skipped: line 2: invalid JSON" in r.output


def test_hf_file_and_stats(run):
    r = run("ingest", "hf-daily", "--file", str(HF))
    assert r.exit_code == 0 and "2 added to the feed" in r.output
    r = run("stats")
    assert "feed_entries" in r.output and "2024-10-25 .. 2024-10-25" in r.output


def test_source_failure_exits_3(run, monkeypatch):
    with ReplayServer(lambda p, q: Reply(503, b"down", content_type="text/plain")) as server:
        monkeypatch.setenv("PAPERWIRE_ARXIV_API_URL", f"{server.url}/api/query")
        monkeypatch.setenv("PAPERWIRE_HTTP_RETRIES", "1")
        r = run("ingest", "id", "1707.08567")
    assert r.exit_code == 3 and "giving up after 2 attempts" in r.output


def test_ingest_id_and_arxiv_error_feed(run, monkeypatch):
    with ReplayServer(recorded) as server:
        monkeypatch.setenv("PAPERWIRE_ARXIV_API_URL", f"{server.url}/api/query")
        r = run("ingest", "id", "https://arxiv.org/abs/1707.08567v1")
        assert r.exit_code == 0 and "1 new" in r.output
        r = run("ingest", "arxiv", "--query", "testing", "--max", "10")
        assert r.exit_code == 0 and "10 seen, 10 new" in r.output
    r = run("ingest", "id", "not-an-id")
    assert r.exit_code == 2 and "not an arXiv id" in r.output


def test_usage_errors_exit_2(run):
    assert run("ingest", "arxiv").exit_code == 2
    assert run("ingest", "arxiv", "--category", "cs.CV").exit_code == 2
    r = run("ingest", "oai", "--from", "2024-13-01")
    assert r.exit_code == 2 and "is not a date" in r.output
    assert run("ingest", "snapshot", "/does/not/exist").exit_code == 2


def test_database_errors_exit_4(run, tmp_path):
    r = run("stats", db=f"sqlite:///{tmp_path}/no/such/dir.db")
    assert r.exit_code == 4 and "does not exist" in r.output
    r = run("stats", db="postgresql+psycopg://nobody@127.0.0.1:1/none")
    assert r.exit_code == 4 and "database error" in r.output


def test_config_errors_exit_5(run, tmp_path, monkeypatch):
    monkeypatch.setenv("PAPERWIRE_HTTP_RETRIES", "many")
    r = run("stats")
    assert r.exit_code == 5 and "http_retries" in r.output


def test_backup(run, tmp_path):
    run("ingest", "snapshot", str(KAGGLE), "--limit", "20")
    dest = tmp_path / "backup.db"
    r = run("backup", str(dest))
    assert r.exit_code == 0 and dest.exists()
    r = run("stats", "--json", db=f"sqlite:///{dest}")
    assert json.loads(r.output)["papers"] == 20
    assert run("backup", str(dest)).exit_code == 4  # never overwrites


def test_settings_hide_secrets(run, monkeypatch):
    monkeypatch.setenv("PAPERWIRE_GITHUB_TOKEN", "ghp_secret")
    r = run("settings")
    assert r.exit_code == 0 and "ghp_secret" not in r.output and "github_token = ***" in r.output


def test_demo_command(tmp_path):
    db = tmp_path / "demo.db"
    r = CliRunner().invoke(main, ["demo", "--no-serve", "--db", str(db)])
    assert r.exit_code == 0, r.output
    assert "papers loaded" in r.output
    r = CliRunner().invoke(main, ["demo", "--no-serve", "--db", str(db)])
    assert r.exit_code == 2 and "--force" in r.output


def test_demo_command_loads_postgresql(pg_store, pg_url, tmp_path, monkeypatch):
    """`paperwire demo --db postgresql+psycopg://…` fills that database (it used to write
    ./paperwire-demo.db whatever --db said), and loading again keeps what people did."""
    from .conftest import _truncate

    _truncate(pg_store)
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(main, ["demo", "--no-serve", "--db", pg_url])
    assert r.exit_code == 0, r.output
    papers = pg_store.papers.count()
    assert papers > 3000 and f"{papers} papers loaded" in r.output
    assert "postgres@" in r.output and not list(tmp_path.iterdir())  # no SQLite file
    voter = pg_store.accounts.create_user("reader", None, None)
    paper = pg_store.feed.latest(limit=1)[0].id
    assert voter is not None and pg_store.feed.set_upvote(voter, paper, True)
    r = CliRunner().invoke(main, ["demo", "--no-serve", "--db", pg_url])
    assert r.exit_code == 0 and "0 papers loaded" in r.output, r.output
    assert pg_store.papers.count() == papers
    assert pg_store.feed.upvoted(voter, [paper]) == {paper}


def test_github_stars_command(run, monkeypatch, sqlite_url):
    from paperwire.core.records import PaperRecord
    from paperwire.store import Store

    from .replay import fixture

    store = Store(sqlite_url)
    store.db.upgrade()
    store.papers.upsert(
        [
            PaperRecord(
                id="2207.01405", title="I-ViT", github_repo="zkkli/I-ViT", source="arxiv-api"
            ).validated()
        ],
        TRUST,
    )
    body = fixture("github", "repos_zkkli_I-ViT.json")
    with ReplayServer(lambda p, q: Reply(200, body, {"ETag": '"e1"'}, "application/json")) as gh:
        monkeypatch.setenv("PAPERWIRE_GITHUB_API_URL", gh.url)
        r = run("ingest", "github-stars", "--dry-run")
        assert r.exit_code == 0 and "1 checked, 1 updated" in r.output
        assert store.papers.get("2207.01405").github_stars is None
        r = run("ingest", "github-stars")
        assert r.exit_code == 0
    assert store.papers.get("2207.01405").github_stars == 156
    limited = Reply(403, b"{}", {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "4102444800"})
    with ReplayServer(lambda p, q: limited) as gh:
        monkeypatch.setenv("PAPERWIRE_GITHUB_API_URL", gh.url)
        r = run("ingest", "github-stars", "--max-age", "0")
    assert r.exit_code == 3 and "rate limit until 2100-01-01" in r.output


def test_serve_workers_get_the_parents_settings(tmp_path):
    """`serve --workers 2`: each worker process builds the site from the settings the parent
    resolved (here from a TOML file and a flag, nothing in PAPERWIRE_* variables), read from
    a snapshot only this user can read, removed when the server stops."""
    import signal
    import socket
    import subprocess
    import sys
    import time

    import httpx

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    toml = tmp_path / "site.toml"
    toml.write_text('site_name = "Workshop Papers"\ndigest_interval = 0\npage_size = 7\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAPERWIRE_")}
    env["TMPDIR"] = str(tmp_path)
    db = f"sqlite:///{tmp_path / 'serve.db'}"
    cmd = [sys.executable, "-m", "paperwire", "-q", "--config", str(toml), "--db", db,
           "serve", "--port", str(port), "--workers", "2"]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        snapshots = list(tmp_path.glob("paperwire-settings-*.json"))
        assert len(snapshots) == 1 and snapshots[0].stat().st_mode & 0o077 == 0
        titles = {httpx.get(f"http://127.0.0.1:{port}/signin").text.count("Workshop Papers")
                  for _ in range(8)}  # fmt: skip
        assert 0 not in titles  # every worker answered with the parent's site name
        assert "server" not in httpx.get(f"http://127.0.0.1:{port}/healthz").headers  # no banner
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    assert not list(tmp_path.glob("paperwire-settings-*.json"))


def test_a_closed_pipe_is_not_a_failed_source(tmp_path):
    """`paperwire settings | head -1`: the reader went away; no "error", no exit 3."""
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("PAPERWIRE_")}
    proc = subprocess.Popen([sys.executable, "-m", "paperwire", "settings"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    proc.stdout.close()  # before its first line (it takes a moment to start)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode in (0, 1) and b"error" not in err


def test_links_lead_to_the_port_served_unless_base_url_is_set():
    """`paperwire demo --port 8765` (or serve): e-mails and feeds link to that port, not to
    the default's 8000; a base_url that was set (a public name behind a proxy) is kept."""
    from paperwire.cli.site import _own_address
    from paperwire.core.settings import Settings

    default = Settings.from_values({})
    assert _own_address(default, "127.0.0.1", 8765).site.base_url == "http://127.0.0.1:8765"
    assert _own_address(default, "0.0.0.0", 80).site.base_url == "http://127.0.0.1:80"
    assert _own_address(default, "::1", 8000).site.base_url == "http://[::1]:8000"
    public = Settings.from_values({"base_url": "https://papers.example.org"})
    assert _own_address(public, "127.0.0.1", 8765).site.base_url == "https://papers.example.org"
