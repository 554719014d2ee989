"""Changing an account's e-mail address: asked for in Settings with the password, it takes
effect only when the link mailed to the new address is opened (and its page's button
pressed); the old address gets a notice of the request and of the change.

The answer is the same whether or not another account holds the new address (the mail to
that address tells its owner, nobody else), so the form tells nothing about who is here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, HTTPException
from fastapi.responses import Response

from ..core.hooks import hookimpl
from ..core.models import User
from ..core.passwords import verify_password
from ..mail import outgoing
from ..mail.subscriptions import EMAIL
from . import audit
from .account import auth_limits, settings_page
from .deps import Ctx, CtxDep, PostedDep, require_user
from .responses import message_page, page

router = APIRouter(include_in_schema=False)
INVALID = "This link is invalid, expired or already used."


@router.post("/settings/email")
def request_change(post: PostedDep) -> Response:
    ctx = post.ctx
    user = require_user(ctx)
    auth_limits(ctx, "email", user.username)
    new = post.text("email").strip().lower()[:320]
    if not verify_password(user.password_hash, post.secret("password")):
        return settings_page(
            ctx, status=400, error="The password is wrong; the address is unchanged."
        )
    if not EMAIL.match(new):
        return settings_page(
            ctx, status=400, error="Enter an e-mail address like name@example.org."
        )
    if new == (user.email or "").lower():
        return settings_page(ctx, status=400, error="That is your address already.")
    outgoing.queue(ctx.store, "email-change", new, user_id=user.id)
    audit.notify(ctx, "email-change-requested", user, new=new)
    return settings_page(
        ctx,
        notice=f"We sent a link to {new}. Your address changes when you open it (within a "
        "day); until then it stays as it is.",
    )


def _linked(ctx: Ctx, token: str) -> tuple[User, str]:
    """The account a change link is for, and its new address; 400 when the link is bad,
    expired or used (the account's address is no longer the one it was sent from)."""
    payload: Any = ctx.site.signer.loads("email", token, outgoing.EMAIL_CHANGE_MAX_AGE)
    if not (isinstance(payload, list) and len(payload) == 3 and isinstance(payload[0], int)):
        raise HTTPException(400, INVALID)
    user = ctx.store.accounts.get_user(id=payload[0])
    if user is None or not user.is_active or user.email != payload[1]:
        raise HTTPException(400, INVALID)
    return user, str(payload[2])


@router.get("/settings/email/{token}")
def confirm_form(ctx: CtxDep, token: str) -> Response:
    """A page with a button: opening the link (a mail scanner may) changes nothing."""
    user, new = _linked(ctx, token)
    return page(
        ctx, "confirm_email.html", title="Confirm your new address", person=user, new=new,
        token=token,
    )  # fmt: skip


@router.post("/settings/email/{token}")
def confirm(post: PostedDep, token: str) -> Response:
    ctx = post.ctx
    user, new = _linked(ctx, token)
    if not ctx.store.accounts.change_email(user.id, user.email or "", new):
        return message_page(
            ctx,
            "Address not changed",
            f"Another account uses {new} now, or this link was used. Your address is unchanged.",
            ("/settings", "Settings"),
            status=409,
        )
    audit.notify(ctx, "email-changed", user, new=new)  # to the old address, as it was
    return message_page(
        ctx,
        "Address changed",
        f"Your account's address is {new} now. Password resets and notices go there; "
        "e-mail subscriptions keep the address each was made with (change them in Settings).",
        ("/settings", "Settings"),
    )


@hookimpl
def register_routes(register: Callable[[APIRouter], None]) -> None:
    register(router)
