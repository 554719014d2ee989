"""What the pages and the API both do: submit, index, upvote, comment, moderate, search.
Each function checks the rules and answers with a clear error; views only translate."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from fastapi import HTTPException
from fastapi.responses import Response
from markupsafe import Markup

from ..core import categories, periods
from ..core.clock import utcnow
from ..core.errors import InvalidArxivId, JobError, SourceUnavailable
from ..core.ids import parse_arxiv_id
from ..core.models import Card, Comment, Job, ReactionCount
from ..core.query import SearchFilters, parse
from ..core.text import clean
from ..jobs import papers
from ..jobs.papers import ArxivFetcher
from ..mail.subscriptions import MAX_QUERY
from ..rank import Trend
from ..search import MODES, SORTS, Hit, SearchResult
from ..search.matcher import Matcher
from ..search.spelling import Suggestion
from . import audit, reactions, render
from .deps import Ctx, rate_limit, require_user


@dataclass
class Result:
    paper_id: str | None = None
    error: str | None = None
    status: int = 200
    pending: Job | None = None  # accepted, waiting for arXiv (status 202)


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
    reactions: list[ReactionCount] = field(default_factory=list)


def _extend(cls: type[Any], base: Any, **extra: Any) -> Any:
    return cls(**{f.name: getattr(base, f.name) for f in fields(base)}, **extra)


def _fail(status: int, message: str) -> Result:
    return Result(error=message, status=status)


def rules(ctx: Ctx) -> dict[str, int]:
    site = ctx.settings.site
    return {"max_age_days": site.submit_max_age_days, "daily_limit": site.submit_daily_limit}


def _fetcher(ctx: Ctx) -> ArxivFetcher:
    site = ctx.site
    with site.arxiv_lock:
        if site.arxiv is None:
            site.arxiv = ArxivFetcher(ctx.settings.sources, site.sources.trust)
        return site.arxiv


def fetch_from_arxiv(ctx: Ctx, pid: str) -> bool:
    """Index one paper from the arXiv API within the visitor's wait; False when arXiv does
    not know it. SourceUnavailable when arXiv cannot answer in time."""
    wait = ctx.settings.jobs.arxiv_visitor_wait
    found = _fetcher(ctx).fetch_within(ctx.store, pid, wait)
    if found:
        # Findable by meaning at once, not after the next `paperwire index`.
        ctx.site.search.embed_papers([pid])
    return found


def _parse(raw: str) -> tuple[str | None, Result | None]:
    try:
        return parse_arxiv_id(raw)[0], None
    except InvalidArxivId as exc:
        hint = "Paste an arXiv id such as 2401.09417 or its arxiv.org URL."
        return None, _fail(400, f"{exc}. {hint}")


def _resolve(ctx: Ctx, pid: str, kind: str, payload: dict[str, Any]) -> Result:
    """The paper, fetched from arXiv if unknown; when arXiv cannot answer now, a job of
    ``kind`` that keeps asking (the answer is then 202, pending)."""
    if ctx.store.papers.get(pid) is not None:
        return Result(paper_id=pid)
    rate_limit(ctx, f"index:{ctx.user.id if ctx.user else ctx.ip}", 30, 3600)
    try:
        found = fetch_from_arxiv(ctx, pid)
    except JobError as exc:  # arXiv refused the id: asking again will not help
        return _fail(400, str(exc))
    except SourceUnavailable as exc:
        owner = ctx.user.id if ctx.user else None
        job, _ = ctx.store.queue.enqueue(
            kind,
            pid,
            payload,
            max_attempts=ctx.settings.jobs.job_max_attempts,
            owner_id=owner,
            last_error=f"arXiv {exc.reason}.",
        )
        if job.owner_id != owner and kind == papers.SUBMIT:
            return _fail(
                409,
                f"Another member submitted {pid} a moment ago; it is waiting for arXiv and "
                "will be on the feed when arXiv answers.",
            )
        return Result(paper_id=pid, status=202, pending=job)
    if not found:
        return _fail(404, f"arXiv has no paper {pid}.")
    return Result(paper_id=pid)


def index(ctx: Ctx, raw: str) -> Result:
    user = require_user(ctx)
    pid, bad = _parse(raw)
    if pid is None:
        return bad or _fail(400, "Not an arXiv id.")
    return _resolve(ctx, pid, papers.INDEX, {"user_id": user.id})


def submit_problem(ctx: Ctx, card: Card) -> str | None:
    """Why the signed-in user may not put this paper on the feed (None: they may)."""
    if ctx.user is None:
        return "Sign in to submit papers."
    privileged = ctx.role_at_least("curator")
    return papers.feed_problem(
        ctx.store, ctx.settings.site, card, ctx.user.id, privileged, utcnow()
    )


def submit(ctx: Ctx, raw: str) -> Result:
    if ctx.user is None:
        return _fail(401, "Sign in to submit papers.")
    user = ctx.user
    rate_limit(ctx, f"write:{user.id}", ctx.settings.site.rate_limit_writes, 60)
    pid, bad = _parse(raw)
    if pid is None:
        return bad or _fail(400, "Not an arXiv id.")
    if ctx.store.papers.get(pid) is None:
        waiting = ctx.store.queue.get(papers.SUBMIT, pid)
        if waiting is not None and waiting.pending and waiting.owner_id == user.id:
            return Result(paper_id=pid, status=202, pending=waiting)  # submitted twice
        # The rules that need no paper, before anyone waits for arXiv.
        privileged, now = ctx.role_at_least("curator"), utcnow()
        site = ctx.settings.site
        problem = papers.age_problem(site, pid, None, now, privileged)
        if problem:
            return _fail(400, problem)
        problem = papers.limit_problem(ctx.store, site, user.id, privileged, now)
        if problem:
            return _fail(429, problem)
    payload = {"user_id": user.id, "requested_at": utcnow().isoformat()}
    found = _resolve(ctx, pid, papers.SUBMIT, payload)
    if found.error or found.pending or found.paper_id is None:
        return found
    card = ctx.store.feed.card(found.paper_id)
    if card is None:
        return _fail(404, f"Paper {found.paper_id} is not indexed.")
    problem = submit_problem(ctx, card)
    if problem:
        status = 409 if card.feed_date else 429 if "limit" in problem else 400
        return replace(_fail(status, problem), paper_id=card.id)  # (the page links to it)
    if not ctx.store.feed.submit(card.id, user.id, ctx.site.clock.feed_date()):
        return _fail(409, "Someone submitted this paper a moment ago.")
    ctx.site.trending.invalidate()
    return Result(paper_id=card.id)


@dataclass
class PendingView:
    """A member's request waiting for arXiv (or just settled), as the pages show it."""

    job: Job
    what: str  # "Submission" | "Indexing"
    status: str  # a short state for people
    detail: str  # why, or what came of it
    next_try: datetime | None = None


