"""Pages: the daily/weekly/monthly feed, trending, search, paper pages, upvotes, comments,
submission, profiles and organizations."""

from __future__ import annotations

import dataclasses
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from typing import Annotated, Any, TypeVar, cast
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from markupsafe import Markup
from starlette.datastructures import FormData

from ..core import categories, periods, tex
from ..core.clock import utcnow
from ..core.errors import InvalidArxivId, PeriodError
from ..core.hooks import hookimpl
from ..core.ids import never_issued, parse_arxiv_id
from ..core.models import Card
from ..core.query import MAX_TERMS, SearchFilters, parse
from ..rank.trending import (
    FULL_LIST,
    PAPER_HALF_LIFE_H,
    STAR_WEIGHT,
    VOTE_HALF_LIFE_H,
    WINDOW_DAYS,
)
from ..search import SearchResult
from ..store.signals import Marks
from . import (
    avatars,
    collections,
    idempotency,
    paper_md,
    render,
    service,
    signin_intent,
    subscribe,
)
from .deps import (
    Ctx,
    CtxDep,
    PostedDep,
    RowId,
    check_posted,
    rate_limit,
    read_form,
    require_user,
    row_id,
)
from .responses import error_response, page, safe_next, wants_json

router = APIRouter(include_in_schema=False)
PageNo = Annotated[int, Query(ge=0, le=10000)]
SORT_LABELS = {"upvotes": "Top", "published": "Newest"}
FEED_TABS = ("day", "week", "month", "trending")
MAX_AUTHOR = 200
T = TypeVar("T")


def page_of(
    ctx: Ctx, cards: Sequence[Card], template: str = "feed.html", **context: Any
) -> Response:
    """Render a page of cards (or just the cards, for the infinite scroll). Feed pages
    leave out the cards the visitor marked "not interested"."""
    state = collections.marks(ctx, cards)
    if context.get("tab") in FEED_TABS:
        cards = collections.hide_dismissed(cards, state)
    if ctx.request.query_params.get("fragment"):
        template = "_cards.html"
    if _fragments_ok(cards, context):
        context["cards_html"] = _cards_html(
            ctx, cards, state, context.get("tab"), context.get("author")
        )
    if template == "feed.html" and ctx.user is not None:
        query = context.get("alert_query", "") if context.get("tab") == "search" else ""
        context["banner_sub"] = subscribe.banner_subscription(ctx, query)
    return page(ctx, template, cards=cards, upvoted=state.upvoted, saved=state.saved, **context)


def _fragments_ok(cards: Sequence[Card], context: dict[str, Any]) -> bool:
    """Whether the cards can come from the rendered ones: plain cards (not search results,
    which are highlighted), no trending scores or For-you reasons, the default heading level."""
    plain = all(type(c) is Card for c in cards)
    personal = context.get("scores") or context.get("reasons")
    return plain and not personal and "card_level" not in context


CARD_FIELDS = tuple(f.name for f in dataclasses.fields(Card))
CARDS_KEPT = 4096  # rendered cards per process (~3 KB each)
_CSRF_SLOT = f"csrf-{secrets.token_hex(16)}"  # stands in for the visitor's token


class _RenderedCards:
    """Cards as _card.html renders them, per card content, upvote state, page path and tab,
    with the visitor's CSRF token put in afterwards: a signed-in page is personal, but its
    cards are the same for everyone who did or did not upvote them (rendering 30 cards was
    most of a feed page's time)."""

    def __init__(self) -> None:
        self.kept: OrderedDict[tuple[Any, ...], str] = OrderedDict()
        self.lock = threading.Lock()

    def render(
        self, ctx: Ctx, card: Card, voted: bool, saved: bool, tab: Any, author: str | None
    ) -> str:
        facts = tuple(
            tuple(v) if isinstance(v, list) else v for v in map(card.__getattribute__, CARD_FIELDS)
        )
        signed_in = ctx.user is not None  # only a signed-in visitor's forms carry a token
        key = (facts, voted, saved, ctx.request.url.path, tab, signed_in, author)
        with self.lock:
            html = self.kept.get(key)
            if html is not None:
                self.kept.move_to_end(key)
        if html is None:
            html = ctx.site.templates.env.get_template("_card.html").render(
                card=card,
                upvoted={card.id} if voted else set(),
                saved={card.id} if saved else set(),
                csrf=_CSRF_SLOT,
                user=signed_in,
                request=ctx.request,
                tab=tab,
                scores=None,
                author=author,  # an author page's: each card names them
            )
            with self.lock:
                self.kept[key] = html
                while len(self.kept) > CARDS_KEPT:
                    self.kept.popitem(last=False)
        return html.replace(_CSRF_SLOT, ctx.csrf)


