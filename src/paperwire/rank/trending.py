"""The trending rank: public, documented, and explained on /papers/trending.

    score = Σ over upvotes  0.5 ^ (hours since the vote / VOTE_HALF_LIFE_H)
          + STAR_WEIGHT · log2(1 + stars gained in the window)
                        · 0.5 ^ (hours since the paper reached the feed / PAPER_HALF_LIFE_H)

Upvotes imported from another site have no time of their own: they count as cast when the
paper reached the feed. Star growth comes from the GitHub star history the refresher keeps;
a paper that reached the feed inside the window with no history yet counts its current stars
as growth (new papers' repositories gain their stars after release). Candidates are the papers
that reached the feed, or got an upvote, in the last WINDOW_DAYS.

A quiet instance (a new deployment, the demo, a slow week) has too few candidates for a list:
when fewer than FULL_LIST papers were active in the window, the list goes on with the rank as
of the latest activity before the window (same formula, same window length, computed for that
moment), papers already listed left out; then the one before that, and so on, for at most
MAX_ERAS earlier moments. Those papers carry the moment they were ranked for
(``Trend.as_of``). So an idle archive shows its rank as of its last activity, and one new
vote puts its paper first without emptying the list.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from ..core.clock import utcnow
from ..core.hooks import hookimpl
from ..core.models import TrendingInput
from ..store import Store
from . import Ranker, Trend

VOTE_HALF_LIFE_H = 36.0
PAPER_HALF_LIFE_H = 72.0
STAR_WEIGHT = 2.0
WINDOW_DAYS = 14
FULL_LIST = 50  # fewer active papers than this: the list goes on with earlier activity
MAX_ERAS = 8  # bounds the look back (each earlier moment costs a few queries)


def _hours(a: datetime, b: datetime) -> float:
    return max(0.0, (a - b).total_seconds() / 3600.0)


def star_growth(item: TrendingInput, since: datetime, now: datetime | None = None) -> int:
    now = now or datetime.max
    history = item.stars_history
    inside = [(w, s) for w, s in history if w >= since and w <= now]
    before = [(w, s) for w, s in history if w < since]
    if inside and (before or len(inside) > 1):
        base = before[-1][1] if before else inside[0][1]
        return max(0, inside[-1][1] - base)
    arrived = item.submitted_at or item.published
    if arrived is not None and since <= arrived <= now:
        return max(0, item.github_stars or 0)
    return 0


def score(item: TrendingInput, now: datetime) -> Trend:
    since = now - timedelta(days=WINDOW_DAYS)
    arrived = item.submitted_at or item.published or now
    imported_age = _hours(now, arrived)
    votes = item.upvotes_external * 0.5 ** (imported_age / VOTE_HALF_LIFE_H)
    votes += sum(0.5 ** (_hours(now, v) / VOTE_HALF_LIFE_H) for v in item.votes if v <= now)
    growth = star_growth(item, since, now)
    stars = STAR_WEIGHT * math.log2(1 + growth) * 0.5 ** (imported_age / PAPER_HALF_LIFE_H)
    return Trend(item.id, votes + stars, votes, stars, growth)


def _ranked(store: Store, moment: datetime, until: datetime | None, skip: set[str]) -> list[Trend]:
    items = store.feed.trending_inputs(moment - timedelta(days=WINDOW_DAYS), until)
    scored = (score(i, moment) for i in items if i.id not in skip)
    return sorted(scored, key=lambda t: (-t.score, t.paper_id))


def trending(
    store: Store, now: datetime | None = None, until: datetime | None = None
) -> tuple[list[Trend], datetime]:
    """All candidates, best first, and the moment they were ranked for. With ``until``,
    what happened after it (later submissions and votes) is left out: the rank as it was.
    A quiet instance's list goes on with earlier activity (see the module's docstring)."""
    moment = now or utcnow()
    if until is not None:
        moment = min(moment, until)
    ranked = _ranked(store, moment, until, set())
    edge = moment - timedelta(days=WINDOW_DAYS)
    for _ in range(MAX_ERAS):
        if len(ranked) >= FULL_LIST:
            break
        earlier = store.feed.activity_anchor(before=edge)
        if earlier is None:
            break
        # Everything from ``earlier`` back one window, nothing at or after ``edge``.
        era = _ranked(store, earlier, edge, {t.paper_id for t in ranked})
        ranked += [replace(t, as_of=earlier) for t in era]
        edge = earlier - timedelta(days=WINDOW_DAYS)
    return ranked, moment


@hookimpl
def register_rankers(register: Callable[[Any], None]) -> None:
    register(
        Ranker(
            "trending",
            f"Upvotes (half-life {VOTE_HALF_LIFE_H:g} h) plus {STAR_WEIGHT:g}·log2(1 + new "
            f"GitHub stars) (half-life {PAPER_HALF_LIFE_H:g} h), over {WINDOW_DAYS} days; "
            f"with fewer than {FULL_LIST} active papers, earlier activity fills the list.",
            trending,
        )
    )
