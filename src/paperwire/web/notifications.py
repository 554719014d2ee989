"""The notifications page: replies to the reader's comments and comments that @mention them,
newest first, each linked to its place in the discussion; seen, they count as read."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import RedirectResponse, Response

from ..core.hooks import hookimpl
from ..mail import render as mail_render
from .deps import CtxDep
from .responses import page

router = APIRouter(include_in_schema=False)
PAGE = 50
EXCERPT = 240  # characters of the comment shown, as written (Markdown and all), on one line


@router.get("/notifications")
def notifications(
    ctx: CtxDep, before: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None
) -> Response:
    if ctx.user is None:
        return RedirectResponse("/signin?next=/notifications", status_code=303)
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
        excerpts={n.id: mail_render.excerpt(n.body, EXCERPT) for n in items},
        before=before,
        older=items[-1].id if more else None,
    )


@hookimpl
def register_routes(register: Callable[[APIRouter], None]) -> None:
    register(router)
