"""Collection pages: your collections, one collection (its papers as cards, with notes, in
order), saving a paper from any card or the paper page (one click into your latest
collection, or pick collections), "not interested" and "more like this", and each visible
collection's Atom feed. Plain POST forms with CSRF that redirect back: no JavaScript needed."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from ..core.errors import CollectionRefused, InvalidArxivId
from ..core.hooks import hookimpl
from ..core.ids import parse_arxiv_id
from ..core.models import COLLECTION_VISIBILITIES, Card, Collection, User
from ..store.collections import MAX_DESCRIPTION, MAX_NAME, MAX_NOTE
from ..store.signals import DISMISSED, MORE_LIKE_THIS, Marks
from . import render
from .deps import (
    Ctx,
    CtxDep,
    Posted,
    PostedDep,
    RowId,
    check_posted,
    rate_limit,
    read_form,
    require_user,
)
from .feedback import back_to
from .responses import page, safe_next, wants_json

router = APIRouter(include_in_schema=False)
NextParam = Annotated[str, Query(max_length=2000)]
FormDep = Annotated[FormData, Depends(read_form)]
LIMITS = {"name": MAX_NAME, "description": MAX_DESCRIPTION, "note": MAX_NOTE}


def paper_id(raw: str) -> str:
    """The canonical arXiv id of a form field or path, or 404."""
    try:
        return parse_arxiv_id(raw)[0]
    except InvalidArxivId as exc:
        raise HTTPException(404, f"{exc}. arXiv ids look like 2401.09417.") from None


def writer(ctx: Ctx) -> User:
    """The signed-in visitor, within their write rate."""
    user = require_user(ctx)
    rate_limit(ctx, f"collections:{user.id}", 5 * ctx.settings.site.rate_limit_writes, 60)
    return user


def refused(exc: CollectionRefused) -> HTTPException:
    return HTTPException(400, str(exc))


def owned(ctx: Ctx, collection_id: int) -> Collection:
    """The visitor's own collection, or 404 (another's is none of their business)."""
    user = require_user(ctx)
    found = ctx.store.collections.owned(collection_id, user.id)
    if found is None:
        raise HTTPException(404, "No such collection of yours.")
    return found


def visible(ctx: Ctx, collection_id: int) -> Collection:
    """The collection if the visitor may see it; a private one is a 404 to everyone else."""
    me = ctx.user.id if ctx.user else None
    found = ctx.store.collections.visible(collection_id, me)
    if found is None:
        raise HTTPException(404, "No such collection.")
    return found


def _signin(path: str) -> Response:
    return RedirectResponse(f"/signin?next={path}", status_code=303)


# -- your collections ------------------------------------------------------------------------
@router.get("/collections")
def mine(ctx: CtxDep) -> Response:
    if ctx.user is None:
        return _signin("/collections")
    return collections_page(ctx)


def collections_page(ctx: Ctx, status: int = 200, **extra: Any) -> Response:
    """The signed-in reader's collections, the form for a new one and the import form
    (``extra``: e.g. what was wrong with an uploaded library, shown at its form)."""
    user = writer(ctx)
    return page(
        ctx,
        "collections.html",
        status=status,
        title="Your collections",
        collections=ctx.store.collections.of_user(user.id, viewer=user.id),
        visibilities=COLLECTION_VISIBILITIES,
        limits=LIMITS,
        max_upload=ctx.settings.site.max_body_bytes,
        **extra,
    )


@router.post("/collections")
def create(post: PostedDep) -> Response:
    """A new collection; with ``paper_id``, holding that paper (the picker's "new")."""
    ctx = post.ctx
    user = writer(ctx)
    raw = post.text("paper_id")
    pid = paper_id(raw) if raw else None
    if pid and ctx.store.feed.card(pid) is None:
        raise HTTPException(404, f"Paper {pid} is not indexed.")
    try:
        made = ctx.store.collections.create(
            user.id,
            post.text("name"),
            post.text("description"),
            post.text("visibility", "private") or "private",
        )
        if pid:
            ctx.store.collections.add(made.id, pid)
    except CollectionRefused as exc:
        raise refused(exc) from None
    if pid:
        where = safe_next(post.text("next"), f"/papers/{pid}")
        to = back_to(where, saved_paper=pid, collection=str(made.id))
        return RedirectResponse(to, status_code=303)
    return RedirectResponse(f"/collections/{made.id}", status_code=303)


@router.get("/collections/import")
def import_again() -> Response:
    """The import form's address, opened again (from the history, after an import): the
    form, on the collections page."""
    return RedirectResponse("/collections#import", status_code=303)


# -- one collection ------------------------------------------------------------------------
@router.get("/collections/{collection_id}")
def show(ctx: CtxDep, collection_id: RowId) -> Response:
    return _collection_page(ctx, visible(ctx, collection_id))


def _collection_page(ctx: Ctx, found: Collection, status: int = 200, **extra: Any) -> Response:
    items = ctx.store.collections.items(found.id)
    cards = {c.id: c for c in ctx.store.feed.cards([i.paper_id for i in items])}
    entries = [(i, cards[i.paper_id]) for i in items if i.paper_id in cards]
    mine_ = ctx.user is not None and ctx.user.id == found.user_id
    state = marks(ctx, [c for _, c in entries])
    return page(
        ctx,
        "collection.html",
        status=status,
        title=found.name,
        description=found.description[:200] or None,
        collection=found,
        entries=entries,
        upvoted=state.upvoted,
        saved=state.saved,
        is_owner=mine_,
        visibilities=COLLECTION_VISIBILITIES,
        limits=LIMITS,
        atom=f"/feeds/collections/{found.id}.atom" if found.visibility != "private" else None,
        **extra,
    )


@router.get("/collections/{collection_id}/bibtex")
def as_bibtex(ctx: CtxDep, collection_id: RowId) -> Response:
    """The collection's papers as a BibTeX file, in its order (keys made unique)."""
    found = visible(ctx, collection_id)
    items = ctx.store.collections.items(found.id)
    cards = {c.id: c for c in ctx.store.feed.cards([i.paper_id for i in items])}
    entries = [render.bibtex(cards[i.paper_id]) for i in items if i.paper_id in cards]
    return Response(
        "\n\n".join(render.unique_bibtex_keys(entries)) + "\n",
        media_type="application/x-bibtex; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="collection-{found.id}.bib"',
            "Cache-Control": "private, no-cache",
        },
    )


