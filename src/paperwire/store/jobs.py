"""Jobs: runs of long jobs with their checkpoints (so that a killed run resumes), leases
(so that two instances never run the same job at once), and the queue of small durable
tasks (:class:`QueueRepo`: claimed with a lease, retried with backoff)."""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..core.clock import utcnow
from ..core.models import Job, JobRun, Lease
from . import schema as t
from .common import Repository, model

J, L, Q = t.job_runs, t.leases, t.jobs
ACTIVE = ("queued", "running")


class JobRepo(Repository):
    # -- runs ----------------------------------------------------------------------------
    def start(self, job: str, params: dict[str, Any], state: dict[str, Any] | None = None) -> int:
        now = utcnow()
        with self.db.begin() as conn:
            run_id = conn.execute(
                J.insert()
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
                .returning(J.c.id)
            ).scalar_one()
        return int(run_id)

    def checkpoint(
        self,
        run_id: int,
        state: dict[str, Any] | None,
        stats: dict[str, Any],
        conn: Connection | None = None,
    ) -> None:
        """Save progress; pass the data transaction's ``conn`` so both commit together."""
        stmt = (
            J.update().where(J.c.id == run_id).values(state=state, stats=stats, updated_at=utcnow())
        )
        if conn is not None:
            conn.execute(stmt)
            return
        with self.db.begin() as own:
            own.execute(stmt)

    def finish(
        self, run_id: int, status: str, stats: dict[str, Any], error: str | None = None
    ) -> None:
        now = utcnow()
        with self.db.begin() as conn:
            conn.execute(
                J.update()
                .where(J.c.id == run_id)
                .values(status=status, stats=stats, error=error, updated_at=now, finished_at=now)
            )

    def fail(self, run_id: int, error: str) -> None:
        """Mark a run failed, keeping its checkpoint so that the next run can resume it."""
        now = utcnow()
        with self.db.begin() as conn:
            conn.execute(
                J.update()
                .where(J.c.id == run_id)
                .values(status="failed", error=error[:4000], updated_at=now, finished_at=now)
            )

    def resumable(self, job: str, params: dict[str, Any]) -> JobRun | None:
        """The latest run of ``job`` with the same params that stopped (crashed or failed)
        after saving a checkpoint."""
        with self.db.connect() as conn:
            rows = conn.execute(
                sa.select(J)
                .where(J.c.job == job, J.c.status.in_(["running", "failed"]))
                .order_by(J.c.id.desc())
                .limit(20)
            ).all()
        for row in rows:
            if row.params == params and row.state:
                return model(JobRun, row)
        return None

    def runs(self, job: str | None = None, limit: int = 20) -> list[JobRun]:
        q = sa.select(J).order_by(J.c.id.desc()).limit(limit)
        if job:
            q = q.where(J.c.job == job)
        with self.db.connect() as conn:
            return [model(JobRun, r) for r in conn.execute(q)]

    # -- leases --------------------------------------------------------------------------
    def acquire_lease(self, name: str, holder: str, ttl: float) -> bool:
        """Take (or renew) the lease ``name`` for ``ttl`` seconds; False while another holder
        has it. Safe across processes and hosts: one conditional statement decides."""
        now = utcnow()
        expires = now + timedelta(seconds=ttl)
        with self.db.begin() as conn:
            stmt = (
                self.db.insert(L)
                .values(name=name, holder=holder, acquired_at=now, expires_at=expires)
                .on_conflict_do_update(
                    index_elements=[L.c.name],
                    set_={"holder": holder, "acquired_at": now, "expires_at": expires},
                    where=sa.or_(L.c.holder == holder, L.c.expires_at < now),
                )
                .returning(L.c.holder)
            )
            got = conn.execute(stmt).first()
        return got is not None and got[0] == holder

    def take_over_lease(self, name: str, old_holder: str, holder: str, ttl: float) -> bool:
        """Take the lease from ``old_holder`` (known to be dead), unless someone else did."""
        now = utcnow()
        with self.db.begin() as conn:
            res = conn.execute(
                L.update()
                .where(L.c.name == name, L.c.holder == old_holder)
                .values(holder=holder, acquired_at=now, expires_at=now + timedelta(seconds=ttl))
            )
        return res.rowcount == 1

    def release_lease(self, name: str, holder: str) -> None:
        with self.db.begin() as conn:
            conn.execute(L.delete().where(L.c.name == name, L.c.holder == holder))

    def lease(self, name: str) -> Lease | None:
        with self.db.connect() as conn:
            row = conn.execute(sa.select(L).where(L.c.name == name)).first()
        return model(Lease, row) if row else None


