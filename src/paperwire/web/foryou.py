"""For you: the feed's papers of the latest day, the week or since the reader's last visit,
ranked for the signed-in reader by the papers they saved, upvoted, claimed or asked more of
and the topics they described (less what they dismissed), each card saying which of their
papers or topics it is like; or ranked for one of their collections (the model: rank.foryou,
the same one `paperwire recommend` runs). The topics are kept by a plain CSRF form."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import RedirectResponse, Response

from ..core import periods
from ..core.hooks import hookimpl
from ..core.models import Collection
from ..rank.foryou import Pick, distinct_topics
from ..rank.reader import reader_inputs
from ..store.readers import MAX_TOPICS
from .audit import PageNo
from .deps import Ctx, CtxDep, PostedDep, rate_limit
from .feedback import back_to
from .pages import page_of
from .subscribe import for_you_digest

router = APIRouter(include_in_schema=False)
SPANS = {"day": "Latest day", "week": "This week", "new": "Since your last visit"}
MAX_CANDIDATES = 1000  # papers of a period ranked (a busy week on Hugging Face: ~500)
TOPIC_LENGTH = (2, 200)  # characters of a topic
# what the topics form did, by the ``topics`` parameter it redirects with
TOPIC_NOTICES = {
    "added": "Topic added: the papers below are ranked with it.",
    "removed": "Topic removed.",
    "exists": "You have that topic already.",
    "full": f"You have {MAX_TOPICS} topics, the most there can be: remove one first.",
    "short": f"A topic is {TOPIC_LENGTH[0]} to {TOPIC_LENGTH[1]} characters, such as "
    "“diffusion models for video”.",
}


def _period(ctx: Ctx, span: str) -> periods.Period:
    """The latest feed day, or its week (a quiet site's latest papers, not an empty week)."""
    today = ctx.site.clock.feed_date()
    latest = ctx.store.feed.day(on_or_before=today) or today
    return periods.week_of(latest) if span == "week" else periods.day(latest)


def _candidates(ctx: Ctx, period: periods.Period | None, since: datetime | None) -> list[str]:
    """The papers a span ranks: its period's, or (no period) those that entered the feed
    since the reader's last visit (none on a first visit)."""
    if period is not None:
        return ctx.store.feed.paper_ids(start=period.start, end=period.end, limit=MAX_CANDIDATES)
    if since is None:
        return []
    return ctx.store.feed.paper_ids(entered_after=since, limit=MAX_CANDIDATES)


def _collection(ctx: Ctx, collection_id: int | None) -> Collection | None:
    """The reader's own collection to rank for, or 404 (another's is none of theirs)."""
    if collection_id is None or ctx.user is None:
        return None
    found = ctx.store.collections.owned(collection_id, ctx.user.id)
    if found is None:
        raise HTTPException(404, "No such collection of yours.")
    return found


def since_label(since: datetime, timezone: str | None) -> str:
    """When the last visit ended, in the reader's time zone: "Dec 4, 2026, 14:05 UTC"."""
    zone = ZoneInfo(timezone or "UTC")
    local = since.replace(tzinfo=UTC).astimezone(zone)
    return f"{local:%b} {local.day}, {local.year}, {local:%H:%M} {local.tzname() or ''}".strip()


def _url(span: str, collection: Collection | None, **params: Any) -> str:
    query = {"span": span, **({"collection_id": collection.id} if collection else {}), **params}
    return back_to("/papers/for-you", **{k: str(v) for k, v in query.items()})


@router.get("/papers/for-you")
def for_you(
    ctx: CtxDep,
    span: Annotated[str, Query(pattern="^(day|week|new)$")] = "day",
    collection_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    p: PageNo = 0,
) -> Response:
    if ctx.user is None:
        return RedirectResponse("/signin?next=/papers/for-you", status_code=303)
    collection = _collection(ctx, collection_id)
    since = ctx.store.readers.visit(ctx.user.id)
    period = _period(ctx, span) if span != "new" else None
    candidates = _candidates(ctx, period, since)
    liked = None
    if collection is not None:
        liked = [item.paper_id for item in ctx.store.collections.items(collection.id)]
    reader = reader_inputs(ctx.store, ctx.user.id, candidates, liked=liked)
    size = ctx.settings.site.page_size
    context: dict[str, Any] = {
        "tab": "foryou",
        "span": span,
        "spans": SPANS,
        "span_urls": {key: _url(key, collection) for key in SPANS},
        "period": period,
        "since": since_label(since, ctx.user.timezone) if since else None,
        "title": f"For you: {collection.name}" if collection else "For you",
        "collection": collection,
        "liked_count": len(reader.liked),
        # the period's papers the reader liked or hid: not ranked for them, but counted
        "left_out": len(set(candidates)) - len(reader.candidates),
        "topics": reader.topics,  # (none when ranking for a collection)
        "max_topics": MAX_TOPICS,
        "topic_length": TOPIC_LENGTH,
        "topic_notice": TOPIC_NOTICES.get(ctx.request.query_params.get("topics", "")),
        "digest": None if collection else for_you_digest(ctx),  # web.subscribe's form
    }
    ranker = ctx.site.for_you() if reader.known else None
    if not reader.known or ranker is None:  # the papers as the feed lists them, meanwhile
        context["cold"] = "off" if reader.known else "start"
        picks = [Pick(i, 0.0) for i in ctx.store.feed.newest_first(reader.candidates)]
    else:
        picks = ranker.rank(reader.liked, reader.candidates, reader.disliked, reader.topics).picks
    window = picks[p * size : (p + 1) * size]
    if p and not window:
        raise HTTPException(404, "No more papers for you in this period.")
    if ranker is not None and "cold" not in context:  # (a page of cards: rare words said)
        window = ranker.words_why(window)
    cards = ctx.store.feed.cards([pick.paper_id for pick in window])
    more = (p + 1) * size < len(picks)
    return page_of(
        ctx,
        cards,
        total=len(picks),
        p=p,
        reasons={pick.paper_id: pick for pick in window if pick.reason},
        more_url=_url(span, collection, p=p + 1) if more else None,
        **context,
    )


@router.post("/papers/for-you/topics")
def topics(post: PostedDep) -> Response:
    """Add a topic (``topic``) or remove one (``remove``), then back to the tab, which says
    what happened."""
    ctx = post.ctx
    if ctx.user is None:
        return RedirectResponse("/signin?next=/papers/for-you", status_code=303)
    rate_limit(ctx, f"topics:{ctx.user.id}", 5 * ctx.settings.site.rate_limit_writes, 60)
    span = post.text("span")
    back = _url(span if span in SPANS else "day", None)
    gone = post.text("remove")
    if gone:
        ctx.store.readers.remove_topic(ctx.user.id, gone)
        return RedirectResponse(back_to(back, topics="removed"), status_code=303)
    topic = (distinct_topics([post.text("topic")]) or [""])[0]
    if not TOPIC_LENGTH[0] <= len(topic) <= TOPIC_LENGTH[1]:
        return RedirectResponse(back_to(back, topics="short"), status_code=303)
    done = ctx.store.readers.add_topic(ctx.user.id, topic)
    return RedirectResponse(back_to(back, topics=done), status_code=303)


@hookimpl
def register_routes(register: Callable[[APIRouter], None]) -> None:
    register(router)
