"""JSON API, compatible with Hugging Face's public papers API (same paths, parameters and
field names), plus documented endpoints for upvotes, comments and submissions."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from typing import Annotated, Any, Literal
from urllib.parse import quote, urlencode

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from ..core import periods
from ..core.errors import InvalidArxivId, PeriodError
from ..core.hooks import hookimpl
from ..core.ids import parse_arxiv_id
from ..core.models import Card, User
from ..core.query import SearchFilters, parse
from ..jobs import papers
from ..search import SearchResult
from ..search.matcher import Matcher
from . import idempotency, reactions, render, service
from .api_errors import check_date, not_found
from .deps import MAX_ROW_ID, Ctx, CtxDep, WriterDep, require_user
from .openapi import (
    ARXIV_REF,
    DATE,
    IDEMPOTENT,
    MONTH,
    PENDING,
    READ,
    VISIBLE,
    WEEK,
    WRITE,
    ArxivPath,
    date_schema,
    errors,
    optional,
    optional_sign_in,
    signed_in,
)

router = APIRouter(prefix="/api", tags=["papers"])


def _pid(raw: str) -> str:
    try:
        return parse_arxiv_id(raw)[0]
    except InvalidArxivId as exc:
        raise HTTPException(400, str(exc)) from None


def _base(ctx: Ctx) -> str:
    return ctx.settings.site.base_url.rstrip("/")


def _period(date_: str | None, week: str | None, month: str | None) -> periods.Period | None:
    given = [(k, v) for k, v in (("day", date_), ("week", week), ("month", month)) if v]
    if len(given) > 1:
        raise HTTPException(400, "give at most one of date, week and month")
    if not given:
        return None
    name, value = given[0]
    if name == "day":
        check_date("date", value)
    elif not re.fullmatch(WEEK if name == "week" else MONTH, value):
        example = "2026-W09" if name == "week" else "2026-03"
        raise HTTPException(400, f"{name} must be a {name} like {example}, not {value[:40]!r}")
    try:
        return periods.parse(*given[0])
    except PeriodError as exc:  # 404: a week of the schema's shape the year lacks (2025-W53)
        missing = given[0][0] == "week" and re.fullmatch(WEEK, given[0][1])
        raise HTTPException(404 if missing else 400, str(exc)) from None


@router.get("/daily_papers", summary="Papers of the daily feed", responses=errors(*READ, 404))
def daily_papers(
    ctx: CtxDep,
    date_: Annotated[
        str | None,
        Query(alias="date", json_schema_extra=optional("YYYY-MM-DD", pattern=DATE, format="date")),
    ] = None,
    week: Annotated[
        str | None,
        Query(
            json_schema_extra=optional(
                "YYYY-Www, e.g. 2026-W09 (404: a week 53 the year lacks)", pattern=WEEK
            )
        ),
    ] = None,
    month: Annotated[
        str | None, Query(json_schema_extra=optional("YYYY-MM", pattern=MONTH))
    ] = None,
    submitter: Annotated[str | None, Query(max_length=64)] = None,
    sort: Literal["publishedAt", "trending", "upvotes"] = "publishedAt",
    p: Annotated[int, Query(ge=0, le=100000, description="page, from 0")] = 0,
    limit: Annotated[
        int,
        Query(
            ge=1,
            le=100,
            description="Items per page, at most 100: Hugging Face's own maximum here (its "
            "search's is 120, and so is this API's).",
        ),
    ] = 50,
) -> JSONResponse:
    """Like Hugging Face's ``/api/daily_papers``: one day, ISO week or month of the feed
    (default: all of it), newest submission first, by trending rank or by upvotes. A
    ``Link: <...>; rel="next"`` header points to the next page when there is one."""
    period = _period(date_, week, month)
    start, end = (period.start, period.end) if period else (date.min, date.max)
    cards: list[Card]
    if sort == "trending":
        ranked, _ = service.trending(ctx)
        cards = [
            c
            for c in ctx.store.feed.cards([t.paper_id for t in ranked])
            if c.feed_date is not None
            and start <= c.feed_date <= end
            and (not submitter or c.submitter == submitter)
        ]
        total = len(cards)
        cards = cards[p * limit : (p + 1) * limit]
    else:
        order = "submitted" if sort == "publishedAt" else "upvotes"
        cards, total = ctx.store.feed.period(
            start, end, sort=order, limit=limit, offset=p * limit, submitter=submitter
        )
    headers = {"X-Total-Count": str(total)}
    if (p + 1) * limit < total:
        # From the checked parameters only: nothing else the caller sent is echoed.
        known = {"date": date_, "week": week, "month": month, "submitter": submitter}
        params = {k: v for k, v in known.items() if v} | {"sort": sort, "limit": str(limit)}
        params["p"] = str(p + 1)
        headers["Link"] = f'<{_base(ctx)}/api/daily_papers?{urlencode(params)}>; rel="next"'
    return JSONResponse([render.daily_item_json(c, _base(ctx)) for c in cards], headers=headers)


# The corrected query of "Did you mean …?", as a header: ASCII as typed, the rest (and "%")
# percent-encoded as UTF-8; not sent when longer than this (a proxy's header buffer is 4 KB).
SUGGESTION_SAFE = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) != "%")
SUGGESTION_MAX = 1000
SEARCH_HEADERS = {
    "X-Search-Suggestion": {
        "description": "Did you mean …? The query with its misspelled words corrected (same "
        "operators and phrases), percent-encoded as UTF-8 beyond printable ASCII; only when "
        "a word is far rarer among the papers than one a letter or two away",
        "schema": {"type": "string", "maxLength": SUGGESTION_MAX},
    },
}


@router.get(
    "/papers/search",
    summary="Search papers",
    responses={
        200: {"description": "The papers, best first", "headers": SEARCH_HEADERS},
        **errors(*READ, 429, 503, long_url=True),
    },
)
def search(
    ctx: CtxDep,
    q: Annotated[
        str,
        Query(
            max_length=10000,
            description='Words, "phrases", -excluded, a OR b; or a whole sentence.',
        ),
    ] = "",
    limit: Annotated[
        int,
        Query(
            ge=1,
            le=120,
            description="Results per page, at most 120: what Hugging Face's search returns "
            "at most, so its clients' requests work here (daily_papers keeps its 100).",
        ),
    ] = 50,
    p: Annotated[int, Query(ge=0, le=10000, description="Page (0-based).")] = 0,
    sort: Literal["relevance", "date", "upvotes"] = "relevance",
    mode: Literal["hybrid", "keyword", "semantic"] = "hybrid",
    date_from: Annotated[
        str | None,
        Query(
            alias="from",
            json_schema_extra=date_schema("Published on or after (YYYY-MM-DD)."),
        ),
    ] = None,
    date_to: Annotated[
        str | None,
        Query(
            alias="to",
            json_schema_extra=date_schema("Published on or before (YYYY-MM-DD), not before from."),
        ),
    ] = None,
    category: Annotated[
        str | None, Query(max_length=40, pattern="^[A-Za-z0-9.-]*$", description="cs.CV, or cs.")
    ] = None,
    has_code: bool = False,
    on_feed: bool = False,
    author: Annotated[
        str | None,
        Query(max_length=200, description='One of the authors, the whole name ("Yann LeCun").'),
    ] = None,
) -> JSONResponse:
    """Papers matching the query by words and meaning, best first (all indexed papers, not
    only the feed). Each item is shaped like Hugging Face's, plus ``highlightedTitle`` and
    ``highlightedSummary`` (HTML-escaped text, matched words in ``<mark>``; math stays TeX,
    never marked inside) and ``why`` (matched words, cosine similarity, fused score).
    Without a query or filter: every paper, newest first. ``X-Total-Count`` gives the number
    of results; ``Link: rel="next"`` the next page; ``X-Search-Terms-Dropped`` how many
    repeated or extra terms were left out (a search looks for at most 32);
    ``X-Search-Incomplete`` that the search ran out of its time budget and these are the
    results found before (by meaning, usually). Sorted by date or upvotes, the results are
    the papers holding every word; ``X-Search-Closest`` says that none does, and these are
    the most relevant few, re-ordered. ``X-Search-Suggestion``: "did you mean …?", the query
    with its misspelled words corrected (percent-encoded beyond printable ASCII), when a word
    is far rarer among the papers than one a letter or two away. Out of time with nothing
    found: 503 with ``Retry-After``."""
    check_date("from", date_from)
    check_date("to", date_to)
    filters = service.search_filters(date_from, date_to, category, has_code, on_feed, author)
    if not q.strip() and not filters.active:
        # Like Hugging Face: no query lists papers (``HfApi.list_papers()``), newest first.
        seqs, total = ctx.store.search.browse(filters, sort, limit, p * limit)
        ids = ctx.store.papers.ids_of(seqs)
        found = ctx.store.feed.cards([ids[s] for s in seqs if s in ids])
        matcher = Matcher(parse(""))
        result = SearchResult(parse(""), [], total, "browse")
        cards = [service.decorate(c, matcher, None, mathml=False) for c in found]
    else:
        result, cards = service.search(
            ctx, q, filters, sort=sort, offset=p * limit, limit=limit, mode=mode, mathml=False
        )
    items = []
    for card in cards:
        item = render.daily_item_json(card, _base(ctx))
        item["highlightedTitle"] = str(card.hl_title)
        item["highlightedSummary"] = str(card.hl_abstract)
        item["why"] = card.why
        items.append(item)
    headers = {"X-Total-Count": str(result.total), "X-Search-Mode": result.mode}
    if result.query.dropped:  # repeated terms, and terms past the cap, were left out
        headers["X-Search-Terms-Dropped"] = str(result.query.dropped)
    if result.incomplete:  # the time budget ran out: what was found before it
        headers["X-Search-Incomplete"] = "time budget exceeded"
    if result.capped and sort == "relevance":  # the best matches, not every one
        headers["X-Search-Capped"] = "the most relevant; sort=date reaches every match"
    if result.closest:  # sorted, and no paper holds every word
        headers["X-Search-Closest"] = "no paper holds every word: the most relevant, re-ordered"
    asked = bool(result.query.text) and not p
    fixed, spelling_pending = service.suggestion(ctx, result) if asked else (None, False)
    said = quote(fixed.text, safe=SUGGESTION_SAFE) if fixed else ""
    if 0 < len(said) <= SUGGESTION_MAX:
        headers["X-Search-Suggestion"] = said
    if (p + 1) * limit < result.total:
        # From the checked parameters only: nothing else the caller sent is echoed.
        params = _search_params(q, limit, sort, mode, filters) | {"p": str(p + 1)}
        headers["Link"] = f'<{_base(ctx)}/api/papers/search?{urlencode(params)}>; rel="next"'
    response = JSONResponse(items, headers=headers)
    return service.not_kept(response) if spelling_pending else response


def _search_params(
    q: str, limit: int, sort: str, mode: str, filters: SearchFilters
) -> dict[str, str]:
    extra = {"limit": str(limit), "sort": sort, "mode": mode}
    return service.filter_params(q, filters, api=True) | extra


@router.get(
    "/papers/{arxiv_id:arxiv}/similar",
    summary="Similar papers",
    response_model=None,
    responses=errors(*READ, 404),
)
def similar(
    ctx: CtxDep, arxiv_id: ArxivPath, limit: Annotated[int, Query(ge=1, le=50)] = 10
) -> list[dict[str, Any]]:
    """The papers closest in meaning (cosine similarity of their embeddings)."""
    pid = _pid(arxiv_id)
    if ctx.store.papers.seq_of(pid) is None:
        raise not_found("paper", pid)
    out = []
    for card in service.similar(ctx, pid, limit):
        item = render.paper_json(card, _base(ctx))
        item["similarity"] = card.similarity
        out.append(item)
    return out


@router.get("/papers", summary="Latest papers", response_model=None, responses=errors(*READ))
def list_papers(
    ctx: CtxDep,
    p: Annotated[int, Query(ge=0, le=100000)] = 0,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> list[dict[str, Any]]:
    """Every indexed paper, newest publication first."""
    cards = ctx.store.feed.latest(limit=limit, offset=p * limit)
    return [render.paper_json(c, _base(ctx)) for c in cards]


@router.get(
    "/whoami",
    summary="The caller",
    response_model=None,
    responses=errors(401),
    openapi_extra=signed_in(),
)
def whoami(ctx: CtxDep) -> dict[str, Any]:
    user = require_user(ctx)
    return {
        "name": user.username,
        "fullname": user.fullname,
        "role": user.role,
        "type": "user",
        "auth": "token" if ctx.via_token else "session",
        "scopes": list(ctx.scopes) if ctx.via_token else _session_scopes(user),
    }


def _session_scopes(user: User) -> list[str]:
    """What a session may do: all its user may (a token may do less)."""
    return ["read", "write", "admin"] if user.has_role("curator") else ["read", "write"]


class IndexBody(BaseModel):
    arxivId: str = Field(
        max_length=200, pattern=ARXIV_REF, description="arXiv id or URL, e.g. 2401.09417"
    )


def _pending_json(view: service.PendingView) -> dict[str, Any]:
    job = view.job
    return {
        "arxivId": job.key,
        "kind": "submit" if job.kind == papers.SUBMIT else "index",
        "state": {"queued": "pending", "running": "pending"}.get(job.state, job.state),
        "status": view.status,
        "message": view.detail,
        "attempts": job.attempts,
        "nextAttemptAt": render.iso_z(view.next_try),
        "createdAt": render.iso_z(job.created_at),
    }


def _accepted(result: service.Result) -> JSONResponse | None:
    """202 with the pending request, when arXiv could not answer in time."""
    if result.pending is None:
        return None
    return JSONResponse(_pending_json(service.pending_view(result.pending)), status_code=202)


@router.post(
    "/papers/index",
    summary="Index a paper from arXiv",
    response_model=None,
    responses=PENDING | errors(*WRITE, *IDEMPOTENT, 413),
    openapi_extra=signed_in(),
)
def index_paper(ctx: WriterDep, body: IndexBody, request: Request) -> Any:
    """Fetch a paper from arXiv if it is not indexed yet; answers with the paper. When arXiv
    does not answer within a few seconds: 202 with the pending request, which is retried
    in the background (see `GET /api/papers/pending`)."""

    def write() -> Any:
        result = service.index(ctx, body.arxivId)
        return _accepted(result) or render.paper_json(_result_card(ctx, result), _base(ctx))

    return idempotency.run_json(ctx, request, body.model_dump(), 200, write)


@router.get(
    "/papers/pending",
    summary="Your requests waiting for arXiv",
    response_model=None,
    responses=errors(401),
    openapi_extra=signed_in(),
)
def pending(ctx: CtxDep) -> list[dict[str, Any]]:
    """Your submissions and indexing requests that wait for arXiv, and those settled in the
    last 7 days (state pending, done or failed, with a message for people)."""
    require_user(ctx)
    return [_pending_json(v) for v in service.pending_of(ctx)]


def _result_card(ctx: Ctx, result: service.Result) -> Card:
    if result.error or result.paper_id is None:
        raise HTTPException(result.status, result.error or "no such paper")
    card = ctx.store.feed.card(result.paper_id)
    if card is None:
        raise not_found("paper", result.paper_id)
    return card


@router.post(
    "/daily_papers",
    status_code=201,
    summary="Submit a paper to today's feed",
    response_model=None,
    responses=PENDING | errors(*WRITE, *IDEMPOTENT, 413),
    openapi_extra=signed_in(),
)
def submit(ctx: WriterDep, body: IndexBody, request: Request) -> Any:
    """Put a paper on today's feed (fetched from arXiv if unknown), under the submission
    rules of this instance. When arXiv does not answer within a few seconds: 202 with the
    pending submission; the paper goes on the feed when arXiv answers."""

    def write() -> Any:
        result = service.submit(ctx, body.arxivId)
        return _accepted(result) or render.daily_item_json(_result_card(ctx, result), _base(ctx))

    return idempotency.run_json(ctx, request, body.model_dump(), 201, write)


def _upvote(ctx: Ctx, arxiv_id: str, on: bool) -> dict[str, Any]:
    changed, count = service.upvote(ctx, _pid(arxiv_id), on)
    return {"upvoted": on, "upvotes": count, "changed": changed}


@router.post(
    "/papers/{arxiv_id:arxiv}/upvote",
    summary="Upvote a paper",
    response_model=None,
    responses=errors(*WRITE),
    openapi_extra=signed_in(),
)
def upvote(ctx: WriterDep, arxiv_id: ArxivPath) -> dict[str, Any]:
    """Idempotent: upvoting twice counts once."""
    return _upvote(ctx, arxiv_id, True)


@router.delete(
    "/papers/{arxiv_id:arxiv}/upvote",
    summary="Take back an upvote",
    response_model=None,
    responses=errors(*WRITE),
    openapi_extra=signed_in(),
)
def unvote(ctx: WriterDep, arxiv_id: ArxivPath) -> dict[str, Any]:
    return _upvote(ctx, arxiv_id, False)


def _comment_json(c: service.ThreadComment) -> dict[str, Any]:
    return {
        "id": c.id,
        "parentId": c.parent_id,
        "author": None if c.deleted else c.username,  # a deleted comment names no one
        "createdAt": render.iso_z(c.created_at),
        "editedAt": render.iso_z(c.edited_at),
        "body": "" if c.deleted or c.hidden else c.body,
        "html": c.html,
        "hidden": c.hidden,
        "deleted": c.deleted,
        "isAuthor": c.is_author and not c.deleted,
        "reactions": reactions.as_json(c.reactions),
        "replies": [_comment_json(r) for r in c.replies],
    }


@router.get(
    "/papers/{arxiv_id:arxiv}/comments",
    summary="Discussion of a paper",
    response_model=None,
    responses=errors(*READ, 404),
    openapi_extra=optional_sign_in(),
)
def comments(ctx: CtxDep, arxiv_id: ArxivPath) -> list[dict[str, Any]]:
    pid = _pid(arxiv_id)
    card = ctx.store.feed.card(pid)
    if card is None:
        raise not_found("paper", pid)
    return [_comment_json(c) for c in service.thread(ctx, card)]


class CommentBody(BaseModel):
    body: str = Field(
        min_length=1,
        max_length=100000,
        description="Markdown, with some visible text (at most the instance's comment length)",
        json_schema_extra={"pattern": VISIBLE},
    )
    parentId: int | None = Field(
        default=None, ge=1, le=MAX_ROW_ID, description="comment replied to"
    )


@router.post(
    "/papers/{arxiv_id:arxiv}/comments",
    status_code=201,
    summary="Comment on a paper",
    response_model=None,
    responses=errors(*WRITE, *IDEMPOTENT, 413),
    openapi_extra=signed_in(),
)
def add_comment(ctx: WriterDep, arxiv_id: ArxivPath, body: CommentBody, request: Request) -> Any:
    def write() -> dict[str, int]:
        return {"id": service.add_comment(ctx, _pid(arxiv_id), body.body, body.parentId)}

    return idempotency.run_json(ctx, request, body.model_dump(), 201, write)


@router.get(
    "/papers/{arxiv_id:arxiv}",
    summary="One paper",
    response_model=None,
    responses=errors(*READ, 404),
)
def paper(ctx: CtxDep, arxiv_id: ArxivPath) -> dict[str, Any]:
    """Like Hugging Face's ``/api/papers/{id}``."""
    pid = _pid(arxiv_id)
    card = ctx.store.feed.card(pid)
    if card is None:
        raise not_found("paper", pid)
    return render.paper_json(card, _base(ctx))


@hookimpl
def register_routes(register: Callable[[APIRouter], None]) -> None:
    register(router)
