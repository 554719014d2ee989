import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

from paperwire.ingest.http import PoliteClient
from paperwire.store import Store, schema

PG_ADMIN_URL = os.environ.get(
    "PAPERWIRE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
SHARED = Path(__file__).resolve().parents[1].parent / "shared"


# Tests that start real processes and kill them mid-work (the crash-safety proofs).
KILLS_PROCESSES = {
    "test_killed_mid_run_then_resumed_sends_every_message_exactly_once",
    "test_two_instances_at_once_never_double_send",
    "test_killed_process_resumes_without_loss_or_duplicates",
    "test_serve_workers_get_the_parents_settings",
}


def pytest_collection_modifyitems(items):
    """Markers for `make test-fast`: which tests need PostgreSQL, Chromium, or real
    processes killed mid-work."""
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        fixtures = getattr(item, "fixturenames", ())
        if "postgresql" in params.values() or {"pg_url", "pg_store"} & set(fixtures):
            item.add_marker(pytest.mark.postgres)
        if item.module.__name__.endswith("test_browser"):
            item.add_marker(pytest.mark.browser)
        if getattr(item, "originalname", item.name) in KILLS_PROCESSES:
            item.add_marker(pytest.mark.processes)


def _pg_available() -> str | None:
    try:
        engine = sa.create_engine(PG_ADMIN_URL)
        with engine.connect():
            pass
        engine.dispose()
        return None
    except Exception as exc:  # noqa: BLE001 - any failure means "no server"
        return str(exc).splitlines()[0]


def require(what: str, problem: str | None) -> None:
    """Skip with the reason when a real component is missing, except in CI, where every
    test must run."""
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"{what} is required in CI: {problem}")
        pytest.skip(f"{what} unavailable: {problem}")


@contextmanager
def fresh_pg_database(prefix: str = "paperwire_test") -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database, dropped (with whoever still uses it)
    at the end."""
    require(f"PostgreSQL at {PG_ADMIN_URL}", _pg_available())
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield sa.engine.make_url(PG_ADMIN_URL).set(database=name).render_as_string(False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def pg_url():
    """A fresh PostgreSQL database for this test session, dropped at the end."""
    with fresh_pg_database() as url:
        yield url


@pytest.fixture(scope="session")
def pg_store(pg_url):
    store = Store(pg_url)
    store.db.upgrade()
    yield store
    store.close()


def _truncate(store: Store) -> None:
    # The word log (migration 0018) is written by triggers, not declared in the schema.
    names = ", ".join([*reversed([t.name for t in schema.metadata.sorted_tables]), "word_log"])
    with store.begin() as conn:
        conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path / 'paperwire.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    """The store on each backend, empty and migrated."""
    if request.param == "sqlite":
        s = Store(f"sqlite:///{tmp_path / 'store.db'}")
        s.db.upgrade()
        yield s
        s.close()
    else:
        s = request.getfixturevalue("pg_store")
        _truncate(s)
        yield s


@pytest.fixture
def sqlite_store(tmp_path):
    s = Store(f"sqlite:///{tmp_path / 'store.db'}")
    s.db.upgrade()
    yield s
    s.close()


@pytest.fixture
def fast_client():
    """A polite client without the politeness delays (the server is local)."""
    naps: list[float] = []
    client = PoliteClient(min_interval=0.0, retries=3, backoff=0.01, timeout=5, sleep=naps.append)
    client.naps = naps
    yield client
    client.close()


@pytest.fixture
def web(sqlite_store, tmp_path):
    """A site over a seeded SQLite store: (app, store, feed ids, config)."""
    from .webkit import seed, site

    ids = seed(sqlite_store)
    app, config = site(sqlite_store, tmp_path)
    yield app, sqlite_store, ids, config
    app.state.page_cache.version.close()  # its poller stops before the database goes


@pytest.fixture
def web_both(store, tmp_path):
    """Like ``web``, on each backend (SQLite and PostgreSQL)."""
    from .webkit import seed, site

    ids = seed(store)
    app, config = site(store, tmp_path)
    yield app, store, ids, config
    app.state.page_cache.version.close()
