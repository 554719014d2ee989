"""Store queries for the site: paper cards, the daily feed, upvotes, comments, submissions,
the inputs of the trending rank. Mixed into :class:`paperwire.store.Store`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from . import schema as t
from .common import as_date, chunks, utcnow

P, F, ORG = t.papers, t.feed_entries, t.organizations
SUB = t.users.alias("submitter")

CARD_COLUMNS = (
    P.c.seq,
    P.c.id,
    P.c.version,
    P.c.title,
    P.c.abstract,
    P.c.authors,
    P.c.num_authors,
    P.c.categories,
    P.c.primary_category,
    P.c.published,
    P.c.updated,
    P.c.comment,
    P.c.journal_ref,
    P.c.doi,
    P.c.github_repo,
    P.c.github_stars,
    P.c.project_page,
    P.c.upvotes,
    P.c.num_comments,
    F.c.feed_date,
    F.c.submitted_at,
    F.c.thumbnail,
    SUB.c.username.label("submitter"),
    SUB.c.fullname.label("submitter_fullname"),
    SUB.c.avatar_url.label("submitter_avatar"),
    ORG.c.name.label("org"),
    ORG.c.fullname.label("org_fullname"),
    ORG.c.avatar_url.label("org_avatar"),
)
SORTS = {
    # Ties (e.g. imported feeds without votes) go to the paper whose code drew more stars.
    "upvotes": (
        P.c.upvotes.desc(),
        sa.func.coalesce(P.c.github_stars, -1).desc(),
        F.c.submitted_at.desc(),
        P.c.id,
    ),
    "published": (P.c.published.desc(), P.c.id),
    "submitted": (F.c.submitted_at.desc(), P.c.id),
}


def _cards_select(on_feed: bool = True):
    base = P.join(F, F.c.paper_id == P.c.id, isouter=not on_feed)
    base = base.join(SUB, SUB.c.id == F.c.submitted_by, isouter=True)
    base = base.join(ORG, ORG.c.id == P.c.organization_id, isouter=True)
    return sa.select(*CARD_COLUMNS).select_from(base)


def _card(row) -> dict:
    d = row._asdict()
    d["categories"] = d["categories"].split() if d["categories"] else []
    d["feed_date"] = as_date(d["feed_date"])
    return d


class FeedQueries:
    engine: Any
    dialect: str

    def _insert(self, table: sa.Table): ...  # provided by Store

    # -- cards ---------------------------------------------------------------------------
    def feed(
        self,
        start: date,
        end: date,
        *,
        sort: str = "upvotes",
        limit: int = 50,
        offset: int = 0,
        submitter: str | None = None,
    ) -> tuple[list[dict], int]:
        """Feed cards with ``start <= feed_date <= end`` and their total count."""
        cond = [F.c.feed_date >= start, F.c.feed_date <= end]
        if submitter:
            cond.append(SUB.c.username == submitter)
        q = _cards_select().where(*cond).order_by(*SORTS[sort]).limit(limit).offset(offset)
        total_q = sa.select(sa.func.count()).select_from(
            F.join(SUB, SUB.c.id == F.c.submitted_by, isouter=True)
        )
        with self.engine.connect() as conn:
            rows = [_card(r) for r in conn.execute(q)]
            total = conn.execute(total_q.where(*cond)).scalar_one()
        return rows, total

    def cards(self, paper_ids: Sequence[str]) -> list[dict]:
        """Cards for the given papers, in the given order (unknown ids left out)."""
        found: dict[str, dict] = {}
        with self.engine.connect() as conn:
            for chunk in chunks(list(dict.fromkeys(paper_ids))):
                q = _cards_select(on_feed=False).where(P.c.id.in_(chunk))
                for row in conn.execute(q):
                    found[row.id] = _card(row)
        return [found[i] for i in paper_ids if i in found]

    def card(self, paper_id: str) -> dict | None:
        got = self.cards([paper_id])
        return got[0] if got else None

    def papers_by(
        self, *, submitter_id: int | None = None, upvoter_id: int | None = None, limit: int = 50
    ) -> list[dict]:
        if submitter_id is not None:
            q = (
                _cards_select()
                .where(F.c.submitted_by == submitter_id)
                .order_by(F.c.submitted_at.desc())
            )
        elif upvoter_id is not None:
            q = (
                _cards_select(on_feed=False)
                .join(t.upvotes, t.upvotes.c.paper_id == P.c.id)
                .where(t.upvotes.c.user_id == upvoter_id)
                .order_by(t.upvotes.c.created_at.desc())
            )
        else:
            raise ValueError("give submitter_id or upvoter_id")
        with self.engine.connect() as conn:
            return [_card(r) for r in conn.execute(q.limit(limit))]

    def organization_papers(self, org_id: int, limit: int = 50) -> list[dict]:
        q = (
            _cards_select(on_feed=False)
            .where(P.c.organization_id == org_id)
            .order_by(P.c.published.desc(), P.c.id)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [_card(r) for r in conn.execute(q)]

    def latest_papers(self, limit: int = 50, offset: int = 0) -> list[dict]:
        q = (
            _cards_select(on_feed=False)
            .order_by(P.c.published.desc(), P.c.id.desc())
            .limit(limit)
            .offset(offset)
        )
        with self.engine.connect() as conn:
            return [_card(r) for r in conn.execute(q)]

    # -- feed days -----------------------------------------------------------------------
    def feed_day(
        self,
        *,
        on_or_before: date | None = None,
        after: date | None = None,
        before: date | None = None,
    ) -> date | None:
        """The nearest day with feed entries: latest on or before a day, first after one,
        or latest strictly before one."""
        col = F.c.feed_date
        if on_or_before is not None:
            q = sa.select(sa.func.max(col)).where(col <= on_or_before)
        elif before is not None:
            q = sa.select(sa.func.max(col)).where(col < before)
        elif after is not None:
            q = sa.select(sa.func.min(col)).where(col > after)
        else:
            q = sa.select(sa.func.max(col))
        with self.engine.connect() as conn:
            return as_date(conn.execute(q).scalar())

    def on_feed(self, paper_id: str) -> dict | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(F).where(F.c.paper_id == paper_id)).first()
        return row._asdict() if row else None

    def submit_to_feed(
        self, paper_id: str, user_id: int, feed_date: date, submitted_at: datetime | None = None
    ) -> bool:
        """Put a paper on the feed of ``feed_date``; False if it already is on the feed."""
        with self.engine.begin() as conn:
            added = conn.execute(
                self._insert(F)
                .on_conflict_do_nothing(index_elements=[F.c.paper_id])
                .values(
                    paper_id=paper_id,
                    feed_date=feed_date,
                    submitted_by=user_id,
                    submitted_at=submitted_at or utcnow(),
                )
                .returning(F.c.id)
            ).first()
        return added is not None

    def submissions_since(self, user_id: int, since: datetime) -> int:
        with self.engine.connect() as conn:
            return conn.execute(
                sa.select(sa.func.count())
                .select_from(F)
                .where(F.c.submitted_by == user_id, F.c.submitted_at >= since)
            ).scalar_one()

    # -- upvotes -------------------------------------------------------------------------
    def set_upvote(self, user_id: int, paper_id: str, on: bool) -> tuple[bool, int] | None:
        """Make the user's upvote on the paper be ``on``. Returns (changed, upvote count), or
        None for an unknown paper. The count moves by exactly one per real change, under a
        row lock, so concurrent clicks never lose or double a vote."""
        u = t.upvotes
        with self.engine.begin() as conn:
            if conn.execute(sa.select(P.c.seq).where(P.c.id == paper_id)).first() is None:
                return None
            # RETURNING tells whether a row really changed (rowcount is not reliable for
            # INSERT .. ON CONFLICT DO NOTHING on every driver).
            if on:
                stmt = (
                    self._insert(u)
                    .on_conflict_do_nothing()
                    .values(user_id=user_id, paper_id=paper_id, created_at=utcnow())
                )
            else:
                stmt = u.delete().where(u.c.user_id == user_id, u.c.paper_id == paper_id)
            changed = conn.execute(stmt.returning(u.c.user_id)).first() is not None
            step = (1 if on else -1) if changed else 0
            count = conn.execute(
                P.update()
                .where(P.c.id == paper_id)
                .values(upvotes=P.c.upvotes + step)
                .returning(P.c.upvotes)
            ).scalar_one()
        return changed, count

    def upvoted(self, user_id: int, paper_ids: Sequence[str]) -> set[str]:
        if not paper_ids:
            return set()
        u = t.upvotes
        with self.engine.connect() as conn:
            out: set[str] = set()
            for chunk in chunks(list(paper_ids)):
                out.update(
                    conn.execute(
                        sa.select(u.c.paper_id).where(
                            u.c.user_id == user_id, u.c.paper_id.in_(chunk)
                        )
                    ).scalars()
                )
        return out

    # -- comments ------------------------------------------------------------------------
    def comments(self, paper_id: str) -> list[dict]:
        c, u = t.comments, t.users
        q = (
            sa.select(c, u.c.username, u.c.fullname, u.c.avatar_url, u.c.role)
            .join(u, u.c.id == c.c.user_id)
            .where(c.c.paper_id == paper_id)
            .order_by(c.c.created_at, c.c.id)
        )
        with self.engine.connect() as conn:
            return [r._asdict() for r in conn.execute(q)]

    def get_comment(self, comment_id: int) -> dict | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(t.comments).where(t.comments.c.id == comment_id)).first()
        return row._asdict() if row else None

    def add_comment(
        self, paper_id: str, user_id: int, body: str, parent_id: int | None = None
    ) -> int | None:
        """A new comment (a reply when ``parent_id`` is a comment on the same paper);
        None when the paper or the parent does not exist."""
        c = t.comments
        with self.engine.begin() as conn:
            if conn.execute(sa.select(P.c.seq).where(P.c.id == paper_id)).first() is None:
                return None
            if parent_id is not None:
                parent = conn.execute(
                    sa.select(c.c.paper_id, c.c.parent_id).where(c.c.id == parent_id)
                ).first()
                if parent is None or parent.paper_id != paper_id:
                    return None
                parent_id = parent.parent_id or parent_id  # one level of replies, like HF
            new_id = conn.execute(
                c.insert()
                .values(
                    paper_id=paper_id,
                    user_id=user_id,
                    parent_id=parent_id,
                    body=body,
                    created_at=utcnow(),
                )
                .returning(c.c.id)
            ).scalar_one()
            self._count_comments(conn, paper_id)
        return new_id

    def edit_comment(self, comment_id: int, body: str) -> bool:
        c = t.comments
        with self.engine.begin() as conn:
            res = conn.execute(
                c.update()
                .where(c.c.id == comment_id, c.c.deleted.is_(False))
                .values(body=body, edited_at=utcnow())
            )
        return res.rowcount == 1

    def set_comment_flag(
        self, comment_id: int, *, hidden: bool | None = None, deleted: bool | None = None
    ) -> bool:
        """Hide/unhide (moderation) or delete (soft: replies keep their place)."""
        c = t.comments
        values: dict[str, Any] = {}
        if hidden is not None:
            values["hidden"] = hidden
        if deleted:
            values.update(deleted=True, body="")
        with self.engine.begin() as conn:
            paper_id = conn.execute(sa.select(c.c.paper_id).where(c.c.id == comment_id)).scalar()
            if paper_id is None:
                return False
            conn.execute(c.update().where(c.c.id == comment_id).values(**values))
            self._count_comments(conn, paper_id)
        return True

    def _count_comments(self, conn: Connection, paper_id: str) -> None:
        c = t.comments
        visible = (
            sa.select(sa.func.count())
            .select_from(c)
            .where(c.c.paper_id == paper_id, c.c.hidden.is_(False), c.c.deleted.is_(False))
            .scalar_subquery()
        )
        # Lock the paper row first so that concurrent comments count in turn.
        conn.execute(P.update().where(P.c.id == paper_id).values(num_comments=P.c.num_comments))
        conn.execute(P.update().where(P.c.id == paper_id).values(num_comments=visible))

    def hidden_comments(self, limit: int = 100) -> list[dict]:
        c, u = t.comments, t.users
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(c, u.c.username)
                .join(u, u.c.id == c.c.user_id)
                .where(c.c.hidden.is_(True))
                .order_by(c.c.id.desc())
                .limit(limit)
            )
            return [r._asdict() for r in rows]

    # -- trending inputs -----------------------------------------------------------------
    def activity_anchor(self) -> datetime | None:
        """The time of the latest feed submission or upvote: the 'now' of an idle archive."""
        with self.engine.connect() as conn:
            a = conn.execute(sa.select(sa.func.max(F.c.submitted_at))).scalar()
            b = conn.execute(sa.select(sa.func.max(t.upvotes.c.created_at))).scalar()
        times = [x for x in (a, b) if x is not None]
        return max(times) if times else None

    def trending_inputs(self, since: datetime, until: datetime | None = None) -> list[dict]:
        """Per candidate paper (on the feed since ``since``, or upvoted since then, and
        before ``until`` if given): the feed submission time, imported upvotes, local upvote
        times, star snapshots."""
        u, s = t.upvotes, t.star_snapshots
        fc, uc = [F.c.submitted_at >= since], [u.c.created_at >= since]
        if until is not None:
            fc.append(F.c.submitted_at < until)
            uc.append(u.c.created_at < until)
        with self.engine.connect() as conn:
            ids = set(conn.execute(sa.select(F.c.paper_id).where(*fc)).scalars())
            ids.update(conn.execute(sa.select(u.c.paper_id).where(*uc)).scalars())
            rows = []
            for chunk in chunks(sorted(ids)):
                rows += conn.execute(
                    sa.select(
                        P.c.id,
                        P.c.published,
                        P.c.upvotes_external,
                        P.c.github_stars,
                        F.c.submitted_at,
                    )
                    .select_from(P.join(F, F.c.paper_id == P.c.id, isouter=True))
                    .where(P.c.id.in_(chunk))
                ).all()
            out = {r.id: {**r._asdict(), "votes": [], "stars_history": []} for r in rows}
            ids = list(out)
            for chunk in chunks(ids):
                for pid, when in conn.execute(
                    sa.select(u.c.paper_id, u.c.created_at).where(u.c.paper_id.in_(chunk))
                ):
                    out[pid]["votes"].append(when)
                for pid, when, stars in conn.execute(
                    sa.select(s.c.paper_id, s.c.observed_at, s.c.stars)
                    .where(s.c.paper_id.in_(chunk))
                    .order_by(s.c.observed_at)
                ):
                    out[pid]["stars_history"].append((when, stars))
        return list(out.values())
