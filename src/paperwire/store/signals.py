"""Per-user feedback on papers ("not interested", "more like this"), and everything a
recommender can learn from a user: the papers they saved, upvoted, claimed or asked more of
(positives) and those they dismissed (negatives)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any, NamedTuple

import sqlalchemy as sa

from ..core.clock import utcnow
from . import schema as t
from .common import Repository, chunks

S = t.user_paper_signals
DISMISSED = "dismissed"
MORE_LIKE_THIS = "more_like_this"
KINDS = (DISMISSED, MORE_LIKE_THIS)


class Marks(NamedTuple):
    """What a signed-in visitor did to the papers of a page."""

    upvoted: set[str]
    dismissed: set[str]
    saved: set[str]


class SignalRepo(Repository):
    def mark(self, user_id: int, paper_id: str, kind: str, on: bool) -> bool | None:
        """Make the user's signal ``kind`` on the paper be ``on``. True when that changed
        something, False when it was so already, None for an unknown paper."""
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}")
        stmt: Any
        with self.db.begin() as conn:
            if on:
                known = sa.select(t.papers.c.seq).where(t.papers.c.id == paper_id)
                if conn.execute(known).first() is None:
                    return None
                stmt = (
                    self.db.insert(S)
                    .on_conflict_do_nothing()
                    .values(user_id=user_id, kind=kind, paper_id=paper_id, created_at=utcnow())
                )
            else:
                stmt = S.delete().where(
                    S.c.user_id == user_id, S.c.kind == kind, S.c.paper_id == paper_id
                )
            return conn.execute(stmt.returning(S.c.user_id)).first() is not None

    def of_kind(self, user_id: int, kind: str, among: Sequence[str] | None = None) -> set[str]:
        """The papers the user gave this signal (only those of ``among`` when given)."""
        out: set[str] = set()
        mine = sa.and_(S.c.user_id == user_id, S.c.kind == kind)
        with self.db.connect() as conn:
            if among is None:
                return {r[0] for r in conn.execute(sa.select(S.c.paper_id).where(mine))}
            for chunk in chunks(list(among)):
                rows = conn.execute(sa.select(S.c.paper_id).where(mine, S.c.paper_id.in_(chunk)))
                out.update(r[0] for r in rows)
        return out

    def marks(self, user_id: int, paper_ids: Sequence[str]) -> Marks:
        """Which of these papers the user upvoted, dismissed and saved (in any of their
        collections): one statement per chunk (a signed-in page of cards needs all three,
        and is kept to few queries)."""
        found = Marks(set(), set(), set())
        into = {"up": found.upvoted, DISMISSED: found.dismissed, "saved": found.saved}
        v, it, c = t.upvotes, t.collection_items, t.collections
        with self.db.connect() as conn:
            for chunk in chunks(list(paper_ids), 400):
                stmt = sa.union_all(
                    sa.select(v.c.paper_id, sa.literal("up").label("kind")).where(
                        v.c.user_id == user_id, v.c.paper_id.in_(chunk)
                    ),
                    sa.select(S.c.paper_id, S.c.kind).where(
                        S.c.user_id == user_id, S.c.kind == DISMISSED, S.c.paper_id.in_(chunk)
                    ),
                    sa.select(it.c.paper_id, sa.literal("saved").label("kind"))
                    .join(c, c.c.id == it.c.collection_id)
                    .where(c.c.user_id == user_id, it.c.paper_id.in_(chunk)),
                )
                for pid, kind in conn.execute(stmt):
                    into[kind].add(pid)
        return found

    def dismissed_on_feed(self, user_id: int, start: date, end: date) -> int:
        """How many papers on the feed between ``start`` and ``end`` (inclusive) the user
        marked "not interested": what their feed pages leave out of the period's count."""
        f = t.feed_entries
        stmt = (
            sa.select(sa.func.count())
            .select_from(S.join(f, f.c.paper_id == S.c.paper_id))
            .where(
                S.c.user_id == user_id,
                S.c.kind == DISMISSED,
                f.c.feed_date >= start,
                f.c.feed_date <= end,
            )
        )
        with self.db.connect() as conn:
            return int(conn.execute(stmt).scalar_one())

    def dismissed(self, user_id: int, limit: int, offset: int = 0) -> tuple[list[str], int]:
        """A page of the papers the user marked "not interested", the latest first, and
        how many there are."""
        mine = sa.and_(S.c.user_id == user_id, S.c.kind == DISMISSED)
        page = (
            sa.select(S.c.paper_id)
            .where(mine)
            .order_by(S.c.created_at.desc(), S.c.paper_id)
            .limit(limit)
            .offset(offset)
        )
        with self.db.connect() as conn:
            ids = list(conn.execute(page).scalars())
            total = conn.execute(sa.select(sa.func.count()).select_from(S).where(mine)).scalar_one()
        return ids, int(total)

    def signals(self, user_id: int) -> dict[str, list[str]]:
        """What a recommender learns from: ``positives`` (papers saved in any of the user's
        collections, upvoted, claimed as their own unless the claim was rejected, or asked
        "more like this" of) and ``negatives`` (dismissed, unless also a positive), each a
        sorted list of arXiv ids."""
        return self.signals_of([user_id])[user_id]

    def signals_of(self, user_ids: Sequence[int]) -> dict[int, dict[str, list[str]]]:
        """:meth:`signals` of many users at once (a digest run's readers), by user id."""
        c, i = t.collections, t.collection_items
        v, a = t.upvotes, t.authorship_claims
        positives: dict[int, set[str]] = {u: set() for u in user_ids}
        negatives: dict[int, set[str]] = {u: set() for u in user_ids}
        with self.db.connect() as conn:
            for chunk in chunks(list(positives)):
                positive = sa.union(
                    sa.select(c.c.user_id, i.c.paper_id)
                    .join(c, c.c.id == i.c.collection_id)
                    .where(c.c.user_id.in_(chunk)),
                    sa.select(v.c.user_id, v.c.paper_id).where(v.c.user_id.in_(chunk)),
                    sa.select(a.c.user_id, a.c.paper_id).where(
                        a.c.user_id.in_(chunk), a.c.status != "rejected"
                    ),
                    sa.select(S.c.user_id, S.c.paper_id).where(
                        S.c.user_id.in_(chunk), S.c.kind == MORE_LIKE_THIS
                    ),
                )
                for uid, pid in conn.execute(positive):
                    positives[uid].add(pid)
                dismissed = sa.select(S.c.user_id, S.c.paper_id).where(
                    S.c.user_id.in_(chunk), S.c.kind == DISMISSED
                )
                for uid, pid in conn.execute(dismissed):
                    negatives[uid].add(pid)
        return {
            u: {"positives": sorted(positives[u]), "negatives": sorted(negatives[u] - positives[u])}
            for u in positives
        }
