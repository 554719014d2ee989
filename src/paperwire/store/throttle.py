"""Sign-in failures per account, kept in the shared ``rate_limits`` table (no table of its
own): how many wrong passwords fell in the current fixed window, and when the last one came.
The web layer (:mod:`paperwire.web.throttle`) turns these into growing waits."""

from __future__ import annotations

import time

import sqlalchemy as sa

from . import schema as t
from .common import Repository


def _keys(who: str) -> tuple[str, str]:
    return f"signin-fail:{who}"[:200], f"signin-last:{who}"[:200]


class ThrottleRepo(Repository):
    def failures(self, who: str, window: int, now: float | None = None) -> tuple[int, float]:
        """Wrong passwords for ``who`` (an account, or a name no account has) in the current
        window, and the time of the last one (0 when none)."""
        now = time.time() if now is None else now
        start = int(now // window * window)
        fail, last = _keys(who)
        r = t.rate_limits
        with self.db.engine.connect() as conn:
            rows = conn.execute(
                sa.select(r.c.key, r.c.window_start, r.c.count).where(
                    sa.or_(
                        sa.and_(r.c.key == fail, r.c.window_start == start),
                        sa.and_(r.c.key == last, r.c.window_start == start),
                    )
                )
            ).all()
        count = next((int(n) for key, _, n in rows if key == fail), 0)
        at = next((float(n) for key, _, n in rows if key == last), 0.0)
        return count, at

    def fail(self, who: str, window: int, now: float | None = None) -> int:
        """Count one wrong password for ``who``; the failures of this window so far."""
        now = time.time() if now is None else now
        start = int(now // window * window)
        fail, last = _keys(who)
        r = t.rate_limits
        with self.db.begin() as conn:
            stmt = self.db.insert(r).values(key=fail, window_start=start, count=1)
            stmt = stmt.on_conflict_do_update(
                index_elements=[r.c.key, r.c.window_start], set_={"count": r.c.count + 1}
            ).returning(r.c.count)
            count = int(conn.execute(stmt).scalar_one())
            if count == 1:  # a new window: forget the ones that have passed
                conn.execute(r.delete().where(r.c.key.in_([fail, last]), r.c.window_start < start))
            # The last failure's time, as the count of a row of the same window: it passes
            # (and is pruned) with the failures it belongs to. (Kept under window_start 0,
            # it was deleted with every window older than a day by rate_prune, and the
            # waits of every account under attack ended.)
            stmt = self.db.insert(r).values(key=last, window_start=start, count=int(now))
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=[r.c.key, r.c.window_start], set_={"count": int(now)}
                )
            )
        return count
