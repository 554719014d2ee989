"""The database: connections, the dialect, migrations, statistics and backups."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
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
        kwargs: dict[str, Any] = {}
        if self.dialect == "sqlite":
            if parsed.database in (None, "", ":memory:"):
                raise StoreError("SQLite needs a file path (in-memory databases are not shared)")
            self.sqlite_path = Path(parsed.database)
            if not self.sqlite_path.parent.exists():
                raise StoreError(f"directory {self.sqlite_path.parent} does not exist")
            kwargs["connect_args"] = {"timeout": 30}
        else:
            kwargs["pool_pre_ping"] = True
        try:
            self.engine: Engine = sa.create_engine(parsed, **kwargs)
        except ImportError as exc:
            raise StoreError(
                f"PostgreSQL needs its driver ({exc.name}): pip install 'paperwire[postgres]'"
            ) from None
        if self.dialect == "sqlite":
            event.listen(self.engine, "connect", _sqlite_on_connect)

    # -- connections ---------------------------------------------------------------------
    def close(self) -> None:
        self.engine.dispose()

    def begin(self) -> Any:
        """A transaction (context manager giving a connection); pass that connection to
        repository methods that take ``conn`` to group their writes."""
        return self.engine.begin()

    def connect(self) -> Any:
        """A connection for reads; under :meth:`time_budget`, one whose queries the database
        stops at the deadline."""
        budget = _BUDGET.get()
        if budget is None:
            return self.engine.connect()
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
            with self.engine.begin() as conn:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, revision)
        except sa.exc.OperationalError as exc:
            raise StoreError(f"cannot open database: {exc.orig}") from exc

    def revision(self) -> str | None:
        from alembic.runtime.migration import MigrationContext

        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def head_revision(self) -> str:
        from alembic.script import ScriptDirectory

        head = ScriptDirectory.from_config(self._alembic_config()).get_current_head()
        assert head is not None
        return head

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