def _cards_html(
    ctx: Ctx, cards: Sequence[Card], state: Marks, tab: Any, author: str | None = None
) -> Markup:
    env = ctx.site.templates.env
    kept: _RenderedCards | None = getattr(env, "paperwire_cards", None)
    if kept is None:
        kept = _RenderedCards()
        env.paperwire_cards = kept  # type: ignore[attr-defined]
    up, saved = state.upvoted, state.saved
    return Markup(
        "".join(kept.render(ctx, c, c.id in up, c.id in saved, tab, author) for c in cards)
    )


class _Memo:
    """What feed pages show to everyone (their cards, totals, neighbouring days), kept per
    data version: a signed-in page is rendered for its visitor each time, but only the
    visitor's own upvotes need the database then. A value lives while the data version it
    was read under is current (a write in this process or, one poll later, any process
    changes it) and at most ``page_cache_ttl`` seconds (what the clock moves)."""

    def __init__(self, size: int = 256) -> None:
        self.kept: OrderedDict[tuple[Any, ...], tuple[Any, float, Any]] = OrderedDict()
        self.size = size
        self.lock = threading.Lock()

    def get(self, ctx: Ctx, key: tuple[Any, ...], make: Callable[[], T]) -> T:
        cache = getattr(ctx.request.app.state, "page_cache", None)
        if cache is None or not cache.max_bytes:  # page_cache_mb = 0: no shared caching
            return make()
        token = cache.version.token()
        if token is None:  # no data version known (yet): read it now
            return make()
        now = time.monotonic()
        with self.lock:
            hit = self.kept.get(key)
            if hit is not None and hit[0] == token and now - hit[1] < cache.ttl:
                self.kept.move_to_end(key)
                return cast(T, hit[2])
        value = make()
        with self.lock:
            self.kept[key] = (token, now, value)
            while len(self.kept) > self.size:
                self.kept.popitem(last=False)
        return value


_MEMO_LOCK = threading.Lock()


def _memo(ctx: Ctx) -> _Memo:
    """This app's memo (never another app's: two sites in one process have their own data)."""
    state = ctx.request.app.state
    memo: _Memo | None = getattr(state, "feed_memo", None)
    if memo is None:
        with _MEMO_LOCK:
            memo = getattr(state, "feed_memo", None)
            if memo is None:
                memo = state.feed_memo = _Memo()
    return memo


def _neighbours(ctx: Ctx, day: date) -> tuple[date | None, date | None]:
    """The latest feed day before ``day`` and the first after it."""
    return _memo(ctx).get(ctx, ("neighbours", day), lambda: ctx.store.feed.neighbours(day))


def _containing(kind: str, day: date) -> periods.Period:
    if kind == "day":
        return periods.day(day)
    return periods.week_of(day) if kind == "week" else periods.month(day.year, day.month)


