"""Store: connection handling, migrations, and every query the application makes."""

from __future__ import annotations

import os
import re
import shutil
import socket
import sqlite3
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine, make_url

from ..ingest.records import FeedItem, PaperRecord
from . import schema as t
from .accounts import AccountQueries
from .common import StoreError, as_date, chunks, iso, utcnow
from .feed import FeedQueries
from .mail import MailQueries
from .search import SearchQueries

MIGRATIONS = Path(__file__).with_name("migrations")

# Which sources may overwrite what another source said about the same version of a paper.
SOURCE_RANK = {"arxiv-api": 4, "oai": 4, "snapshot": 4, "hf": 3, "listing": 2, "demo": 1}
MERGED_FIELDS = (
    "version",
    "title",
    "abstract",
    "authors",
    "num_authors",
    "categories",
    "primary_category",
    "published",
    "updated",
    "comment",
    "journal_ref",
    "doi",
    "project_page",
)


@dataclass
class UpsertCounts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == []


def merge_paper(existing: dict, rec: PaperRecord) -> dict:
    """Return the columns that ``rec`` changes in ``existing`` (empty dict: nothing new).

    A newer version overrides everything it states. The same (or unknown) version overrides
    when its source ranks at least as high as the stored one; otherwise it only fills gaps.
    """
    old_v, new_v = existing["version"], rec.version
    newer = new_v is not None and (old_v is None or new_v > old_v)
    older = new_v is not None and old_v is not None and new_v < old_v
    rank_ok = SOURCE_RANK.get(rec.source, 0) >= SOURCE_RANK.get(existing["source"], 0)
    overrides = newer or (not older and rank_ok)
    incoming = {
        "version": new_v,
        "title": rec.title,
        "abstract": rec.abstract,
        "authors": rec.authors,
        "num_authors": rec.num_authors if rec.authors or rec.num_authors else None,
        "categories": " ".join(rec.categories),
        "primary_category": rec.primary_category,
        "published": rec.published,
        "updated": rec.updated,
        "comment": rec.comment,
        "journal_ref": rec.journal_ref,
        "doi": rec.doi,
        "project_page": rec.project_page,
    }
    changes: dict[str, Any] = {}
    for name in MERGED_FIELDS:
        value = incoming[name]
        if _empty(value):
            continue
        if name == "version" and older:
            continue
        if (overrides or _empty(existing[name])) and value != existing[name]:
            changes[name] = value
    if rec.github_repo and not existing["github_repo"]:
        changes["github_repo"] = rec.github_repo
    if rec.github_stars is not None and rec.github_stars != existing["github_stars"]:
        changes["github_stars"] = rec.github_stars
    if changes and overrides:
        changes["source"] = rec.source
    return changes


def _paper_row(rec: PaperRecord, now: datetime) -> dict:
    return {
        "id": rec.id,
        "version": rec.version,
        "title": rec.title,
        "abstract": rec.abstract,
        "authors": rec.authors,
        "num_authors": rec.num_authors or len(rec.authors),
        "categories": " ".join(rec.categories),
        "primary_category": rec.primary_category,
        "published": rec.published,
        "updated": rec.updated,
        "comment": rec.comment,
        "journal_ref": rec.journal_ref,
        "doi": rec.doi,
        "github_repo": rec.github_repo,
        "github_stars": rec.github_stars,
        "project_page": rec.project_page,
        "source": rec.source,
        "created_at": now,
        "modified_at": now,
    }


_FTS_TOKEN = re.compile(r"\w+", re.UNICODE)


def fts5_query(text: str) -> str | None:
    """Turn free text into a safe FTS5 query: every word quoted, all required."""
    words = _FTS_TOKEN.findall(text.lower())[:64]
    if not words:
        return None
    return " ".join(f'"{w}"' for w in words)


