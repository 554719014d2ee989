"""The faster render paths give what the straightforward ones gave: a feed period's page of
cards (chosen on narrow rows, then read by id), on the demo data with its many ties, on
SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa

from paperwire.demo import load_demo
from paperwire.store.feed import SORTS, SUB, F, _cards_select, card

from .storekit import TRUST


def reference_period(store: Any, start: date, end: date, sort: str, limit: int, offset: int,
                     submitter: str | None) -> tuple[list[Any], int]:  # fmt: skip
    """The period as one query over whole cards (what FeedRepo.period did before)."""
    cond = [F.c.feed_date >= start, F.c.feed_date <= end]
    if submitter:
        cond.append(SUB.c.username == submitter)
    q = _cards_select().where(*cond).order_by(*SORTS[sort]).limit(limit).offset(offset)
    total_q = sa.select(sa.func.count()).select_from(
        F.join(SUB, SUB.c.id == F.c.submitted_by, isouter=True)
    )
    with store.db.connect() as conn:
        rows = [card(r) for r in conn.execute(q)]
        total = conn.execute(total_q.where(*cond)).scalar_one()
    return rows, total


@pytest.fixture
def demo(store):
    load_demo(store, TRUST, embeddings=False)
    # Local activity on top of the imported counts: submitters, new votes (more ties).
    users = [store.accounts.create_user(f"reader{i}", None, None) for i in range(3)]
    latest = [c.id for c in store.feed.latest(limit=40)]
    for pid in latest[:12]:
        store.feed.submit(pid, users[0], date(2026, 7, 2))
    for uid in users:
        for pid in latest[5:25]:
            store.feed.set_upvote(uid, pid, True)
    return store


def test_period_pages_are_the_reference_pages(demo):
    first, last = demo.feed.span()
    assert first and last
    periods = [
        (date.min, date.max),
        (first, last),
        (last, last),
        (date(2026, 7, 2), date(2026, 7, 2)),
        (date(2026, 1, 1), date(2026, 3, 31)),
        (date(2030, 1, 1), date(2030, 1, 31)),
    ]
    for start, end in periods:
        for sort in ("submitted", "upvotes", "published"):
            for limit, offset in ((20, 0), (50, 40), (7, 1990)):
                for submitter in (None, "reader0", "nobody"):
                    want = reference_period(demo, start, end, sort, limit, offset, submitter)
                    got = demo.feed.period(
                        start, end, sort=sort, limit=limit, offset=offset, submitter=submitter
                    )
                    assert got == want, (start, end, sort, limit, offset, submitter)
    assert demo.feed.period(date.min, date.max, sort="submitted", limit=5)[0]
