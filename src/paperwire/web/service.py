"""What the pages and the API both do: submit, index, upvote, comment, moderate, search.
Each function checks the rules and answers with a clear error; views only translate."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import date, datetime, timedelta
from typing import Any

from fastapi import HTTPException
from markupsafe import Markup

from ..core.clock import utcnow
from ..core.display import short_date
from ..core.errors import InvalidArxivId, SourceError
from ..core.ids import id_month, parse_arxiv_id
from ..core.models import Card, Comment
from ..core.query import SearchFilters
from ..ingest.arxiv_api import ArxivAPI, import_arxiv
from ..ingest.http import polite_client
from ..rank import Trend
from ..search import MODES, SORTS, Hit, SearchResult
from ..search.matcher import Matcher
from . import render
from .deps import Ctx, rate_limit, require_user


@dataclass
class Result:
    paper_id: str | None = None
    error: str | None = None
    status: int = 200


@dataclass(slots=True)
class SearchCard(Card):
    """A card among search results: highlighted, explained; or a similar paper's card."""

    hl_title: Markup | None = None
    hl_abstract: Markup | None = None
    why: dict[str, Any] | None = None
    similarity: float | None = None


@dataclass(slots=True)
class ThreadComment(Comment):
    """A comment as the thread shows it: rendered, badged, with its replies."""

    html: str = ""
    is_author: bool = False
    is_submitter: bool = False
    mine: bool = False
    replies: list[ThreadComment] = field(default_factory=list)


def _extend(cls: type[Any], base: Any, **extra: Any) -> Any:
    return cls(**{f.name: getattr(base, f.name) for f in fields(base)}, **extra)


def _fail(status: int, message: str) -> Result:
    return Result(error=message, status=status)


def rules(ctx: Ctx) -> dict[str, int]:
    site = ctx.settings.site
    return {"max_age_days": site.submit_max_age_days, "daily_limit": site.submit_daily_limit}


def fetch_from_arxiv(ctx: Ctx, pid: str) -> bool:
    """Index one paper from the arXiv API; False when arXiv does not know it. One request
    at a time per process, at arXiv's pace."""
    site = ctx.site
    sources = ctx.settings.sources
    with site.arxiv_lock:
        if site.arxiv_client is None:
            site.arxiv_client = polite_client(sources, arxiv=True)
        api = ArxivAPI(site.arxiv_client, sources.arxiv_api_url)
        report = import_arxiv(ctx.store, site.sources.trust, api, ids=[pid])
    found = ctx.store.papers.get(pid) is not None and not report.skipped
    if found:
        # Findable by meaning at once, not after the next `paperwire index`.
        site.search.embed_papers([pid])
    return found


def _resolve(ctx: Ctx, raw: str) -> Result:
    try:
        pid = parse_arxiv_id(raw)[0]
    except InvalidArxivId as exc:
        return _fail(400, f"{exc}. Paste an arXiv id such as 2401.09417 or its arxiv.org URL.")
    if ctx.store.papers.get(pid) is not None:
        return Result(paper_id=pid)
    rate_limit(ctx, f"index:{ctx.user.id if ctx.user else ctx.ip}", 30, 3600)
    try:
        found = fetch_from_arxiv(ctx, pid)
    except SourceError as exc:
        return _fail(502, f"arXiv did not answer ({exc}); try again in a few minutes.")
    if not found:
        return _fail(404, f"arXiv has no paper {pid}.")
    return Result(paper_id=pid)


def index(ctx: Ctx, raw: str) -> Result:
    require_user(ctx)
    return _resolve(ctx, raw)


def submit_problem(ctx: Ctx, card: Card) -> str | None:
    """Why the signed-in user may not put this paper on the feed (None: they may)."""
    if ctx.user is None:
        return "Sign in to submit papers."
    if card.feed_date is not None:
        return f"Already on the feed of {card.feed_date:%b %d, %Y}."
    privileged = ctx.role_at_least("curator")
    site = ctx.settings.site
    max_age = site.submit_max_age_days
    if max_age and not privileged:
        published = card.published or _id_month_end(card.id)
        if published < utcnow() - timedelta(days=max_age):
            return (
                f"Published {short_date(published)}: only papers from the last "
                f"{max_age} days can be submitted."
            )
    limit = site.submit_daily_limit
    if limit and not privileged:
        since = utcnow() - timedelta(days=1)
        if ctx.store.feed.submissions_since(ctx.user.id, since) >= limit:
            return f"You have submitted {limit} papers in the last 24 hours; that is the limit."
    return None


