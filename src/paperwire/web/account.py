"""Accounts: sign up (confirmed by e-mail), sign in/out, password reset, settings, API tokens.

No user enumeration: sign-up and reset answer the same whether or not the address is known,
sign-in says only "wrong user name/e-mail or password", and each path hashes a password so
that timing does not tell either.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import RedirectResponse, Response

from ..core import timezones
from ..core.clock import utcnow
from ..core.hooks import hookimpl
from ..core.models import User
from ..core.passwords import hash_password, password_problem, verify_password
from ..mail import outgoing
from ..mail.subscriptions import EMAIL
from . import audit, feedback, idempotency, signin_intent, throttle
from .deps import Ctx, CtxDep, PostedDep, RowId, rate_limit, require_user
from .responses import (
    CHECK_MAIL,
    check_mail,
    check_mail_page,
    finish,
    message_page,
    page,
    safe_next,
    sign_in,
    sign_out,
)
from .security import CONFIRM_MAX_AGE, RESET_MAX_AGE
from .subscribe import settings_rows
from .twofactor import second_step

router = APIRouter(include_in_schema=False)
USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{1,38}$")
AUTH_WINDOW = 15 * 60
RESERVED = {"admin", "api", "papers", "settings", "signin", "signup", "static", "feeds"}


def auth_limits(ctx: Ctx, action: str, account: str) -> None:
    limit = ctx.settings.site.rate_limit_auth
    rate_limit(ctx, f"{action}:ip:{ctx.ip}", limit * 3, AUTH_WINDOW)
    if account:
        rate_limit(ctx, f"{action}:acct:{account.lower()[:100]}", limit, AUTH_WINDOW)


# -- sign up -------------------------------------------------------------------------------
# Signing up reserves nothing: it sends a link to the address, and the account exists only
# once someone who reads that mailbox opens the link and chooses a password there. The first
# confirmed sign-up wins the name and the address; a stranger who signs up with your address
# gets no account, holds nothing, and cannot learn whether the address has one (the answer
# is the same, and the mail to an address with an account says so only to its owner).
@router.get("/signup")
def signup_form(ctx: CtxDep) -> Response:
    return page(ctx, "signup.html", title="Sign up", form={})


def _name_problem(ctx: Ctx, username: str) -> str | None:
    if not USERNAME.match(username):
        return "2–39 letters, digits, - or _, starting with a letter or digit."
    if username.lower() in RESERVED:  # a fixed list of the site's own words, not of people
        return "This name is reserved for the site; choose another."
    if ctx.store.accounts.username_taken(username):
        return "This user name is taken."  # names of accounts are public anyway
    return None


@router.post("/signup")
def signup(post: PostedDep) -> Response:
    ctx = post.ctx
    username = post.text("username").strip()
    email = post.text("email").strip().lower()
    auth_limits(ctx, "signup", email)
    errors = {}
    problem = _name_problem(ctx, username)
    if problem:
        errors["username"] = problem
    if not EMAIL.match(email) or len(email) > 320:
        errors["email"] = "Enter an e-mail address like name@example.org."
    if errors:
        return page(
            ctx,
            "signup.html",
            status=400,
            title="Sign up",
            errors=errors,
            form={"username": username, "email": email},
        )
    # One queued message either way (the worker sends a confirmation link, or "the address
    # has an account" to its owner): the answer takes the same path and time.
    outgoing.queue(ctx.store, "signup", email, username=username)
    return check_mail(ctx, "signup", email)


@router.get("/check-mail/{what}")
def check_mail_form(ctx: CtxDep, what: str) -> Response:
    """Where sign-up, password reset and subscribing send the browser once the link is
    mailed (a reload shows this again, and sends nothing)."""
    if what not in CHECK_MAIL:
        raise HTTPException(404, "Not Found")
    return check_mail_page(ctx, what)


def _signup_payload(ctx: Ctx, token: str) -> tuple[str, str] | None:
    """The user name and address a genuine confirmation link, not expired, was sent for."""
    payload = ctx.site.signer.loads("confirm", token, CONFIRM_MAX_AGE)
    if isinstance(payload, list) and len(payload) == 2 and all(isinstance(x, str) for x in payload):
        return payload[0], payload[1]
    return None


def _signup_link(ctx: Ctx, token: str) -> tuple[str, str]:
    """The user name and address a confirmation link was sent for; 400 when it is forged,
    expired, or already used (the address has an account now)."""
    found = _signup_payload(ctx, token)
    if found is not None and not ctx.store.accounts.address_taken(found[1]):
        return found
    raise HTTPException(400, "This confirmation link is invalid, expired or already used.")


def _used_signup_link(ctx: Ctx, token: str) -> Response | None:
    """For a genuine confirmation link whose address has its account now (the link opened
    again, or the confirmed page reloaded): a page saying so, with the way to sign in."""
    found = _signup_payload(ctx, token)
    if found is None or not ctx.store.accounts.address_taken(found[1]):
        return None
    return message_page(
        ctx,
        "Already confirmed",
        f"The account for {found[1]} exists: this link was used before. Sign in "
        "(“Forgot your password?” on the sign-in page sends a new one).",
        ("/signin", "Sign in"),
    )


@router.get("/confirm/{token}")
def confirm_form(ctx: CtxDep, token: str) -> Response:
    if used := _used_signup_link(ctx, token):
        return used
    username, email = _signup_link(ctx, token)
    # A form, not a GET that confirms: mail scanners follow links on their own.
    return page(
        ctx,
        "confirm_account.html",
        title="Confirm your account",
        email=email,
        form={"username": username},
        token=token,
    )


@router.post("/confirm")
def confirm(post: PostedDep) -> Response:
    ctx = post.ctx
    token = post.text("token")[:1000]
    if used := _used_signup_link(ctx, token):
        return used
    _, email = _signup_link(ctx, token)
    username = post.text("username").strip()
    password = post.secret("password")
    auth_limits(ctx, "confirm", email)
    errors = {}
    problem = _name_problem(ctx, username)
    if problem:
        errors["username"] = problem
    problem = password_problem(password, username)
    if problem:
        errors["password"] = problem
    user_id = None
    if not errors:
        user_id = ctx.store.accounts.create_user(username, email, hash_password(password))
        if user_id is None:  # raced: the name or the address was taken meanwhile
            _signup_link(ctx, token)  # 400 when it was the address
            errors["username"] = "This user name is taken."
    if errors or user_id is None:
        return page(
            ctx,
            "confirm_account.html",
            status=400,
            title="Confirm your account",
            email=email,
            form={"username": username},
            errors=errors,
            token=token,
        )
    user = ctx.store.accounts.get_user(id=user_id)
    assert user is not None
    sign_in(ctx, user)
    # Post/Redirect/Get: a reload of the welcome page sends nothing again (it once
    # re-posted the form and answered "Already confirmed" to the signed-in newcomer).
    return finish(ctx, RedirectResponse("/welcome", status_code=303))


@router.get("/welcome")
def welcome(ctx: CtxDep) -> Response:
    """Where a confirmed sign-up lands, signed in."""
    if ctx.user is None:
        return RedirectResponse("/signin", status_code=303)
    return message_page(
        ctx,
        f"Welcome, {ctx.user.username}!",
        "Your address is confirmed and you are signed in.",
        ("/papers", "Today's papers"),
        title="Welcome",
    )


# -- sign in / out -------------------------------------------------------------------------
@router.get("/signin")
def signin_form(
    ctx: CtxDep, next: str = "/papers", upvote: Annotated[str, Query(max_length=60)] = ""
) -> Response:
    return page(
        ctx,
        "signin.html",
        title="Sign in",
        next=safe_next(next),
        to_upvote=feedback.named_paper(ctx, upvote),
    )


@router.post("/signin")
def signin(post: PostedDep) -> Response:
    ctx = post.ctx
    login = post.text("login").strip()[:320]
    password = post.secret("password")
    nxt = safe_next(post.text("next"))
    to_upvote = feedback.named_paper(ctx, post.text(signin_intent.FIELD))
    user = ctx.store.accounts.get_user(login=login) if login else None
    throttle.check(ctx, user, login)  # slows down guessing; never stops a known device's owner
    ok = verify_password(user.password_hash if user else None, password)
    if not ok or user is None or not user.is_active:
        throttle.failed(ctx, user, login)
        if user is not None and not ok:
            audit.record(ctx, "signin-failed", user.id)
        return page(
            ctx,
            "signin.html",
            status=400,
            title="Sign in",
            next=nxt,
            login=login,
            to_upvote=to_upvote,
            error="Wrong user name/e-mail or password (or the address is not confirmed yet).",
        )
    throttle.succeeded(ctx, user)
    # Two-factor sign-in: a code before signing in.
    code_page = second_step(ctx, user, nxt, to_upvote=to_upvote)
    if code_page is not None:
        return code_page
    sign_in(ctx, user)
    audit.record(ctx, "signin", user.id)
    nxt = signin_intent.apply(ctx, to_upvote, nxt)
    return finish(ctx, RedirectResponse(nxt, status_code=303))


@router.post("/signout")
def signout(post: PostedDep) -> Response:
    if post.ctx.user is not None:
        audit.record(post.ctx, "signout", post.ctx.user.id)
    return sign_out(post.ctx, RedirectResponse("/papers", status_code=303))


# -- password reset ------------------------------------------------------------------------
@router.get("/reset")
def reset_form(ctx: CtxDep) -> Response:
    return page(ctx, "reset.html", title="Reset your password")


@router.post("/reset")
def reset_request(post: PostedDep) -> Response:
    ctx = post.ctx
    email = post.text("email").strip().lower()[:320]
    auth_limits(ctx, "reset", email)
    if EMAIL.match(email):  # the worker looks the address up: same path, known or not
        outgoing.queue(ctx.store, "reset", email)
    return check_mail(ctx, "reset", email)


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
    # Ends every session, API token and reset link issued before: whoever knew the old
    # password may have made them.
    ctx.store.accounts.set_password(user.id, hash_password(password))
    ctx.store.accounts.end_access(user.id)
    ctx.bind_session(None, None, None)
    # The e-mail link stands for the password, not for the second factor.
    code_page = second_step(ctx, _reload(ctx, user), "/papers", notice="Password changed.")
    if code_page is not None:
        return code_page
    sign_in(ctx, _reload(ctx, user))
    audit.notify(ctx, "password-reset", user)
    return message_page(
        ctx,
        "Password changed",
        "You are signed in with your new password. Every other session and every API "
        "token of your account has ended.",
        ("/papers", "Back to papers"),
    )


# -- settings ------------------------------------------------------------------------------
def settings_page(ctx: Ctx, status: int = 200, **extra: Any) -> Response:
    user = require_user(ctx)
    return page(
        ctx,
        "settings.html",
        status=status,
        title="Settings",
        tokens=ctx.store.accounts.tokens(user.id),
        sessions=ctx.store.sessions.of_user(user.id),
        token_lifetimes=TOKEN_LIFETIMES,
        subscriptions=settings_rows(ctx),
        **extra,
    )


# What a saved settings form says once the browser is back on the page (Post/Redirect/Get:
# a reload then shows the page again instead of sending the form twice).
SAVED: dict[str, str] = {
    "profile": "Profile saved.",
    "timezone": "Time zone saved: new subscriptions start from {timezone}.",
    "notifications-on": "Saved: replies and mentions come by e-mail too.",
    "notifications-off": "Saved: replies and mentions stay on the site, no e-mail.",
    "password": "Password changed; your other sessions were signed out (API tokens kept).",
    "tokens-deleted": "Token deleted: it no longer works.",
}


def _saved(section: str, key: str | None = None) -> RedirectResponse:
    """Back to the settings section just saved, which says so."""
    return RedirectResponse(f"/settings?saved={key or section}#{section}", status_code=303)


@router.get("/settings")
def settings(ctx: CtxDep, saved: Annotated[str, Query(max_length=40)] = "") -> Response:
    if ctx.user is None:
        return RedirectResponse("/signin?next=/settings", status_code=303)
    said = SAVED.get(saved)
    if said is None:
        return settings_page(ctx)
    section = saved.split("-")[0]
    return settings_page(ctx, saved=(section, said.format(timezone=ctx.user.timezone or "UTC")))


@router.post("/settings/profile")
def settings_profile(post: PostedDep) -> Response:
    ctx = post.ctx
    user = require_user(ctx)
    fullname = post.text("fullname").strip()[:200] or None
    bio = post.text("bio").strip()[:2000] or None
    ctx.store.accounts.update_user(user.id, fullname=fullname, bio=bio)
    return _saved("profile")


@router.post("/settings/timezone")
def settings_timezone(post: PostedDep) -> Response:
    """The user's time zone: what new subscriptions start from."""
    ctx = post.ctx
    user = require_user(ctx)
    raw = post.text("timezone").strip()
    zone = timezones.canonical(raw or "UTC")
    if zone is None:
        return settings_page(ctx, status=400, tz_error=timezones.UNKNOWN.format(raw[:64]), tz=raw)
    ctx.store.accounts.update_user(user.id, timezone=zone)
    return _saved("timezone")