def _status(job: Job) -> tuple[str, str]:
    if job.state == "done":
        return "Done", job.result or ""
    if job.state == "failed":
        return "Not added", job.last_error or "arXiv did not answer."
    n = job.attempts
    tried = f"Tried {n} time{'s' if n != 1 else ''} in the background." if n else ""
    why = f"Last time: {job.last_error}" if job.last_error else ""
    return "Waiting for arXiv", f"{tried} {why}".strip()


def pending_view(job: Job) -> PendingView:
    status, detail = _status(job)
    return PendingView(
        job=job,
        what="Submission" if job.kind == papers.SUBMIT else "Indexing",
        status=status,
        detail=detail,
        next_try=job.next_attempt_at if job.pending else None,
    )


def pending_for(ctx: Ctx, paper_id: str) -> PendingView | None:
    """Anyone's request for this paper (a member asking for a paper another member's
    request already waits for is shown that one)."""
    for kind in papers.KINDS:
        job = ctx.store.queue.get(kind, paper_id[:100]) if paper_id else None
        if job is not None:
            return pending_view(job)
    return None


def pending_of(ctx: Ctx) -> list[PendingView]:
    """The signed-in member's requests waiting for arXiv, and those settled this week."""
    if ctx.user is None:
        return []
    since = utcnow() - timedelta(days=7)
    jobs = ctx.store.queue.of_owner(ctx.user.id, papers.KINDS, since)
    return [pending_view(j) for j in jobs]


