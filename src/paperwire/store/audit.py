"""The audit log: security-relevant events (sign-in, failed sign-in of a known account,
sign-out, password change and reset, API tokens, role changes, moderation), newest first,
pruned after a retention period. ``record`` takes a connection to join the transaction of
the change it describes; without one it writes on its own, right after."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..core.clock import utcnow
from ..core.models import AuditEvent
from . import schema as t
from .common import Repository, model

A = t.audit_events
KIND_MAX, IP_MAX, AGENT_MAX = 40, 64, 120


class AuditRepo(Repository):
    def record(
        self,
        kind: str,
        user_id: int | None = None,
        actor_id: int | None = None,
        ip: str | None = None,
        agent: str | None = None,
        *,
        conn: Connection | None = None,
        **detail: Any,
    ) -> int:
        """One event; ``detail`` is kept as JSON (values that are not JSON become text)."""
        values = {
            "created_at": utcnow(),
            "kind": kind[:KIND_MAX],
            "user_id": user_id,
            "actor_id": actor_id,
            "ip": (ip or None) and ip[:IP_MAX],
            "agent": (agent or None) and agent[:AGENT_MAX],
            "detail": {k: _plain(v) for k, v in detail.items()} or None,
        }
        stmt = A.insert().values(**values).returning(A.c.id)
        if conn is not None:
            return int(conn.execute(stmt).scalar_one())
        with self.db.begin() as own:
            return int(own.execute(stmt).scalar_one())

    def events(
        self,
        *,
        user_id: int | None = None,
        kind: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[AuditEvent]:
        """Events, newest first, of one account and/or one kind."""
        q = sa.select(A).order_by(A.c.id.desc()).limit(limit).offset(offset)
        if user_id is not None:
            q = q.where(A.c.user_id == user_id)
        if kind:
            q = q.where(A.c.kind == kind[:KIND_MAX])
        with self.db.connect() as conn:
            return [model(AuditEvent, r) for r in conn.execute(q)]

    def get(self, event_id: int) -> AuditEvent | None:
        with self.db.connect() as conn:
            row = conn.execute(sa.select(A).where(A.c.id == event_id)).first()
        return model(AuditEvent, row) if row else None

    def prune(self, days: int) -> int:
        """Forget events older than ``days`` days (0 or less: keep everything)."""
        if days <= 0:
            return 0
        cutoff = utcnow() - timedelta(days=days)
        with self.db.begin() as conn:
            return int(conn.execute(A.delete().where(A.c.created_at < cutoff)).rowcount)


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    return str(value)[:500]