@router.post("/settings/notifications")
def settings_notifications(post: PostedDep) -> Response:
    """Whether replies and mentions unread on the site also come by e-mail."""
    ctx = post.ctx
    user = require_user(ctx)
    on = post.text("notify_email") == "1"
    ctx.store.accounts.update_user(user.id, notify_email=on)
    return _saved("notifications", "notifications-on" if on else "notifications-off")


@router.post("/settings/password")
def settings_password(post: PostedDep) -> Response:
    ctx = post.ctx
    user = require_user(ctx)
    auth_limits(ctx, "password", user.username)
    if not verify_password(user.password_hash, post.secret("current")):
        return settings_page(ctx, status=400, error="The current password is wrong.")
    new = post.secret("password")
    problem = password_problem(new, user.username)
    if problem:
        return settings_page(ctx, status=400, error=problem)
    ctx.store.accounts.set_password(user.id, hash_password(new))
    ctx.store.accounts.end_sessions(user.id)
    ctx.bind_session(None, None, None)
    sign_in(ctx, _reload(ctx, user))  # this browser stays signed in; every other session ends
    audit.notify(ctx, "password-change", user)
    return finish(ctx, _saved("password"))


@router.post("/settings/signout-everywhere")
def signout_everywhere(post: PostedDep) -> Response:
    """End every session of the account, this one too, and revoke every API token."""
    ctx = post.ctx
    user = require_user(ctx)
    ctx.store.accounts.end_access(user.id)
    audit.record(ctx, "signout-everywhere", user.id)
    return sign_out(ctx, RedirectResponse("/signin", status_code=303))


