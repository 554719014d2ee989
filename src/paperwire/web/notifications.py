"""The notifications page: replies to the reader's comments and comments that @mention them,
newest first, each linked to its place in the discussion; seen, they count as read. Also the
signed link of their e-mails that turns those e-mails off (mail/notify.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import PlainTextResponse, RedirectResponse, Response

from ..core.hooks import hookimpl
from ..core.markdown import plain_text
from ..core.models import User
from ..mail import notify
from ..mail import render as mail_render
from .deps import Ctx, CtxDep, FormDep, link_post
from .responses import page

router = APIRouter(include_in_schema=False)
PAGE = 50
EXCERPT = 240  # characters of the comment shown, its words without markup, on one line


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
        excerpts={n.id: mail_render.excerpt(plain_text(n.body), EXCERPT) for n in items},
        before=before,
        older=items[-1].id if more else None,
    )


@router.get("/notifications/email-off")
def email_off_form(ctx: CtxDep, token: Annotated[str, Query(max_length=500)] = "") -> Response:
    user = _off_user(ctx, token)
    # A button, not a GET that acts: mail scanners follow links on their own.
    return page(ctx, "notify_off.html", title="Stop notification e-mails", who=user, token=token)


@router.post("/notifications/email-off")
def email_off(
    ctx: CtxDep, form: FormDep, token: Annotated[str, Query(max_length=500)] = ""
) -> Response:
    """From our page (form with the token) or a mail client's RFC 8058 one-click POST
    (``List-Unsubscribe=One-Click``, token in the URL, no cookies): the signed token
    authorizes it."""
    token, plain = link_post(ctx, form, token)
    user = _off_user(ctx, token)
    ctx.store.accounts.update_user(user.id, notify_email=False)
    if plain:
        return PlainTextResponse("No more notification e-mails.\n")
    return page(
        ctx, "notify_off.html", title="Stop notification e-mails", who=user, token=token, done=True
    )


def _off_user(ctx: Ctx, token: str) -> User:
    uid = notify.off_user(ctx.site.signer, token)
    user = ctx.store.accounts.get_user(id=uid) if uid is not None else None
    if user is None:
        raise HTTPException(400, "This link is invalid or too old. Sign in and use Settings.")
    return user


@hookimpl
def register_routes(register: Callable[[APIRouter], None]) -> None:
    register(router)
