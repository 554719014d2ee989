"""Accounts: sign up (confirmed by e-mail), sign in/out, password reset, settings, API tokens.

No user enumeration: sign-up and reset answer the same whether or not the address is known,
sign-in says only "wrong user name/e-mail or password", and each path hashes a password so
that timing does not tell either.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, HTTPException
from fastapi.responses import RedirectResponse, Response

from ..core import timezones
from ..core.hooks import hookimpl
from ..core.models import User
from ..core.passwords import hash_password, password_problem, verify_password
from ..mail import outgoing
from ..mail.subscriptions import EMAIL
from . import audit
from .deps import Ctx, CtxDep, PostedDep, RowId, rate_limit, require_user
from .responses import finish, page, safe_next, sign_in
from .security import CONFIRM_MAX_AGE, RESET_MAX_AGE, SESSION_COOKIE
from .subscribe import settings_rows

router = APIRouter(include_in_schema=False)
USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{1,38}$")
AUTH_WINDOW = 15 * 60
RESERVED = {"admin", "api", "papers", "settings", "signin", "signup", "static", "feeds"}


def _auth_limits(ctx: Ctx, action: str, account: str) -> None:
    limit = ctx.settings.site.rate_limit_auth
    rate_limit(ctx, f"{action}:ip:{ctx.ip}", limit * 3, AUTH_WINDOW)
    if account:
        rate_limit(ctx, f"{action}:acct:{account.lower()[:100]}", limit, AUTH_WINDOW)


# -- sign up -------------------------------------------------------------------------------
@router.get("/signup")
def signup_form(ctx: CtxDep) -> Response:
    return page(ctx, "signup.html", title="Sign up", form={})


@router.post("/signup")
def signup(post: PostedDep) -> Response:
    ctx = post.ctx
    username = post.text("username").strip()
    email = post.text("email").strip().lower()
    password = post.secret("password")
    _auth_limits(ctx, "signup", email)
    errors = {}
    if not USERNAME.match(username) or username.lower() in RESERVED:
        errors["username"] = "2–39 letters, digits, - or _, starting with a letter or digit."
    elif ctx.store.accounts.username_taken(username):
        errors["username"] = "This user name is taken."  # user names are public anyway
    if not EMAIL.match(email) or len(email) > 320:
        errors["email"] = "Enter an e-mail address like name@example.org."
    problem = password_problem(password, username)
    if problem:
        errors["password"] = problem
    if errors:
        return page(
            ctx,
            "signup.html",
            status=400,
            title="Sign up",
            errors=errors,
            form={"username": username, "email": email},
        )
    pw_hash = hash_password(password)
    user_id = ctx.store.accounts.create_user(username, email, pw_hash, confirmed=False)
    # One queued message either way (a confirmation, or "the address has an account" when
    # user_id is None): the answer takes the same path and time.
    outgoing.queue(ctx.store, "signup", email, user_id=user_id)
    return page(ctx, "check_mail.html", title="Check your inbox", email=email)


def _unconfirmed_user(ctx: Ctx, token: str) -> User:
    payload = ctx.site.signer.loads("confirm", token, CONFIRM_MAX_AGE)
    user = _linked_user(ctx, payload)
    if user is None or user.confirmed_at is not None:
        raise HTTPException(400, "This confirmation link is invalid, expired or already used.")
    return user


@router.get("/confirm/{token}")
def confirm_form(ctx: CtxDep, token: str) -> Response:
    user = _unconfirmed_user(ctx, token)
    # A button, not a GET that confirms: mail scanners follow links on their own.
    return page(ctx, "confirm_account.html", title="Confirm your account", person=user, token=token)


@router.post("/confirm")
def confirm(post: PostedDep) -> Response:
    ctx = post.ctx
    user = _unconfirmed_user(ctx, post.text("token")[:1000])
    if not ctx.store.accounts.confirm_user(user.id):  # single use, even when raced
        raise HTTPException(400, "This confirmation link is invalid, expired or already used.")
    sign_in(ctx, _reload(ctx, user))
    return page(
        ctx,
        "message.html",
        title="Welcome",
        heading=f"Welcome, {user.username}!",
        text="Your address is confirmed and you are signed in.",
        link=("/papers", "Today's papers"),
    )


# -- sign in / out -------------------------------------------------------------------------
@router.get("/signin")
def signin_form(ctx: CtxDep, next: str = "/papers") -> Response:
    return page(ctx, "signin.html", title="Sign in", next=safe_next(next))


@router.post("/signin")
def signin(post: PostedDep) -> Response:
    ctx = post.ctx
    login = post.text("login").strip()[:320]
    password = post.secret("password")
    nxt = safe_next(post.text("next"))
    _auth_limits(ctx, "signin", login)
    user = ctx.store.accounts.get_user(login=login) if login else None
    ok = verify_password(user.password_hash if user else None, password)
    if not ok or user is None or not user.is_active:
        if user is not None and not ok:
            audit.record(ctx, "signin-failed", user.id)
        return page(
            ctx,
            "signin.html",
            status=400,
            title="Sign in",
            next=nxt,
            login=login,
            error="Wrong user name/e-mail or password (or the address is not confirmed yet).",
        )
    sign_in(ctx, user)
    audit.record(ctx, "signin", user.id)
    return finish(ctx, RedirectResponse(nxt, status_code=303))


@router.post("/signout")
def signout(post: PostedDep) -> Response:
    if post.ctx.user is not None:
        audit.record(post.ctx, "signout", post.ctx.user.id)
    response = RedirectResponse("/papers", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


# -- password reset ------------------------------------------------------------------------
@router.get("/reset")
def reset_form(ctx: CtxDep) -> Response:
    return page(ctx, "reset.html", title="Reset your password")


@router.post("/reset")
def reset_request(post: PostedDep) -> Response:
    ctx = post.ctx
    email = post.text("email").strip().lower()[:320]
    _auth_limits(ctx, "reset", email)
    if EMAIL.match(email):  # the worker looks the address up: same path, known or not
        outgoing.queue(ctx.store, "reset", email)
    return page(ctx, "check_mail.html", title="Check your inbox", email=email, reset=True)


def _reset_user(ctx: Ctx, token: str) -> User:
    payload = ctx.site.signer.loads("reset", token, RESET_MAX_AGE)
    user = _linked_user(ctx, payload)
    if user is None or len(payload) != 2 or user.session_version != payload[1]:
        raise HTTPException(400, "This reset link is invalid, expired or already used.")
    return user


@router.get("/reset/{token}")
def reset_password_form(ctx: CtxDep, token: str) -> Response:
    _reset_user(ctx, token)
    return page(ctx, "reset_password.html", title="Choose a new password", token=token)


@router.post("/reset/{token}")
def reset_password(post: PostedDep, token: str) -> Response:
    ctx = post.ctx
    user = _reset_user(ctx, token)
    password = post.secret("password")
    problem = password_problem(password, user.username)
    if problem:
        return page(
            ctx,
            "reset_password.html",
            status=400,
            title="Choose a new password",
            token=token,
            error=problem,
        )
    # Ends old sessions and links.
    ctx.store.accounts.set_password(user.id, hash_password(password))
    sign_in(ctx, _reload(ctx, user))
    audit.notify(ctx, "password-reset", user)
    return page(
        ctx,
        "message.html",
        title="Password changed",
        heading="Password changed",
        text="You are signed in with your new password.",
        link=("/papers", "Back to papers"),
    )


# -- settings ------------------------------------------------------------------------------
def _settings(ctx: Ctx, status: int = 200, **extra: Any) -> Response:
    user = require_user(ctx)
    return page(
        ctx,
        "settings.html",
        status=status,
        title="Settings",
        tokens=ctx.store.accounts.tokens(user.id),
        subscriptions=settings_rows(ctx),
        **extra,
    )


@router.get("/settings")
def settings(ctx: CtxDep) -> Response:
    if ctx.user is None:
        return RedirectResponse("/signin?next=/settings", status_code=303)
    return _settings(ctx)


@router.post("/settings/profile")
def settings_profile(post: PostedDep) -> Response:
    ctx = post.ctx
    user = require_user(ctx)
    fullname = post.text("fullname").strip()[:200] or None
    bio = post.text("bio").strip()[:2000] or None
    ctx.store.accounts.update_user(user.id, fullname=fullname, bio=bio)
    ctx.user = _reload(ctx, user)
    return _settings(ctx, notice="Profile saved.")


@router.post("/settings/timezone")
def settings_timezone(post: PostedDep) -> Response:
    """The user's time zone: what new subscriptions start from."""
    ctx = post.ctx
    user = require_user(ctx)
    raw = post.text("timezone").strip()
    zone = timezones.canonical(raw or "UTC")
    if zone is None:
        return _settings(ctx, status=400, tz_error=timezones.UNKNOWN.format(raw[:64]), tz=raw)
    ctx.store.accounts.update_user(user.id, timezone=zone)
    ctx.user = _reload(ctx, user)
    return _settings(ctx, notice=f"Time zone set to {zone}.")