@router.post("/settings/sessions/{session_id}/revoke")
def revoke_session(post: PostedDep, session_id: RowId) -> Response:
    """End one session of the account (another user's session id ends nothing)."""
    ctx = post.ctx
    user = require_user(ctx)
    if session_id == ctx.session_id:
        return sign_out(ctx, RedirectResponse("/signin", status_code=303))
    if ctx.store.sessions.revoke(user.id, session_id):
        audit.record(ctx, "session-revoked", user.id, session=session_id)
    return RedirectResponse("/settings#sessions", status_code=303)


TOKEN_LIFETIMES = {"7": 7, "30": 30, "90": 90, "365": 365, "never": None}


@router.post("/settings/tokens")
def create_token(post: PostedDep) -> Response:
    ctx = post.ctx
    user = require_user(ctx)
    if ctx.via_token:
        raise HTTPException(403, "API tokens cannot create tokens.")
    name = post.text("name").strip()[:100]
    if not name:
        return settings_page(
            ctx, status=400, token_error="Name the token after what will use it, e.g. “my script”: "
            "the list of tokens shows the name, so you know which one to delete later.",
        )  # fmt: skip
    scopes = ["read"] + [s for s in ("write", "admin") if post.text(f"scope_{s}") == "on"]
    if "admin" in scopes and not user.has_role("curator"):
        return settings_page(
            ctx, status=400, error="Only curators and admins can make admin tokens."
        )
    lifetime = post.text("expires", "90")
    if lifetime not in TOKEN_LIFETIMES:
        return settings_page(ctx, status=400, error="Choose how long the token works.")
    days = TOKEN_LIFETIMES[lifetime]
    expires = utcnow() + timedelta(days=days) if days else None
    if len(ctx.store.accounts.tokens(user.id)) >= 20:
        return settings_page(ctx, status=400, error="At most 20 tokens; delete one first.")
    made: list[str] = []

    def write() -> None:
        made.append(ctx.store.accounts.create_token(user.id, name, scopes, expires))
        audit.notify(ctx, "token-created", user, name=name, scopes=",".join(scopes))

    key, form = post.text("idempotency_key"), [name, scopes, lifetime]
    if not idempotency.first_time(ctx, key, form, "POST /settings/tokens", write):
        return settings_page(
            ctx, notice=f"This form was sent already: the token “{name}” exists, and was shown "
            "once, then. If you did not copy it, delete it below and create another.",
        )  # fmt: skip
    return settings_page(
        ctx, new_token=made[0], notice=f"Token {name!r} created. Copy it now: it is shown once."
    )


@router.post("/settings/tokens/{token_id}/delete")
def delete_token(post: PostedDep, token_id: RowId) -> Response:
    user = require_user(post.ctx)
    tokens = post.ctx.store.accounts.tokens(user.id)
    name = next((t.name for t in tokens if t.id == token_id), None)
    if post.ctx.store.accounts.delete_token(user.id, token_id):
        audit.record(post.ctx, "token-revoked", user.id, name=name)
    return _saved("tokens", "tokens-deleted")


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