def _feed(ctx: Ctx, period: periods.Period, p: int, sort: str, latest: bool = False) -> Response:
    """One period's papers; ``latest``: opened as the latest day with papers (``/papers``),
    which says so when that day is not today."""
    size = ctx.settings.site.page_size
    cards, total = _memo(ctx).get(
        ctx,
        ("period", period.start, period.end, sort, size, p),
        lambda: ctx.store.feed.period(
            period.start, period.end, sort=sort, limit=size, offset=p * size
        ),
    )
    today = ctx.site.clock.feed_date()
    prev: periods.Period | None
    nxt: periods.Period | None
    # The nearest periods with papers, as the day pages always did (no empty weeks between).
    before, _ = _neighbours(ctx, period.start)
    _, after = _neighbours(ctx, period.end)
    prev = _containing(period.kind, before) if before else None
    nxt = _containing(period.kind, after) if after and after <= today else None
    more = (p + 1) * size < total
    hidden = (
        ctx.store.signals.dismissed_on_feed(ctx.user.id, period.start, period.end)
        if ctx.user
        else 0
    )
    return page_of(
        ctx,
        cards,
        period=period,
        hidden=hidden,
        past_end=p > 0 and p * size >= total,
        # /papers before today's first paper (or on an instance whose papers stopped coming)
        today_empty=today if latest and period.end < today else None,
        # a period still to come: when the feed reaches it (the feed's day is not the
        # reader's, nor UTC's)
        begins=ctx.site.clock.begins(period.start) if period.start > today else None,
        days_change=ctx.site.clock.describe(),
        prev=prev,
        next=nxt,
        total=total,
        p=p,
        sort=sort,
        sorts=SORT_LABELS,
        more_url=f"{period.path}?p={p + 1}&sort={sort}" if more else None,
        title=f"Daily Papers – {period.label}" if period.kind == "day" else period.label,
        atom={
            "day": "/feeds/daily.atom",
            "week": "/feeds/weekly.atom",
            "month": "/feeds/monthly.atom",
        }.get(period.kind),
        tab=period.kind,
    )


def _sort(sort: str) -> str:
    if sort not in SORT_LABELS:
        raise HTTPException(400, f"sort must be one of {', '.join(SORT_LABELS)}")
    return sort


@router.get("/")
def home() -> Response:
    return RedirectResponse("/papers", status_code=302)


SEARCH_SORTS = {"relevance": "Most relevant", "date": "Newest", "upvotes": "Most upvoted"}


