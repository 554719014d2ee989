"""The database: connections, the dialect, migrations, statistics and backups."""

from __future__ import annotations

import logging
import shutil
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine, make_url

from ..core.clock import iso
from ..core.errors import RecordRefused, StoreError, TimeBudgetExceeded
from . import schema as t

MIGRATIONS = Path(__file__).with_name("migrations")
# Tables that say nothing about whether a database holds anyone's data.
BOOKKEEPING = ("alembic_version", "site_meta", "leases", "rate_limits", "word_log_readers")


log = logging.getLogger("paperwire.store")

# What databases say when they refuse a write for want of room or permission: the file or
# database is read-only, the disk is full, or the storage failed under the write.
_REFUSED_TEXT = (
    "attempt to write a readonly database",
    "database or disk is full",
    "disk i/o error",
    "unable to open database file",
    "read-only transaction",
    "no space left on device",
    "database is read-only",
)
# PostgreSQL SQLSTATEs: read-only transaction, disk full, out of memory, I/O error,
# insufficient resources, configuration limit.
_REFUSED_PG_CODES = {"25006", "53100", "53200", "58030", "53000", "53400"}
# SQLite primary result codes: READONLY, IOERR, CORRUPT is not ours, FULL, CANTOPEN.
_REFUSED_SQLITE_CODES = {8, 10, 13, 14}


