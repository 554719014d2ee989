"""Reports of abusive comments: one per reporter and comment (a second report updates the
first), open until an admin hides the comment or dismisses its reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa

from ..core.clock import utcnow
from . import schema as t
from .common import Repository

R, C, U = t.comment_reports, t.comments, t.users
REASONS = {
    "spam": "Spam or advertising",
    "harassment": "Harassment or hate",
    "off-topic": "Off-topic or not about the paper",
    "other": "Something else",
}
OUTCOMES = ("hidden", "dismissed")
NOTE_MAX = 500


@dataclass(slots=True)
class Reported:
    """A comment with open reports, as the admins' queue shows it."""

    comment_id: int
    paper_id: str
    author: str
    body: str
    hidden: bool
    reports: int
    first_at: datetime
    reasons: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class ReportRepo(Repository):
    def report(self, comment_id: int, user_id: int, reason: str, note: str = "") -> bool:
        """``user_id`` reports a comment (again: the reason and note are replaced, and the
        report is open again). False when there is no such comment (or it is deleted)."""
        if reason not in REASONS:
            raise ValueError(f"unknown reason {reason!r}")
        values = {
            "reason": reason,
            "note": note[:NOTE_MAX] or None,
            "created_at": utcnow(),
            "resolved_at": None,
            "resolved_by": None,
            "outcome": None,
        }
        with self.db.begin() as conn:
            found = conn.execute(
                sa.select(C.c.id).where(C.c.id == comment_id, C.c.deleted.is_(False))
            ).first()
            if found is None:
                return False
            stmt = self.db.insert(R).values(comment_id=comment_id, user_id=user_id, **values)
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=[R.c.comment_id, R.c.user_id], set_=values
                )
            )
        return True

    def open(self, limit: int = 100) -> list[Reported]:
        """Comments with open reports, most reported first, then oldest report first."""
        n = sa.func.count(R.c.id)
        first = sa.func.min(R.c.created_at)
        stmt = (
            sa.select(
                C.c.id,
                C.c.paper_id,
                C.c.body,
                C.c.hidden,
                U.c.username,
                n.label("n"),
                first.label("first_at"),
            )  # fmt: skip
            .join(C, C.c.id == R.c.comment_id)
            .join(U, U.c.id == C.c.user_id)
            .where(R.c.resolved_at.is_(None), C.c.deleted.is_(False))
            .group_by(C.c.id, C.c.paper_id, C.c.body, C.c.hidden, U.c.username)
            .order_by(n.desc(), first, C.c.id)
            .limit(limit)
        )
        with self.db.connect() as conn:
            found = [
                Reported(r.id, r.paper_id, r.username, r.body, r.hidden, r.n, r.first_at)
                for r in conn.execute(stmt)
            ]
            by_id = {r.comment_id: r for r in found}
            if by_id:
                details = conn.execute(
                    sa.select(R.c.comment_id, R.c.reason, R.c.note)
                    .where(R.c.comment_id.in_(by_id), R.c.resolved_at.is_(None))
                    .order_by(R.c.id)
                )
                for d in details:
                    item = by_id[d.comment_id]
                    if d.reason not in item.reasons:
                        item.reasons.append(d.reason)
                    if d.note:
                        item.notes.append(d.note)
        return found

    def resolve(self, comment_id: int, admin_id: int, outcome: str) -> int:
        """Close a comment's open reports with ``outcome``; how many there were."""
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {outcome!r}")
        with self.db.begin() as conn:
            res = conn.execute(
                R.update()
                .where(R.c.comment_id == comment_id, R.c.resolved_at.is_(None))
                .values(resolved_at=utcnow(), resolved_by=admin_id, outcome=outcome)
            )
        return int(res.rowcount)

    def open_count(self) -> int:
        """How many comments wait in the queue."""
        with self.db.connect() as conn:
            return int(
                conn.execute(
                    sa.select(sa.func.count(sa.distinct(R.c.comment_id))).where(
                        R.c.resolved_at.is_(None)
                    )
                ).scalar_one()
            )
