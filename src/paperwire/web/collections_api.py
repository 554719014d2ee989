"""The collections API (/api/collections): list yours and a user's public ones; create,
change and delete collections; add, annotate, reorder and remove their papers. Bearer token
(read scope for reads, write for writes) or session + X-CSRF-Token, like the other writes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from ..core.errors import CollectionRefused
from ..core.hooks import hookimpl
from ..core.models import Card, Collection, CollectionItem
from ..store.collections import MAX_DESCRIPTION, MAX_ITEMS, MAX_NAME, MAX_NOTE
from . import render
from .api_errors import not_found
from .collections import owned, paper_id, refused, visible, writer
from .deps import CtxDep, RowId, WriterDep, require_user
from .openapi import (
    ARXIV_REF,
    READ,
    VISIBLE,
    WRITE,
    ArxivPath,
    errors,
    optional_sign_in,
    signed_in,
)

router = APIRouter(prefix="/api", tags=["collections"])
ALREADY: dict[int | str, dict[str, Any]] = {
    200: {"description": "The paper was in the collection already"}
}
Visibility = Literal["public", "unlisted", "private"]
VISIBILITY = (
    "public: listed on your profile and the papers' pages; unlisted: reachable by its link "
    "only; private: yours alone (404 to everyone else)"
)


def _base(ctx: Any) -> str:
    return str(ctx.settings.site.base_url).rstrip("/")


def _iso(value: Any) -> str | None:
    return render.iso_z(value)  # UTC, like every time of the API


def collection_json(c: Collection, base: str) -> dict[str, Any]:
    return {
        "id": c.id,
        "name": c.name,
        "description": c.description,
        "visibility": c.visibility,
        "owner": c.owner,
        "size": c.size,
        "url": f"{base}/collections/{c.id}",
        "atom": f"{base}/feeds/collections/{c.id}.atom" if c.visibility != "private" else None,
        "createdAt": _iso(c.created_at),
        "updatedAt": _iso(c.updated_at),
    }


def item_json(item: CollectionItem, card: Card | None, base: str) -> dict[str, Any]:
    return {
        "arxivId": item.paper_id,
        "position": item.position,
        "note": item.note,
        "addedAt": _iso(item.added_at),
        "paper": render.paper_json(card, base) if card else None,
    }


def _with_items(ctx: Any, c: Collection) -> dict[str, Any]:
    base = _base(ctx)
    items = ctx.store.collections.items(c.id)
    cards = {x.id: x for x in ctx.store.feed.cards([i.paper_id for i in items])}
    out = collection_json(c, base)
    out["items"] = [item_json(i, cards.get(i.paper_id), base) for i in items]
    return out


class CollectionBody(BaseModel):
    name: str = Field(
        min_length=1,
        max_length=MAX_NAME,
        description=f"At most {MAX_NAME} characters, some visible",
        json_schema_extra={"pattern": VISIBLE},
    )
    description: str = Field(default="", max_length=MAX_DESCRIPTION)
    visibility: Visibility = Field(default="private", description=VISIBILITY)


class CollectionPatch(BaseModel):
    name: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_NAME,
        json_schema_extra={"pattern": VISIBLE},
    )
    description: str | None = Field(default=None, max_length=MAX_DESCRIPTION)
    visibility: Visibility | None = Field(default=None, description=VISIBILITY)


class ItemBody(BaseModel):
    arxivId: str = Field(
        max_length=200, pattern=ARXIV_REF, description="arXiv id or URL, e.g. 2401.09417"
    )
    note: str = Field(default="", max_length=MAX_NOTE)


class ItemPatch(BaseModel):
    note: str | None = Field(default=None, max_length=MAX_NOTE)
    position: int | None = Field(
        default=None, ge=0, le=MAX_ITEMS, description="New place, 0 first (past the end: last)"
    )


@router.get(
    "/collections",
    summary="Your collections",
    response_model=None,
    responses=errors(*READ),
    openapi_extra=signed_in(),
)
def mine(ctx: CtxDep) -> list[dict[str, Any]]:
    """All your collections (private and unlisted ones too), most recently changed first."""
    user = require_user(ctx)
    found = ctx.store.collections.of_user(user.id, viewer=user.id)
    return [collection_json(c, _base(ctx)) for c in found]


@router.get(
    "/users/{username}/collections",
    summary="A user's public collections",
    response_model=None,
    responses=errors(*READ, 404),
)
def of_user(
    ctx: CtxDep, username: Annotated[str, Path(min_length=1, max_length=64)]
) -> list[dict[str, Any]]:
    """Their public collections (unlisted and private ones are never listed)."""
    person = ctx.store.accounts.get_user(username=username)
    if person is None or person.origin == "deleted":
        raise not_found("user", username)
    found = ctx.store.collections.of_user(person.id)
    return [collection_json(c, _base(ctx)) for c in found]


@router.post(
    "/collections",
    status_code=201,
    summary="Create a collection",
    response_model=None,
    responses=errors(*WRITE),
    openapi_extra=signed_in(),
)
def create(ctx: WriterDep, body: CollectionBody) -> Any:
    """At most 200 collections per user (400 past it)."""
    user = writer(ctx)
    try:
        made = ctx.store.collections.create(user.id, body.name, body.description, body.visibility)
    except CollectionRefused as exc:
        raise refused(exc) from None
    return JSONResponse(collection_json(made, _base(ctx)), status_code=201)


@router.get(
    "/collections/{collection_id}",
    summary="One collection, with its papers",
    response_model=None,
    responses=errors(*READ, 404),
    openapi_extra=optional_sign_in(),
)
def show(ctx: CtxDep, collection_id: RowId) -> dict[str, Any]:
    """A public or unlisted collection, or your own private one (404 for anyone else's)."""
    return _with_items(ctx, _named(visible, ctx, collection_id))


@router.patch(
    "/collections/{collection_id}",
    summary="Change a collection",
    response_model=None,
    responses=errors(*WRITE),
    openapi_extra=signed_in(),
)
def update(ctx: WriterDep, collection_id: RowId, body: CollectionPatch) -> dict[str, Any]:
    user = writer(ctx)
    _named(owned, ctx, collection_id)
    try:
        changed = ctx.store.collections.update(
            collection_id,
            user.id,
            name=body.name,
            description=body.description,
            visibility=body.visibility,
        )
    except CollectionRefused as exc:
        raise refused(exc) from None
    if changed is None:
        raise not_found("collection of yours", collection_id)
    return collection_json(changed, _base(ctx))


@router.delete(
    "/collections/{collection_id}",
    summary="Delete a collection",
    response_model=None,
    responses=errors(*WRITE),
    openapi_extra=signed_in(),
)
def delete(ctx: WriterDep, collection_id: RowId) -> dict[str, Any]:
    user = writer(ctx)
    _named(owned, ctx, collection_id)
    ctx.store.collections.delete(collection_id, user.id)
    return {"deleted": collection_id}


@router.post(
    "/collections/{collection_id}/items",
    status_code=201,
    summary="Add a paper to a collection",
    response_model=None,
    responses=ALREADY | errors(*WRITE),
    openapi_extra=signed_in(),
)
def add_item(ctx: WriterDep, collection_id: RowId, body: ItemBody) -> Any:
    """At the end of the collection; at most 5000 papers per collection (400 past it)."""
    writer(ctx)
    found = _named(owned, ctx, collection_id)
    pid = _pid(body.arxivId)
    try:
        added = ctx.store.collections.add(found.id, pid, body.note)
    except CollectionRefused as exc:
        raise refused(exc) from None
    if added is None:
        raise not_found("paper", pid)
    return JSONResponse(_item_out(ctx, found.id, pid), status_code=201 if added else 200)


def _named(find: Callable[[Any, int], Collection], ctx: Any, collection_id: int) -> Collection:
    """collections.visible or .owned, their 404 in the API's words."""
    try:
        return find(ctx, collection_id)
    except HTTPException as exc:
        if exc.status_code != 404:
            raise
        mine = find is owned
        raise not_found("collection of yours" if mine else "collection", collection_id) from None


def _pid(raw: str) -> str:
    try:
        return paper_id(raw)
    except HTTPException:
        raise HTTPException(400, f"{raw!r} is not an arXiv id") from None


def _item_out(ctx: Any, collection_id: int, pid: str) -> dict[str, Any]:
    item = next((i for i in ctx.store.collections.items(collection_id) if i.paper_id == pid), None)
    if item is None:
        raise not_found("paper in this collection", pid)
    return item_json(item, ctx.store.feed.card(pid), _base(ctx))


@router.patch(
    "/collections/{collection_id}/items/{arxiv_id:arxiv}",
    summary="Change a paper's note or place in a collection",
    response_model=None,
    responses=errors(*WRITE),
    openapi_extra=signed_in(),
)
def update_item(
    ctx: WriterDep, collection_id: RowId, arxiv_id: ArxivPath, body: ItemPatch
) -> dict[str, Any]:
    writer(ctx)
    found = _named(owned, ctx, collection_id)
    pid = _pid(arxiv_id)
    there = True
    try:
        if body.note is not None:
            there = ctx.store.collections.set_note(found.id, pid, body.note)
        if there and body.position is not None:
            there = ctx.store.collections.move(found.id, pid, body.position)
    except CollectionRefused as exc:
        raise refused(exc) from None
    if not there:
        raise not_found("paper in this collection", pid)
    return _item_out(ctx, found.id, pid)


@router.delete(
    "/collections/{collection_id}/items/{arxiv_id:arxiv}",
    summary="Remove a paper from a collection",
    response_model=None,
    responses=errors(*WRITE),
    openapi_extra=signed_in(),
)
def remove_item(ctx: WriterDep, collection_id: RowId, arxiv_id: ArxivPath) -> dict[str, Any]:
    writer(ctx)
    found = _named(owned, ctx, collection_id)
    pid = _pid(arxiv_id)
    if not ctx.store.collections.remove(found.id, pid):
        raise not_found("paper in this collection", pid)
    return {"removed": pid}


@hookimpl
def register_routes(register: Callable[[APIRouter], None]) -> None:
    register(router)
