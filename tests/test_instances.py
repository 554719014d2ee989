"""Two `paperwire serve` instances on one PostgreSQL database, behind Debian's nginx: what is
written through one is seen through the other at once, rate limits and digests are shared,
and when one is killed mid-load nginx fails over and no acknowledged write is lost."""

from __future__ import annotations

import os
import re
import signal
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from paperwire.core.records import PaperRecord
from paperwire.store import Store
from paperwire.web import throttle

from .conftest import fresh_pg_database, require
from .nginxkit import app_server, nginx_problem, run_nginx
from .storekit import TRUST
from .test_mail import subscribe, upvote_some
from .webkit import MODEL_CACHE, add_user, clear_of_window_end, seed

pytestmark = [pytest.mark.processes, pytest.mark.postgres, pytest.mark.serial]


@pytest.fixture
def shared_db() -> Iterator[str]:
    """A database of its own (the servers run migrations and threads against it)."""
    with fresh_pg_database("paperwire_instances") as url:
        yield url


def instance_settings(tmp_path: Path, name: str) -> dict[str, str]:
    """Both instances send digests and share the outbox (to count what went out)."""
    return {
        "secret_key": "two-instances-secret",
        "base_url": "http://papers.example.org",
        "outbox_dir": str(tmp_path / "outbox"),  # shared: one place to count messages
        "digest_interval": "1",
        "job_interval": "0",
        "thumbnail_interval": "0",
        "submit_max_age_days": "0",
        "model_cache_dir": str(MODEL_CACHE),
        "index_dir": str(tmp_path / f"index-{name}"),
        "trusted_proxies": "127.0.0.1/32",
    }


def _token(store: Store, name: str) -> dict[str, str]:
    uid = add_user(store, name)
    return {"Authorization": f"Bearer {store.accounts.create_token(uid, 'test')}"}


def _upvotes(base: str, paper: str) -> int:
    r = httpx.get(f"{base}/api/papers/{paper}", timeout=10)
    assert r.status_code == 200, r.text
    return int(r.json()["upvotes"])


def test_two_instances_share_one_database(shared_db, tmp_path):
    store = Store(shared_db)
    store.db.upgrade()
    feed = seed(store)
    alice, bob = _token(store, "alice"), _token(store, "bob")
    with (
        app_server(shared_db, tmp_path / "a", settings=instance_settings(tmp_path, "a")) as a,
        app_server(shared_db, tmp_path / "b", settings=instance_settings(tmp_path, "b")) as b,
    ):
        # a vote through A is counted through B at once, and the other way round; B's
        # trending page (kept in its page cache) ranks with it as soon as B sees the write
        before = _upvotes(b.url, feed[0])
        points = _vote_points(b.url, feed[0])
        r = httpx.post(f"{a.url}/api/papers/{feed[0]}/upvote", headers=alice, timeout=10)
        assert r.status_code == 200 and r.json()["upvotes"] == before + 1
        assert _upvotes(b.url, feed[0]) == before + 1
        deadline = time.monotonic() + 3
        while _vote_points(b.url, feed[0]) == points and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _vote_points(b.url, feed[0]) > points
        r = httpx.post(f"{b.url}/api/papers/{feed[0]}/upvote", headers=bob, timeout=10)
        assert _upvotes(a.url, feed[0]) == before + 2

        # a comment through B is in the discussion read through A
        r = httpx.post(f"{b.url}/api/papers/{feed[1]}/comments", headers=bob,
                       json={"body": "Seen from the other side"}, timeout=10)  # fmt: skip
        assert r.status_code == 201, r.text
        thread = httpx.get(f"{a.url}/api/papers/{feed[1]}/comments", timeout=10).json()
        assert [c["body"] for c in thread] == ["Seen from the other side"]
        assert "Seen from the other side" in httpx.get(f"{a.url}/papers/{feed[1]}").text

        # a submission through A is on the feed read through B
        off_feed = next(p.id for p in store.feed.latest(limit=100) if p.id not in feed)
        r = httpx.post(f"{a.url}/api/daily_papers", headers=alice,
                       json={"arxivId": off_feed}, timeout=10)  # fmt: skip
        assert r.status_code == 201, r.text
        listed = httpx.get(f"{b.url}/api/daily_papers?limit=100", timeout=10).json()
        assert off_feed in {item["paper"]["id"] for item in listed}

        # a paper indexed now (by a third process: this one) is found on both within 2 s
        _index_new_paper(store)
        for server in (a, b):
            _found_within(server.url, "mycorrhizal fungal networks", "2611.00042", 2.0)

        # wrong passwords slow an account down alike, whichever instance counts them: after
        # three (through A, B, A) the fourth, through B, waits (throttle.FREE)
        login = {"login": "alice", "password": "wrong password"}
        clear_of_window_end(throttle.WINDOW, margin=30)  # failures count per fixed window
        codes = [_sign_in(server.url, login) for server in (a, b) * 2]
        assert codes == [400, 400, 400, 429], codes

        # both schedulers run every second; the due digest goes out once
        _trending_before_the_digest(store, feed)
        sid = subscribe(store, "reader@example.org")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not list((tmp_path / "outbox").glob("*.eml")):
            time.sleep(0.2)
        time.sleep(2.0)  # several more ticks of both schedulers
        sent = [p for p in (tmp_path / "outbox").glob("*.eml") if "reader@" in p.read_text()]
        assert len(sent) == 1, sent
        assert sid in {s for s, _ in store.mail.deliveries_for(_periods(store))}
    store.close()


