"""Atom feeds (RFC 4287): daily, weekly, monthly, trending, per organization, author, user
(their submissions), search, each paper's discussion, and each public or unlisted
collection."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal
from urllib.parse import quote, urlencode
from xml.etree import ElementTree as ET

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import PlainTextResponse, Response
from fastapi.routing import APIRoute

from ..core import periods
from ..core.clock import utcnow
from ..core.display import dotted
from ..core.errors import InvalidArxivId, PeriodError
from ..core.hooks import hookimpl
from ..core.ids import parse_arxiv_id
from ..core.models import Card
from ..core.tex import to_text
from ..core.text import xml_safe
from . import render, service
from .deps import Ctx, CtxDep, RowId


class _PlainErrors(APIRoute):
    """A feed's errors as plain text (what a feed reader or curl shows), in the API's words:
    a bad parameter is a 400 saying which, as the API's own 400s do."""

    def get_route_handler(self) -> Callable[[Request], Any]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                return _plain(400, "; ".join(map(_said, exc.errors())) or "bad request")
            except HTTPException as exc:
                return _plain(exc.status_code, str(exc.detail), exc.headers)

        return route


def _plain(status: int, message: str, headers: Any = None) -> Response:
    return PlainTextResponse(message + "\n", status_code=status, headers=headers)


def _said(err: Any) -> str:
    where = ".".join(str(x) for x in err.get("loc", ())[1:]) or "the request"
    given = err.get("input")
    got = f", not {str(given)[:40]!r}" if isinstance(given, str | int | float) else ""
    return f"{where}: {err.get('msg', 'invalid')}{got}"


router = APIRouter(prefix="/feeds", include_in_schema=False, route_class=_PlainErrors)
ATOM = "http://www.w3.org/2005/Atom"
FEED_SIZE = 50
MAX_AUTHOR = 200
ET.register_namespace("", ATOM)


def _utc(value: date | datetime) -> datetime:
    """A stored date or naive-UTC datetime as an aware UTC datetime."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC)
    return datetime(value.year, value.month, value.day, tzinfo=UTC)


def _ts(value: date | datetime) -> str:
    return _utc(value).isoformat(timespec="seconds")


def _entry_authors(card: Card) -> list[str]:
    """The paper's authors, or its organization; none rather than a made-up name."""
    named = [a for a in card.authors or [] if a.strip()][:50]
    org = card.org_fullname or card.org
    return named or ([org] if org else [])


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: Any) -> ET.Element:
    values = {k: xml_safe(str(v)) for k, v in attrs.items()}
    el = ET.SubElement(parent, f"{{{ATOM}}}{tag}", values)
    if text is not None:
        el.text = xml_safe(text)
    return el


def _head(
    ctx: Ctx, title: str, path: str, html_path: str, updated: str, subtitle: str | None = None
) -> ET.Element:
    base = ctx.settings.site.base_url.rstrip("/")
    feed = ET.Element(f"{{{ATOM}}}feed")
    _sub(feed, "title", f"{ctx.settings.site.site_name}: {title}")
    if subtitle:
        _sub(feed, "subtitle", subtitle)
    _sub(feed, "id", f"{base}{path}")
    _sub(feed, "link", rel="self", href=f"{base}{path}", type="application/atom+xml")
    _sub(feed, "link", rel="alternate", href=f"{base}{html_path}", type="text/html")
    _sub(feed, "updated", updated)
    return feed


def _response(feed: ET.Element) -> Response:
    body = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    # Cache-Control, ETag and 304s: web.cache, like every anonymous read.
    return Response(body, media_type="application/atom+xml; charset=utf-8")


