"""Notifications: who is told about a new comment (the author of the comment it replies to,
the readers it @mentions), the unread count, the list, marking them read, and which wait
for an e-mail (mail/notify.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from ..core.clock import utcnow
from ..core.models import Notification
from . import schema as t
from .common import Repository, model

N, C, U, P = t.notifications, t.comments, t.users, t.papers
MAX_MENTIONS = 20  # readers one comment can notify by @name (no mass pings)

# What a reader is shown: comments still visible (not deleted, not hidden by a moderator).
_SHOWN = sa.and_(C.c.deleted.is_(False), C.c.hidden.is_(False))


def _unread(user_id: int | sa.ColumnElement[int]) -> list[Any]:
    """The conditions of ``user_id``'s unread notifications (of comments still shown; with
    ``C`` joined)."""
    return [N.c.user_id == user_id, N.c.read_at.is_(None), _SHOWN]


def unread_count(user_id: sa.ColumnElement[int]) -> sa.ScalarSelect[int]:
    """The unread notifications of ``user_id``, as a subquery (the session's one statement
    reads it beside the user)."""
    return (
        sa.select(sa.func.count())
        .select_from(N.join(C, C.c.id == N.c.comment_id))
        .where(*_unread(user_id))
        .scalar_subquery()
    )


class NotificationRepo(Repository):
    def for_comment(
        self, comment_id: int, replied_to: int | None, mentioned: Sequence[str]
    ) -> list[int]:
        """Notify the author of comment ``replied_to`` and the active readers ``mentioned``
        by user name (at most MAX_MENTIONS) of comment ``comment_id``; never its own author,
        never twice (an edit that adds a name notifies only that reader). Returns the ids of
        the readers notified now."""
        with self.db.begin() as conn:
            author = conn.execute(sa.select(C.c.user_id).where(C.c.id == comment_id)).scalar()
            if author is None:
                return []
            kinds: dict[int, str] = {}
            if replied_to is not None:
                parent = conn.execute(sa.select(C.c.user_id).where(C.c.id == replied_to)).scalar()
                if parent is not None:
                    kinds[int(parent)] = "reply"
            names = list(dict.fromkeys(mentioned))[:MAX_MENTIONS]
            if names:
                found = conn.execute(
                    sa.select(U.c.id).where(U.c.username.in_(names), U.c.is_active.is_(True))
                ).scalars()
                for uid in found:
                    kinds.setdefault(int(uid), "mention")
            kinds.pop(int(author), None)
            if not kinds:
                return []
            already = set(
                conn.execute(
                    sa.select(N.c.user_id).where(
                        N.c.comment_id == comment_id, N.c.user_id.in_(list(kinds))
                    )
                ).scalars()
            )
            now = utcnow()
            fresh = [uid for uid in kinds if uid not in already]
            if fresh:
                conn.execute(
                    self.db.insert(N).on_conflict_do_nothing(),
                    [
                        {
                            "user_id": u,
                            "comment_id": comment_id,
                            "kind": kinds[u],
                            "created_at": now,
                        }
                        for u in fresh
                    ],
                )
        return fresh

    def unread(self, user_id: int) -> int:
        with self.db.connect() as conn:
            return int(conn.execute(sa.select(unread_count(sa.literal(user_id)))).scalar_one())

    def recent(
        self, user_id: int, limit: int = 50, before: int | None = None
    ) -> list[Notification]:
        """The reader's notifications, newest first (``before``: older than that id), of
        comments still shown."""
        where = [N.c.user_id == user_id, _SHOWN]
        if before is not None:
            where.append(N.c.id < before)
        return self._listed(where, limit)

    def _listed(self, where: list[Any], limit: int) -> list[Notification]:
        q = (
            sa.select(
                N.c.id,
                N.c.kind,
                N.c.comment_id,
                N.c.created_at,
                N.c.read_at,
                C.c.paper_id,
                P.c.title.label("paper_title"),
                U.c.username.label("actor"),
                C.c.body,
                U.c.origin.label("actor_origin"),
            )
            .join(C, C.c.id == N.c.comment_id)
            .join(P, P.c.id == C.c.paper_id)
            .join(U, U.c.id == C.c.user_id)
            .where(*where)
            .order_by(N.c.id.desc())
            .limit(limit)
        )
        with self.db.connect() as conn:
            return [model(Notification, r) for r in conn.execute(q)]

    def mark_read(self, user_id: int, upto: int) -> int:
        """Mark the reader's notifications up to id ``upto`` read (those a page showed);
        returns how many were unread."""
        with self.db.begin() as conn:
            res = conn.execute(
                N.update()
                .where(N.c.user_id == user_id, N.c.id <= upto, N.c.read_at.is_(None))
                .values(read_at=utcnow())
            )
        return int(res.rowcount)

    # -- by e-mail -------------------------------------------------------------------------
    def waiting_for_email(
        self, older_than: datetime, quiet_since: datetime, limit: int = 1000
    ) -> list[int]:
        """The readers with notifications unread and not e-mailed, made before
        ``older_than`` (time to see them on the site first), who want them by e-mail, have
        a confirmed address, and were sent none since ``quiet_since`` (one e-mail gathers
        what came meanwhile)."""
        recent = sa.select(N.c.user_id).where(N.c.emailed_at > quiet_since)
        q = (
            sa.select(N.c.user_id)
            .join(C, C.c.id == N.c.comment_id)
            .join(U, U.c.id == N.c.user_id)
            .where(
                N.c.emailed_at.is_(None),
                N.c.read_at.is_(None),
                N.c.created_at <= older_than,
                _SHOWN,
                U.c.notify_email.is_(True),
                U.c.is_active.is_(True),
                U.c.email.is_not(None),
                U.c.confirmed_at.is_not(None),
                N.c.user_id.not_in(recent),
            )
            .group_by(N.c.user_id)
            .order_by(sa.func.min(N.c.id))
            .limit(limit)
        )
        with self.db.connect() as conn:
            return [int(u) for u in conn.execute(q).scalars()]

    def to_email(self, user_id: int, limit: int = 10) -> tuple[list[Notification], int, int]:
        """What an e-mail to the reader tells: their notifications unread and not e-mailed,
        of comments still shown, newest first (at most ``limit``), how many there are in
        all, and the highest id among them (what :meth:`mark_emailed` then marks)."""
        waiting = [*_unread(user_id), N.c.emailed_at.is_(None)]
        with self.db.connect() as conn:
            total, upto = conn.execute(
                sa.select(sa.func.count(), sa.func.max(N.c.id))
                .select_from(N.join(C, C.c.id == N.c.comment_id))
                .where(*waiting)
            ).one()
        if not total:
            return [], 0, 0
        return self._listed([*waiting, N.c.id <= upto], limit), int(total), int(upto)

    def mark_emailed(self, user_id: int, upto: int) -> int:
        """Mark the reader's notifications up to id ``upto`` as e-mailed."""
        with self.db.begin() as conn:
            res = conn.execute(
                N.update()
                .where(N.c.user_id == user_id, N.c.id <= upto, N.c.emailed_at.is_(None))
                .values(emailed_at=utcnow())
            )
        return int(res.rowcount)
