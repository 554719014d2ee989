"""The notifications page: replies to the reader's comments and comments that @mention them,
newest first, each linked to its place in the discussion; seen, they count as read."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query
from fastapi.responses import RedirectResponse, Response

from ..core.hooks import hookimpl
from .deps import CtxDep
from .responses import page

router = APIRouter(include_in_schema=False)
PAGE = 50
EXCERPT = 240  # characters of the comment shown


def excerpt(body: str, limit: int = EXCERPT) -> str:
    """The start of a comment as it was written (Markdown and all), on one line."""
    text = " ".join(body.split())
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0] if " " in text[:limit] else text[:limit]
    return cut + "…"


@router.get("/notifications")
def notifications(
    ctx: CtxDep, before: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None
) -> Response:
    if ctx.user is None:
        return RedirectResponse(f"/signin?next={quote('/notifications')}", status_code=303)
    items = ctx.store.notifications.recent(ctx.user.id, PAGE + 1, before)
    more = len(items) > PAGE
    items = items[:PAGE]
    if items:
        # What this page shows is seen now; the header's count follows at once.
        seen = ctx.store.notifications.mark_read(ctx.user.id, items[0].id)
        ctx.unread = max(0, ctx.unread - seen)
    return page(
        ctx,
        "notifications.html",
        title="Notifications",
        items=items,
        excerpts={n.id: excerpt(n.body) for n in items},
        before=before,
        older=items[-1].id if more else None,
    )


@hookimpl
def register_routes(register: Callable[[APIRouter], None]) -> None:
    register(router)
