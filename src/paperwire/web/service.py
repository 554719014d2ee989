"""What the pages and the API both do: submit, index, upvote, comment, moderate, rank.
Each function checks the rules and answers with a clear error; views only translate."""

from __future__ import annotations

import threading
import time
import weakref
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from fastapi import HTTPException
from markupsafe import Markup

from ..ids import InvalidArxivId, id_month, parse_arxiv_id
from ..ingest.arxiv_api import ArxivAPI
from ..ingest.http import SourceError, polite_client
from ..ingest.pipeline import import_arxiv
from ..rank import trending as trending_rank
from ..search import query as search_query
from ..search.engine import MODES, SORTS, SearchResult
from ..store import SearchFilters
from ..store.common import utcnow
from . import render
from .app import Ctx, rate_limit, require_user

_arxiv_lock = threading.Lock()
_trending_cache: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # store -> (t, rank)
TRENDING_TTL = 30.0


@dataclass
class Result:
    paper_id: str | None = None
    error: str | None = None
    status: int = 200


def _fail(status: int, message: str) -> Result:
    return Result(error=message, status=status)


def rules(ctx: Ctx) -> dict:
    c = ctx.config
    return {"max_age_days": c.submit_max_age_days, "daily_limit": c.submit_daily_limit}


def fetch_from_arxiv(ctx: Ctx, pid: str) -> bool:
    """Index one paper from the arXiv API; False when arXiv does not know it. One request
    at a time per process, at arXiv's pace."""
    site = ctx.app
    with _arxiv_lock:
        if site.arxiv_client is None:
            site.arxiv_client = polite_client(site.config, arxiv=True)
        report = import_arxiv(
            ctx.store, ArxivAPI(site.arxiv_client, site.config.arxiv_api_url), ids=[pid]
        )
    found = ctx.store.get_paper(pid) is not None and not report.skipped
    if found:
        # Findable by meaning at once, not after the next `paperwire index`.
        site.search.embed_papers([pid])
    return found


def _resolve(ctx: Ctx, raw: str) -> Result:
    try:
        pid = parse_arxiv_id(raw)[0]
    except InvalidArxivId as exc:
        return _fail(400, f"{exc}. Paste an arXiv id such as 2401.09417 or its arxiv.org URL.")
    if ctx.store.get_paper(pid) is not None:
        return Result(paper_id=pid)
    rate_limit(ctx, f"index:{ctx.user['id'] if ctx.user else ctx.ip}", 30, 3600)
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


def submit_problem(ctx: Ctx, card: dict) -> str | None:
    """Why the signed-in user may not put this paper on the feed (None: they may)."""
    if ctx.user is None:
        return "Sign in to submit papers."
    if card.get("feed_date") is not None:
        return f"Already on the feed of {card['feed_date']:%b %d, %Y}."
    privileged = ctx.role_at_least("curator")
    max_age = ctx.config.submit_max_age_days
    if max_age and not privileged:
        published = card.get("published") or _id_month_end(card["id"])
        if published < utcnow() - timedelta(days=max_age):
            return (
                f"Published {render.short_date(published)}: only papers from the last "
                f"{max_age} days can be submitted."
            )
    limit = ctx.config.submit_daily_limit
    if limit and not privileged:
        if ctx.store.submissions_since(ctx.user["id"], utcnow() - timedelta(days=1)) >= limit:
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
    rate_limit(ctx, f"write:{ctx.user['id']}", ctx.config.rate_limit_writes, 60)
    found = _resolve(ctx, raw)
    if found.error:
        return found
    card = ctx.store.card(found.paper_id)
    problem = submit_problem(ctx, card)
    if problem:
        status = 409 if card.get("feed_date") else 429 if "limit" in problem else 400
        return _fail(status, problem)
    if not ctx.store.submit_to_feed(card["id"], ctx.user["id"], ctx.app.clock.feed_date()):
        return _fail(409, "Someone submitted this paper a moment ago.")
    invalidate_trending()
    return Result(paper_id=card["id"])


def upvote(ctx: Ctx, pid: str, on: bool) -> tuple[bool, int]:
    user = require_user(ctx)
    rate_limit(ctx, f"write:{user['id']}", ctx.config.rate_limit_writes, 60)
    result = ctx.store.set_upvote(user["id"], pid, on)
    if result is None:
        raise HTTPException(404, f"unknown paper {pid}")
    if result[0]:
        invalidate_trending()
    return result


def _body(ctx: Ctx, text: str) -> str:
    body = render.clean_body(text)
    if not body:
        raise HTTPException(400, "The comment is empty.")
    if len(body) > ctx.config.comment_max_chars:
        raise HTTPException(
            400, f"Comments are limited to {ctx.config.comment_max_chars} characters."
        )
    return body


def add_comment(ctx: Ctx, pid: str, text: str, parent_id: int | None) -> int:
    user = require_user(ctx)
    body = _body(ctx, text)
    rate_limit(ctx, f"write:{user['id']}", ctx.config.rate_limit_writes, 60)
    new_id = ctx.store.add_comment(pid, user["id"], body, parent_id)
    if new_id is None:
        raise HTTPException(404, "unknown paper, or the comment replied to is not on it")
    return new_id


def _own_comment(ctx: Ctx, comment_id: int, allow_admin: bool) -> dict:
    user = require_user(ctx)
    comment = ctx.store.get_comment(comment_id)
    if comment is None or comment["deleted"]:
        raise HTTPException(404, "no such comment")
    if comment["user_id"] != user["id"] and not (allow_admin and ctx.role_at_least("admin")):
        raise HTTPException(403, "You can only change your own comments.")
    return comment


