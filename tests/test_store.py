"""Store behaviour, run against SQLite and PostgreSQL alike."""

import time
from datetime import date, datetime, timedelta

import pytest
import sqlalchemy as sa

from paperwire.core.records import FeedItem, PaperRecord
from paperwire.store import Store, StoreError
from paperwire.store import schema as t

from .storekit import TRUST


def rec(pid="2401.09417", **kw) -> PaperRecord:
    base = dict(
        id=pid,
        title="Vision Mamba: Efficient Visual Representation Learning",
        abstract="State space models with bidirectional scanning for image recognition.",
        authors=["Lianghui Zhu", "Bencheng Liao"],
        categories=["cs.CV", "cs.LG"],
        published=datetime(2024, 1, 17),
        source="arxiv-api",
    )
    base.update(kw)
    return PaperRecord(**base).validated()


def test_insert_then_nothing_new(store):
    records = [rec(f"2401.{n:05d}", title=f"Paper number {n}") for n in range(1, 2001)]
    first = store.papers.upsert(records, TRUST)
    assert (first.inserted, first.updated, first.unchanged) == (2000, 0, 0)
    again = store.papers.upsert(records, TRUST)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 2000)
    assert store.db.count("papers") == 2000
    assert store.papers.size_estimate() == 2000  # the highest seq, no rows counted


def test_newer_version_updates_older_does_not(store):
    store.papers.upsert([rec(version=1, title="Old title")], TRUST)
    c = store.papers.upsert([rec(version=2, title="New title", doi="10.1/x")], TRUST)
    assert c.updated == 1
    assert store.papers.get("2401.09417").title == "New title"
    c = store.papers.upsert([rec(version=1, title="Old title", journal_ref="ICML 2024")], TRUST)
    assert c.updated == 1  # fills the empty journal_ref only
    p = store.papers.get("2401.09417")
    assert (p.title, p.version, p.journal_ref, p.doi) == (
        "New title",
        2,
        "ICML 2024",
        "10.1/x",
    )


def test_lower_ranked_source_only_fills_gaps(store):
    arxiv = "The arXiv abstract, as the authors wrote it for the paper."
    store.papers.upsert([rec(abstract=arxiv, comment=None)], TRUST)
    store.papers.upsert(
        [
            rec(
                abstract="A scraped abstract, as some page showed it to a reader.",
                comment="12 pages",
                source="listing",
            )
        ],
        TRUST,
    )
    p = store.papers.get("2401.09417")
    assert p.abstract == arxiv and p.comment == "12 pages"
    assert p.source == "arxiv-api"


def test_duplicates_in_one_batch_merge(store):
    c = store.papers.upsert(
        [rec(version=1, title="A"), rec(version=3, title="C"), rec(version=2, title="B")], TRUST
    )
    assert c.inserted == 1
    p = store.papers.get("2401.09417")
    assert (p.version, p.title) == (3, "C")


def test_keyword_index_follows_inserts_updates_deletes(store):
    store.papers.upsert(
        [
            rec(),
            rec(
                "2305.07027",
                title="EfficientViT cascaded group attention",
                abstract="A memory efficient vision transformer with cascaded group attention.",
                authors=["Xinyu Liu"],
            ),
        ],
        TRUST,
    )
    assert [pid for pid, _ in store.search.keyword_search("bidirectional scanning")] == [
        "2401.09417"
    ]
    assert [pid for pid, _ in store.search.keyword_search("zhu")] == [
        "2401.09417"
    ]  # authors indexed
    newer = "Selective scans over image patches in every direction at once."
    store.papers.upsert([rec(version=2, abstract=newer)], TRUST)
    assert store.search.keyword_search("bidirectional scanning") == []
    assert [pid for pid, _ in store.search.keyword_search("selective patches")] == ["2401.09417"]
    uid = store.accounts.create_user("claimant", None, None)
    store.accounts.claim_authorship(uid, "2401.09417", "Lianghui Zhu")
    store.papers.record_github("2401.09417", stars=5, etag=None, repo="hustvl/Vim")
    store.discussion.add("2401.09417", uid, "first")
    assert store.papers.delete("2401.09417")  # with its claims, star history and comments
    assert store.papers.get("2401.09417") is None
    assert store.search.keyword_search("selective patches") == []
    assert store.search.check()


@pytest.mark.parametrize(
    "query", ['"unbalanced', "-", "OR", "AND NOT (", "*", "title:x", "é ü", "a" * 10000, ""]
)
def test_keyword_search_never_raises(store, query):
    store.papers.upsert([rec()], TRUST)
    assert isinstance(store.search.keyword_search(query), list)


