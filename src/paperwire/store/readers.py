"""What the For-you tab keeps per reader besides their feedback on papers: the topics they
described in their own words, and their visits to the tab (for "since your last visit")."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa

from ..core.clock import utcnow
from . import schema as t
from .common import Repository, chunks

T, V = t.reader_topics, t.reader_visits
MAX_TOPICS = 10  # topics a reader keeps
VISIT_GAP = timedelta(minutes=30)  # views further apart than this are two visits
VISIT_STEP = timedelta(minutes=1)  # a visit's last view is written at most this often


class ReaderRepo(Repository):
    def topics(self, user_id: int) -> list[str]:
        """The reader's topics, oldest first."""
        return self.topics_of([user_id])[user_id]

    def topics_of(self, user_ids: Sequence[int]) -> dict[int, list[str]]:
        """:meth:`topics` of many readers at once (a digest run's), by user id."""
        out: dict[int, list[str]] = {u: [] for u in user_ids}
        with self.db.connect() as conn:
            for chunk in chunks(list(out)):
                rows = conn.execute(
                    sa.select(T.c.user_id, T.c.topic)
                    .where(T.c.user_id.in_(chunk))
                    .order_by(T.c.user_id, T.c.created_at, T.c.topic)
                )
                for uid, topic in rows:
                    out[uid].append(topic)
        return out

    def add_topic(self, user_id: int, topic: str) -> str:
        """Keep a topic for the reader: "added", "exists" (the same words, ignoring case) or
        "full" (they have MAX_TOPICS already)."""
        with self.db.begin() as conn:
            have = list(conn.execute(sa.select(T.c.topic).where(T.c.user_id == user_id)).scalars())
            if topic.casefold() in {h.casefold() for h in have}:
                return "exists"
            if len(have) >= MAX_TOPICS:
                return "full"
            stmt = self.db.insert(T).on_conflict_do_nothing()
            conn.execute(stmt.values(user_id=user_id, topic=topic, created_at=utcnow()))
        return "added"

    def remove_topic(self, user_id: int, topic: str) -> bool:
        """Forget one of the reader's topics; False when they had no such topic."""
        with self.db.begin() as conn:
            res = conn.execute(T.delete().where(T.c.user_id == user_id, T.c.topic == topic))
        return res.rowcount > 0

    def visit(self, user_id: int, now: datetime | None = None) -> datetime | None:
        """Note a view of the For-you tab; return when the reader's previous visit ended
        (None: this is their first). Views less than VISIT_GAP apart are one visit, so
        that paging through "since your last visit" keeps its start."""
        now = now or utcnow()
        with self.db.connect() as conn:  # (a read: most views are of the current visit)
            row = conn.execute(
                sa.select(V.c.previous_at, V.c.current_at).where(V.c.user_id == user_id)
            ).first()
        if row is None:
            with self.db.begin() as conn:
                stmt = self.db.insert(V).on_conflict_do_nothing()
                conn.execute(stmt.values(user_id=user_id, previous_at=None, current_at=now))
            return None
        previous: datetime | None = row.previous_at
        current: datetime = row.current_at
        # (only if no other view moved it meanwhile)
        mine = V.update().where(V.c.user_id == user_id, V.c.current_at == current)
        if now - current >= VISIT_GAP:
            with self.db.begin() as conn:
                conn.execute(mine.values(previous_at=current, current_at=now))
            return current
        if now - current >= VISIT_STEP:
            with self.db.begin() as conn:
                conn.execute(mine.values(current_at=now))
        return previous
