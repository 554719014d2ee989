"""A database that refuses writes (read-only, full disk) for real: reads are served, writes
get a clear 503 with Retry-After, never a 500; a read never needs to write."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy import event

from paperwire.store import Store
from paperwire.store.database import best_effort, storage_refused

from .webkit import Visitor, add_user, seed, site


def _mount_tmpfs(where: Path, size: str) -> None:
    where.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")


@pytest.fixture
def small_disk(tmp_path):
    """A real 8 MB file system of its own (a tmpfs), unmounted afterwards."""
    where = tmp_path / "disk"
    _mount_tmpfs(where, "8m")
    yield where
    subprocess.run(["umount", "-l", str(where)], check=False)


def _fill(path: Path) -> None:
    """Fill the file system to the last byte (big writes, then single bytes)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    try:
        for size in (65536, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError:
                pass
    finally:
        os.close(fd)


def _site_on(store, tmp_path, **overrides):
    ids = seed(store, days=1)
    uid = add_user(store, "writer")
    token = store.accounts.create_token(uid, "bot")
    app, _ = site(store, tmp_path, semantic_search=False, **overrides)
    return app, ids, {"Authorization": f"Bearer {token}"}


def _count_comments(store) -> int:
    with store.db.engine.connect() as conn:
        return conn.execute(sa.text("SELECT count(*) FROM comments")).scalar()


def _check_degraded(app, ids, auth, store, before: int, every_write: bool = True) -> None:
    """Reads 200 (with a Bearer token too), writes 503 with a message, never a 500."""
    api = TestClient(app)
    pid = ids[0]
    assert api.get("/healthz").text == "ok"
    for url in ("/api/daily_papers", f"/api/papers/{pid}", f"/api/papers/{pid}/comments"):
        assert api.get(url).status_code == 200, url
    r = api.get("/api/whoami", headers=auth)
    assert r.status_code == 200 and r.json()["name"] == "writer", r.text
    r = api.post(f"/api/papers/{pid}/comments", headers=auth, json={"body": "x " * 4500})
    assert r.status_code == 503, r.text
    assert "read-only" in r.json()["error"] and r.headers["retry-after"].isdigit()
    r = api.post(f"/api/papers/{pid}/upvote", headers=auth)
    # A full database can still take a write that fits in its pages' free room.
    assert r.status_code == 503 if every_write else r.status_code in (200, 503), r.text
    # Pages: the paper page reads, a form post is answered with the HTML error page.
    v = Visitor(app)
    assert v.get(f"/papers/{pid}").status_code == 200
    assert v.get("/papers").status_code == 200
    r = v.post("/signin", {"login": "writer", "password": "nope-wrong-password"})
    assert r.status_code in (400, 401, 403, 503), r.text  # never a 500
    ready = api.get("/readyz").json()
    assert ready["storage"] == "degraded" and ready["storage_problem"], ready
    assert _count_comments(store) == before


def test_full_disk_reads_served_writes_503(small_disk, tmp_path):
    store = Store(f"sqlite:///{small_disk / 'paperwire.db'}")
    store.db.upgrade()
    app, ids, auth = _site_on(store, tmp_path)
    api = TestClient(app)
    r = api.post(f"/api/papers/{ids[0]}/comments", headers=auth, json={"body": "fits"})
    assert r.status_code == 201
    assert api.get("/readyz").json()["storage"] == "ok"
    _fill(small_disk / "filler")
    try:
        _check_degraded(app, ids, auth, store, before=1)
    finally:
        os.unlink(small_disk / "filler")
    r = api.post(f"/api/papers/{ids[0]}/comments", headers=auth, json={"body": "room again"})
    assert r.status_code == 201 and _count_comments(store) == 2
    store.close()


def test_read_only_file_system_reads_served_writes_503(small_disk, tmp_path):
    """The site's database seen through a read-only mount of its directory (as after the
    kernel remounts a failing disk read-only): SQLite refuses every write for real."""
    writable = Store(f"sqlite:///{small_disk / 'paperwire.db'}")
    writable.db.upgrade()
    ids = seed(writable, days=1)
    uid = add_user(writable, "writer")
    auth = {"Authorization": f"Bearer {writable.accounts.create_token(uid, 'bot')}"}
    view = tmp_path / "ro-view"
    view.mkdir()
    for args in (["--bind", str(small_disk), str(view)], ["-o", "remount,ro,bind", str(view)]):
        done = subprocess.run(["mount", *args], capture_output=True, check=False)
        assert done.returncode == 0, done.stderr
    # The writer keeps its connection (its -wal and -shm files stay, as on a live site).
    with writable.db.engine.connect() as keep:
        keep.execute(sa.text("SELECT 1"))
        store = Store(f"sqlite:///{view / 'paperwire.db'}")
        try:
            app, _ = site(store, tmp_path, semantic_search=False)
            _check_degraded(app, ids, auth, store, before=0)
        finally:
            store.close()
            subprocess.run(["umount", "-l", str(view)], check=False)
    writable.close()


def test_sqlite_full_by_page_limit(sqlite_store, tmp_path):
    """SQLITE_FULL for real without a file system of its own: the page limit reached."""
    app, ids, auth = _site_on(sqlite_store, tmp_path)
    engine = sqlite_store.db.engine
    with engine.connect() as conn:
        conn.exec_driver_sql("VACUUM")  # no free page left inside the file
        pages = conn.exec_driver_sql("PRAGMA page_count").scalar()

    def limit(dbapi_conn, _record):
        dbapi_conn.execute(f"PRAGMA max_page_count = {pages}")

    event.listen(engine, "connect", limit)
    engine.dispose()
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    try:
        _check_degraded(app, ids, auth, sqlite_store, before=0, every_write=False)
    finally:
        event.remove(engine, "connect", limit)
        engine.dispose()


def test_postgresql_read_only_database(pg_store, pg_url, tmp_path):
    """The database set read-only (as a failover replica or an operator would)."""
    with pg_store.begin() as conn:
        names = ", ".join(
            r[0]
            for r in conn.execute(
                sa.text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            )
            if r[0] != "alembic_version"
        )
        conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    app, ids, auth = _site_on(pg_store, tmp_path)
    name = sa.engine.make_url(pg_url).database
    admin_url = sa.engine.make_url(pg_url).set(drivername="postgresql+psycopg", database="postgres")
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on'))
    pg_store.db.engine.dispose()
    try:
        _check_degraded(app, ids, auth, pg_store, before=0)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'ALTER DATABASE "{name}" RESET default_transaction_read_only'))
        admin.dispose()
        pg_store.db.engine.dispose()


