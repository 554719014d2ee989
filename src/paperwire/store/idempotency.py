"""Idempotency keys: the first request with a key claims (user, key, scope) by inserting a
row (the unique constraint settles races); its response is filled in after. A retry finds
the row: the kept response if the body is the same, else a mismatch. Rows live 24 hours."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

import sqlalchemy as sa

from ..core.clock import utcnow
from . import schema as t
from .common import Repository

KEEP = timedelta(hours=24)
Claim = tuple[Literal["new", "replay", "busy", "mismatch"], int, str]


class IdempotencyRepo(Repository):
    def claim(self, user_id: int, key: str, scope: str, fingerprint: str) -> Claim:
        """("new", 0, "") if this request is the first with the key (now in flight);
        ("replay", status, body) for a completed one with the same fingerprint;
        ("busy", 0, "") while the first is in flight; ("mismatch", 0, "") for another body."""
        now = utcnow()
        k = t.idempotency_keys.c
        try:
            with self.db.begin() as conn:
                conn.execute(t.idempotency_keys.delete().where(k.created_at < now - KEEP))
                conn.execute(
                    t.idempotency_keys.insert().values(
                        user_id=user_id,
                        key=key,
                        scope=scope,
                        fingerprint=fingerprint,
                        created_at=now,
                    )
                )
            return ("new", 0, "")
        except sa.exc.IntegrityError:
            pass
        with self.db.engine.connect() as conn:
            row = conn.execute(
                sa.select(k.fingerprint, k.status, k.response).where(
                    k.user_id == user_id, k.key == key, k.scope == scope
                )
            ).first()
        if row is None:  # released between our insert and this read: treat as in flight
            return ("busy", 0, "")
        if row.fingerprint != fingerprint:
            return ("mismatch", 0, "")
        if row.status is None:
            return ("busy", 0, "")
        return ("replay", int(row.status), row.response or "")

    def complete(self, user_id: int, key: str, scope: str, status: int, response: str) -> None:
        k = t.idempotency_keys.c
        with self.db.begin() as conn:
            conn.execute(
                t.idempotency_keys.update()
                .where(k.user_id == user_id, k.key == key, k.scope == scope)
                .values(status=status, response=response)
            )

    def release(self, user_id: int, key: str, scope: str) -> None:
        """Forget a claim whose request failed, so that a retry runs it again."""
        k = t.idempotency_keys.c
        with self.db.begin() as conn:
            conn.execute(
                t.idempotency_keys.delete().where(
                    k.user_id == user_id, k.key == key, k.scope == scope, k.status.is_(None)
                )
            )