def feed_item(pid, day, upvotes=3, by="akhaliq", org=None):
    return FeedItem(
        paper=rec(pid, title=f"Paper {pid}", source="hf"),
        feed_date=day,
        submitted_at=datetime.combine(day, datetime.min.time()) + timedelta(hours=9),
        submitted_by=by,
        submitter_fullname="AK",
        upvotes=upvotes,
        organization=org,
        organization_fullname=org and org.title(),
    )


def test_feed_import_is_idempotent_and_keeps_first_day(store):
    d1, d2 = date(2026, 3, 2), date(2026, 3, 3)
    counts, added = store.feed.import_items(
        [feed_item("2603.00001", d1, 5, org="tencent"), feed_item("2603.00002", d1, 1)], TRUST
    )
    assert (counts.inserted, added) == (2, 2)
    counts, added = store.feed.import_items([feed_item("2603.00001", d2, 9)], TRUST)
    assert (counts.inserted, added) == (0, 0)
    with store.db.engine.connect() as conn:
        rows = conn.execute(sa.select(t.feed_entries.c.paper_id, t.feed_entries.c.feed_date)).all()
        users = conn.execute(sa.select(t.users.c.username, t.users.c.origin)).all()
        orgs = conn.execute(sa.select(t.organizations.c.name, t.organizations.c.fullname)).all()
    assert sorted((r[0], str(r[1])) for r in rows) == [
        ("2603.00001", "2026-03-02"),
        ("2603.00002", "2026-03-02"),
    ]
    assert users == [("akhaliq", "hf")] and orgs == [("tencent", "Tencent")]
    p = store.papers.get("2603.00001")
    assert p.upvotes == 9 and p.organization_id is not None
    assert store.feed.span() == (d1, d1)


def test_upvotes_are_external_plus_local(store):
    store.feed.import_items([feed_item("2603.00001", date(2026, 3, 2), 5)], TRUST)
    now = datetime(2026, 3, 2, 10)
    with store.begin() as conn:
        uid = conn.execute(
            t.users.insert().values(username="alice", created_at=now).returning(t.users.c.id)
        ).scalar_one()
        conn.execute(t.upvotes.insert().values(user_id=uid, paper_id="2603.00001", created_at=now))
    store.feed.import_items([feed_item("2603.00001", date(2026, 3, 2), 7)], TRUST)
    assert store.papers.get("2603.00001").upvotes == 8


def test_job_checkpoint_commits_with_data(store):
    run = store.jobs.start("oai", {"set": "cs"})
    with pytest.raises(RuntimeError):
        with store.begin() as conn:
            store.papers.upsert([rec()], TRUST, conn)
            store.jobs.checkpoint(run, {"token": "t1"}, {"pages": 1}, conn)
            raise RuntimeError("crash before commit")
    assert store.db.count("papers") == 0
    assert store.jobs.resumable("oai", {"set": "cs"}) is None  # no checkpoint committed
    with store.begin() as conn:
        store.papers.upsert([rec()], TRUST, conn)
        store.jobs.checkpoint(run, {"token": "t1"}, {"pages": 1}, conn)
    again = store.jobs.resumable("oai", {"set": "cs"})
    assert again.id == run and again.state == {"token": "t1"}
    assert store.jobs.resumable("oai", {"set": "math"}) is None
    store.jobs.finish(run, "ok", {"pages": 2})
    assert store.jobs.resumable("oai", {"set": "cs"}) is None
    store.jobs.fail(store.jobs.start("oai", {"set": "cs"}), "boom")
    assert store.jobs.runs("oai")[0].status == "failed"


def test_github_refresh_queue(store):
    store.papers.upsert(
        [rec(github_repo="hustvl/Vim"), rec("2305.07027", title="EfficientViT")], TRUST
    )
    todo = store.papers.due_for_stars(10, datetime(2100, 1, 1))
    assert [r.id for r in todo] == ["2401.09417"]
    store.papers.record_github("2401.09417", stars=3000, etag='W/"abc"', repo="hustvl/Vim")
    assert store.papers.due_for_stars(10, datetime(2000, 1, 1)) == []
    p = store.papers.get("2401.09417")
    assert (p.github_stars, p.github_etag) == (3000, 'W/"abc"')