def storage_refused(exc: BaseException) -> bool:
    """Whether ``exc`` (or its cause) is the database refusing a write for want of room or
    permission, rather than a bug: read-only file or transaction, full disk, failing storage."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        orig = getattr(current, "orig", None)
        for candidate in (current, orig):
            if candidate is None:
                continue
            code = getattr(candidate, "sqlstate", None) or getattr(candidate, "pgcode", None)
            if code in _REFUSED_PG_CODES:
                return True
            errcode = getattr(candidate, "sqlite_errorcode", None)
            if isinstance(errcode, int) and errcode & 0xFF in _REFUSED_SQLITE_CODES:
                return True
            if isinstance(candidate, (sa.exc.OperationalError, sa.exc.InternalError, OSError)) or (
                type(candidate).__module__.split(".")[0] in {"sqlite3", "psycopg", "psycopg2"}
            ):
                text = str(candidate).lower()
                if any(marker in text for marker in _REFUSED_TEXT):
                    return True
        current = current.__cause__ or current.__context__
    return False


_warned: set[str] = set()


def best_effort(db: Any, write: Callable[[Connection], Any], what: str) -> bool:
    """Run ``write`` in its own transaction when the storage allows it: a write a read can do
    without (a token's last use, a counter) must not fail the read when the database is
    read-only or full. A refusal is logged once per ``what``; other errors propagate."""
    try:
        with db.begin() as conn:  # a Database (or an Engine)
            write(conn)
    except Exception as exc:
        if not storage_refused(exc):
            raise
        if what not in _warned:
            _warned.add(what)
            log.warning("storage refused a best-effort write (%s): %s", what, exc)
        return False
    return True


@dataclass
class Budget:
    """A time budget running in this thread: its deadline (``time.monotonic()``), the
    budget it runs within, and whether the database stopped a query for time in it."""

    deadline: float
    outer: Budget | None = None
    stopped: bool = False

    def stop(self) -> None:
        budget: Budget | None = self
        while budget is not None:
            budget.stopped = True
            budget = budget.outer


_BUDGET: ContextVar[Budget | None] = ContextVar("paperwire_query_budget", default=None)
PROGRESS_STEPS = 1000  # SQLite virtual machine steps between two looks at the clock
PG_QUERY_CANCELED = "57014"
POOL_SIZE = 16  # PostgreSQL connections a process keeps open (as many again may be opened)
PING_RESTED = 1.0  # seconds a pooled PostgreSQL connection may rest before it is tested


def _rested(dbapi_conn: Any, record: Any) -> None:
    record.info["rested"] = time.monotonic()


def _ping_if_rested(dbapi_conn: Any, record: Any, proxy: Any) -> None:
    """Test a pooled PostgreSQL connection that rested a while (the server may have
    restarted or dropped it since) before it is handed out; a broken one is replaced.
    Unlike SQLAlchemy's ``pool_pre_ping``, one reused within :data:`PING_RESTED` is not
    tested: under load that saved a round trip per query (a signed-in page made two)."""
    rested = record.info.get("rested")
    if rested is None or time.monotonic() - rested < PING_RESTED:
        return  # new, or in use a moment ago
    try:
        with dbapi_conn.cursor() as cur:
            cur.execute("SELECT 1")
        if not dbapi_conn.autocommit:
            dbapi_conn.rollback()  # the test began a transaction: end it
    except Exception as exc:  # the driver's error, whatever broke
        raise sa.exc.DisconnectionError(f"pooled connection broken: {exc}") from exc


class Database:
    """One SQLite file or PostgreSQL database. Call :meth:`upgrade` once to create or migrate
    the schema."""

    def __init__(self, url: str):
        self.url = url
        try:
            parsed = make_url(url)
        except sa.exc.ArgumentError as exc:
            raise StoreError(f"not a database URL: {url!r}") from exc
        self.dialect = parsed.get_backend_name()
        if self.dialect not in ("sqlite", "postgresql"):
            raise StoreError(f"unsupported database {self.dialect!r}: use SQLite or PostgreSQL")
        if self.dialect == "postgresql" and parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        self.sqlite_path: Path | None = None
        # Re-entrant: a transaction may run code that opens a nested one of its own.
        self._writer: threading.RLock | None = None
        kwargs: dict[str, Any] = {}
        if self.dialect == "sqlite":
            if parsed.database in (None, "", ":memory:"):
                raise StoreError("SQLite needs a file path (in-memory databases are not shared)")
            self.sqlite_path = Path(parsed.database)
            if not self.sqlite_path.parent.exists():
                raise StoreError(f"directory {self.sqlite_path.parent} does not exist")
            kwargs["connect_args"] = {"timeout": 30}
            self._writer = threading.RLock()
        else:
            # Connections kept open per process: more than a web process's threads (8 by
            # default) and its background work, so that none opens and closes a connection
            # per request (SQLAlchemy's 5 did that for the 6th to 8th thread, and PostgreSQL
            # starts a server process for each).
            kwargs["pool_size"] = POOL_SIZE
            kwargs["max_overflow"] = POOL_SIZE
        try:
            self.engine: Engine = sa.create_engine(parsed, **kwargs)
        except ImportError as exc:
            raise StoreError(
                f"PostgreSQL needs its driver ({exc.name}): pip install 'paperwire[postgres]'"
            ) from None
        if self.dialect == "sqlite":
            event.listen(self.engine, "connect", _sqlite_on_connect)
        else:
            event.listen(self.engine.pool, "checkin", _rested)
            event.listen(self.engine.pool, "checkout", _ping_if_rested)
        # Reads on PostgreSQL run outside a transaction: each statement sees what was
        # committed when it began (as in a READ COMMITTED transaction), without the BEGIN and
        # ROLLBACK round trips around it (a page of three reads made twelve round trips).
        self._reads: Engine = (
            self.engine.execution_options(isolation_level="AUTOCOMMIT")
            if self.dialect == "postgresql"
            else self.engine
        )

    # -- connections ---------------------------------------------------------------------
    def close(self) -> None:
        self.engine.dispose()

    def begin(self) -> Any:
        """A transaction (context manager giving a connection); pass that connection to
        repository methods that take ``conn`` to group their writes. On SQLite the
        transactions of one process take turns (a lock held until commit): SQLite has one
        writer at a time, and writers that wait inside SQLite poll with sleeps of up to
        100 ms, so a burst of writes otherwise crawls (tens per second)."""
        if self._writer is None:
            return self.engine.begin()
        return self._in_turn()

    @contextmanager
    def _in_turn(self) -> Iterator[Connection]:
        assert self._writer is not None
        with self._writer, self.engine.begin() as conn:
            yield conn

    def connect(self) -> Any:
        """A connection for reads; under :meth:`time_budget`, one whose queries the database
        stops at the deadline."""
        budget = _BUDGET.get()
        if budget is None:
            return self._reads.connect()
        return self._budgeted(budget)

    @contextmanager
    def time_budget(self, seconds: float) -> Iterator[Budget]:
        """Within this block, queries through :meth:`connect` in this thread are stopped by
        the database once ``seconds`` have passed (SQLite: a progress handler that looks at
        the clock; PostgreSQL: ``SET LOCAL statement_timeout`` with the time left), raising
        :class:`TimeBudgetExceeded`. A nested budget ends by the outer one's deadline at
        the latest; a query stopped in it marks the outer ones ``stopped`` too."""
        outer = _BUDGET.get()
        deadline = time.monotonic() + max(0.0, seconds)
        if outer is not None:
            deadline = min(deadline, outer.deadline)
        budget = Budget(deadline, outer)
        token = _BUDGET.set(budget)
        try:
            yield budget
        finally:
            _BUDGET.reset(token)

    @staticmethod
    def time_left() -> float | None:
        """Seconds left of this thread's time budget (None: no budget runs)."""
        budget = _BUDGET.get()
        return None if budget is None else budget.deadline - time.monotonic()

    @contextmanager
    def _budgeted(self, budget: Budget) -> Iterator[Connection]:
        deadline = budget.deadline
        left = deadline - time.monotonic()
        if left <= 0:
            budget.stop()
            raise TimeBudgetExceeded("the query's time budget is spent")
        with self.engine.connect() as conn:
            raw: Any = conn.connection.driver_connection
            if self.dialect == "sqlite":
                raw.set_progress_handler(lambda: time.monotonic() > deadline, PROGRESS_STEPS)
            else:
                conn.exec_driver_sql(f"SET LOCAL statement_timeout = {max(1, int(left * 1000))}")
            try:
                yield conn
            except sa.exc.OperationalError as exc:
                if _interrupted(exc):
                    budget.stop()
                    raise TimeBudgetExceeded("the query ran past its time budget") from exc
                raise
            finally:
                if self.dialect == "sqlite":
                    raw.set_progress_handler(None, 0)

    @contextmanager
    def transaction(self, dry_run: bool = False) -> Iterator[Connection]:
        """A transaction for writes that may be refused: rolled back instead of committed
        when ``dry_run``; a refusal by the database (a constraint, a value out of range)
        raises :class:`RecordRefused`, a database that is down or locked
        :class:`StoreError`."""
        try:
            with self.engine.connect() as conn:
                trans = conn.begin()
                try:
                    yield conn
                except BaseException:
                    trans.rollback()
                    raise
                if dry_run:
                    trans.rollback()
                else:
                    trans.commit()
        except sa.exc.OperationalError as exc:
            raise StoreError(str(exc.orig).strip()) from exc
        except sa.exc.DBAPIError as exc:
            raise RecordRefused(type(exc.orig).__name__, str(exc.orig).strip()) from exc

    def insert(self, table: sa.Table) -> Any:
        """INSERT with this dialect's ON CONFLICT clauses."""
        return (postgresql.insert if self.dialect == "postgresql" else sqlite.insert)(table)

    # -- schema --------------------------------------------------------------------------
    def _alembic_config(self) -> Any:
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        return cfg

    def upgrade(self, revision: str = "head") -> None:
        """Apply migrations up to ``revision`` (idempotent)."""
        from alembic import command

        cfg = self._alembic_config()
        try:
            with self.begin() as conn:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, revision)
        except sa.exc.OperationalError as exc:
            raise StoreError(f"cannot open database: {exc.orig}") from exc

    def revision(self) -> str | None:
        """The schema revision read straight from alembic's table: one cheap query, for
        readiness checks too (None: no schema)."""
        with self.engine.connect() as conn:
            if not sa.inspect(conn).has_table("alembic_version"):
                return None
            return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()

    def head_revision(self) -> str:
        """The latest migration this code knows (read from the migration files once)."""
        return _head_revision()

    def storage_problem(self, min_free_bytes: int = 1 << 20) -> str | None:
        """Why the database cannot take writes now (read-only, full), or None: a write probe
        that changes nothing and is rolled back, and the free space around a SQLite file."""
        try:
            with self.engine.connect() as conn:
                trans = conn.begin()
                try:
                    # Takes the write lock (SQLite) or is refused in a read-only transaction
                    # (PostgreSQL), and matches no row.
                    conn.execute(sa.text("UPDATE site_meta SET value = value WHERE 1 = 0"))
                    if self.dialect == "sqlite":
                        pages = conn.exec_driver_sql("PRAGMA page_count").scalar() or 0
                        most = conn.exec_driver_sql("PRAGMA max_page_count").scalar() or 0
                        free = conn.exec_driver_sql("PRAGMA freelist_count").scalar() or 0
                        if most and pages >= most and not free:
                            return "database full (max_page_count reached)"
                finally:
                    trans.rollback()
        except Exception as exc:
            if storage_refused(exc):
                return f"writes refused: {str(getattr(exc, 'orig', exc)).splitlines()[0]}"
            raise
        if self.sqlite_path is not None:
            left = shutil.disk_usage(self.sqlite_path.parent).free
            if left < min_free_bytes:
                return f"disk almost full ({left} bytes free)"
        return None

    def check_ready(self) -> None:
        """Raise StoreError unless the schema is at the latest migration."""
        try:
            current = self.revision()
        except sa.exc.OperationalError as exc:
            raise StoreError(f"cannot open database: {exc.orig}") from exc
        if current != self.head_revision():
            raise StoreError(
                f"database schema is at {current or 'nothing'}, expected "
                f"{self.head_revision()}: run `paperwire db upgrade`"
            )

    # -- reporting and maintenance -------------------------------------------------------
    def count(self, table: str) -> int:
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    sa.select(sa.func.count()).select_from(t.metadata.tables[table])
                ).scalar_one()
            )

    def stats(self) -> dict[str, Any]:
        """What the catalogue holds: rows per table, dates, code links, top categories."""
        p, f = t.papers, t.feed_entries
        with self.engine.connect() as conn:
            out: dict[str, Any] = {
                name: conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
                for name, table in t.metadata.tables.items()
            }
            row = conn.execute(
                sa.select(
                    sa.func.min(p.c.published),
                    sa.func.max(p.c.published),
                    sa.func.count(p.c.github_repo),
                    sa.func.count(p.c.github_stars),
                )
            ).one()
            out["published_range"] = [iso(row[0]), iso(row[1])]
            out["with_code"] = row[2]
            out["with_stars"] = row[3]
            first, last = conn.execute(
                sa.select(sa.func.min(f.c.feed_date), sa.func.max(f.c.feed_date))
            ).one()
            out["feed_range"] = [iso(first), iso(last)]
            cats = conn.execute(
                sa.select(p.c.primary_category, sa.func.count())
                .group_by(p.c.primary_category)
                .order_by(sa.func.count().desc())
                .limit(8)
            ).all()
            out["top_categories"] = {c or "?": n for c, n in cats}
        out["backend"] = self.dialect
        out["schema_revision"] = self.revision()
        if self.sqlite_path and self.sqlite_path.exists():
            out["size_bytes"] = self.sqlite_path.stat().st_size
        return out

    def backup(self, dest: Path) -> Path:
        """A consistent copy of the live database (SQLite file, or a pg_dump archive)."""
        dest = Path(dest)
        if dest.exists():
            raise StoreError(f"{dest} exists; refusing to overwrite")
        if not dest.parent.exists():
            raise StoreError(f"directory {dest.parent} does not exist")
        if self.sqlite_path is not None:
            tmp = dest.with_name(dest.name + ".partial")
            src = sqlite3.connect(self.sqlite_path)
            try:
                dst = sqlite3.connect(tmp)
                try:
                    src.backup(dst)  # online, page-consistent snapshot
                finally:
                    dst.close()
            finally:
                src.close()
            tmp.rename(dest)
            return dest
        pg_dump = shutil.which("pg_dump")
        if pg_dump is None:
            raise StoreError("pg_dump not found: install the PostgreSQL client tools")
        url = self.engine.url.set(drivername="postgresql")
        proc = subprocess.run(
            [
                pg_dump,
                "--format=custom",
                "--file",
                str(dest),
                url.render_as_string(hide_password=False),
            ],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            dest.unlink(missing_ok=True)
            raise StoreError(f"pg_dump failed: {proc.stderr.strip()}")
        return dest

    def holds_data(self) -> bool:
        """Whether any table of the schema has a row (bookkeeping tables aside); False for a
        database with no schema yet."""
        names = set(sa.inspect(self.engine).get_table_names())
        with self.engine.connect() as conn:
            for name, table in t.metadata.tables.items():
                if name in names and name not in BOOKKEEPING:
                    if conn.execute(sa.select(sa.literal(1)).select_from(table).limit(1)).first():
                        return True
        return False

    def restore(self, src: Path, force: bool = False) -> str | None:
        """Replace this database's content with a backup made by :meth:`backup` (a SQLite file,
        or a pg_dump archive), then migrate it to the latest schema. Refuses a database that
        holds data unless ``force``. Returns the schema revision the backup had."""
        src = Path(src)
        if not src.is_file():
            raise StoreError(f"{src} is not a file")
        if self.sqlite_path is not None:
            revision = _sqlite_revision(src)  # checked before anything is touched
        else:
            self._check_archive(src)
        if not force and self.holds_data():
            raise StoreError(
                "the target database holds data; stop the site and workers, then restore with "
                "--force to replace it"
            )
        if self.sqlite_path is not None:
            self._restore_sqlite(src)
        else:
            self._restore_pg(src)
            revision = self.revision()
        self.engine.dispose()  # no pooled connection keeps a view of the old content
        if revision is not None and revision != self.head_revision():
            self._check_known(revision)
        self.upgrade()
        return revision

    def _restore_sqlite(self, src: Path) -> None:
        # SQLite's backup API copies every page into the target in one write transaction:
        # atomic for other connections, and correct with the target's WAL (a file rename
        # under a live WAL would not be).
        assert self.sqlite_path is not None
        self.engine.dispose()
        source = sqlite3.connect(f"file:{src}?mode=ro", uri=True)
        try:
            target = sqlite3.connect(self.sqlite_path, timeout=30)
            try:
                source.backup(target)
                target.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                target.close()
        except sqlite3.Error as exc:
            raise StoreError(f"restore failed: {exc}") from exc
        finally:
            source.close()

    def _pg_url(self) -> str:
        return self.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)

    def _check_archive(self, src: Path) -> None:
        proc = subprocess.run(
            [_pg_tool("pg_restore"), "--list", str(src)], capture_output=True, text=True
        )
        if proc.returncode != 0:
            raise StoreError(
                f"{src} is not a pg_dump archive pg_restore can read: {proc.stderr.strip()}"
            )

    def _restore_pg(self, src: Path) -> None:
        self.engine.dispose()
        proc = subprocess.run(
            [
                _pg_tool("pg_restore"),
                "--clean",
                "--if-exists",
                "--no-owner",
                "--single-transaction",  # all of it or nothing (implies --exit-on-error)
                "--dbname",
                self._pg_url(),
                str(src),
            ],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            raise StoreError(f"pg_restore failed (nothing changed): {proc.stderr.strip()}")

    def _check_known(self, revision: str) -> None:
        from alembic.script import ScriptDirectory
        from alembic.util import CommandError

        scripts = ScriptDirectory.from_config(self._alembic_config())
        try:
            scripts.get_revision(revision)
        except CommandError:
            raise StoreError(
                f"the backup's schema ({revision}) is newer than this Paperwire knows "
                f"({self.head_revision()}): restore it with that release"
            ) from None

    def ops_counts(self) -> dict[str, Any]:
        """What operators graph, read cheaply at scrape time: papers and the newest one's
        arrival, ingest runs by job and status, digest deliveries by status and the last sent,
        the jobs queue by kind and state."""
        p, r, d, q = t.papers, t.job_runs, t.deliveries, t.jobs
        with self.engine.connect() as conn:
            newest = conn.execute(
                sa.select(p.c.created_at).order_by(p.c.seq.desc()).limit(1)
            ).scalar()
            return {
                "papers": conn.execute(sa.select(sa.func.count()).select_from(p)).scalar_one(),
                "newest_paper_at": newest,
                "ingest_runs": conn.execute(
                    sa.select(r.c.job, r.c.status, sa.func.count()).group_by(r.c.job, r.c.status)
                ).all(),
                "deliveries": conn.execute(
                    sa.select(d.c.status, sa.func.count()).group_by(d.c.status)
                ).all(),
                "last_sent_at": conn.execute(sa.select(sa.func.max(d.c.sent_at))).scalar(),
                "jobs": conn.execute(
                    sa.select(q.c.kind, q.c.state, sa.func.count()).group_by(q.c.kind, q.c.state)
                ).all(),
            }


@cache
def _head_revision() -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(cfg).get_current_head()
    assert head is not None
    return head


def _sqlite_revision(path: Path) -> str | None:
    """The schema revision of a SQLite backup file (StoreError: not a SQLite database, or
    not Paperwire's)."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            conn.execute("PRAGMA quick_check").fetchone()
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path} is not a Paperwire SQLite backup: {exc}") from None
    return row[0] if row else None


def _pg_tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise StoreError(
            f"{name} not found: install the PostgreSQL client tools (Debian: postgresql-client)"
        )
    return found


def _interrupted(exc: sa.exc.OperationalError) -> bool:
    """Whether the database stopped the query for its time budget."""
    if getattr(exc.orig, "sqlstate", None) == PG_QUERY_CANCELED:
        return True
    return isinstance(exc.orig, sqlite3.OperationalError) and "interrupted" in str(exc.orig)


def _sqlite_on_connect(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


__all__ = ["Connection", "Database"]