@pytest.mark.parametrize("store", ["sqlite", "postgresql"], indirect=True)
def test_read_only_setting_refuses_writes_up_front(store, tmp_path):
    app, ids, auth = _site_on(store, tmp_path, read_only=True)
    api = TestClient(app)
    assert api.get("/api/whoami", headers=auth).status_code == 200
    r = api.post(f"/api/papers/{ids[0]}/comments", headers=auth, json={"body": "hello"})
    assert r.status_code == 503 and r.headers["retry-after"] == "300"
    assert "maintenance" in r.json()["error"]
    v = Visitor(app)
    assert v.get(f"/papers/{ids[0]}").status_code == 200
    r = v.client.post("/signin", data={"login": "writer", "password": "x"})
    assert r.status_code == 503 and "text/html" in r.headers["content-type"]
    assert "read-only" in r.text
    assert _count_comments(store) == 0


def test_best_effort_swallows_only_refusals(sqlite_store):
    engine = sqlite_store.db.engine

    def refused(conn):
        raise sa.exc.OperationalError(
            "UPDATE", {}, Exception("attempt to write a readonly database")
        )

    def bug(conn):
        raise ValueError("a bug")

    assert best_effort(engine, refused, "test") is False
    with pytest.raises(ValueError):
        best_effort(engine, bug, "test")
    assert best_effort(engine, lambda conn: conn.execute(sa.text("SELECT 1")), "test") is True
    assert not storage_refused(ValueError("database or disk is full"))  # not from a database
