"""For you: the feed's papers of the latest day or week ranked for the signed-in reader by the
papers they saved, upvoted, claimed or asked more of (less what they dismissed), each card
saying which of their papers it is like (the model: rank.foryou, the same one `paperwire
recommend` runs)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import RedirectResponse, Response

from ..core import periods
from ..core.hooks import hookimpl
from ..rank.foryou import ForYou
from ..rank.reader import reader_inputs
from .audit import PageNo
from .deps import Ctx, CtxDep
from .pages import page_of
from .subscribe import for_you_digest

router = APIRouter(include_in_schema=False)
SPANS = {"day": "Latest day", "week": "This week"}
MAX_CANDIDATES = 1000  # papers of a period ranked (a busy week on Hugging Face: ~500)
_lock = threading.Lock()


def model(ctx: Ctx) -> ForYou | None:
    """The site's model (one per process: it keeps the papers' words it has read), or None
    when search by meaning cannot run here."""
    site = ctx.site
    if site.foryou is not None:
        return site.foryou
    vectors = site.search.semantic()
    if vectors is None:
        return None
    with _lock:
        if site.foryou is None:
            site.foryou = ForYou(ctx.store, vectors)
        return site.foryou


def _period(ctx: Ctx, span: str) -> periods.Period:
    """The latest feed day, or its week (a quiet site's latest papers, not an empty week)."""
    today = ctx.site.clock.feed_date()
    latest = ctx.store.feed.day(on_or_before=today) or today
    return periods.week_of(latest) if span == "week" else periods.day(latest)


@router.get("/papers/for-you")
def for_you(
    ctx: CtxDep,
    span: Annotated[str, Query(pattern="^(day|week)$")] = "day",
    p: PageNo = 0,
) -> Response:
    if ctx.user is None:
        return RedirectResponse("/signin?next=/papers/for-you", status_code=303)
    period = _period(ctx, span)
    size = ctx.settings.site.page_size
    feed, _ = ctx.store.feed.period(
        period.start, period.end, sort="submitted", limit=MAX_CANDIDATES
    )
    reader = reader_inputs(ctx.store, ctx.user.id, [c.id for c in feed])
    liked, disliked, candidates = reader.liked, reader.disliked, reader.candidates
    context: dict[str, Any] = {
        "tab": "foryou",
        "span": span,
        "spans": SPANS,
        "period": period,
        "title": "For you",
        "liked_count": len(liked),
        "digest": for_you_digest(ctx),  # the e-mail digest's subscribe form (web.subscribe)
    }
    ranker = model(ctx) if liked else None
    if not liked or ranker is None:
        context["cold"] = "off" if liked else "start"
        return page_of(ctx, [], total=len(candidates), p=0, **context)
    ranked = ranker.rank(liked, candidates, disliked)
    window = ranked.picks[p * size : (p + 1) * size]
    if p and not window:
        raise HTTPException(404, "No more papers for you in this period.")
    cards = ctx.store.feed.cards([pick.paper_id for pick in window])
    more = (p + 1) * size < len(ranked.picks)
    return page_of(
        ctx,
        cards,
        total=len(ranked.picks),
        p=p,
        reasons={pick.paper_id: pick for pick in window if pick.because},
        more_url=f"/papers/for-you?span={span}&p={p + 1}" if more else None,
        **context,
    )


@hookimpl
def register_routes(register: Callable[[APIRouter], None]) -> None:
    register(router)