class Store(AccountQueries, FeedQueries, MailQueries, SearchQueries):
    """All database access. Create with a SQLAlchemy URL; call ``upgrade()`` once."""

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
        self.engine: Engine = sa.create_engine(parsed, **kwargs)
        if self.dialect == "sqlite":
            event.listen(self.engine, "connect", _sqlite_on_connect)

    # -- lifecycle -----------------------------------------------------------------------
    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _alembic_config(self):
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

        return ScriptDirectory.from_config(self._alembic_config()).get_current_head()

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

    def begin(self):
        """A transaction; pass the connection to the methods below to group writes."""
        return self.engine.begin()

    # -- papers --------------------------------------------------------------------------
    def upsert_papers(
        self, records: Sequence[PaperRecord], conn: Connection | None = None
    ) -> UpsertCounts:
        """Insert new papers and merge newer information into known ones.

        Records must be validated. Runs in ``conn``'s transaction, or in its own.
        """
        if conn is None:
            with self.engine.begin() as own:
                return self.upsert_papers(records, own)
        counts = UpsertCounts()
        latest: dict[str, PaperRecord] = {}
        for rec in records:  # one row per paper; records later in the batch merge in
            prev = latest.get(rec.id)
            latest[rec.id] = rec if prev is None else _combine(prev, rec)
        now = utcnow()
        cols = [t.papers.c.seq, t.papers.c.id, t.papers.c.source, t.papers.c.github_repo]
        cols += [t.papers.c.github_stars] + [t.papers.c[n] for n in MERGED_FIELDS]
        for chunk in chunks(list(latest.values())):
            ids = [r.id for r in chunk]
            existing = {
                row.id: row._asdict()
                for row in conn.execute(sa.select(*cols).where(t.papers.c.id.in_(ids)))
            }
            new_rows = [_paper_row(r, now) for r in chunk if r.id not in existing]
            if new_rows:
                conn.execute(self._insert(t.papers).on_conflict_do_nothing(), new_rows)
                counts.inserted += len(new_rows)
            for rec in chunk:
                old = existing.get(rec.id)
                if old is None:
                    continue
                changes = merge_paper(old, rec)
                if not changes:
                    counts.unchanged += 1
                    continue
                changes["modified_at"] = now
                conn.execute(
                    t.papers.update().where(t.papers.c.seq == old["seq"]).values(**changes)
                )
                counts.updated += 1
        return counts

    def _insert(self, table: sa.Table):
        return (postgresql.insert if self.dialect == "postgresql" else sqlite.insert)(table)

    def get_paper(self, paper_id: str) -> dict | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(t.papers).where(t.papers.c.id == paper_id)).first()
        return _paper_dict(row) if row else None

    def count(self, table: str) -> int:
        with self.engine.connect() as conn:
            return conn.execute(
                sa.select(sa.func.count()).select_from(t.metadata.tables[table])
            ).scalar_one()

    def delete_paper(self, paper_id: str) -> bool:
        """Remove a paper with everything that refers to it: feed entry, upvotes, comments,
        authorship claims, star history, embeddings."""
        with self.engine.begin() as conn:
            seq = sa.select(t.papers.c.seq).where(t.papers.c.id == paper_id).scalar_subquery()
            emb = t.paper_embeddings
            conn.execute(emb.delete().where(emb.c.paper_seq == seq))
            for table in (t.feed_entries, t.upvotes, t.authorship_claims, t.star_snapshots):
                conn.execute(table.delete().where(table.c.paper_id == paper_id))
            conn.execute(t.comments.delete().where(t.comments.c.paper_id == paper_id))
            res = conn.execute(t.papers.delete().where(t.papers.c.id == paper_id))
        return res.rowcount > 0

    # -- keyword index -------------------------------------------------------------------
    def keyword_search(self, text: str, limit: int = 20) -> list[tuple[str, float]]:
        """Papers matching every word of ``text``, best first, with the backend's score."""
        limit = max(1, min(int(limit), 1000))
        with self.engine.connect() as conn:
            if self.dialect == "sqlite":
                q = fts5_query(text)
                if q is None:
                    return []
                rows = conn.execute(
                    sa.text(
                        "SELECT p.id, bm25(papers_fts, 10.0, 1.0, 2.0) AS score "
                        "FROM papers_fts JOIN papers p ON p.seq = papers_fts.rowid "
                        "WHERE papers_fts MATCH :q ORDER BY score LIMIT :n"
                    ),
                    {"q": q, "n": limit},
                )
                return [(r.id, -float(r.score)) for r in rows]
            rows = conn.execute(
                sa.text(
                    "SELECT id, ts_rank_cd(tsv, query) AS score "
                    "FROM papers, websearch_to_tsquery('english', :q) AS query "
                    "WHERE tsv @@ query ORDER BY score DESC, id LIMIT :n"
                ),
                {"q": text[:2000], "n": limit},
            )
            return [(r.id, float(r.score)) for r in rows]

    def keyword_index_check(self) -> bool:
        """SQLite: FTS5 integrity check against the papers table. PostgreSQL: always in sync
        (the tsvector is a generated column)."""
        if self.dialect != "sqlite":
            return True
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    sa.text("INSERT INTO papers_fts(papers_fts, rank) VALUES('integrity-check', 1)")
                )
        except sa.exc.DatabaseError:
            return False
        return True

    # -- feed ----------------------------------------------------------------------------
    def import_feed(
        self, items: Sequence[FeedItem], conn: Connection | None = None
    ) -> tuple[UpsertCounts, int]:
        """Store daily-feed items: papers, submitters, organizations, entries, upvote counts.

        Returns (paper counts, feed entries added). A paper keeps its first feed date.
        """
        if conn is None:
            with self.engine.begin() as own:
                return self.import_feed(items, own)
        counts = self.upsert_papers([i.paper for i in items], conn)
        subs = {i.submitted_by: i for i in items if i.submitted_by}
        user_ids = self._ensure_named(
            conn,
            t.users,
            {
                k: {
                    "fullname": v.submitter_fullname,
                    "avatar_url": v.submitter_avatar,
                    "origin": "hf",
                }
                for k, v in subs.items()
            },
            key="username",
        )
        added = 0
        for chunk in chunks(list(items)):
            ids = [i.paper.id for i in chunk]
            on_feed = set(
                conn.execute(
                    sa.select(t.feed_entries.c.paper_id).where(t.feed_entries.c.paper_id.in_(ids))
                ).scalars()
            )
            rows = []
            for item in chunk:
                if item.paper.id in on_feed:
                    continue
                on_feed.add(item.paper.id)
                rows.append(
                    {
                        "paper_id": item.paper.id,
                        "feed_date": item.feed_date,
                        "submitted_by": user_ids.get(item.submitted_by),
                        "submitted_at": item.submitted_at.replace(tzinfo=None),
                        "thumbnail": item.thumbnail,
                    }
                )
            if rows:
                conn.execute(self._insert(t.feed_entries).on_conflict_do_nothing(), rows)
                added += len(rows)
        self.set_popularity(
            conn,
            [
                (
                    i.paper.id,
                    i.upvotes,
                    i.organization,
                    i.organization_fullname,
                    i.organization_avatar,
                )
                for i in items
            ],
        )
        return counts, added

    def set_popularity(
        self, conn: Connection, rows: Sequence[tuple[str, int, str | None, str | None, str | None]]
    ) -> None:
        """Record upvote counts from elsewhere (and the organization) for papers:
        rows of (paper id, upvotes, organization name, full name, avatar URL)."""
        orgs = {
            name: {"fullname": full, "avatar_url": avatar}
            for _, _, name, full, avatar in rows
            if name
        }
        org_ids = self._ensure_named(conn, t.organizations, orgs)
        for pid, upvotes, org, _, _ in rows:
            values: dict[str, Any] = {"upvotes_external": max(0, int(upvotes))}
            if org:
                values["organization_id"] = org_ids[org]
            conn.execute(t.papers.update().where(t.papers.c.id == pid).values(**values))
        self._recount_upvotes(conn, [r[0] for r in rows])

    def _recount_upvotes(self, conn: Connection, paper_ids: Sequence[str]) -> None:
        local = (
            sa.select(sa.func.count())
            .select_from(t.upvotes)
            .where(t.upvotes.c.paper_id == t.papers.c.id)
            .scalar_subquery()
        )
        for chunk in chunks(list(dict.fromkeys(paper_ids))):
            conn.execute(
                t.papers.update()
                .where(t.papers.c.id.in_(chunk))
                .values(upvotes=t.papers.c.upvotes_external + local)
            )

    def _ensure_named(
        self, conn: Connection, table: sa.Table, wanted: dict[str, dict], key: str = "name"
    ) -> dict[str, int]:
        """Make sure a row exists per name (filling empty details); return name -> id."""
        if not wanted:
            return {}
        col = table.c[key]
        found = {r[0]: r for r in conn.execute(sa.select(col, table).where(col.in_(list(wanted))))}
        now = utcnow()
        missing = [{key: k, "created_at": now, **v} for k, v in wanted.items() if k not in found]
        if missing:
            conn.execute(self._insert(table).on_conflict_do_nothing(index_elements=[key]), missing)
        for name, details in wanted.items():
            row = found.get(name)
            if row is None:
                continue
            fill = {k: v for k, v in details.items() if v and not getattr(row, k, None)}
            if fill:
                conn.execute(table.update().where(col == name).values(**fill))
        rows = conn.execute(sa.select(col, table.c.id).where(col.in_(list(wanted))))
        return {name: row_id for name, row_id in rows}

    def feed_dates(self) -> tuple[date | None, date | None]:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(
                    sa.func.min(t.feed_entries.c.feed_date), sa.func.max(t.feed_entries.c.feed_date)
                )
            ).one()
        return as_date(row[0]), as_date(row[1])

    # -- GitHub --------------------------------------------------------------------------
    def papers_for_star_refresh(self, limit: int, older_than: datetime) -> list[dict]:
        """Papers with a repo whose stars were never checked or checked before ``older_than``."""
        p = t.papers
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(p.c.id, p.c.github_repo, p.c.github_etag, p.c.github_stars)
                .where(p.c.github_repo.is_not(None))
                .where(sa.or_(p.c.github_checked_at.is_(None), p.c.github_checked_at < older_than))
                .order_by(p.c.github_checked_at.is_not(None), p.c.github_checked_at, p.c.seq)
                .limit(limit)
            )
            return [r._asdict() for r in rows]

    def record_github(
        self,
        paper_id: str,
        *,
        stars: int | None,
        etag: str | None,
        repo: str | None = None,
        gone: bool = False,
    ) -> None:
        values: dict[str, Any] = {"github_checked_at": utcnow(), "github_etag": etag}
        if gone:
            values.update(github_stars=None, github_etag=None)
        elif stars is not None:
            values["github_stars"] = stars
        if repo:
            values["github_repo"] = repo
        with self.engine.begin() as conn:
            conn.execute(t.papers.update().where(t.papers.c.id == paper_id).values(**values))
            if stars is not None and not gone:  # history for the trending rank's star growth
                conn.execute(
                    self._insert(t.star_snapshots).on_conflict_do_nothing(),
                    {
                        "paper_id": paper_id,
                        "observed_at": values["github_checked_at"],
                        "stars": stars,
                    },
                )

    # -- jobs ----------------------------------------------------------------------------
    def start_job(self, job: str, params: dict, state: dict | None = None) -> int:
        now = utcnow()
        with self.engine.begin() as conn:
            return conn.execute(
                t.job_runs.insert()
                .values(
                    job=job,
                    params=params,
                    status="running",
                    state=state,
                    stats={},
                    host=socket.gethostname()[:255],
                    pid=os.getpid(),
                    started_at=now,
                    updated_at=now,
                )
                .returning(t.job_runs.c.id)
            ).scalar_one()

    def checkpoint_job(
        self, run_id: int, state: dict | None, stats: dict, conn: Connection | None = None
    ) -> None:
        """Save progress; pass the data transaction's ``conn`` so both commit together."""
        stmt = (
            t.job_runs.update()
            .where(t.job_runs.c.id == run_id)
            .values(state=state, stats=stats, updated_at=utcnow())
        )
        if conn is not None:
            conn.execute(stmt)
            return
        with self.engine.begin() as own:
            own.execute(stmt)

    def finish_job(self, run_id: int, status: str, stats: dict, error: str | None = None) -> None:
        now = utcnow()
        with self.engine.begin() as conn:
            conn.execute(
                t.job_runs.update()
                .where(t.job_runs.c.id == run_id)
                .values(status=status, stats=stats, error=error, updated_at=now, finished_at=now)
            )

    def fail_job(self, run_id: int, error: str) -> None:
        """Mark a run failed, keeping its checkpoint so that the next run can resume it."""
        now = utcnow()
        with self.engine.begin() as conn:
            conn.execute(
                t.job_runs.update()
                .where(t.job_runs.c.id == run_id)
                .values(status="failed", error=error[:4000], updated_at=now, finished_at=now)
            )

    def resumable_job(self, job: str, params: dict) -> dict | None:
        """The latest run of ``job`` with the same params that stopped (crashed or failed)
        after saving a checkpoint."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(t.job_runs)
                .where(t.job_runs.c.job == job, t.job_runs.c.status.in_(["running", "failed"]))
                .order_by(t.job_runs.c.id.desc())
                .limit(20)
            ).all()
        for row in rows:
            if row.params == params and row.state:
                return row._asdict()
        return None

    def job_runs(self, job: str | None = None, limit: int = 20) -> list[dict]:
        q = sa.select(t.job_runs).order_by(t.job_runs.c.id.desc()).limit(limit)
        if job:
            q = q.where(t.job_runs.c.job == job)
        with self.engine.connect() as conn:
            return [r._asdict() for r in conn.execute(q)]

    # -- reporting and maintenance -------------------------------------------------------
    def stats(self) -> dict:
        p = t.papers
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
            first, last = self.feed_dates()
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
        if self.dialect == "sqlite":
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


def _sqlite_on_connect(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def _as_existing(rec: PaperRecord) -> dict:
    row = _paper_row(rec, utcnow())
    row["seq"] = 0
    return row


def _combine(prev: PaperRecord, rec: PaperRecord) -> PaperRecord:
    """Merge two records of one paper from the same batch (the second wins where it may)."""
    merged = PaperRecord(**vars(prev))
    changes = merge_paper(_as_existing(prev), rec)
    for name, value in changes.items():
        if name == "categories":
            merged.categories = value.split()
        else:
            setattr(merged, name, value)
    return merged


def _paper_dict(row) -> dict:
    d = row._asdict()
    d["categories"] = d["categories"].split() if d["categories"] else []
    d.pop("tsv", None)
    return d