def upvote(ctx: Ctx, pid: str, on: bool) -> tuple[bool, int]:
    user = require_user(ctx)
    rate_limit(ctx, f"write:{user.id}", ctx.settings.site.rate_limit_writes, 60)
    result = ctx.store.feed.set_upvote(user.id, pid, on)
    if result is None:
        raise HTTPException(404, f"unknown paper {pid}")
    if result[0]:
        ctx.site.trending.invalidate()
    return result


def _checked(ctx: Ctx, text: str) -> tuple[str, str | None]:
    """A comment's text as it would be kept, and why it cannot be posted (or None)."""
    body = clean(text)
    if not body:
        return body, "The comment is empty."
    limit = ctx.settings.site.comment_max_chars
    if len(body) > limit:
        return body, f"Comments are limited to {limit:,} characters; this one has {len(body):,}."
    return body, None


def comment_problem(ctx: Ctx, text: str) -> str | None:
    """Why a comment's text cannot be posted, or None."""
    return _checked(ctx, text)[1]


def _body(ctx: Ctx, text: str) -> str:
    body, problem = _checked(ctx, text)
    if problem:
        raise HTTPException(400, problem)
    return body


@dataclass(frozen=True)
class Draft:
    """A comment not posted: previewed, or sent back with what is wrong with it."""

    parent_id: int | None
    text: str
    problem: str | None
    html: str  # the preview, as the comment would show ("" with a problem)


def draft(ctx: Ctx, text: str, parent_id: int | None) -> Draft:
    body, problem = _checked(ctx, text)
    if problem:
        return Draft(parent_id, text, problem, "")
    known = ctx.store.accounts.existing_usernames(sorted(render.mentions(body)))
    return Draft(parent_id, text, None, render.markdown(body, known))


def add_comment(ctx: Ctx, pid: str, text: str, parent_id: int | None) -> int:
    user = require_user(ctx)
    body = _body(ctx, text)
    rate_limit(ctx, f"write:{user.id}", ctx.settings.site.rate_limit_writes, 60)
    new_id = ctx.store.discussion.add(pid, user.id, body, parent_id)
    if new_id is None:
        raise HTTPException(404, "unknown paper, or the comment replied to is not on it")
    ctx.store.notifications.for_comment(new_id, parent_id, render.mentions(body))
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
    body = _body(ctx, text)
    ctx.store.discussion.edit(comment_id, body)
    # A name the edit adds is told; the replied-to author and earlier names were already.
    ctx.store.notifications.for_comment(comment_id, None, render.mentions(body))
    return comment.paper_id


def delete_comment(ctx: Ctx, comment_id: int) -> str:
    comment = _own_comment(ctx, comment_id, allow_admin=True)
    ctx.store.discussion.set_flag(comment_id, deleted=True)
    if ctx.user is not None and comment.user_id != ctx.user.id:  # a moderator's deletion
        audit.record(ctx, "comment-deleted", comment.user_id, comment_id=comment_id)
    return comment.paper_id


def hide_comment(ctx: Ctx, comment_id: int, hidden: bool) -> str:
    require_user(ctx, "admin")
    comment = ctx.store.discussion.get(comment_id)
    if comment is None:
        raise HTTPException(404, "no such comment")
    ctx.store.discussion.set_flag(comment_id, hidden=hidden)
    if hidden:  # the reports waiting on it are answered
        ctx.store.reports.resolve(comment_id, require_user(ctx).id, "hidden")
    kind = "comment-hidden" if hidden else "comment-unhidden"
    audit.record(ctx, kind, comment.user_id, comment_id=comment_id)
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
    reactions.attach(ctx, by_id.values())
    return _pruned(top)