def edit_comment(ctx: Ctx, comment_id: int, text: str) -> str:
    comment = _own_comment(ctx, comment_id, allow_admin=False)
    ctx.store.edit_comment(comment_id, _body(ctx, text))
    return comment["paper_id"]


def delete_comment(ctx: Ctx, comment_id: int) -> str:
    comment = _own_comment(ctx, comment_id, allow_admin=True)
    ctx.store.set_comment_flag(comment_id, deleted=True)
    return comment["paper_id"]


def hide_comment(ctx: Ctx, comment_id: int, hidden: bool) -> str:
    require_user(ctx, "admin")
    comment = ctx.store.get_comment(comment_id)
    if comment is None:
        raise HTTPException(404, "no such comment")
    ctx.store.set_comment_flag(comment_id, hidden=hidden)
    return comment["paper_id"]


def thread(ctx: Ctx, card: dict) -> list[dict]:
    """Comments of a paper as a list of top-level comments with their replies, bodies
    rendered; deleted ones without replies left out, hidden ones shown to admins only."""
    rows = ctx.store.comments(card["id"])
    names = {n for r in rows for n in render.mentions(r["body"])}
    known = ctx.store.existing_usernames(sorted(names))
    authors = ctx.store.paper_author_users(card["id"])
    admin = ctx.role_at_least("admin")
    me = ctx.user["id"] if ctx.user else None
    by_id: dict[int, dict] = {}
    top: list[dict] = []
    for r in rows:
        item = {
            **r,
            "html": ""
            if r["deleted"] or (r["hidden"] and not admin)
            else render.markdown(r["body"], known),
            "is_author": r["user_id"] in authors,
            "is_submitter": bool(card.get("submitter")) and r["username"] == card["submitter"],
            "mine": r["user_id"] == me,
            "replies": [],
        }
        by_id[r["id"]] = item
        parent = by_id.get(r["parent_id"]) if r["parent_id"] else None
        (parent["replies"] if parent else top).append(item)
    return [c for c in top if not (c["deleted"] and not c["replies"])]


def trending(ctx: Ctx) -> tuple[list, datetime]:
    """The trending rank. Computed once per process, then served from memory and refreshed
    in the background when older than TRENDING_TTL seconds (stale-while-revalidate), so no
    visitor waits for it after the first."""
    return cached_trending(ctx.store)


_refreshing: weakref.WeakSet = weakref.WeakSet()


def cached_trending(store) -> tuple[list, datetime]:
    key = store
    hit = _trending_cache.get(key)
    if hit is None:
        result = trending_rank.trending(store)
        _trending_cache[key] = (time.monotonic(), result)
        return result
    if time.monotonic() - hit[0] >= TRENDING_TTL and key not in _refreshing:
        _refreshing.add(key)

        def refresh():
            try:
                _trending_cache[key] = (time.monotonic(), trending_rank.trending(store))
            finally:
                _refreshing.discard(key)

        threading.Thread(target=refresh, daemon=True, name="trending-refresh").start()
    return hit[1]


def invalidate_trending() -> None:
    """Mark the rank stale (after a vote or submission); the next read refreshes it."""
    for key, (_, result) in list(_trending_cache.items()):
        _trending_cache[key] = (float("-inf"), result)


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
) -> SearchFilters:
    """Filters from request parameters, with a clear 400 for a bad value."""
    category = (category or "").strip()
    if category and not all(ch.isalnum() or ch in ".-" for ch in category):
        raise HTTPException(400, "category must look like cs.CV or cs")
    start, end = _day("from", date_from), _day("to", date_to)
    if start and end and start > end:
        raise HTTPException(400, "from must not be after to")
    return SearchFilters(date_from=start, date_to=end, category=category[:40] or None,
                         has_code=has_code, on_feed=on_feed)


def search(
    ctx: Ctx,
    q: str,
    filters: SearchFilters,
    sort: str = "relevance",
    offset: int = 0,
    limit: int = 30,
    mode: str = "hybrid",
) -> tuple[SearchResult, list[dict]]:
    """Run a search and return its cards, highlighted and explained."""
    if sort not in SORTS:
        raise HTTPException(400, f"sort must be one of {', '.join(SORTS)}")
    if mode not in MODES:
        raise HTTPException(400, f"mode must be one of {', '.join(MODES)}")
    result = ctx.app.search.search(q, filters, sort=sort, offset=offset, limit=limit, mode=mode)
    cards = ctx.store.cards([h.paper_id for h in result.hits])
    decorate(cards, result.query, {h.paper_id: h for h in result.hits})
    return result, cards


def decorate(cards: list[dict], parsed, hits: dict) -> None:
    """Add highlighted title and abstract (escaped HTML with <mark>) and "why this paper"."""
    terms = parsed.terms()
    pattern = search_query.highlight_pattern(terms)
    for card in cards:
        card["hl_title"] = Markup(search_query.highlight(card["title"], pattern))
        card["hl_abstract"] = Markup(search_query.highlight(card["abstract"], pattern))
        hit = hits.get(card["id"])
        if hit is None:
            continue
        matched = search_query.matched_terms(f"{card['title']} {card['abstract']}", terms)
        card["why"] = {
            "matched": matched,
            "all_words": hit.all_words,
            "similarity": None if hit.similarity is None else round(hit.similarity, 3),
            "score": round(hit.score, 5),
        }


def similar(ctx: Ctx, pid: str, limit: int = 6) -> list[dict]:
    hits = ctx.app.search.similar(pid, limit)
    cards = ctx.store.cards([h.paper_id for h in hits])
    sims = {h.paper_id: h.similarity for h in hits}
    for card in cards:
        card["similarity"] = round(sims[card["id"]], 3)
    return cards