def _vote_points(base: str, pid: str) -> float:
    """The trending page's points from upvotes of paper ``pid`` (0 when not listed)."""
    page = httpx.get(f"{base}/papers/trending?p=0", timeout=10).text
    m = re.search(
        f'id="paper-{re.escape(pid)}".*?trending score: ([0-9.]+) from upvotes', page, re.S
    )
    return float(m.group(1)) if m else 0.0


def _sign_in(base: str, form: dict[str, str]) -> int:
    with httpx.Client(base_url=base, timeout=10) as client:
        page = client.get("/signin").text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert token is not None
        r = client.post("/signin", data={**form, "csrf_token": token.group(1)})
        return r.status_code


def _trending_before_the_digest(store: Store, feed: list[str]) -> None:
    """Votes cast an hour before today's digest was due: it has trending papers to send."""
    from datetime import time as dtime

    from paperwire.mail import schedule
    from paperwire.store import schema as t

    upvote_some(store, feed)
    due = schedule.latest_due("daily", "UTC", dtime(8), datetime.utcnow())
    with store.begin() as conn:
        conn.execute(t.upvotes.update().values(created_at=due.end - timedelta(hours=1)))


def _periods(store: Store) -> list[str]:
    with store.db.engine.connect() as conn:
        return [row[0] for row in conn.execute(sa.text("SELECT DISTINCT period FROM deliveries"))]


def _index_new_paper(store: Store) -> None:
    """A paper arrives and is embedded by another process (as `paperwire index` would)."""
    from paperwire import plugins
    from paperwire.search import engine_for

    from .webkit import make_config

    record = PaperRecord(
        id="2611.00042",
        title="Mycorrhizal fungal networks share nutrients between forest trees",
        abstract="Underground fungal threads connect the roots of trees and move carbon.",
        authors=["Ada Root"],
        published=datetime(2026, 11, 2),
        source="arxiv-api",
    ).validated()
    store.papers.upsert([record], TRUST)
    config = make_config(Path(MODEL_CACHE).parent, database_url=store.db.url)
    assert engine_for(store, config.search, plugins.search_backends()).embed_papers([record.id])


def _found_within(base: str, query: str, paper: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while True:
        r = httpx.get(f"{base}/api/papers/search",
                      params={"q": query, "mode": "semantic"}, timeout=10)  # fmt: skip
        ids = [item["paper"]["id"] for item in r.json()] if r.status_code == 200 else []
        if paper in ids:
            return
        assert time.monotonic() < deadline, f"{paper} not found on {base}: {r.status_code}"
        time.sleep(0.1)


def test_one_instance_killed_mid_load_loses_no_acknowledged_write(shared_db, tmp_path):
    """nginx in front of two instances on one database; 12 writers upvote through nginx
    while a reader reads; one instance is SIGKILLed mid-load. Reads fail over (none fails),
    writes go on through the survivor, and every upvote a writer saw acknowledged is in the
    database."""
    require("nginx", nginx_problem())
    store = Store(shared_db)
    store.db.upgrade()
    seed(store)
    papers = [p.id for p in store.feed.latest(limit=100)]
    tokens = [_token(store, f"writer{i}") for i in range(12)]
    reader_token = _token(store, "reader")
    quiet = {**instance_settings(tmp_path, "x"), "digest_interval": "0"}
    with (
        app_server(shared_db, tmp_path / "a", settings=quiet) as a,
        app_server(shared_db, tmp_path / "b", settings=quiet) as b,
        run_nginx(tmp_path / "nginx", [a.address, b.address]) as ngx,
    ):
        stop = threading.Event()
        acked: list[tuple[str, str]] = []
        failed_reads: list[str] = []
        reads = [0]

        def write(i: int) -> None:
            with ngx.client(headers=tokens[i]) as client:
                for paper in papers:
                    if stop.is_set():
                        return
                    try:
                        r = client.post(f"/api/papers/{paper}/upvote")
                    except httpx.HTTPError:
                        continue  # unanswered: not acknowledged
                    if r.status_code == 200 and r.json().get("changed"):
                        acked.append((f"writer{i}", paper))

        def read() -> None:  # with a token: past nginx's cache, to an instance
            with ngx.client(headers=reader_token) as client:
                while not stop.is_set():
                    r = client.get(f"/api/papers/{papers[reads[0] % len(papers)]}")
                    reads[0] += 1
                    if r.status_code != 200:
                        failed_reads.append(f"{r.status_code} {r.text[:100]}")

        threads = [threading.Thread(target=write, args=(i,)) for i in range(12)]
        threads.append(threading.Thread(target=read))
        for t in threads:
            t.start()
        deadline = time.monotonic() + 30
        while len(acked) < 60 and time.monotonic() < deadline:
            time.sleep(0.05)
        os.killpg(a.proc.pid, signal.SIGKILL)  # the server and its workers, no goodbye
        a.proc.wait(10)
        killed_at = len(acked)
        for t in threads[:-1]:
            t.join(120)
        stop.set()
        threads[-1].join(30)
        assert a.proc.returncode is not None and b.proc.poll() is None
    assert not failed_reads, failed_reads[:5]
    assert reads[0] > 20
    assert len(acked) > killed_at  # the survivor took the rest
    with store.db.engine.connect() as conn:
        stored = set(
            conn.execute(
                sa.text(
                    "SELECT u.username, v.paper_id FROM upvotes v JOIN users u ON u.id = v.user_id"
                )
            ).all()
        )
    assert set(acked) <= {(name, pid) for name, pid in stored}
    assert len(set(acked)) == len(acked)  # each acknowledged once
    store.close()