class QueueRepo(Repository):
    """The jobs queue. A job is unique per (kind, key): enqueueing an active job again
    returns it unchanged; enqueueing a finished one starts it afresh. Workers ``claim`` due
    jobs one at a time under a lease and report back with ``done``, ``retry`` or ``fail``,
    which only count while they still hold the claim."""

    def enqueue(
        self,
        kind: str,
        key: str,
        payload: dict[str, Any],
        *,
        max_attempts: int,
        owner_id: int | None = None,
        run_at: datetime | None = None,
        last_error: str | None = None,
    ) -> tuple[Job, bool]:
        """The job for (kind, key) and whether this call (re)started it."""
        now = utcnow()
        fresh = {
            "payload": payload,
            "state": "queued",
            "attempts": 0,
            "max_attempts": max(1, max_attempts),
            "next_attempt_at": run_at or now,
            "lease_until": None,
            "claimed_by": None,
            "owner_id": owner_id,
            "last_error": last_error,
            "result": None,
            "created_at": now,
            "updated_at": now,
            "finished_at": None,
        }
        with self.db.begin() as conn:
            started = conn.execute(
                self.db.insert(Q)
                .values(kind=kind, key=key, **fresh)
                .on_conflict_do_update(
                    index_elements=[Q.c.kind, Q.c.key],
                    set_=fresh,
                    where=Q.c.state.not_in(ACTIVE),
                )
                .returning(Q.c.id)
            ).first()
            row = conn.execute(sa.select(Q).where(Q.c.kind == kind, Q.c.key == key)).one()
        return model(Job, row), started is not None

    def claim(
        self,
        holder: str,
        lease: float,
        kinds: Sequence[str] | None = None,
        now: datetime | None = None,
    ) -> Job | None:
        """Take the next due job (queued and due, or running with a lapsed lease) for
        ``lease`` seconds, counting an attempt. One statement decides, so two workers never
        take the same job: PostgreSQL skips rows another claimer has locked; SQLite runs
        writes one at a time."""
        now = now or utcnow()
        due = sa.or_(
            sa.and_(Q.c.state == "queued", Q.c.next_attempt_at <= now),
            sa.and_(Q.c.state == "running", Q.c.lease_until < now),
        )
        if kinds is not None:
            due = sa.and_(due, Q.c.kind.in_(list(kinds)))
        pick = (
            sa.select(Q.c.id)
            .where(due)
            .order_by(Q.c.next_attempt_at, Q.c.id)
            .limit(1)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        with self.db.begin() as conn:
            row = conn.execute(
                Q.update()
                .where(Q.c.id == pick, due)
                .values(
                    state="running",
                    attempts=Q.c.attempts + 1,
                    claimed_by=holder,
                    lease_until=now + timedelta(seconds=lease),
                    updated_at=now,
                )
                .returning(*Q.c)
            ).first()
        return model(Job, row) if row else None

    def _settle(self, job: Job, **values: Any) -> bool:
        now = values.pop("now", None) or utcnow()
        with self.db.begin() as conn:
            res = conn.execute(
                Q.update()
                .where(Q.c.id == job.id, Q.c.state == "running", Q.c.claimed_by == job.claimed_by)
                .values(lease_until=None, updated_at=now, **values)
            )
        return res.rowcount == 1

    def done(self, job: Job, result: str | None = None, now: datetime | None = None) -> bool:
        now = now or utcnow()
        return self._settle(
            job, state="done", result=result, last_error=None, finished_at=now, now=now
        )

    def retry(self, job: Job, error: str, at: datetime, now: datetime | None = None) -> bool:
        """Back to the queue until ``at``, with the reason it failed this time."""
        return self._settle(
            job, state="queued", next_attempt_at=at, last_error=error[:4000], now=now
        )

    def fail(self, job: Job, error: str, now: datetime | None = None) -> bool:
        now = now or utcnow()
        return self._settle(job, state="failed", last_error=error[:4000], finished_at=now, now=now)

    def get(self, kind: str, key: str) -> Job | None:
        with self.db.connect() as conn:
            row = conn.execute(sa.select(Q).where(Q.c.kind == kind, Q.c.key == key)).first()
        return model(Job, row) if row else None

    def of_owner(
        self, owner_id: int, kinds: Sequence[str], since: datetime, limit: int = 50
    ) -> list[Job]:
        """An account's active jobs, and those that finished since ``since``; newest first."""
        q = (
            sa.select(Q)
            .where(
                Q.c.owner_id == owner_id,
                Q.c.kind.in_(list(kinds)),
                sa.or_(Q.c.state.in_(ACTIVE), Q.c.finished_at >= since),
            )
            .order_by(Q.c.created_at.desc(), Q.c.id.desc())
            .limit(limit)
        )
        with self.db.connect() as conn:
            return [model(Job, r) for r in conn.execute(q)]

    def active_count(self, owner_id: int, kind: str) -> int:
        with self.db.connect() as conn:
            return int(
                conn.execute(
                    sa.select(sa.func.count())
                    .select_from(Q)
                    .where(Q.c.owner_id == owner_id, Q.c.kind == kind, Q.c.state.in_(ACTIVE))
                ).scalar_one()
            )

    def list(self, state: str | None = None, kind: str | None = None, limit: int = 50) -> list[Job]:
        q = sa.select(Q).order_by(Q.c.updated_at.desc(), Q.c.id.desc()).limit(limit)
        if state:
            q = q.where(Q.c.state == state)
        if kind:
            q = q.where(Q.c.kind == kind)
        with self.db.connect() as conn:
            return [model(Job, r) for r in conn.execute(q)]