def _pruned(comments: list[ThreadComment]) -> list[ThreadComment]:
    """The comments less the deleted ones with nothing left under them (a deleted comment
    whose replies were all deleted too goes with them)."""
    out = []
    for c in comments:
        c.replies = _pruned(c.replies)
        if not (c.deleted and not c.replies):
            out.append(c)
    return out


def trending(ctx: Ctx) -> tuple[list[Trend], datetime]:
    """The trending rank (from memory; refreshed in the background)."""
    return ctx.site.trending.get()


# -- search ----------------------------------------------------------------------------------
class BadDates(HTTPException):
    """A From or To that is not a date, or a From after the To: a 400 with ``detail`` (the
    API's words); ``human``: the same said on a page, by the form's labels."""

    def __init__(self, detail: str, human: str):
        super().__init__(400, detail)
        self.human = human


def _day(name: str, value: str | None) -> date | None:
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise BadDates(
            f"{name} must be a date like 2026-03-01, not {value[:40]!r}",
            f"“{value[:40]}” is not a date like 2026-03-01",
        ) from None
    low, high = periods.YEARS  # (a day past 9999-12-31 is no date: the range ends first)
    if not low <= day.year <= high:
        raise BadDates(
            f"{name} must be in the years {low} to {high}, not {value[:40]!r}",
            f"“{value[:40]}” is outside the years {low} to {high}",
        )
    return day


TYPED_CATEGORY = re.compile(r"(?i)\b(?:category|cat):[^\s\"]+")


def alert_query(q: str, filters: SearchFilters) -> tuple[str, bool]:
    """A topic alert's query for a search (``q`` with its category and author filters as
    ``category:``/``author:`` operators, which alerts apply), and whether the search has
    filters an alert cannot keep (dates, has code, on the feed)."""
    parsed, extra = parse(q), []
    if filters.category and not parsed.category:
        extra.append(f"category:{filters.category}")
    elif filters.category and categories.canonical(parsed.category or "") != categories.canonical(
        filters.category
    ):
        # The words say one category, the filter another: the search used the filter.
        q = TYPED_CATEGORY.sub(f"category:{filters.category}", q)
    if filters.author and not parsed.author and '"' not in filters.author:
        extra.append(f'author:"{filters.author}"')
    left_out = bool(filters.date_from or filters.date_to or filters.has_code or filters.on_feed)
    alert = " ".join([q.strip(), *extra]).strip()
    wants = parse(alert)
    if len(alert) > MAX_QUERY or not (wants.units or wants.category or wants.author):
        return "", False  # more than an alert keeps, or nothing for it to look for
    return alert, left_out


def search_filters(
    date_from: str | None = None,
    date_to: str | None = None,
    category: str | None = None,
    has_code: bool = False,
    on_feed: bool = False,
    author: str | None = None,
) -> SearchFilters:
    """Filters from request parameters, with a clear 400 for a bad value (:class:`BadDates`
    for the dates)."""
    category = (category or "").strip()
    if category and not all(ch.isalnum() or ch in ".-" for ch in category):
        raise HTTPException(400, "category must look like cs.CV or cs")
    start, end = _day("from", date_from), _day("to", date_to)
    if start and end and start > end:
        raise BadDates("from must not be after to", f"“From” ({start}) is after “To” ({end})")
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
    mathml: bool = True,
) -> tuple[SearchResult, list[SearchCard]]:
    """Run a search and return its cards, highlighted and explained (math as MathML for
    pages; as its TeX source, never marked inside, for the API). A search that ran out of
    its time budget gives what it found before (``result.incomplete``; the page and the API
    say so), or, when that is nothing, a 503 with Retry-After."""
    if sort not in SORTS:
        raise HTTPException(400, f"sort must be one of {', '.join(SORTS)}")
    if mode not in MODES:
        raise HTTPException(400, f"mode must be one of {', '.join(MODES)}")
    search_rate_limit(ctx, further_page=offset > 0)
    result = ctx.site.search.search(q, filters, sort=sort, offset=offset, limit=limit, mode=mode)
    if result.incomplete and not result.hits:
        raise HTTPException(
            503,
            f"This search took longer than its time budget "
            f"({ctx.settings.search.search_time_budget_ms} ms) before finding anything. "
            "Try fewer or more specific words.",
            headers={"Retry-After": "10"},
        )
    cards = ctx.store.feed.cards([h.paper_id for h in result.hits])
    hits = {h.paper_id: h for h in result.hits}
    matcher = Matcher(result.query)
    return result, [decorate(card, matcher, hits.get(card.id), mathml) for card in cards]