@router.post("/settings/password")
def settings_password(post: PostedDep) -> Response:
    ctx = post.ctx
    user = require_user(ctx)
    _auth_limits(ctx, "password", user.username)
    if not verify_password(user.password_hash, post.secret("current")):
        return _settings(ctx, status=400, error="The current password is wrong.")
    new = post.secret("password")
    problem = password_problem(new, user.username)
    if problem:
        return _settings(ctx, status=400, error=problem)
    ctx.store.accounts.set_password(user.id, hash_password(new))
    ctx.user = _reload(ctx, user)
    sign_in(ctx, ctx.user)  # this browser stays signed in; every other session ends
    audit.notify(ctx, "password-change", user)
    return _settings(ctx, notice="Password changed; other sessions were signed out.")


@router.post("/settings/signout-everywhere")
def signout_everywhere(post: PostedDep) -> Response:
    user = require_user(post.ctx)
    post.ctx.store.accounts.end_sessions(user.id)
    audit.record(post.ctx, "signout-everywhere", user.id)
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.post("/settings/tokens")
def create_token(post: PostedDep) -> Response:
    ctx = post.ctx
    user = require_user(ctx)
    if ctx.via_token:
        raise HTTPException(403, "API tokens cannot create tokens.")
    name = post.text("name").strip()[:100] or "token"
    if len(ctx.store.accounts.tokens(user.id)) >= 20:
        return _settings(ctx, status=400, error="At most 20 tokens; delete one first.")
    token = ctx.store.accounts.create_token(user.id, name)
    audit.notify(ctx, "token-created", user, name=name)
    return _settings(
        ctx, new_token=token, notice=f"Token {name!r} created. Copy it now: it is shown once."
    )


@router.post("/settings/tokens/{token_id}/delete")
def delete_token(post: PostedDep, token_id: RowId) -> Response:
    user = require_user(post.ctx)
    if post.ctx.store.accounts.delete_token(user.id, token_id):
        audit.record(post.ctx, "token-revoked", user.id, token_id=token_id)
    return RedirectResponse("/settings#tokens", status_code=303)


def _linked_user(ctx: Ctx, payload: Any) -> User | None:
    """The user a signed link names (its payload starts with the user id)."""
    if not isinstance(payload, list) or not payload or not isinstance(payload[0], int):
        return None
    return ctx.store.accounts.get_user(id=payload[0])


def _reload(ctx: Ctx, user: User) -> User:
    """The user as stored now (after a change)."""
    return ctx.store.accounts.get_user(id=user.id) or user


@hookimpl
def register_routes(register: Callable[[APIRouter], None]) -> None:
    register(router)