@router.post("/collections/{collection_id}/edit")
def edit(post: PostedDep, collection_id: RowId) -> Response:
    ctx = post.ctx
    user = writer(ctx)
    owned(ctx, collection_id)
    try:
        ctx.store.collections.update(
            collection_id,
            user.id,
            name=post.text("name"),
            description=post.text("description"),
            visibility=post.text("visibility"),
        )
    except CollectionRefused as exc:
        raise refused(exc) from None
    return RedirectResponse(f"/collections/{collection_id}?edited=1", status_code=303)


@router.post("/collections/{collection_id}/delete")
def delete(post: PostedDep, collection_id: RowId) -> Response:
    ctx = post.ctx
    user = writer(ctx)
    found = owned(ctx, collection_id)
    if post.text("sure") != "1":  # the form's box, ticked: no deletion by a stray click
        return _collection_page(
            ctx, found, status=400, delete_error="Tick the box to confirm the deletion."
        )
    ctx.store.collections.delete(collection_id, user.id)
    where = "/collections?" + urlencode({"deleted": found.name, "papers": found.size})
    return RedirectResponse(where, status_code=303)


def _item(post: PostedDep, collection_id: int) -> tuple[Ctx, Collection, str]:
    ctx = post.ctx
    writer(ctx)
    return ctx, owned(ctx, collection_id), paper_id(post.text("paper_id"))


def _item_done(post: Posted, found: Collection, outcome: dict[str, bool]) -> Response:
    """A script's answer (the outcome as JSON) or the form's: back where it came from."""
    if wants_json(post.ctx.request):
        return JSONResponse({**outcome, "collection": found.id})
    where = safe_next(post.text("next"), f"/collections/{found.id}")
    return RedirectResponse(where, status_code=303)


