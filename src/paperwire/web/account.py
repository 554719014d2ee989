"""Accounts: sign up (confirmed by e-mail), sign in/out, password reset, settings, API tokens.

No user enumeration: sign-up and reset answer the same whether or not the address is known,
sign-in says only "wrong user name/e-mail or password", and each path hashes a password so
that timing does not tell either.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import RedirectResponse

from ..mail.send import send_now
from ..mail.subscriptions import EMAIL
from .app import Ctx, finish, form_ctx, get_ctx, page, rate_limit, require_user, safe_next, sign_in
from .security import (
    CONFIRM_MAX_AGE,
    RESET_MAX_AGE,
    SESSION_COOKIE,
    hash_password,
    password_problem,
    verify_password,
)
from .subscribe import settings_rows

router = APIRouter(include_in_schema=False)
CtxDep = Annotated[Ctx, Depends(get_ctx)]
USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{1,38}$")
AUTH_WINDOW = 15 * 60
RESERVED = {"admin", "api", "papers", "settings", "signin", "signup", "static", "feeds"}


def _auth_limits(ctx: Ctx, action: str, account: str) -> None:
    limit = ctx.config.rate_limit_auth
    rate_limit(ctx, f"{action}:ip:{ctx.ip}", limit * 3, AUTH_WINDOW)
    if account:
        rate_limit(ctx, f"{action}:acct:{account.lower()[:100]}", limit, AUTH_WINDOW)


# -- sign up -------------------------------------------------------------------------------
@router.get("/signup")
def signup_form(ctx: CtxDep):
    return page(ctx, "signup.html", title="Sign up", form={})


@router.post("/signup")
async def signup(request: Request):
    ctx, form = await form_ctx(request)
    username = str(form.get("username") or "").strip()
    email = str(form.get("email") or "").strip().lower()
    password = str(form.get("password") or "")
    _auth_limits(ctx, "signup", email)
    errors = {}
    if not USERNAME.match(username) or username.lower() in RESERVED:
        errors["username"] = "2–39 letters, digits, - or _, starting with a letter or digit."
    elif ctx.store.username_taken(username):
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
    user_id = ctx.store.create_user(username, email, pw_hash, confirmed=False)
    base = ctx.config.base_url.rstrip("/")
    if user_id is not None:
        token = ctx.app.signer.dumps("confirm", [user_id])
        send_now(
            ctx.config,
            email,
            f"Confirm your {ctx.config.site_name} account",
            f"Hello {username},\n\nconfirm your address to finish signing up:\n\n"
            f"{base}/confirm/{token}\n\nThe link works for 3 days. If you did not sign up, "
            "ignore this message.\n",
        )
    else:  # the address already has an account: tell its owner, not the visitor
        send_now(
            ctx.config,
            email,
            f"Someone tried to sign up to {ctx.config.site_name} with your address",
            "Hello,\n\nsomeone (maybe you) tried to create an account with this address, "
            f"which already has one. Forgot your password? Reset it here:\n\n{base}/reset\n",
        )
    return page(ctx, "check_mail.html", title="Check your inbox", email=email)


@router.get("/confirm/{token}")
def confirm(ctx: CtxDep, token: str):
    payload = ctx.app.signer.loads("confirm", token, CONFIRM_MAX_AGE)
    user = ctx.store.get_user(id=int(payload[0])) if isinstance(payload, list) else None
    if user is None or not ctx.store.confirm_user(user["id"]):
        raise HTTPException(400, "This confirmation link is invalid, expired or already used.")
    user = ctx.store.get_user(id=user["id"])
    sign_in(ctx, user)
    return page(
        ctx,
        "message.html",
        title="Welcome",
        heading=f"Welcome, {user['username']}!",
        text="Your address is confirmed and you are signed in.",
        link=("/papers", "Today's papers"),
    )


# -- sign in / out -------------------------------------------------------------------------
@router.get("/signin")
def signin_form(ctx: CtxDep, next: str = "/papers"):
    return page(ctx, "signin.html", title="Sign in", next=safe_next(next))


@router.post("/signin")
async def signin(request: Request):
    ctx, form = await form_ctx(request)
    login = str(form.get("login") or "").strip()[:320]
    password = str(form.get("password") or "")
    nxt = safe_next(str(form.get("next") or ""))
    _auth_limits(ctx, "signin", login)
    user = ctx.store.get_user(login=login) if login else None
    ok = verify_password(user["password_hash"] if user else None, password)
    if not ok or not user["is_active"]:
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
    return finish(ctx, RedirectResponse(nxt, status_code=303))


@router.post("/signout")
async def signout(request: Request):
    await form_ctx(request)
    response = RedirectResponse("/papers", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


# -- password reset ------------------------------------------------------------------------
@router.get("/reset")
def reset_form(ctx: CtxDep):
    return page(ctx, "reset.html", title="Reset your password")


@router.post("/reset")
async def reset_request(request: Request):
    ctx, form = await form_ctx(request)
    email = str(form.get("email") or "").strip().lower()[:320]
    _auth_limits(ctx, "reset", email)
    user = ctx.store.get_user(login=email) if EMAIL.match(email) else None
    if user and user["email"] == email and user["is_active"]:
        token = ctx.app.signer.dumps("reset", [user["id"], user["session_version"]])
        send_now(
            ctx.config,
            email,
            f"Reset your {ctx.config.site_name} password",
            f"Hello {user['username']},\n\nchoose a new password here (the link works for one "
            f"hour, once):\n\n{ctx.config.base_url.rstrip('/')}/reset/{token}\n\n"
            "If you did not ask for this, ignore this message.\n",
        )
    return page(ctx, "check_mail.html", title="Check your inbox", email=email, reset=True)


def _reset_user(ctx: Ctx, token: str) -> dict:
    payload = ctx.app.signer.loads("reset", token, RESET_MAX_AGE)
    user = ctx.store.get_user(id=int(payload[0])) if isinstance(payload, list) else None
    if user is None or user["session_version"] != payload[1]:
        raise HTTPException(400, "This reset link is invalid, expired or already used.")
    return user


@router.get("/reset/{token}")
def reset_password_form(ctx: CtxDep, token: str):
    _reset_user(ctx, token)
    return page(ctx, "reset_password.html", title="Choose a new password", token=token)


@router.post("/reset/{token}")
async def reset_password(request: Request, token: str):
    ctx, form = await form_ctx(request)
    user = _reset_user(ctx, token)
    password = str(form.get("password") or "")
    problem = password_problem(password, user["username"])
    if problem:
        return page(
            ctx,
            "reset_password.html",
            status=400,
            title="Choose a new password",
            token=token,
            error=problem,
        )
    ctx.store.set_password(user["id"], hash_password(password))  # ends old sessions and links
    sign_in(ctx, ctx.store.get_user(id=user["id"]))
    return page(
        ctx,
        "message.html",
        title="Password changed",
        heading="Password changed",
        text="You are signed in with your new password.",
        link=("/papers", "Back to papers"),
    )


# -- settings ------------------------------------------------------------------------------
def _settings(ctx: Ctx, status: int = 200, **extra):
    user = require_user(ctx)
    return page(
        ctx,
        "settings.html",
        status=status,
        title="Settings",
        tokens=ctx.store.tokens(user["id"]),
        subscriptions=settings_rows(ctx),
        **extra,
    )


@router.get("/settings")
def settings(ctx: CtxDep):
    if ctx.user is None:
        return RedirectResponse("/signin?next=/settings", status_code=303)
    return _settings(ctx)


@router.post("/settings/profile")
async def settings_profile(request: Request):
    ctx, form = await form_ctx(request)
    user = require_user(ctx)
    fullname = str(form.get("fullname") or "").strip()[:200] or None
    bio = str(form.get("bio") or "").strip()[:2000] or None
    ctx.store.update_user(user["id"], fullname=fullname, bio=bio)
    ctx.user = ctx.store.get_user(id=user["id"])
    return _settings(ctx, notice="Profile saved.")


@router.post("/settings/password")
async def settings_password(request: Request):
    ctx, form = await form_ctx(request)
    user = require_user(ctx)
    _auth_limits(ctx, "password", user["username"])
    if not verify_password(user["password_hash"], str(form.get("current") or "")):
        return _settings(ctx, status=400, error="The current password is wrong.")
    new = str(form.get("password") or "")
    problem = password_problem(new, user["username"])
    if problem:
        return _settings(ctx, status=400, error=problem)
    ctx.store.set_password(user["id"], hash_password(new))
    ctx.user = ctx.store.get_user(id=user["id"])
    sign_in(ctx, ctx.user)  # this browser stays signed in; every other session ends
    return _settings(ctx, notice="Password changed; other sessions were signed out.")


@router.post("/settings/signout-everywhere")
async def signout_everywhere(request: Request):
    ctx, _ = await form_ctx(request)
    user = require_user(ctx)
    ctx.store.end_sessions(user["id"])
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.post("/settings/tokens")
async def create_token(request: Request):
    ctx, form = await form_ctx(request)
    user = require_user(ctx)
    if ctx.via_token:
        raise HTTPException(403, "API tokens cannot create tokens.")
    name = str(form.get("name") or "").strip()[:100] or "token"
    if len(ctx.store.tokens(user["id"])) >= 20:
        return _settings(ctx, status=400, error="At most 20 tokens; delete one first.")
    token = ctx.store.create_token(user["id"], name)
    return _settings(
        ctx, new_token=token, notice=f"Token {name!r} created. Copy it now: it is shown once."
    )


@router.post("/settings/tokens/{token_id}/delete")
async def delete_token(request: Request, token_id: int):
    ctx, _ = await form_ctx(request)
    user = require_user(ctx)
    ctx.store.delete_token(user["id"], token_id)
    return RedirectResponse("/settings#tokens", status_code=303)
