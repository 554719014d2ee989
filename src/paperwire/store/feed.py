"""The community feed: paper cards, feed days and submissions, upvotes, and what the trending
rank reads."""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..core.clock import as_date, utcnow
from ..core.models import Card, FeedEntry, TrendingInput
from ..core.records import FeedItem, Popularity
from . import schema as t
from .common import Repository, chunks, ensure_named, model, split_words
from .papers import PaperRepo, UpsertCounts

P, F, ORG = t.papers, t.feed_entries, t.organizations
THUMB = t.paper_thumbnails
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
    THUMB.c.etag.label("thumb"),
    THUMB.c.page_height.label("thumb_height"),
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
# The same orders over feed entries (``F.paper_id`` is ``P.id``): the submission order needs
# no paper row at all.
PAGE_SORTS = {
    **SORTS,
    "upvotes": (*SORTS["upvotes"][:3], F.c.paper_id),
    "published": (P.c.published.desc(), F.c.paper_id),
    "submitted": (F.c.submitted_at.desc(), F.c.paper_id),
}


@functools.cache
def _cards_select(on_feed: bool = True) -> sa.Select[Any]:
    """The cards' query (made once: a statement is immutable, and building this join cost
    more than running it)."""
    base = P.join(F, F.c.paper_id == P.c.id, isouter=not on_feed)
    base = base.join(SUB, SUB.c.id == F.c.submitted_by, isouter=True)
    base = base.join(ORG, ORG.c.id == P.c.organization_id, isouter=True)
    rendered = (THUMB.c.paper_id == P.c.id) & (THUMB.c.status == "ok")
    base = base.join(THUMB, rendered, isouter=True)
    return sa.select(*CARD_COLUMNS).select_from(base)


# Cards of given papers, on the feed or not (``ids``: a list, expanded when run).
CARDS_BY_ID = _cards_select(on_feed=False).where(P.c.id.in_(sa.bindparam("ids", expanding=True)))
_DAY_AT_OR_BEFORE = sa.select(sa.func.max(F.c.feed_date)).where(
    F.c.feed_date <= sa.bindparam("day")
)
_DAY_BEFORE = sa.select(sa.func.max(F.c.feed_date)).where(F.c.feed_date < sa.bindparam("day"))
_DAY_AFTER = sa.select(sa.func.min(F.c.feed_date)).where(F.c.feed_date > sa.bindparam("day"))
_LAST_DAY = sa.select(sa.func.max(F.c.feed_date))
_NEIGHBOURS = sa.select(_DAY_BEFORE.scalar_subquery(), _DAY_AFTER.scalar_subquery())
_UPVOTED = sa.select(t.upvotes.c.paper_id).where(
    t.upvotes.c.user_id == sa.bindparam("user"),
    t.upvotes.c.paper_id.in_(sa.bindparam("ids", expanding=True)),
)


def card(row: Any) -> Card:
    return model(
        Card, row, categories=split_words(row.categories), feed_date=as_date(row.feed_date)
    )


def card_rows(result: Any) -> Iterator[Card]:
    """Cards from a result of card columns (one dict per row: ``row._mapping`` per row cost
    a third of a card's time)."""
    keys = list(result.keys())
    for row in result:
        values = dict(zip(keys, row, strict=True))
        values["categories"] = split_words(values["categories"])
        values["feed_date"] = as_date(values["feed_date"])
        yield Card(**values)