@router.get("/papers")
def papers_index(
    ctx: CtxDep,
    q: Annotated[str, Query(max_length=10000)] = "",
    p: PageNo = 0,
    sort: str | None = None,
    date_from: Annotated[str | None, Query(alias="from", max_length=20)] = None,
    date_to: Annotated[str | None, Query(alias="to", max_length=20)] = None,
    category: Annotated[str | None, Query(max_length=40)] = None,
    code: bool = False,
    feed: bool = False,
    author: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    try:
        filters = service.search_filters(date_from, date_to, category, code, feed, author)
        dates_left_out = None
    except service.BadDates as exc:  # the search goes on without them, and says why (any
        # other bad filter stays a 400)
        filters = service.search_filters(None, None, category, code, feed, author)
        dates_left_out = exc.human
    named = _named_paper(q)
    if named and not filters.active and ctx.store.papers.seq_of(named) is not None:
        # An arXiv id or link typed or pasted into search: that paper's page.
        return RedirectResponse(f"/papers/{named}", status_code=303)
    typed = parse(q).category  # category:… in the words shows in the form's field too
    if typed and not filters.category:
        filters = dataclasses.replace(filters, category=typed)
    if q.strip() or filters.active or dates_left_out:
        return search_page(ctx, q, p, sort or "relevance", filters, dates_left_out)
    # Filters cleared from a search sorted its way: the feed's own order of the same kind.
    sort = {"date": "published", "relevance": "upvotes"}.get(sort or "upvotes", sort)
    return _feed(ctx, periods.day(_latest_day(ctx)), p, _sort(sort or "upvotes"), latest=True)


# arXiv's DOI for a paper: 10.48550/arXiv.2602.06036, alone or as a doi.org link
ARXIV_DOI = re.compile(r"(?i)^(?:(?:https?://)?(?:dx\.)?doi\.org/|doi:)?10\.48550/arxiv\.")


def _named_paper(q: str) -> str | None:
    """The arXiv id a query is, alone (``2601.21579``, ``arXiv:2601.21579v2``, an abs or pdf
    link, its arXiv DOI), or None."""
    text = ARXIV_DOI.sub("", q.strip())
    if not text or len(text) > 200 or " " in text:
        return None
    try:
        pid = parse_arxiv_id(text)[0]
    except InvalidArxivId:
        return None
    return None if never_issued(pid) else pid  # (2999.00001: no month 99, so words)


def _latest_day(ctx: Ctx) -> date:
    """The latest day with papers on the feed (today when it has none yet): where the Daily,
    Weekly and Monthly tabs open, as their Atom feeds do (an instance whose last papers
    came weeks ago opens on them, not on empty periods)."""
    today = ctx.site.clock.feed_date()
    latest = _memo(ctx).get(ctx, ("latest", today), lambda: ctx.store.feed.day(on_or_before=today))
    return latest or today


def search_page(
    ctx: Ctx,
    q: str,
    p: int,
    sort: str,
    filters: SearchFilters,
    dates_left_out: str | None = None,
) -> Response:
    """Search results; ``dates_left_out``: why the From and To dates given could not be
    used (they are left out of this search, and the page says why)."""
    size = ctx.settings.site.page_size
    result, cards = service.search(ctx, q, filters, sort=sort, offset=p * size, limit=size)
    params = {**service.filter_params(q, filters), "sort": sort}
    alert, alert_leaves_out = service.alert_query(q, filters)  # the banner's offer
    more = (p + 1) * size < result.total
    stray = filters.category if filters.category and not _category_known(ctx, filters) else None
    if stray:  # no alert for a category no paper will ever be in
        alert, alert_leaves_out = "", False
    fixed, spelling_pending = service.suggestion(ctx, result) if not p else (None, False)
    if fixed:  # no alert for a misspelled word: the page asks "Did you mean …?" instead
        alert, alert_leaves_out = "", False
    response = page_of(
        ctx,
        cards,
        query=q,
        p=p,
        total=result.total,
        title=f"Search: {q[:80]}" if q.strip() else "Search",
        more_url=("/papers?" + urlencode({**params, "p": p + 1})) if more else None,
        tab="search",
        sort=sort,
        sorts=SEARCH_SORTS,
        filters=filters,
        search_params=params,
        search_mode=result.mode,
        terms_dropped=result.query.dropped,
        incomplete=result.incomplete,
        capped=result.capped and sort == "relevance",
        closest=result.closest,
        max_terms=MAX_TERMS,
        # True (turned off) or why it cannot run here; None when it runs
        semantic_off=ctx.site.search.problem or not ctx.settings.search.semantic_search,
        atom="/feeds/search.atom?" + urlencode({k: v for k, v in params.items() if k != "sort"}),
        dates_left_out=dates_left_out,
        unknown_category=stray,
        # "-diffusion" alone: words to leave out, none to look for; "the", "!!!": no word
        nothing_sought=_nothing_sought(result, filters),
        example_word=next(w for w in EXAMPLE_WORDS if w not in q.lower()),
        excluded_all=_excluded_all(ctx, result, filters) if not p else None,
        query_without_exclusions=" ".join(EXCLUSION.sub(" ", q).split()),
        category_guess=_category_guess(q, stray, params) if stray else None,
        named_paper=_named_paper(q),
        alert_query=alert,
        alert_leaves_out=alert_leaves_out,
        suggestion=fixed,  # "Did you mean …?"
    )
    return service.not_kept(response) if spelling_pending else response


EXAMPLE_WORDS = ("vision", "diffusion", "graphs", "robots")
EXCLUSION = re.compile(r'(?:(?<=\s)|^)-(?:"[^"]*"?|\S+)')  # -word, -"a phrase"


def _nothing_sought(result: SearchResult, filters: SearchFilters) -> str | None:
    """Why a query with no filter found nothing for want of words: "excluded" (only words
    to leave out) or "no words" (only common words or signs, which the keyword index does
    not hold); None when it had words to look for, or found papers by meaning."""
    parsed = result.query
    if not parsed.text or filters.active or parsed.units or result.total:
        return None
    return "excluded" if parsed.excluded else "no words"


def _excluded_all(ctx: Ctx, result: SearchResult, filters: SearchFilters) -> str | None:
    """The words left out, when they left out every paper holding all the others (the
    results then only come close in meaning); None otherwise."""
    parsed = result.query
    if not parsed.excluded or any(h.all_words for h in result.hits):
        return None
    if parsed.author and not filters.author:
        filters = dataclasses.replace(filters, author=parsed.author)
    if not ctx.site.search.excluded_every_match(parsed, filters):
        return None
    return ", ".join(f"“{' '.join(words)}”" for words in parsed.excluded)


def _category_known(ctx: Ctx, filters: SearchFilters) -> bool:
    """Whether the category filter names one of arXiv's, or one some paper here has (an old
    archive such as cmp-lg)."""
    code = filters.category or ""
    return categories.known(code) or ctx.store.papers.has_primary_category(code)


def _category_guess(q: str, stray: str, params: dict[str, str]) -> tuple[str, str] | None:
    """The arXiv category closest to a mistyped one, and the search with it instead (in the
    words too, where it was typed there)."""
    guess = categories.closest(stray)
    if guess is None:
        return None
    typed = re.compile(rf"(?i)\b(category|cat):{re.escape(stray)}(?=\s|$)")
    fixed = {**params, "q": typed.sub(f"category:{guess}", q), "category": guess}
    return guess, "/papers?" + urlencode(fixed)


def _period_route(kind: str) -> Callable[..., Response]:
    def view(ctx: CtxDep, key: str, p: PageNo = 0, sort: str = "upvotes") -> Response:
        try:
            period = periods.parse(kind, key)
        except PeriodError as exc:
            raise HTTPException(404, str(exc)) from None
        return _feed(ctx, period, p, _sort(sort))

    return view


router.add_api_route("/papers/date/{key}", _period_route("day"), methods=["GET"])
router.add_api_route("/papers/week/{key}", _period_route("week"), methods=["GET"])
router.add_api_route("/papers/month/{key}", _period_route("month"), methods=["GET"])


@router.get("/papers/week")
def this_week(ctx: CtxDep) -> Response:
    return RedirectResponse(periods.week_of(_latest_day(ctx)).path, status_code=302)


@router.get("/papers/date")
def a_day(ctx: CtxDep, on: Annotated[str, Query(max_length=20)] = "") -> Response:
    """The day a visitor picked (the feed's date field; no JavaScript), else the latest."""
    if not on:
        return RedirectResponse(periods.day(_latest_day(ctx)).path, status_code=302)
    try:
        return RedirectResponse(periods.parse_day(on).path, status_code=302)
    except PeriodError as exc:
        raise HTTPException(400, str(exc)) from None


@router.get("/papers/month")
def this_month(ctx: CtxDep) -> Response:
    d = _latest_day(ctx)
    return RedirectResponse(periods.month(d.year, d.month).path, status_code=302)


@router.get("/papers/trending")
def trending_page(ctx: CtxDep, p: PageNo = 0) -> Response:
    size = ctx.settings.site.page_size
    ranked, moment = service.trending(ctx)
    window = ranked[p * size : (p + 1) * size]
    cards = ctx.store.feed.cards([t.paper_id for t in window])
    scores = {t.paper_id: t for t in window}
    return page_of(
        ctx,
        cards,
        title="Trending papers",
        tab="trending",
        period=periods.day(_latest_day(ctx)),  # where its Daily, Weekly, Monthly tabs go
        scores=scores,
        p=p,
        total=len(ranked),
        more_url=f"/papers/trending?p={p + 1}" if (p + 1) * size < len(ranked) else None,
        atom="/feeds/trending.atom",
        as_of=moment,
        live=sum(1 for t in ranked if t.as_of is None),
        earlier=next((t.as_of for t in ranked if t.as_of is not None), None),
        formula={
            "vote_half_life": VOTE_HALF_LIFE_H,
            "paper_half_life": PAPER_HALF_LIFE_H,
            "star_weight": STAR_WEIGHT,
            "window": WINDOW_DAYS,
            "full_list": FULL_LIST,
        },
    )


# -- submission ----------------------------------------------------------------------------
@router.get("/papers/submit")
def submit_form(ctx: CtxDep, id: str = "") -> Response:
    return page(
        ctx,
        "submit.html",
        title="Submit a paper",
        arxiv_id=id[:100],
        rules=service.rules(ctx),
        pending=service.pending_of(ctx),
    )


@router.get("/papers/pending")
def pending_page(ctx: CtxDep, id: str = "") -> Response:
    """What became of the member's submissions and indexing requests that wait for arXiv."""
    if ctx.user is None:
        return RedirectResponse("/signin?next=/papers/pending", status_code=303)
    mine = service.pending_of(ctx)
    shown = next((v for v in mine if v.job.key == id), None) or service.pending_for(ctx, id)
    return page(ctx, "pending.html", title="Waiting for arXiv", pending=mine, shown=shown)


def _pending_redirect(result: service.Result) -> Response:
    return RedirectResponse(f"/papers/pending?id={result.paper_id}", status_code=303)


@router.post("/papers/submit")
def submit(post: PostedDep) -> Response:
    ctx = post.ctx
    raw = post.text("arxiv_id")
    result = service.submit(ctx, raw)
    if result.error:
        return page(
            ctx,
            "submit.html",
            status=result.status,
            title="Submit a paper",
            arxiv_id=raw[:100],
            error=result.error,
            error_paper=result.paper_id,
            rules=service.rules(ctx),
            pending=service.pending_of(ctx),
        )
    if result.pending:
        return _pending_redirect(result)
    return RedirectResponse(f"/papers/{result.paper_id}?submitted=1", status_code=303)


@router.post("/papers/index")
def index_paper(post: PostedDep) -> Response:
    """Fetch an unknown paper from arXiv (offered by the paper page's 404)."""
    ctx = post.ctx
    require_user(ctx)
    result = service.index(ctx, post.text("arxiv_id"))
    if result.error:
        return error_response(ctx.request, result.status, result.error)
    if result.pending:
        return _pending_redirect(result)
    return RedirectResponse(f"/papers/{result.paper_id}", status_code=303)


# -- one paper -----------------------------------------------------------------------------
def _canonical(raw: str) -> str:
    try:
        return parse_arxiv_id(raw)[0]
    except InvalidArxivId as exc:
        raise HTTPException(
            404, f"{exc}. arXiv ids look like 2401.09417 or hep-th/9901001."
        ) from None


@router.get("/papers/{arxiv_id:path}.md")
def paper_markdown(ctx: CtxDep, arxiv_id: str) -> Response:
    """The paper as Markdown, like Hugging Face's (``huggingface_hub``'s ``read_paper``)."""
    pid = _canonical(arxiv_id)
    if pid != arxiv_id:
        return RedirectResponse(f"/papers/{pid}.md", status_code=301)
    card = ctx.store.feed.card(pid)
    if card is None:
        raise HTTPException(404, f"Paper {pid} is not indexed.")
    text = paper_md.paper_markdown(card, service.thread(ctx, card), ctx.settings.site.base_url)
    return Response(text, media_type="text/markdown; charset=utf-8")


@router.get("/papers/{arxiv_id:path}/bibtex")
def bibtex(ctx: CtxDep, arxiv_id: str) -> Response:
    card = ctx.store.feed.card(_canonical(arxiv_id))
    if card is None:
        raise HTTPException(404, "unknown paper")
    return PlainTextResponse(render.bibtex(card) + "\n")


@router.get("/papers/{arxiv_id:path}/comments")
def comments_page(arxiv_id: str) -> Response:
    """Where a comment's preview or error page lives (its form posts here): opened again
    from the address bar, history or a shared link, it is the paper's discussion."""
    return RedirectResponse(f"/papers/{_canonical(arxiv_id)}#comments", status_code=303)


@router.get("/papers/{arxiv_id:path}")
def paper_page(ctx: CtxDep, arxiv_id: str) -> Response:
    pid = _canonical(arxiv_id)
    if pid != arxiv_id:
        return RedirectResponse(f"/papers/{pid}", status_code=301)
    return _paper_view(ctx, pid)


def _paper_view(
    ctx: Ctx, pid: str, status: int = 200, draft: service.Draft | None = None
) -> Response:
    """The paper's page; with ``draft``, a comment not posted yet (previewed, or sent back
    with what is wrong), in its form."""
    card = ctx.store.feed.card(pid)
    if card is None:
        impossible = never_issued(pid)
        title = "No such arXiv id" if impossible else "Paper not indexed yet"
        return page(
            ctx, "not_found_paper.html", status=404, title=title, arxiv_id=pid, never=impossible
        )
    thread = service.thread(ctx, card)
    claims = ctx.store.accounts.claims(paper_id=pid) if ctx.user else []
    me = ctx.user.id if ctx.user else None
    return page(
        ctx,
        "paper.html",
        status=status,
        draft=draft,
        comment_max=ctx.settings.site.comment_max_chars,
        title=tex.to_text(card.title),
        card=card,
        links=render.arxiv_links(pid),
        bibtex=render.bibtex(card),
        thread=thread,
        my_claim=next((c for c in claims if c.user_id == me), None),
        can_submit=service.submit_problem(ctx, card) is None,
        description=tex.to_text(card.abstract)[:200],
        similar=service.similar(ctx, pid),
        page_url=f"{ctx.settings.site.base_url.rstrip('/')}/papers/{pid}",
        atom=f"/feeds/papers/{pid}/comments.atom",
        **collections.on_paper(ctx, card),
    )


@router.post("/papers/{arxiv_id:path}/upvote")
def upvote(ctx: CtxDep, form: Annotated[FormData, Depends(read_form)], arxiv_id: str) -> Response:
    pid = _canonical(arxiv_id)
    if ctx.user is None:  # before the CSRF check: signed-out pages carry no token
        # Sign in, and the upvote is applied then (signin_intent), back on the same page.
        where = signin_intent.signin_url(pid, safe_next(str(form.get("next") or f"/papers/{pid}")))
        if wants_json(ctx.request):
            return JSONResponse({"error": "Sign in to upvote.", "signin": where}, status_code=401)
        return RedirectResponse(where, status_code=303)
    post = check_posted(ctx, form)
    on = post.text("state", "1") not in ("0", "false", "off")
    changed, count = service.upvote(ctx, pid, on)
    if wants_json(ctx.request):
        return JSONResponse({"upvoted": on, "upvotes": count, "changed": changed})
    return RedirectResponse(safe_next(post.text("next"), f"/papers/{pid}"), status_code=303)


@router.post("/papers/{arxiv_id:path}/comments")
def comment(post: PostedDep, arxiv_id: str) -> Response:
    ctx = post.ctx
    pid = _canonical(arxiv_id)
    require_user(ctx)
    parent = post.text("parent_id")
    parent_id = row_id(parent) if parent else None
    if parent and parent_id is None:
        raise HTTPException(404, "unknown paper, or the comment replied to is not on it")
    body = post.text("body")
    previewing = post.text("preview") == "1"
    if previewing or service.comment_problem(ctx, body):
        # Shown again in its form, never lost: as it would look, or with what is wrong.
        draft = service.draft(ctx, body, parent_id)
        return _paper_view(ctx, pid, 400 if draft.problem and not previewing else 200, draft)

    def write() -> str:
        return f"/papers/{pid}#comment-{service.add_comment(ctx, pid, body, parent_id)}"

    key, scope = post.text("idempotency_key"), f"POST /papers/{pid}/comments"
    location = idempotency.run_form(ctx, key, [body, parent_id], scope, write)
    return RedirectResponse(location, status_code=303)


@router.post("/papers/{arxiv_id:path}/claim")
def claim(post: PostedDep, arxiv_id: str) -> Response:
    ctx = post.ctx
    pid = _canonical(arxiv_id)
    user = require_user(ctx)
    card = ctx.store.feed.card(pid)
    if card is None:
        raise HTTPException(404, "unknown paper")
    name = post.text("author_name")
    if name not in (card.authors or []):
        raise HTTPException(400, "Pick your name from the paper's author list.")
    rate_limit(ctx, f"claim:{user.id}", 20, 3600)
    ctx.store.accounts.claim_authorship(user.id, pid, name)
    return RedirectResponse(f"/papers/{pid}?claimed=1", status_code=303)


@router.post("/comments/{comment_id}/edit")
def edit_comment(post: PostedDep, comment_id: RowId) -> Response:
    pid = service.edit_comment(post.ctx, comment_id, post.text("body"))
    return RedirectResponse(f"/papers/{pid}#comment-{comment_id}", status_code=303)


@router.post("/comments/{comment_id}/delete")
def delete_comment(post: PostedDep, comment_id: RowId) -> Response:
    pid = service.delete_comment(post.ctx, comment_id)
    return RedirectResponse(f"/papers/{pid}#comments", status_code=303)


@router.post("/comments/{comment_id}/hide")
def hide_comment(post: PostedDep, comment_id: RowId) -> Response:
    pid = service.hide_comment(post.ctx, comment_id, post.text("hidden", "1") == "1")
    return RedirectResponse(f"/papers/{pid}#comment-{comment_id}", status_code=303)


# -- people and organizations ----------------------------------------------------------------
@router.get("/users/{username}")
def profile(ctx: CtxDep, username: str) -> Response:
    person = ctx.store.accounts.get_user(username=username)
    if person is None or person.origin == "deleted":  # a deleted account's tombstone
        raise HTTPException(404, f"No user called {username!r}.")
    submitted = ctx.store.feed.submitted_by(person.id)
    upvoted = ctx.store.feed.upvoted_by(person.id)
    state = collections.marks(ctx, submitted + upvoted)
    return page(
        ctx,
        "profile.html",
        title=person.fullname or person.username,
        person=person,
        submitted=submitted,
        upvoted_cards=upvoted,
        upvoted=state.upvoted,
        saved=state.saved,
        collections=ctx.store.collections.of_user(
            person.id, viewer=ctx.user.id if ctx.user else None
        ),
        atom=f"/feeds/users/{quote(person.username, safe='')}.atom",
    )


@router.get("/authors/{name:path}")
def author(ctx: CtxDep, name: str, p: PageNo = 0) -> Response:
    """An author's papers on this instance, newest first, and the accounts that claimed the
    name. ``name`` is the whole name, URL-encoded (slashes as %2F)."""
    shown = " ".join(name.split())
    if not shown or len(shown) > MAX_AUTHOR:
        raise HTTPException(404, "No such author: give a whole name, as a paper lists it.")
    size = ctx.settings.site.page_size
    cards, total = ctx.store.authors.papers(shown, limit=size, offset=p * size)
    if not total:
        raise HTTPException(404, f"No paper on this instance lists {shown!r} as an author.")
    more = (p + 1) * size < total
    return page_of(
        ctx,
        cards,
        "author.html",
        title=shown,
        author=shown,
        profiles=ctx.store.authors.claimed_by(shown),
        total=total,
        p=p,
        tab="author",
        more_url=f"{render.author_path(shown)}?p={p + 1}" if more else None,
        atom=f"/feeds{render.author_path(shown)}.atom",
        search_url="/papers?" + urlencode({"q": f'author:"{shown}"'}),
    )


@router.get("/organizations")
def organizations(ctx: CtxDep) -> Response:
    orgs = ctx.store.accounts.organizations()
    return page(ctx, "organizations.html", title="Organizations", orgs=orgs)


@router.get("/organizations/{name}")
def organization(ctx: CtxDep, name: str) -> Response:
    org = ctx.store.accounts.get_organization(name)
    if org is None:
        raise HTTPException(404, f"No organization called {name!r}.")
    cards = ctx.store.feed.of_organization(org.id)
    return page_of(
        ctx,
        cards,
        title=org.fullname or org.name,
        org=org,
        can_manage=avatars.can_manage(ctx, org),
        tab="org",
        atom=f"/feeds/organizations/{org.name}.atom",
    )


@router.get("/about/trending")
def about_trending() -> Response:
    return RedirectResponse("/papers/trending#formula", status_code=302)


@router.get("/robots.txt")
def robots() -> Response:
    return PlainTextResponse("User-agent: *\nDisallow: /settings\nDisallow: /admin\n")


@router.get("/.well-known/security.txt")
def security_txt(ctx: CtxDep) -> Response:
    """RFC 9116: whom to tell about a vulnerability (the ``security_contact`` setting)."""
    site = ctx.settings.site
    contact = site.security_contact.strip()
    if not contact.startswith(("mailto:", "https://")) or len(contact.split()) != 1:
        raise HTTPException(404, "This site publishes no security contact.")
    expires = (utcnow() + timedelta(days=180)).strftime("%Y-%m-%dT00:00:00Z")
    base = site.base_url.rstrip("/")
    return PlainTextResponse(
        f"Contact: {contact}\nExpires: {expires}\nPreferred-Languages: en\n"
        f"Canonical: {base}/.well-known/security.txt\n"
    )


@hookimpl
def register_routes(register: Callable[[APIRouter], None]) -> None:
    register(router)