def _id_month_end(paper_id: str) -> datetime:
    """Latest possible publication time of a paper whose date is unknown: the end of the
    month its id encodes."""
    year, month = id_month(paper_id)
    return datetime(year + (month == 12), month % 12 + 1, 1) - timedelta(seconds=1)


def submit(ctx: Ctx, raw: str) -> Result:
    if ctx.user is None:
        return _fail(401, "Sign in to submit papers.")
    user = ctx.user
    rate_limit(ctx, f"write:{user.id}", ctx.settings.site.rate_limit_writes, 60)
    found = _resolve(ctx, raw)
    if found.error or found.paper_id is None:
        return found
    card = ctx.store.feed.card(found.paper_id)
    if card is None:
        return _fail(404, f"Paper {found.paper_id} is not indexed.")
    problem = submit_problem(ctx, card)
    if problem:
        status = 409 if card.feed_date else 429 if "limit" in problem else 400
        return _fail(status, problem)
    if not ctx.store.feed.submit(card.id, user.id, ctx.site.clock.feed_date()):
        return _fail(409, "Someone submitted this paper a moment ago.")
    ctx.site.trending.invalidate()
    return Result(paper_id=card.id)


def upvote(ctx: Ctx, pid: str, on: bool) -> tuple[bool, int]:
    user = require_user(ctx)
    rate_limit(ctx, f"write:{user.id}", ctx.settings.site.rate_limit_writes, 60)
    result = ctx.store.feed.set_upvote(user.id, pid, on)
    if result is None:
        raise HTTPException(404, f"unknown paper {pid}")
    if result[0]:
        ctx.site.trending.invalidate()
    return result


def _body(ctx: Ctx, text: str) -> str:
    body = render.clean_body(text)
    if not body:
        raise HTTPException(400, "The comment is empty.")
    limit = ctx.settings.site.comment_max_chars
    if len(body) > limit:
        raise HTTPException(400, f"Comments are limited to {limit} characters.")
    return body


def add_comment(ctx: Ctx, pid: str, text: str, parent_id: int | None) -> int:
    user = require_user(ctx)
    body = _body(ctx, text)
    rate_limit(ctx, f"write:{user.id}", ctx.settings.site.rate_limit_writes, 60)
    new_id = ctx.store.discussion.add(pid, user.id, body, parent_id)
    if new_id is None:
        raise HTTPException(404, "unknown paper, or the comment replied to is not on it")
    return new_id


def _own_comment(ctx: Ctx, comment_id: int, allow_admin: bool) -> Comment:
    user = require_user(ctx)
    comment = ctx.store.discussion.get(comment_id)
    if comment is None or comment.deleted:
        raise HTTPException(404, "no such comment")
    if comment.user_id != user.id and not (allow_admin and ctx.role_at_least("admin")):
        raise HTTPException(403, "You can only change your own comments.")
    return comment


def edit_comment(ctx: Ctx, comment_id: int, text: str) -> str:
    comment = _own_comment(ctx, comment_id, allow_admin=False)
    ctx.store.discussion.edit(comment_id, _body(ctx, text))
    return comment.paper_id


def delete_comment(ctx: Ctx, comment_id: int) -> str:
    comment = _own_comment(ctx, comment_id, allow_admin=True)
    ctx.store.discussion.set_flag(comment_id, deleted=True)
    return comment.paper_id


def hide_comment(ctx: Ctx, comment_id: int, hidden: bool) -> str:
    require_user(ctx, "admin")
    comment = ctx.store.discussion.get(comment_id)
    if comment is None:
        raise HTTPException(404, "no such comment")
    ctx.store.discussion.set_flag(comment_id, hidden=hidden)
    return comment.paper_id