def atom(
    ctx: Ctx,
    title: str,
    path: str,
    html_path: str,
    cards: Sequence[Card],
    added: dict[str, tuple[datetime, str]] | None = None,
    subtitle: str | None = None,
) -> Response:
    """``cards`` as a feed; ``added``: for a collection, when each paper was added to it
    (the entry's ``updated``, so that readers show new additions) and the owner's note;
    ``subtitle``: what the feed holds now, where its title stays the same."""
    base = ctx.settings.site.base_url.rstrip("/")
    site_name = ctx.settings.site.site_name
    added = added or {}

    def changed(c: Card) -> date | datetime | None:
        return (
            added[c.id][0]
            if c.id in added
            else (c.submitted_at or c.updated or c.published or c.feed_date)
        )

    stamps = [changed(c) for c in cards]
    # An empty or undated feed is as new as this answer: a true date, unlike 1970.
    updated = _ts(max((_utc(s) for s in stamps if s), default=None) or utcnow())
    feed = _head(ctx, title, path, html_path, updated, subtitle)
    if any(not _entry_authors(c) for c in cards):
        # RFC 4287 §4.1.2: an entry without authors takes the feed's, the site compiling it.
        author = _sub(feed, "author")
        _sub(author, "name", site_name)
        _sub(author, "uri", f"{base}/")
    _sub(feed, "generator", "Paperwire")
    for card in cards:
        entry = _sub(feed, "entry")
        _sub(entry, "title", to_text(card.title))
        _sub(entry, "id", f"{base}/papers/{card.id}")
        _sub(entry, "link", rel="alternate", href=f"{base}/papers/{card.id}", type="text/html")
        _sub(entry, "link", rel="related", href=f"https://arxiv.org/abs/{card.id}", title="arXiv")
        if card.published:  # optional in Atom: left out rather than invented
            _sub(entry, "published", _ts(card.published))
        stamp = changed(card)
        _sub(entry, "updated", _ts(stamp) if stamp else updated)
        named = set(card.authors or [])
        for name in _entry_authors(card):
            person = _sub(entry, "author")
            _sub(person, "name", name)
            if name in named:  # an author's page; an organization standing in has none
                _sub(person, "uri", f"{base}{render.author_path(name)}")
        for cat in card.categories or []:
            _sub(entry, "category", term=cat)
        votes = f"{card.upvotes} upvote" + ("" if card.upvotes == 1 else "s")
        code = f"code: https://github.com/{card.github_repo}" if card.github_repo else ""
        note = f"Note: {added[card.id][1]}" if added.get(card.id, (None, ""))[1] else ""
        abstract = to_text(card.abstract or "")  # a reader shows it as text: "AT²PO", not TeX
        summary = "\n\n".join(p for p in (note, abstract, dotted(votes, code)) if p)
        _sub(entry, "summary", summary, type="text")
    return _response(feed)


def _period_feed(
    ctx: Ctx, period: periods.Period, title: str, path: str, latest: bool = True
) -> Response:
    """The papers of ``period``. The latest period's feed, which readers subscribe to,
    keeps one title (a reader names the feed by it) and says the period in its subtitle."""
    cards, _ = ctx.store.feed.period(period.start, period.end, sort="upvotes", limit=FEED_SIZE)
    if not latest:
        return atom(ctx, f"{title}, {period.label}", path, period.path, cards)
    return atom(ctx, title, path, period.path, cards, subtitle=period.label)


@router.get("/daily.atom")
def daily(ctx: CtxDep, date: str | None = None) -> Response:
    if date:
        try:
            period = periods.parse_day(date)
        except PeriodError as exc:
            raise HTTPException(400, str(exc)) from None
    else:
        today = ctx.site.clock.feed_date()
        period = periods.day(ctx.store.feed.day(on_or_before=today) or today)
    return _period_feed(ctx, period, "Daily Papers", "/feeds/daily.atom", latest=not date)


@router.get("/weekly.atom")
def weekly(ctx: CtxDep) -> Response:
    today = ctx.site.clock.feed_date()
    latest = ctx.store.feed.day(on_or_before=today) or today
    period = periods.week_of(latest)
    return _period_feed(ctx, period, "Daily Papers of the week", "/feeds/weekly.atom")


@router.get("/monthly.atom")
def monthly(ctx: CtxDep) -> Response:
    today = ctx.site.clock.feed_date()
    latest = ctx.store.feed.day(on_or_before=today) or today
    period = periods.month(latest.year, latest.month)
    return _period_feed(ctx, period, "Daily Papers of the month", "/feeds/monthly.atom")


@router.get("/trending.atom")
def trending(ctx: CtxDep) -> Response:
    ranked, _ = service.trending(ctx)
    cards = ctx.store.feed.cards([t.paper_id for t in ranked[:FEED_SIZE]])
    return atom(ctx, "Trending papers", "/feeds/trending.atom", "/papers/trending", cards)


@router.get("/organizations/{name}.atom")
def organization(ctx: CtxDep, name: str) -> Response:
    org = ctx.store.accounts.get_organization(name)
    if org is None:
        raise HTTPException(404, f"No organization called {name!r}.")
    cards = ctx.store.feed.of_organization(org.id, limit=FEED_SIZE)
    return atom(
        ctx,
        org.fullname or org.name,
        f"/feeds/organizations/{name}.atom",
        f"/organizations/{name}",
        cards,
    )


@router.get("/authors/{name:path}.atom")
def author(ctx: CtxDep, name: str) -> Response:
    """An author's newest papers on this instance."""
    shown = " ".join(name.split())
    cards, total = ctx.store.authors.papers(shown[:MAX_AUTHOR], limit=FEED_SIZE)
    if not shown or not total:
        raise HTTPException(404, f"No paper on this instance lists {shown[:200]!r} as an author.")
    page = render.author_path(shown)
    return atom(ctx, f"Papers by {shown}", f"/feeds{page}.atom", page, cards)


