"""The faster render paths give what the straightforward ones gave: a feed period's page of
cards (chosen on narrow rows, then read by id), on the demo data with its many ties, on
SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, timedelta
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
    # A day page's previous and next days, in one query: the two lookups they replace.
    day = first - timedelta(days=2)
    while day <= last + timedelta(days=2):
        assert demo.feed.neighbours(day) == (demo.feed.day(before=day), demo.feed.day(after=day))
        day += timedelta(days=5)


def test_bylines_are_the_straightforward_ones():
    """The remembered byline of a card is the one made afresh, for every length and a
    name that needs escaping."""
    from markupsafe import Markup

    from paperwire.core.models import Card
    from paperwire.web.render import author_link, author_names

    def straight(card: Card, most: int = 3) -> Markup:
        every = max(card.num_authors, len(card.authors))
        if every - most == 1 and len(card.authors) == every:
            most += 1  # never "and 1 more" when the name is known: it fits in its place
        shown = Markup(", ").join(author_link(name) for name in card.authors[:most])
        more = every - most
        return shown + Markup(" and {} more").format(more) if more > 0 else shown

    names = ["Ada Lovelace", "<b>O'Brien & Co</b>", "Émile Borel", "Yann LeCun", "X Æ"]
    for n in range(len(names) + 1):
        for num in (0, n, n + 7):
            card = Card(seq=1, id="2401.00001", title="t", authors=names[:n], num_authors=num)
            for _ in range(2):  # made, then remembered
                assert author_names(card) == straight(card)
                assert author_names(card, 2) == straight(card, 2)


def test_similar_papers_are_remembered_until_the_index_changes(sqlite_store):
    """The vector search behind a paper's similar papers is kept per query and index
    version: the same answer as a fresh scan, and a new vector is seen at once."""
    import numpy as np

    from paperwire.search.model_build import model_key
    from paperwire.search.semantic import IndexVectors
    from paperwire.search.vectors import VectorIndex

    from .webkit import seed

    seed(sqlite_store)
    seqs = sorted(sqlite_store.papers.ids_of(list(range(1, 200))))
    rng = np.random.default_rng(3)
    vecs = rng.normal(size=(len(seqs), 384)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    sqlite_store.embeddings.save(model_key(), list(zip(seqs[:-1], vecs[:-1], strict=True)))
    vectors = IndexVectors(sqlite_store, None, refresh_seconds=0.0)

    def fresh(q):
        index = VectorIndex(model_key(), 384)
        index.catch_up(sqlite_store.embeddings)
        return index.search(q, 7)

    q = vectors.vector(seqs[0])
    first = vectors.nearest(q, 7)
    first[0][:] = -1  # a caller changing its answer changes nothing kept
    for got, want in zip(vectors.nearest(q, 7), fresh(q), strict=True):
        np.testing.assert_array_equal(got, want)
    assert vectors.nearest(q, 7)[0][0] == seqs[0]
    # A paper embedded meanwhile, almost the same vector: the next answer has it.
    near = q + 0.01 * vecs[-1]
    sqlite_store.embeddings.save(model_key(), [(seqs[-1], near / np.linalg.norm(near))])
    got = vectors.nearest(q, 7)
    assert seqs[-1] in got[0][:2].tolist()
    for a, b in zip(got, fresh(q), strict=True):
        np.testing.assert_array_equal(a, b)


def test_feed_pages_with_rendered_cards_are_the_pages_rendered_afresh(web, tmp_path, monkeypatch):
    """Cards kept rendered (per content, upvote state, path) give the bytes the template
    gives, for two signed-in members (each their own CSRF token and upvotes) and a visitor,
    and a changed count is shown at once."""
    from paperwire.core import periods
    from paperwire.web import pages

    from .webkit import Visitor, add_user, site

    _, store, ids, _ = web
    # Without the page cache: the visitor's pages are rendered each time, as the members'
    # are (the votes below are written past the app, which the cache sees a poll later).
    app, _ = site(store, tmp_path, page_cache_mb=0)
    alice, bob = add_user(store, "alice"), add_user(store, "bob")
    for pid in ids[:2]:
        store.feed.set_upvote(alice, pid, True)
    visitors = [Visitor(app), Visitor(app), Visitor(app)]
    visitors[0].sign_in("alice")
    visitors[1].sign_in("bob")
    day = store.feed.day()
    assert day is not None
    paths = [
        "/papers",
        "/papers?sort=published",
        "/papers?fragment=1",
        f"/papers/date/{day.isoformat()}",
        periods.week_of(day).path,
        periods.month(day.year, day.month).path,
    ]

    def pages_now() -> list[str]:
        out = []
        for v in visitors:
            for path in paths:
                r = v.get(path)
                assert r.status_code == 200, path
                out.append(r.text)
        return out

    def afresh() -> list[str]:
        with monkeypatch.context() as m:
            m.setattr(pages, "_fragments_ok", lambda cards, context: False)
            return pages_now()

    assert pages_now() == pages_now() == afresh()  # made, kept, and as the template makes them
    kept = app.state.site.templates.env.paperwire_cards.kept
    assert kept
    shown = pages_now()
    assert visitors[0].csrf in shown[0] and visitors[1].csrf in shown[len(paths)]
    assert visitors[0].csrf not in shown[len(paths)]
    store.feed.set_upvote(bob, ids[0], True)  # a new count, and bob's own upvote
    assert pages_now() == afresh() != shown
