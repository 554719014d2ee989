"""Discussion: comments on papers (one level of replies), edits, soft deletes, moderation;
the paper's comment count follows every change."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..core.clock import utcnow
from ..core.models import Comment
from . import schema as t
from .common import Repository, model

P, C, U = t.papers, t.comments, t.users


class DiscussionRepo(Repository):
    def thread(self, paper_id: str) -> list[Comment]:
        """Every comment on a paper with its author, oldest first."""
        q = (
            sa.select(
                C,
                U.c.username,
                U.c.fullname,
                U.c.avatar_url,
                U.c.role,
                U.c.origin.label("author_origin"),
            )
            .join(U, U.c.id == C.c.user_id)
            .where(C.c.paper_id == paper_id)
            .order_by(C.c.created_at, C.c.id)
        )
        with self.db.connect() as conn:
            return [model(Comment, r) for r in conn.execute(q)]

    def get(self, comment_id: int) -> Comment | None:
        with self.db.connect() as conn:
            row = conn.execute(sa.select(C).where(C.c.id == comment_id)).first()
        return model(Comment, row) if row else None

    def add(
        self, paper_id: str, user_id: int, body: str, parent_id: int | None = None
    ) -> int | None:
        """A new comment (a reply when ``parent_id`` is a comment on the same paper);
        None when the paper or the parent does not exist."""
        with self.db.begin() as conn:
            if conn.execute(sa.select(P.c.seq).where(P.c.id == paper_id)).first() is None:
                return None
            if parent_id is not None:
                parent = conn.execute(
                    sa.select(C.c.paper_id, C.c.parent_id).where(C.c.id == parent_id)
                ).first()
                if parent is None or parent.paper_id != paper_id:
                    return None
                parent_id = parent.parent_id or parent_id  # one level of replies, like HF
            new_id = conn.execute(
                C.insert()
                .values(
                    paper_id=paper_id,
                    user_id=user_id,
                    parent_id=parent_id,
                    body=body,
                    created_at=utcnow(),
                )
                .returning(C.c.id)
            ).scalar_one()
            self._count(conn, paper_id)
        return int(new_id)

    def edit(self, comment_id: int, body: str) -> bool:
        with self.db.begin() as conn:
            res = conn.execute(
                C.update()
                .where(C.c.id == comment_id, C.c.deleted.is_(False))
                .values(body=body, edited_at=utcnow())
            )
        return res.rowcount == 1

    def set_flag(
        self, comment_id: int, *, hidden: bool | None = None, deleted: bool | None = None
    ) -> bool:
        """Hide/unhide (moderation) or delete (soft: replies keep their place)."""
        values: dict[str, Any] = {}
        if hidden is not None:
            values["hidden"] = hidden
        if deleted:
            values.update(deleted=True, body="")
        with self.db.begin() as conn:
            paper_id = conn.execute(sa.select(C.c.paper_id).where(C.c.id == comment_id)).scalar()
            if paper_id is None:
                return False
            conn.execute(C.update().where(C.c.id == comment_id).values(**values))
            self._count(conn, paper_id)
        return True

    def _count(self, conn: Connection, paper_id: str) -> None:
        visible = (
            sa.select(sa.func.count())
            .select_from(C)
            .where(C.c.paper_id == paper_id, C.c.hidden.is_(False), C.c.deleted.is_(False))
            .scalar_subquery()
        )
        # Lock the paper row first so that concurrent comments count in turn.
        conn.execute(P.update().where(P.c.id == paper_id).values(num_comments=P.c.num_comments))
        conn.execute(P.update().where(P.c.id == paper_id).values(num_comments=visible))

    def hidden(self, limit: int = 100) -> list[Comment]:
        """Comments hidden by moderators, newest first (with their authors)."""
        with self.db.connect() as conn:
            rows = conn.execute(
                sa.select(C, U.c.username)
                .join(U, U.c.id == C.c.user_id)
                .where(C.c.hidden.is_(True))
                .order_by(C.c.id.desc())
                .limit(limit)
            )
            return [model(Comment, r) for r in rows]