class FeedRepo(Repository):
    def __init__(self, db: Any, papers: PaperRepo):
        super().__init__(db)
        self.papers = papers

    # -- importing -----------------------------------------------------------------------
    def import_items(
        self, items: Sequence[FeedItem], trust: Mapping[str, int], conn: Connection | None = None
    ) -> tuple[UpsertCounts, int]:
        """Store daily-feed items: papers, submitters, organizations, entries, upvote counts.

        Returns (paper counts, feed entries added). A paper keeps its first feed date.
        """
        if conn is None:
            with self.db.begin() as own:
                return self.import_items(items, trust, own)
        counts = self.papers.upsert([i.paper for i in items], trust, conn)
        subs = {i.submitted_by: i for i in items if i.submitted_by}
        user_ids = ensure_named(
            self.db,
            conn,
            t.users,
            {
                k: {
                    "fullname": v.submitter_fullname,
                    "avatar_url": v.submitter_avatar,
                    "origin": "hf",
                }
                for k, v in subs.items()
            },
            key="username",
        )
        added = 0
        for chunk in chunks(list(items)):
            ids = [i.paper.id for i in chunk]
            on_feed = set(
                conn.execute(sa.select(F.c.paper_id).where(F.c.paper_id.in_(ids))).scalars()
            )
            rows = []
            for item in chunk:
                if item.paper.id in on_feed:
                    continue
                on_feed.add(item.paper.id)
                rows.append(
                    {
                        "paper_id": item.paper.id,
                        "feed_date": item.feed_date,
                        "submitted_by": user_ids.get(item.submitted_by)
                        if item.submitted_by
                        else None,
                        "submitted_at": item.submitted_at.replace(tzinfo=None),
                        "thumbnail": item.thumbnail,
                    }
                )
            if rows:
                conn.execute(self.db.insert(F).on_conflict_do_nothing(), rows)
                added += len(rows)
        self.papers.set_popularity(
            conn,
            [
                Popularity(
                    i.paper.id,
                    i.upvotes,
                    i.organization,
                    i.organization_fullname,
                    i.organization_avatar,
                )
                for i in items
            ],
        )
        return counts, added

    # -- cards ---------------------------------------------------------------------------
    def period(
        self,
        start: date,
        end: date,
        *,
        sort: str = "upvotes",
        limit: int = 50,
        offset: int = 0,
        submitter: str | None = None,
    ) -> tuple[list[Card], int]:
        """Feed cards with ``start <= feed_date <= end`` and their total count.

        The page is chosen on narrow rows first (feed entries, and only the paper columns
        the order needs), then its cards are read by id: sorting whole cards (abstracts,
        author lists) of a long period cost 20 ms for 20 cards of the demo's 2,000."""
        cond: list[Any] = []
        if start > date.min:  # no condition for an open end: the order's index is then used
            cond.append(F.c.feed_date >= start)
        if end < date.max:
            cond.append(F.c.feed_date <= end)
        source: Any = F
        if submitter:
            cond.append(SUB.c.username == submitter)
            source = source.join(SUB, SUB.c.id == F.c.submitted_by)
        if sort != "submitted":  # the submission order needs no paper column
            source = source.join(P, P.c.id == F.c.paper_id)
        page_q = (
            sa.select(F.c.paper_id)
            .select_from(source)
            .where(*cond)
            .order_by(*PAGE_SORTS[sort])
            .limit(limit)
            .offset(offset)
        )
        total_q = sa.select(sa.func.count()).select_from(source).where(*cond)
        with self.db.connect() as conn:
            ids = list(conn.execute(page_q).scalars())
            total = conn.execute(total_q).scalar_one()
            found = {}
            if ids:
                found = {c.id: c for c in card_rows(conn.execute(CARDS_BY_ID, {"ids": ids}))}
        return [found[i] for i in ids if i in found], total

    def paper_ids(
        self,
        *,
        start: date | None = None,
        end: date | None = None,
        entered_after: datetime | None = None,
        limit: int = 1000,
    ) -> list[str]:
        """Ids of the feed's papers dated ``start..end`` and/or that entered the feed after
        ``entered_after``, the latest entered first (at most ``limit``): what a ranking
        reorders, without reading whole cards."""
        cond: list[Any] = []
        if start is not None:
            cond.append(F.c.feed_date >= start)
        if end is not None:
            cond.append(F.c.feed_date <= end)
        if entered_after is not None:
            cond.append(F.c.submitted_at > entered_after)
        q = sa.select(F.c.paper_id).where(*cond).order_by(*PAGE_SORTS["submitted"]).limit(limit)
        with self.db.connect() as conn:
            return list(conn.execute(q).scalars())

    def newest_first(self, paper_ids: Sequence[str]) -> list[str]:
        """These feed papers by the date their cards show (published, else the feed day),
        the newest first; the latest to enter the feed first within a day."""
        keys: dict[str, tuple[Any, ...]] = {}
        q = sa.select(F.c.paper_id, P.c.published, F.c.feed_date, F.c.submitted_at).join(
            P, P.c.id == F.c.paper_id
        )
        with self.db.connect() as conn:
            for chunk in chunks(list(dict.fromkeys(paper_ids))):
                for pid, published, day, entered in conn.execute(q.where(F.c.paper_id.in_(chunk))):
                    shown = as_date(published) if published is not None else day
                    keys[pid] = (shown, entered or datetime.min, pid)
        return sorted(keys, key=lambda pid: keys[pid], reverse=True)

    def cards(self, paper_ids: Sequence[str]) -> list[Card]:
        """Cards for the given papers, in the given order (unknown ids left out)."""
        found: dict[str, Card] = {}
        with self.db.connect() as conn:
            for chunk in chunks(list(dict.fromkeys(paper_ids))):
                for c in card_rows(conn.execute(CARDS_BY_ID, {"ids": list(chunk)})):
                    found[c.id] = c
        return [found[i] for i in paper_ids if i in found]

    def card(self, paper_id: str) -> Card | None:
        got = self.cards([paper_id])
        return got[0] if got else None

    def submitted_by(self, user_id: int, limit: int = 50) -> list[Card]:
        q = _cards_select().where(F.c.submitted_by == user_id).order_by(F.c.submitted_at.desc())
        return self._cards(q.limit(limit))

    def upvoted_by(self, user_id: int, limit: int = 50) -> list[Card]:
        q = (
            _cards_select(on_feed=False)
            .join(t.upvotes, t.upvotes.c.paper_id == P.c.id)
            .where(t.upvotes.c.user_id == user_id)
            .order_by(t.upvotes.c.created_at.desc())
        )
        return self._cards(q.limit(limit))

    def of_organization(self, org_id: int, limit: int = 50) -> list[Card]:
        q = (
            _cards_select(on_feed=False)
            .where(P.c.organization_id == org_id)
            .order_by(P.c.published.desc(), P.c.id)
        )
        return self._cards(q.limit(limit))

    def latest(self, limit: int = 50, offset: int = 0) -> list[Card]:
        """Every paper, newest publication first."""
        q = _cards_select(on_feed=False).order_by(P.c.published.desc(), P.c.id.desc())
        return self._cards(q.limit(limit).offset(offset))

    def _cards(self, q: sa.Select[Any]) -> list[Card]:
        with self.db.connect() as conn:
            return list(card_rows(conn.execute(q)))

    # -- feed days -----------------------------------------------------------------------
    def day(
        self,
        *,
        on_or_before: date | None = None,
        after: date | None = None,
        before: date | None = None,
    ) -> date | None:
        """The nearest day with feed entries: latest on or before a day, first after one,
        or latest strictly before one."""
        if on_or_before is not None:
            q, day = _DAY_AT_OR_BEFORE, on_or_before
        elif before is not None:
            q, day = _DAY_BEFORE, before
        elif after is not None:
            q, day = _DAY_AFTER, after
        else:
            q, day = _LAST_DAY, None
        with self.db.connect() as conn:
            return as_date(conn.execute(q, {"day": day} if day else {}).scalar())

    def neighbours(self, day: date) -> tuple[date | None, date | None]:
        """The latest feed day before ``day`` and the first after it, in one query (a day
        page shows both)."""
        with self.db.connect() as conn:
            before, after = conn.execute(_NEIGHBOURS, {"day": day}).one()
        return as_date(before), as_date(after)

    def span(self) -> tuple[date | None, date | None]:
        """The first and last feed day."""
        with self.db.connect() as conn:
            row = conn.execute(sa.select(sa.func.min(F.c.feed_date), sa.func.max(F.c.feed_date)))
            first, last = row.one()
        return as_date(first), as_date(last)

    def entry(self, paper_id: str) -> FeedEntry | None:
        with self.db.connect() as conn:
            row = conn.execute(sa.select(F).where(F.c.paper_id == paper_id)).first()
        return model(FeedEntry, row, feed_date=as_date(row.feed_date)) if row else None

    def submit(
        self, paper_id: str, user_id: int, feed_date: date, submitted_at: datetime | None = None
    ) -> bool:
        """Put a paper on the feed of ``feed_date``; False if it already is on the feed."""
        with self.db.begin() as conn:
            added = conn.execute(
                self.db.insert(F)
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
        with self.db.connect() as conn:
            return int(
                conn.execute(
                    sa.select(sa.func.count())
                    .select_from(F)
                    .where(F.c.submitted_by == user_id, F.c.submitted_at >= since)
                ).scalar_one()
            )

    # -- upvotes -------------------------------------------------------------------------
    def set_upvote(self, user_id: int, paper_id: str, on: bool) -> tuple[bool, int] | None:
        """Make the user's upvote on the paper be ``on``. Returns (changed, upvote count), or
        None for an unknown paper. The count moves by exactly one per real change, under a
        row lock, so concurrent clicks never lose or double a vote."""
        u = t.upvotes
        with self.db.begin() as conn:
            if conn.execute(sa.select(P.c.seq).where(P.c.id == paper_id)).first() is None:
                return None
            # RETURNING tells whether a row really changed (rowcount is not reliable for
            # INSERT .. ON CONFLICT DO NOTHING on every driver).
            stmt: Any
            if on:
                stmt = (
                    self.db.insert(u)
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
        """Which of these papers the user upvoted."""
        if not paper_ids:
            return set()
        out: set[str] = set()
        with self.db.connect() as conn:
            for chunk in chunks(list(paper_ids)):
                params = {"user": user_id, "ids": list(chunk)}
                out.update(conn.execute(_UPVOTED, params).scalars())
        return out

    # -- trending inputs -----------------------------------------------------------------
    def activity_anchor(self, before: datetime | None = None) -> datetime | None:
        """The time of the latest feed submission or upvote (before ``before`` if given):
        where a quiet instance's trending list goes on."""
        sub, vote = F.c.submitted_at, t.upvotes.c.created_at
        a_q, b_q = sa.select(sa.func.max(sub)), sa.select(sa.func.max(vote))
        if before is not None:
            a_q, b_q = a_q.where(sub < before), b_q.where(vote < before)
        with self.db.connect() as conn:
            a = conn.execute(a_q).scalar()
            b = conn.execute(b_q).scalar()
        times = [x for x in (a, b) if x is not None]
        return max(times) if times else None

    def trending_inputs(
        self, since: datetime, until: datetime | None = None
    ) -> list[TrendingInput]:
        """Per candidate paper (on the feed since ``since``, or upvoted since then, and
        before ``until`` if given): the feed submission time, imported upvotes, local upvote
        times, star snapshots."""
        u, s = t.upvotes, t.star_snapshots
        fc, uc = [F.c.submitted_at >= since], [u.c.created_at >= since]
        if until is not None:
            fc.append(F.c.submitted_at < until)
            uc.append(u.c.created_at < until)
        with self.db.connect() as conn:
            ids = set(conn.execute(sa.select(F.c.paper_id).where(*fc)).scalars())
            ids.update(conn.execute(sa.select(u.c.paper_id).where(*uc)).scalars())
            out: dict[str, TrendingInput] = {}
            for chunk in chunks(sorted(ids)):
                rows = conn.execute(
                    sa.select(
                        P.c.id,
                        P.c.published,
                        P.c.upvotes_external,
                        P.c.github_stars,
                        F.c.submitted_at,
                    )
                    .select_from(P.join(F, F.c.paper_id == P.c.id, isouter=True))
                    .where(P.c.id.in_(chunk))
                )
                out.update({r.id: model(TrendingInput, r) for r in rows})
            for chunk in chunks(list(out)):
                for pid, when in conn.execute(
                    sa.select(u.c.paper_id, u.c.created_at).where(u.c.paper_id.in_(chunk))
                ):
                    out[pid].votes.append(when)
                for pid, when, stars in conn.execute(
                    sa.select(s.c.paper_id, s.c.observed_at, s.c.stars)
                    .where(s.c.paper_id.in_(chunk))
                    .order_by(s.c.observed_at)
                ):
                    out[pid].stars_history.append((when, stars))
        return list(out.values())