def test_stats(store):
    store.feed.import_items([feed_item("2603.00001", date(2026, 3, 2))], TRUST)
    s = store.db.stats()
    assert s["papers"] == 1 and s["feed_entries"] == 1 and s["backend"] == store.dialect
    assert s["schema_revision"] == store.db.head_revision()


def test_backup_is_a_consistent_copy(store, tmp_path):
    store.papers.upsert([rec(f"2401.{n:05d}", title=f"P{n}") for n in range(1, 301)], TRUST)
    dest = tmp_path / "copy.db"
    if store.dialect == "postgresql":
        import shutil

        if shutil.which("pg_dump") is None:
            pytest.skip("pg_dump is not installed")
        dest = tmp_path / "copy.dump"
        store.db.backup(dest)
        assert dest.stat().st_size > 0 and dest.read_bytes()[:5] == b"PGDMP"
        return
    store.db.backup(dest)
    copy = Store(f"sqlite:///{dest}")
    assert copy.db.count("papers") == 300
    assert [p for p, _ in copy.search.keyword_search("P7")] == ["2401.00007"]
    with pytest.raises(StoreError, match="exists"):
        store.db.backup(dest)


def test_schema_matches_models(store):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with store.db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), t.metadata)
    # The keyword index is created by raw DDL (FTS5 table / generated tsvector column), and
    # so is the data version (a one-row table on SQLite, a sequence on PostgreSQL) and the
    # word log its triggers write (AUTOINCREMENT on SQLite, an identity on PostgreSQL), and
    # the users' lower-case name indexes (in the "C" collation on PostgreSQL: migration 0022).
    raw = ("papers_fts", "tsv", "data_version", "word_log", "sqlite_sequence", "_lower")
    diff = [d for d in diff if not any(name in str(d) for name in raw)]
    assert diff == []


def test_bad_urls_fail_clearly(tmp_path):
    with pytest.raises(StoreError, match="not a database URL"):
        Store("nonsense")
    with pytest.raises(StoreError, match="unsupported database"):
        Store("mysql://x/y")
    with pytest.raises(StoreError, match="does not exist"):
        Store(f"sqlite:///{tmp_path}/missing/dir/x.db")
    s = Store(f"sqlite:///{tmp_path}/fresh.db")
    with pytest.raises(StoreError, match="db upgrade"):
        s.db.check_ready()


def test_sqlite_backup_while_writing(sqlite_store, tmp_path):
    """The copy is a consistent snapshot even with a writer busy in another thread."""
    import threading

    sqlite_store.papers.upsert([rec(f"2401.{n:05d}", title=f"P{n}") for n in range(1, 501)], TRUST)
    stop = threading.Event()

    def writer():
        n = 501
        while not stop.is_set() and n < 20000:
            sqlite_store.papers.upsert(
                [rec(f"2401.{k:05d}", title=f"P{k}") for k in range(n, n + 50)], TRUST
            )
            n += 50

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        copies = []
        for i in range(3):
            dest = tmp_path / f"copy{i}.db"
            sqlite_store.db.backup(dest)
            copies.append(Store(f"sqlite:///{dest}"))
    finally:
        stop.set()
        thread.join()
    for copy in copies:
        n = copy.db.count("papers")
        assert n >= 500 and n % 50 == 0  # whole transactions only
        assert copy.search.check()
        with copy.db.engine.connect() as conn:
            assert conn.execute(sa.text("PRAGMA integrity_check")).scalar() == "ok"


def test_a_record_the_database_refuses_is_skipped_and_the_batch_goes_in(pg_store):
    """PostgreSQL refuses a NUL byte in text: that record is reported, the others of its
    batch are written (each retried alone); a dry run writes nothing at all."""
    from paperwire.ingest.pipeline import write_papers
    from paperwire.ingest.report import ImportReport

    from .conftest import _truncate

    _truncate(pg_store)
    batch = [rec("2401.00001", title="One"), rec("2401.00002", title="Two"),
             rec("2401.00003", title="Three")]  # fmt: skip
    batch[1].github_repo = "owner/re\x00po"
    report = ImportReport()
    write_papers(pg_store, TRUST, batch, report, dry_run=True)
    assert pg_store.db.count("papers") == 0 and report.inserted == 2
    report = ImportReport()
    write_papers(pg_store, TRUST, batch, report, dry_run=False)
    assert report.inserted == 2 and pg_store.db.count("papers") == 2
    assert report.skipped == ["2401.00002: database refused the record (DataError)"]