def suggestion(ctx: Ctx, result: SearchResult) -> tuple[Suggestion | None, bool]:
    """Did you mean …? The search's query with its misspelled words corrected, or None;
    and whether this process was still building its vocabulary (then there is none, and
    the answer is for no cache to keep: :func:`not_kept`). A quoted phrase stays as typed
    when papers hold every word and phrase."""
    speller = ctx.site.speller
    pending = not speller.ready
    matched = any(h.all_words for h in result.hits)
    return speller.suggest(result.query.text, keep_phrases=matched), pending


Answer = TypeVar("Answer", bound=Response)


def not_kept(response: Answer) -> Answer:
    """The response, for no cache to keep (unless it says how to cache already): a search
    answered before the speller was ready, which the next one may correct."""
    if "cache-control" not in response.headers:
        response.headers["Cache-Control"] = "no-cache"
    return response


def filter_params(q: str, filters: SearchFilters, api: bool = False) -> dict[str, str]:
    """A search's query and filters as the site's URL parameters, or the API's (for links:
    built from the checked values, never from what the request carried)."""
    params = {"q": q}
    if filters.date_from:
        params["from"] = filters.date_from.isoformat()
    if filters.date_to:
        params["to"] = filters.date_to.isoformat()
    if filters.category:
        params["category"] = filters.category
    yes = "true" if api else "1"
    if filters.has_code:
        params["has_code" if api else "code"] = yes
    if filters.on_feed:
        params["on_feed" if api else "feed"] = yes
    if filters.author:
        params["author"] = filters.author
    return params


# "More papers" of a search already counted: a reader scrolling one search should not be
# refused as if they had typed that many; a page past the first still costs a search, so it
# counts too, in its own bucket of this many times the limit.
FURTHER_PAGES = 4


def search_rate_limit(ctx: Ctx, further_page: bool = False) -> None:
    """Count one search for the signed-in account, or for the visitor's address; 429 with
    the seconds left of the window once past ``search_rate_limit`` (for pages past a search's
    first, FURTHER_PAGES times that)."""
    conf = ctx.settings.search
    limit, window = conf.search_rate_limit, max(1, conf.search_rate_window)
    who = f"user:{ctx.user.id}" if ctx.user is not None else f"ip:{ctx.ip}"
    bucket, allowed = ("search-more", limit * FURTHER_PAGES) if further_page else ("search", limit)
    if ctx.site.limiter.allow(f"{bucket}:{who}", allowed, window):
        return
    wait = window - int(time.time()) % window
    what = "pages of results" if further_page else "searches"
    raise HTTPException(
        429,
        f"Too many {what}: at most {allowed} every {window} seconds. Try again in {wait} s.",
        headers={"Retry-After": str(wait)},
    )


def decorate(card: Card, matcher: Matcher, hit: Hit | None, mathml: bool = True) -> SearchCard:
    """The card with highlighted title and abstract (escaped HTML with <mark>) and "why
    this paper"."""
    why = None
    if hit is not None:
        why = {
            "matched": matcher.matched_terms(f"{card.title} {card.abstract}"),
            "all_words": hit.all_words,
            "similarity": None if hit.similarity is None else round(hit.similarity, 3),
            "score": round(hit.score, 5) if hit.ranked else None,  # None: date order
        }
    out: SearchCard = _extend(
        SearchCard,
        card,
        hl_title=Markup(matcher.highlight(card.title, mathml=mathml)),
        hl_abstract=Markup(matcher.highlight(card.abstract, mathml=mathml)),
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