def thread(ctx: Ctx, card: Card) -> list[ThreadComment]:
    """Comments of a paper as a list of top-level comments with their replies, bodies
    rendered; deleted ones without replies left out, hidden ones shown to admins only."""
    rows = ctx.store.discussion.thread(card.id)
    names = {n for r in rows for n in render.mentions(r.body)}
    known = ctx.store.accounts.existing_usernames(sorted(names))
    authors = ctx.store.accounts.paper_author_users(card.id)
    admin = ctx.role_at_least("admin")
    me = ctx.user.id if ctx.user else None
    by_id: dict[int, ThreadComment] = {}
    top: list[ThreadComment] = []
    for r in rows:
        shown = not (r.deleted or (r.hidden and not admin))
        item: ThreadComment = _extend(
            ThreadComment,
            r,
            html=render.markdown(r.body, known) if shown else "",
            is_author=r.user_id in authors,
            is_submitter=bool(card.submitter) and r.username == card.submitter,
            mine=r.user_id == me,
        )
        by_id[r.id] = item
        parent = by_id.get(r.parent_id) if r.parent_id else None
        (parent.replies if parent else top).append(item)
    return [c for c in top if not (c.deleted and not c.replies)]


def trending(ctx: Ctx) -> tuple[list[Trend], datetime]:
    """The trending rank (from memory; refreshed in the background)."""
    return ctx.site.trending.get()


# -- search ----------------------------------------------------------------------------------
def _day(name: str, value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise HTTPException(
            400, f"{name} must be a date like 2026-03-01, not {value[:40]!r}"
        ) from None


def search_filters(
    date_from: str | None = None,
    date_to: str | None = None,
    category: str | None = None,
    has_code: bool = False,
    on_feed: bool = False,
    author: str | None = None,
) -> SearchFilters:
    """Filters from request parameters, with a clear 400 for a bad value."""
    category = (category or "").strip()
    if category and not all(ch.isalnum() or ch in ".-" for ch in category):
        raise HTTPException(400, "category must look like cs.CV or cs")
    start, end = _day("from", date_from), _day("to", date_to)
    if start and end and start > end:
        raise HTTPException(400, "from must not be after to")
    return SearchFilters(
        date_from=start,
        date_to=end,
        category=category[:40] or None,
        has_code=has_code,
        on_feed=on_feed,
        author=" ".join((author or "").split())[:200] or None,
    )


def search(
    ctx: Ctx,
    q: str,
    filters: SearchFilters,
    sort: str = "relevance",
    offset: int = 0,
    limit: int = 30,
    mode: str = "hybrid",
) -> tuple[SearchResult, list[SearchCard]]:
    """Run a search and return its cards, highlighted and explained."""
    if sort not in SORTS:
        raise HTTPException(400, f"sort must be one of {', '.join(SORTS)}")
    if mode not in MODES:
        raise HTTPException(400, f"mode must be one of {', '.join(MODES)}")
    result = ctx.site.search.search(q, filters, sort=sort, offset=offset, limit=limit, mode=mode)
    cards = ctx.store.feed.cards([h.paper_id for h in result.hits])
    hits = {h.paper_id: h for h in result.hits}
    matcher = Matcher(result.query)
    return result, [decorate(card, matcher, hits.get(card.id)) for card in cards]


def decorate(card: Card, matcher: Matcher, hit: Hit | None) -> SearchCard:
    """The card with highlighted title and abstract (escaped HTML with <mark>) and "why
    this paper"."""
    why = None
    if hit is not None:
        why = {
            "matched": matcher.matched_terms(f"{card.title} {card.abstract}"),
            "all_words": hit.all_words,
            "similarity": None if hit.similarity is None else round(hit.similarity, 3),
            "score": round(hit.score, 5),
        }
    out: SearchCard = _extend(
        SearchCard,
        card,
        hl_title=Markup(matcher.highlight(card.title)),
        hl_abstract=Markup(matcher.highlight(card.abstract)),
        why=why,
    )
    return out


def similar(ctx: Ctx, pid: str, limit: int = 6) -> list[SearchCard]:
    hits = ctx.site.search.similar(pid, limit)
    sims = {h.paper_id: h.similarity for h in hits}
    return [
        _extend(SearchCard, c, similarity=round(sims[c.id] or 0.0, 3))
        for c in ctx.store.feed.cards([h.paper_id for h in hits])
    ]