@router.get("/users/{username}.atom")
def user(ctx: CtxDep, username: str) -> Response:
    """The papers a user put on the feed, newest submission first."""
    person = ctx.store.accounts.get_user(username=username)
    if person is None:
        raise HTTPException(404, f"No user called {username!r}.")
    cards = ctx.store.feed.submitted_by(person.id, limit=FEED_SIZE)
    path = f"/users/{quote(person.username, safe='')}"
    title = f"Submitted by {person.fullname or person.username}"
    return atom(ctx, title, f"/feeds{path}.atom", path, cards)


@router.get("/collections/{collection_id}.atom")
def collection(ctx: CtxDep, collection_id: RowId) -> Response:
    """A public or unlisted collection's papers, in its order (a private one: 404, even to
    its owner: feed readers share their subscriptions)."""
    found = ctx.store.collections.get(collection_id)
    if found is None or found.visibility == "private":
        raise HTTPException(404, "No such collection.")
    items = ctx.store.collections.items(found.id)[:FEED_SIZE]
    path = f"/collections/{found.id}"
    title = f"{found.name} (a collection by {found.owner})"
    added = {i.paper_id: (i.added_at, i.note) for i in items}
    cards = ctx.store.feed.cards([i.paper_id for i in items])
    return atom(ctx, title, f"/feeds{path}.atom", path, cards, added)


@router.get("/papers/{arxiv_id:path}/comments.atom")
def discussion(ctx: CtxDep, arxiv_id: str) -> Response:
    """A paper's discussion: its comments, newest first (hidden and deleted ones left out)."""
    try:
        pid = parse_arxiv_id(arxiv_id)[0]
    except InvalidArxivId as exc:
        raise HTTPException(404, str(exc)) from None
    card = ctx.store.feed.card(pid)
    if card is None:
        raise HTTPException(404, f"Paper {pid} is not indexed.")
    base = ctx.settings.site.base_url.rstrip("/")
    rows = [c for c in ctx.store.discussion.thread(pid) if not (c.hidden or c.deleted)]
    rows = sorted(rows, key=lambda c: (c.created_at, c.id), reverse=True)[:FEED_SIZE]
    known = ctx.store.accounts.existing_usernames(
        sorted({n for c in rows for n in render.mentions(c.body)})
    )
    latest = max((c.edited_at or c.created_at for c in rows), default=None)
    feed = _head(
        ctx,
        f"Discussion of {to_text(card.title)}",
        f"/feeds/papers/{pid}/comments.atom",
        f"/papers/{pid}#comments",
        _ts(latest or utcnow()),
    )
    _sub(feed, "generator", "Paperwire")
    for c in rows:
        who = c.fullname or c.username
        entry = _sub(feed, "entry")
        _sub(entry, "title", f"{who} on {to_text(card.title)}")
        _sub(entry, "id", f"{base}/papers/{pid}#comment-{c.id}")
        _sub(
            entry,
            "link",
            rel="alternate",
            href=f"{base}/papers/{pid}#comment-{c.id}",
            type="text/html",
        )
        _sub(entry, "published", _ts(c.created_at))
        _sub(entry, "updated", _ts(c.edited_at or c.created_at))
        person = _sub(entry, "author")
        _sub(person, "name", who)
        _sub(person, "uri", f"{base}/users/{quote(c.username, safe='')}")
        # Links of the site (a mention, a link to a paper) made absolute: a feed reader
        # shows the entry away from this site.
        html_ = render.markdown(c.body, known).replace('href="/', f'href="{base}/')
        _sub(entry, "content", html_, type="html")
    return _response(feed)


@router.get("/search.atom")
def search(
    ctx: CtxDep,
    q: Annotated[str, Query(max_length=10000)] = "",
    date_from: Annotated[str | None, Query(alias="from", max_length=20)] = None,
    date_to: Annotated[str | None, Query(alias="to", max_length=20)] = None,
    category: Annotated[str | None, Query(max_length=40)] = None,
    code: bool = False,
    feed: bool = False,
    author: Annotated[str | None, Query(max_length=200)] = None,
    sort: Literal["date", "relevance", "upvotes"] = "date",
) -> Response:
    """The newest papers among the results of a search (or, with ``sort``, the most relevant
    or most upvoted): subscribe to a topic. Parameters as the API's search takes them: a bad
    one is a 400 in plain text."""
    filters = service.search_filters(date_from, date_to, category, code, feed, author)
    _, cards = service.search(ctx, q, filters, sort=sort, limit=FEED_SIZE)
    known = service.filter_params(q, filters) | ({"sort": sort} if sort != "date" else {})
    params = urlencode(known)  # known parameters only
    return atom(
        ctx,
        f"Search: {q[:100]}",
        f"/feeds/search.atom?{params}",
        f"/papers?{params}",
        cards,
    )


@hookimpl
def register_routes(register: Callable[[APIRouter], None]) -> None:
    register(router)
