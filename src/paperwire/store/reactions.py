"""Comment reactions: one row per user per reaction, counted with GROUP BY when read, so a
count is exactly the rows there are however many clicks race."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from ..core.clock import utcnow
from . import schema as t
from .common import Repository, chunks

R, C = t.comment_reactions, t.comments


class ReactionRepo(Repository):
    def set(self, comment_id: int, user_id: int, reaction: str, on: bool) -> tuple[bool, int]:
        """Make the user's ``reaction`` on the comment be ``on``. Returns (changed, how many
        people gave it now). The primary key makes a second add a no-op, concurrent or not."""
        stmt: Any
        with self.db.begin() as conn:
            if on:
                stmt = (
                    self.db.insert(R)
                    .on_conflict_do_nothing()
                    .values(
                        comment_id=comment_id,
                        user_id=user_id,
                        reaction=reaction,
                        created_at=utcnow(),
                    )
                )
            else:
                stmt = R.delete().where(
                    R.c.comment_id == comment_id, R.c.user_id == user_id, R.c.reaction == reaction
                )
            changed = conn.execute(stmt.returning(R.c.user_id)).first() is not None
            count = conn.execute(
                sa.select(sa.func.count())
                .select_from(R)
                .where(R.c.comment_id == comment_id, R.c.reaction == reaction)
            ).scalar_one()
        return changed, int(count)

    def counts(
        self, comment_ids: Sequence[int], viewer: int | None = None
    ) -> dict[int, dict[str, tuple[int, bool]]]:
        """comment id → reaction → (count, whether ``viewer`` gave it), for reactions given
        at least once."""
        out: dict[int, dict[str, tuple[int, bool]]] = {}
        if not comment_ids:
            return out
        mine_expr = (
            sa.func.max(sa.case((R.c.user_id == viewer, 1), else_=0))
            if viewer is not None
            else sa.literal(0)
        )
        with self.db.connect() as conn:
            for chunk in chunks(list(comment_ids)):
                rows = conn.execute(
                    sa.select(R.c.comment_id, R.c.reaction, sa.func.count(), mine_expr)
                    .where(R.c.comment_id.in_(chunk))
                    .group_by(R.c.comment_id, R.c.reaction)
                )
                for cid, reaction, count, mine in rows:
                    out.setdefault(cid, {})[reaction] = (int(count), bool(mine))
        return out

    def of_paper(self, paper_id: str) -> int:
        """How many reactions the comments of a paper have (for statistics and tests)."""
        with self.db.connect() as conn:
            return int(
                conn.execute(
                    sa.select(sa.func.count())
                    .select_from(R.join(C, C.c.id == R.c.comment_id))
                    .where(C.c.paper_id == paper_id)
                ).scalar_one()
            )