@router.post("/collections/{collection_id}/items")
def add_item(post: PostedDep, collection_id: RowId) -> Response:
    ctx, found, pid = _item(post, collection_id)
    try:
        added = ctx.store.collections.add(found.id, pid, post.text("note"))
    except CollectionRefused as exc:
        raise refused(exc) from None
    if added is None:
        raise HTTPException(404, f"Paper {pid} is not indexed.")
    return _item_done(post, found, {"added": added})


@router.post("/collections/{collection_id}/items/remove")
def remove_item(post: PostedDep, collection_id: RowId) -> Response:
    ctx, found, pid = _item(post, collection_id)
    return _item_done(post, found, {"removed": ctx.store.collections.remove(found.id, pid)})


@router.post("/collections/{collection_id}/items/note")
def note_item(post: PostedDep, collection_id: RowId) -> Response:
    ctx, found, pid = _item(post, collection_id)
    try:
        if not ctx.store.collections.set_note(found.id, pid, post.text("note")):
            raise HTTPException(404, "That paper is not in this collection.")
    except CollectionRefused as exc:
        raise refused(exc) from None
    return RedirectResponse(f"/collections/{found.id}?noted={pid}#item-{pid}", status_code=303)


@router.post("/collections/{collection_id}/items/move")
def move_item(post: PostedDep, collection_id: RowId) -> Response:
    ctx, found, pid = _item(post, collection_id)
    order = [i.paper_id for i in ctx.store.collections.items(found.id)]
    if pid not in order:
        raise HTTPException(404, "That paper is not in this collection.")
    direction = post.text("direction")
    if direction not in ("up", "down"):
        raise HTTPException(400, "direction must be up or down")
    at = order.index(pid) + (-1 if direction == "up" else 1)
    ctx.store.collections.move(found.id, pid, max(0, at))
    return RedirectResponse(f"/collections/{found.id}#item-{pid}", status_code=303)


# -- from a card or the paper page -----------------------------------------------------------
def _signed_in_post(ctx: Ctx, form: FormData, default_next: str) -> Posted | Response:
    """The posted form, or (signed out: their pages carry no CSRF token) the sign-in page
    that leads back."""
    if ctx.user is None:
        value = form.get("next")
        return _signin(safe_next(value if isinstance(value, str) else "", default_next))
    return check_posted(ctx, form)


@router.post("/papers/{arxiv_id:path}/save")
def save(ctx: CtxDep, form: FormDep, arxiv_id: str) -> Response:
    """One click: into the visitor's most recently changed collection (a new private
    "Reading list" when they have none); the next page says where, with an undo. A paper
    saved already stays where it is, and the page says so."""
    pid = paper_id(arxiv_id)
    post = _signed_in_post(ctx, form, f"/papers/{pid}")
    if isinstance(post, Response):
        return post
    where = safe_next(post.text("next"), f"/papers/{pid}")
    user = writer(ctx)
    if ctx.store.feed.card(pid) is None:
        raise HTTPException(404, f"Paper {pid} is not indexed.")
    holding = ctx.store.collections.holding(user.id, pid)
    try:
        if holding:  # saved already: say where (the picker adds it to more)
            mine = ctx.store.collections.of_user(user.id, viewer=user.id)
            into, added = next(c for c in mine if c.id in holding), None
        else:
            into = ctx.store.collections.default_for(user.id)
            added = ctx.store.collections.add(into.id, pid)
    except CollectionRefused as exc:
        raise refused(exc) from None
    if wants_json(ctx.request):
        return JSONResponse(
            {
                "saved": True,
                "added": bool(added),
                "collection": into.id,
                "name": into.name,
                "visibility": into.visibility,
            }
        )
    params = {"saved_paper": pid, "collection": str(into.id)} | ({} if added else {"new": "0"})
    return RedirectResponse(back_to(where, **params), status_code=303)


