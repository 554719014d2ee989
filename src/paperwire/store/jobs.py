"""Jobs: runs of long jobs with their checkpoints (so that a killed run resumes), and leases
(so that two instances never run the same job at once)."""

from __future__ import annotations

import os
import socket
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..core.clock import utcnow
from ..core.models import JobRun, Lease
from . import schema as t
from .common import Repository, model

J, L = t.job_runs, t.leases


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
