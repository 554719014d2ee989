"""Atom feeds (RFC 4287): daily, weekly, trending, per organization, per search."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from typing import Annotated, Any
from urllib.parse import urlencode
from xml.etree import ElementTree as ET

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import Response

from ..core import periods
from ..core.clock import utcnow
from ..core.display import dotted
from ..core.errors import PeriodError
from ..core.hooks import hookimpl
from ..core.models import Card
from . import service
from .deps import Ctx, CtxDep

router = APIRouter(prefix="/feeds", include_in_schema=False)
ATOM = "http://www.w3.org/2005/Atom"
FEED_SIZE = 50
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


def atom(ctx: Ctx, title: str, path: str, html_path: str, cards: Sequence[Card]) -> Response:
    base = ctx.settings.site.base_url.rstrip("/")
    feed = ET.Element(f"{{{ATOM}}}feed")

    def sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: Any) -> ET.Element:
        el = ET.SubElement(parent, f"{{{ATOM}}}{tag}", {k: str(v) for k, v in attrs.items()})
        if text is not None:
            el.text = text
        return el

    site_name = ctx.settings.site.site_name
    sub(feed, "title", f"{site_name}: {title}")
    sub(feed, "id", f"{base}{path}")
    sub(feed, "link", rel="self", href=f"{base}{path}", type="application/atom+xml")
    sub(feed, "link", rel="alternate", href=f"{base}{html_path}", type="text/html")
    stamps = [c.submitted_at or c.updated or c.published or c.feed_date for c in cards]
    # An empty or undated feed is as new as this answer: a true date, unlike 1970.
    updated = _ts(max((_utc(s) for s in stamps if s), default=None) or utcnow())
    sub(feed, "updated", updated)
    if any(not _entry_authors(c) for c in cards):
        # RFC 4287 §4.1.2: an entry without authors takes the feed's, the site compiling it.
        author = sub(feed, "author")
        sub(author, "name", site_name)
        sub(author, "uri", f"{base}/")
    sub(feed, "generator", "Paperwire")
    for card in cards:
        entry = sub(feed, "entry")
        sub(entry, "title", card.title)
        sub(entry, "id", f"{base}/papers/{card.id}")
        sub(entry, "link", rel="alternate", href=f"{base}/papers/{card.id}", type="text/html")
        sub(entry, "link", rel="related", href=f"https://arxiv.org/abs/{card.id}", title="arXiv")
        if card.published:  # optional in Atom: left out rather than invented
            sub(entry, "published", _ts(card.published))
        changed = card.submitted_at or card.updated or card.published or card.feed_date
        sub(entry, "updated", _ts(changed) if changed else updated)
        for name in _entry_authors(card):
            sub(sub(entry, "author"), "name", name)
        for cat in card.categories or []:
            sub(entry, "category", term=cat)
        votes = f"{card.upvotes} upvote" + ("" if card.upvotes == 1 else "s")
        code = f"code: https://github.com/{card.github_repo}" if card.github_repo else ""
        summary = "\n\n".join(p for p in (card.abstract, dotted(votes, code)) if p)
        sub(entry, "summary", summary, type="text")
    body = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    return Response(
        body,
        media_type="application/atom+xml; charset=utf-8",
        headers={"Cache-Control": "public, max-age=300"},
    )


def _period_feed(ctx: Ctx, period: periods.Period, title: str, path: str) -> Response:
    cards, _ = ctx.store.feed.period(period.start, period.end, sort="upvotes", limit=FEED_SIZE)
    return atom(ctx, title, path, period.path, cards)


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
    return _period_feed(ctx, period, f"Daily Papers, {period.label}", "/feeds/daily.atom")


@router.get("/weekly.atom")
def weekly(ctx: CtxDep) -> Response:
    today = ctx.site.clock.feed_date()
    latest = ctx.store.feed.day(on_or_before=today) or today
    period = periods.week_of(latest)
    return _period_feed(ctx, period, period.label, "/feeds/weekly.atom")


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


@router.get("/search.atom")
def search(
    ctx: CtxDep,
    q: Annotated[str, Query(max_length=10000)] = "",
    date_from: Annotated[str | None, Query(alias="from", max_length=20)] = None,
    date_to: Annotated[str | None, Query(alias="to", max_length=20)] = None,
    category: Annotated[str | None, Query(max_length=40)] = None,
    code: bool = False,
    feed: bool = False,
) -> Response:
    """The newest papers among the results of a search: subscribe to a topic."""
    filters = service.search_filters(date_from, date_to, category, code, feed)
    _, cards = service.search(ctx, q, filters, sort="date", limit=FEED_SIZE)
    params = urlencode({k: v for k, v in ctx.request.query_params.items()})
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