@router.get("/papers/{arxiv_id:path}/collections")
def picker(ctx: CtxDep, arxiv_id: str, next: NextParam = "") -> Response:
    """Which of the visitor's collections hold the paper: add to or remove from each, or
    start a new one with it."""
    pid = paper_id(arxiv_id)
    if ctx.user is None:
        return _signin(f"/papers/{pid}/collections")
    card = ctx.store.feed.card(pid)
    if card is None:
        raise HTTPException(404, f"Paper {pid} is not indexed.")
    return page(
        ctx,
        "collection_picker.html",
        title=f"Save “{card.title[:80]}”",
        card=card,
        collections=ctx.store.collections.of_user(ctx.user.id, viewer=ctx.user.id),
        holding=ctx.store.collections.holding(ctx.user.id, pid),
        back=safe_next(next, f"/papers/{pid}"),
        visibilities=COLLECTION_VISIBILITIES,
        limits=LIMITS,
    )


def _signal(ctx: Ctx, form: FormData, arxiv_id: str, kind: str, default_next: str) -> Response:
    pid = paper_id(arxiv_id)
    post = _signed_in_post(ctx, form, default_next.format(pid=pid))
    if isinstance(post, Response):
        return post
    where = safe_next(post.text("next"), default_next.format(pid=pid))
    user = writer(ctx)
    on = post.text("state", "1") not in ("0", "false", "off")
    if ctx.store.signals.mark(user.id, pid, kind, on) is None:
        raise HTTPException(404, f"Paper {pid} is not indexed.")
    if wants_json(ctx.request):
        return JSONResponse({kind: on})
    if kind == DISMISSED and on:
        where = back_to(where, dismissed=pid)
    return RedirectResponse(where, status_code=303)


@router.post("/papers/{arxiv_id:path}/dismiss")
def dismiss(ctx: CtxDep, form: FormDep, arxiv_id: str) -> Response:
    """Not interested: the paper leaves the visitor's feed pages (state=0 undoes it)."""
    return _signal(ctx, form, arxiv_id, DISMISSED, "/papers")


@router.post("/papers/{arxiv_id:path}/more-like-this")
def more_like_this(ctx: CtxDep, form: FormDep, arxiv_id: str) -> Response:
    return _signal(ctx, form, arxiv_id, MORE_LIKE_THIS, "/papers/{pid}")


HIDDEN_PAGE = 50


@router.get("/settings/hidden-papers")
def hidden_papers(ctx: CtxDep, p: Annotated[int, Query(ge=0, le=10000)] = 0) -> Response:
    """The papers the visitor marked "not interested", the latest first, each with a way
    back into their feeds."""
    if ctx.user is None:
        return _signin("/settings/hidden-papers")
    ids, total = ctx.store.signals.dismissed(ctx.user.id, HIDDEN_PAGE, p * HIDDEN_PAGE)
    found = {c.id: c for c in ctx.store.feed.cards(ids)}
    return page(
        ctx,
        "hidden_papers.html",
        title="Papers you hid",
        cards=[found[i] for i in ids if i in found],
        total=total,
        p=p,
        more=(p + 1) * HIDDEN_PAGE < total,
    )


# -- what other pages show -------------------------------------------------------------------
def on_paper(ctx: Ctx, card: Card) -> dict[str, Any]:
    """The paper page's part: the collections including it that the visitor may see listed
    (public ones and their own), and whether the visitor upvoted, saved or hid it (one
    query, as for cards) or asked for more like it."""
    me = ctx.user.id if ctx.user else None
    state = marks(ctx, [card])
    return {
        "in_collections": ctx.store.collections.including(card.id, me),
        "upvoted": card.id in state.upvoted,
        "saved": card.id in state.saved,
        "dismissed": card.id in state.dismissed,
        "more_like_this": bool(me and ctx.store.signals.of_kind(me, MORE_LIKE_THIS, [card.id])),
    }


def marks(ctx: Ctx, cards: Sequence[Card]) -> Marks:
    """Which of these cards the visitor upvoted, dismissed and saved, in one query (none
    when signed out). Applied to the shared rendered cards as their state: nothing else
    personal goes into them."""
    if ctx.user is None:
        return Marks(set(), set(), set())
    return ctx.store.signals.marks(ctx.user.id, [c.id for c in cards])


def hide_dismissed(cards: Sequence[Card], marks: Marks) -> Sequence[Card]:
    """The cards without those the visitor marked "not interested"."""
    return [c for c in cards if c.id not in marks.dismissed] if marks.dismissed else cards


@hookimpl
def register_routes(register: Callable[[APIRouter], None]) -> None:
    register(router)