def test_categories_with_spaces_round_trip(store):
    """Listings carry classes like "68U10, 90C26": stored space-separated, a second import
    of the same record changes nothing."""
    r = rec(categories=["cs.CV", "math.NA", "68U10, 90C26"])
    assert r.categories == ["cs.CV", "math.NA", "68U10,", "90C26"]
    store.papers.upsert([r], TRUST)
    again = store.papers.upsert([rec(categories=["cs.CV", "math.NA", "68U10, 90C26"])], TRUST)
    assert (again.updated, again.unchanged) == (0, 1)


def test_sqlite_transactions_of_one_process_take_turns(sqlite_store):
    """SQLite has one writer at a time: the transactions of a process queue in Python (handed
    over at once) instead of inside SQLite (polling with sleeps of up to 100 ms)."""
    import threading
    import time

    db, events = sqlite_store.db, []

    def first() -> None:
        with db.begin() as conn:
            conn.execute(t.site_meta.insert().values(key="turn-a", value="1"))
            events.append("a in")
            time.sleep(0.3)
            events.append("a out")

    thread = threading.Thread(target=first)
    thread.start()
    while not events:
        time.sleep(0.005)
    with db.begin() as conn:
        events.append("b in")
        conn.execute(t.site_meta.insert().values(key="turn-b", value="1"))
    thread.join()
    assert events == ["a in", "a out", "b in"]
    with db.begin(), db.begin():  # re-entrant within a thread
        pass
    with db.connect() as conn:  # both written
        keys = conn.execute(sa.select(t.site_meta.c.key).where(t.site_meta.c.key.like("turn-%")))
        assert sorted(k for (k,) in keys) == ["turn-a", "turn-b"]


def _backend_pid(store: Store) -> int:
    with store.db.connect() as conn:
        return int(conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one())


def _terminate(pg_url: str, pid: int) -> None:
    admin = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        admin.dispose()


def test_postgres_pool_replaces_a_connection_broken_while_it_rested(pg_url, monkeypatch):
    """A pooled connection that rested is tested before use: one the server dropped in
    the meantime (a restart, an idle timeout) is replaced, and the read succeeds."""
    from paperwire.store import database

    store = Store(pg_url)
    try:
        first = _backend_pid(store)
        assert _backend_pid(store) == first  # the pool hands the same connection back
        _terminate(pg_url, first)
        monkeypatch.setattr(database, "PING_RESTED", 0.0)  # it rested long enough
        second = _backend_pid(store)
        assert second != first
        monkeypatch.setattr(database, "PING_RESTED", 60.0)  # in use a moment ago: trusted
        assert _backend_pid(store) == second
    finally:
        store.close()


def test_postgres_pool_keeps_a_connection_per_thread(pg_url):
    """Eight threads reading at once reuse eight pooled connections instead of opening a
    new one (a new server process) for each read beyond SQLAlchemy's default five."""
    import threading

    store = Store(pg_url)
    opened = []
    sa.event.listen(store.db.engine, "connect", lambda *a: opened.append(1))
    barrier = threading.Barrier(8)
    reads = []

    def read() -> None:
        for _ in range(5):
            with store.db.connect() as conn:
                barrier.wait(timeout=10)  # all eight hold a connection at once
                reads.append(conn.execute(sa.text("SELECT 1")).scalar_one())
            barrier.wait(timeout=10)  # all eight gave theirs back

    try:
        threads = [threading.Thread(target=read) for _ in range(8)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(30)
        assert len(reads) == 40 and len(opened) == 8
    finally:
        store.close()


def test_signin_failures_outlive_the_pruning_of_old_rate_windows(store):
    """The pruning of rate-limit windows older than a day (done now and then by any
    rate-limited request) keeps the current window's sign-in failures and the time of the
    last one: an attacker's waits go on. A new window forgets the old one's rows."""
    now = time.time()
    for _ in range(4):
        store.throttle.fail("user:7", 900, now)
    store.accounts.rate_prune(now - 86400)
    assert store.throttle.failures("user:7", 900, now) == (4, float(int(now)))
    later = now + 900
    store.throttle.fail("user:7", 900, later)
    assert store.throttle.failures("user:7", 900, later) == (1, float(int(later)))
    with store.db.connect() as conn:
        rows = conn.execute(
            sa.select(sa.func.count())
            .select_from(t.rate_limits)
            .where(t.rate_limits.c.key.like("signin-%:user:7"))
        ).scalar_one()
    assert rows == 2  # the new window's count and last time; the old window's are gone
