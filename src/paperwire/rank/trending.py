"""The trending rank: public, documented, and explained on /papers/trending.

    score = Σ over upvotes  0.5 ^ (hours since the vote / VOTE_HALF_LIFE_H)
          + STAR_WEIGHT · log2(1 + stars gained in the window)
                        · 0.5 ^ (hours since the paper reached the feed / PAPER_HALF_LIFE_H)

Upvotes imported from another site have no time of their own: they count as cast when the
paper reached the feed. Star growth comes from the GitHub star history the refresher keeps;
a paper that reached the feed inside the window with no history yet counts its current stars
as growth (new papers' repositories gain their stars after release). Candidates are the papers
that reached the feed, or got an upvote, in the last WINDOW_DAYS. When the instance has been
idle for longer than that (an archive, the demo), "now" is its latest activity.
"""

from __future__ import annotations

import math
from collections.abc import Callable
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


def _hours(a: datetime, b: datetime) -> float:
    return max(0.0, (a - b).total_seconds() / 3600.0)


def star_growth(item: TrendingInput, since: datetime) -> int:
    history = item.stars_history
    inside = [(w, s) for w, s in history if w >= since]
    before = [(w, s) for w, s in history if w < since]
    if inside and (before or len(inside) > 1):
        base = before[-1][1] if before else inside[0][1]
        return max(0, inside[-1][1] - base)
    arrived = item.submitted_at or item.published
    if arrived is not None and arrived >= since:
        return max(0, item.github_stars or 0)
    return 0


def score(item: TrendingInput, now: datetime) -> Trend:
    since = now - timedelta(days=WINDOW_DAYS)
    arrived = item.submitted_at or item.published or now
    imported_age = _hours(now, arrived)
    votes = item.upvotes_external * 0.5 ** (imported_age / VOTE_HALF_LIFE_H)
    votes += sum(0.5 ** (_hours(now, v) / VOTE_HALF_LIFE_H) for v in item.votes if v <= now)
    growth = star_growth(item, since)
    stars = STAR_WEIGHT * math.log2(1 + growth) * 0.5 ** (imported_age / PAPER_HALF_LIFE_H)
    return Trend(item.id, votes + stars, votes, stars, growth)


def as_of(anchor: datetime | None, now: datetime | None = None) -> datetime:
    """The moment trending is computed for: now, or the last activity of an idle instance."""
    now = now or utcnow()
    if anchor is not None and anchor < now - timedelta(days=WINDOW_DAYS):
        return anchor
    return now


def trending(
    store: Store, now: datetime | None = None, until: datetime | None = None
) -> tuple[list[Trend], datetime]:
    """All candidates, best first, and the moment they were ranked for. With ``until``,
    what happened after it (later submissions and votes) is left out: the rank as it was."""
    moment = as_of(store.feed.activity_anchor(), now)
    if until is not None:
        moment = min(moment, until)
    items = store.feed.trending_inputs(moment - timedelta(days=WINDOW_DAYS), until)
    ranked = sorted((score(i, moment) for i in items), key=lambda t: (-t.score, t.paper_id))
    return ranked, moment


@hookimpl
def register_rankers(register: Callable[[Any], None]) -> None:
    register(
        Ranker(
            "trending",
            f"Upvotes (half-life {VOTE_HALF_LIFE_H:g} h) plus {STAR_WEIGHT:g}·log2(1 + new "
            f"GitHub stars) (half-life {PAPER_HALF_LIFE_H:g} h), over {WINDOW_DAYS} days.",
            trending,
        )
    )
