"""Your data: download everything the site keeps about your account (JSON), and delete the
account (a tombstone keeps your upvotes and comments counted; see store.people)."""

from __future__ import annotations

import json
from collections.abc import Callable

from fastapi import APIRouter
from fastapi.responses import RedirectResponse, Response

from ..core.clock import utcnow
from ..core.hooks import hookimpl
from ..core.passwords import verify_password
from . import audit
from .deps import Ctx, CtxDep, PostedDep, rate_limit, require_user
from .render import iso_z
from .responses import message_page, page, sign_out
from .twofactor import WRONG_CODE, check_code

router = APIRouter(include_in_schema=False)
WINDOW = 15 * 60


@router.get("/settings/export")
def export(ctx: CtxDep) -> Response:
    """A JSON file of the visitor's data (never a password hash, token hash or secret)."""
    if ctx.user is None:
        return RedirectResponse("/signin?next=/settings", status_code=303)
    data = {"exported_at": iso_z(utcnow()), **ctx.store.people.export(ctx.user.id)}
    name = f"paperwire-{ctx.user.username}-{utcnow():%Y%m%d}.json"
    return Response(
        json.dumps(data, ensure_ascii=False, indent=2),
        media_type="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )


def _delete_page(ctx: Ctx, status: int = 200, error: str = "") -> Response:
    assert ctx.user is not None
    return page(
        ctx,
        "delete_account.html",
        status=status,
        title="Delete your account",
        error=error,
        two_factor=ctx.store.twofactor.get(ctx.user.id) is not None,
        public=[
            c
            for c in ctx.store.collections.of_user(ctx.user.id, viewer=ctx.user.id)
            if c.visibility != "private"
        ],
    )


@router.get("/settings/delete")
def delete_form(ctx: CtxDep) -> Response:
    if ctx.user is None:
        return RedirectResponse("/signin?next=/settings/delete", status_code=303)
    return _delete_page(ctx)


@router.post("/settings/delete")
def delete(post: PostedDep) -> Response:
    ctx = post.ctx
    user = require_user(ctx)
    rate_limit(ctx, f"delete-account:{user.id}", ctx.settings.site.rate_limit_auth, WINDOW)
    if not verify_password(user.password_hash, post.secret("password")):
        return _delete_page(ctx, 400, "The password is wrong.")
    state = ctx.store.twofactor.get(user.id)
    if state is not None and not check_code(ctx, state, post.text("code")):
        # as for turning two-factor sign-in off: a stolen session and password are not enough
        return _delete_page(ctx, 400, WRONG_CODE)
    ctx.store.people.delete(user.id)
    audit.record(ctx, "account-deleted", user.id)
    ctx.bind_session(None, None, None)  # the page says so signed out
    response = message_page(
        ctx,
        "Your account is deleted",
        "Your name, address, password, profile, sessions, API tokens, collections and "
        "subscriptions are gone. Your upvotes and comments stay, by a deleted user, so "
        "that counts and discussions stay whole.",
        ("/papers", "Back to papers"),
        title="Account deleted",
    )
    return sign_out(ctx, response)


@hookimpl
def register_routes(register: Callable[[APIRouter], None]) -> None:
    register(router)
