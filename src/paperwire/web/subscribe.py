"""E-mail subscriptions on the site and in the API: subscribe, confirm, manage, unsubscribe
(including RFC 8058 one-click), and a preview of the e-mail in the browser.

The links in e-mails carry a signed token: ``sub-confirm`` (7 days, single use: its nonce is
cleared on use) or ``sub-manage`` (long-lived, revoked by replacing the subscription's
nonce). Every form is CSRF-protected except the one-click unsubscribe POST, which mail
clients send without cookies: the signed token is what authorizes it.
"""

from __future__ import annotations

import zoneinfo
from datetime import timedelta
from functools import lru_cache
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse
from pydantic import BaseModel, Field

from ..mail import render as mail_render
from ..mail import subscriptions as subs
from ..mail.digest import embed_topic
from ..mail.run import DigestRun
from ..mail.schedule import Due, latest_due, parse_hour
from ..store.common import iso, utcnow
from .app import (
    Ctx,
    _csrf_ok,
    form_ctx,
    get_ctx,
    json_csrf,
    page,
    rate_limit,
    require_user,
)

router = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api", tags=["subscriptions"])
CtxDep = Annotated[Ctx, Depends(get_ctx)]
HOUR = 3600
STATUS = {
    "pending": "waiting for confirmation",
    "confirmed": "active",
    "bouncing": "paused: mail to this address bounced",
    "unsubscribed": "stopped",
}
# The preview is a whole e-mail: its own styles, no scripts, nothing loaded from elsewhere.
PREVIEW_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; "
    "frame-ancestors 'self'; base-uri 'none'; form-action 'none'"
)


@lru_cache(maxsize=1)
def timezones() -> list[str]:
    return sorted(z for z in zoneinfo.available_timezones() if "/" in z and not z.startswith("Etc"))


def _limits(ctx: Ctx, email: str) -> None:
    limit = ctx.config.rate_limit_subscribe
    rate_limit(ctx, f"subscribe:ip:{ctx.ip}", limit * 4, HOUR)
    if email:
        rate_limit(ctx, f"subscribe:addr:{email.lower()[:254]}", limit, HOUR)


def _form_page(ctx: Ctx, form: dict, errors: dict | None = None, status: int = 200):
    return page(
        ctx,
        "subscribe.html",
        status=status,
        title="Papers in your inbox",
        form=form,
        errors=errors or {},
        timezones=timezones(),
        digest_hour=ctx.config.digest_hour,
    )


# -- subscribe -----------------------------------------------------------------------------
@router.get("/subscribe")
def subscribe_form(
    ctx: CtxDep,
    kind: str = "trending",
    query: Annotated[str, Query(max_length=300)] = "",
    frequency: str = "daily",
):
    email = ctx.user["email"] if ctx.user and ctx.user.get("email") else ""
    form = {"email": email, "kind": kind if kind in subs.KINDS else "trending",
            "query": query, "frequency": frequency, "timezone": "UTC"}  # fmt: skip
    return _form_page(ctx, form)


@router.post("/subscribe")
async def subscribe(request: Request):
    ctx, form = await form_ctx(request)
    data = {k: v for k, v in form.items() if isinstance(v, str)}
    _limits(ctx, data.get("email", "").strip())
    req, errors = subs.validate(data)
    if req is None:
        return _form_page(ctx, data, errors, status=400)
    subs.subscribe(ctx.store, ctx.config, ctx.app.signer, req, ctx.user, ctx.app.search)
    return page(ctx, "check_mail.html", title="Check your inbox", email=req.email,
                subscription=True)  # fmt: skip


# -- confirm -------------------------------------------------------------------------------
def _sub_or_400(ctx: Ctx, purpose: str, token: str | None) -> dict:
    sub = subs.from_token(ctx.store, ctx.app.signer, purpose, token)
    if sub is None:
        what = "confirmation" if purpose == "confirm" else "subscription"
        raise HTTPException(400, f"This {what} link is invalid, expired or already used.")
    return sub


@router.get("/subscriptions/confirm")
def confirm_form(ctx: CtxDep, token: Annotated[str, Query(max_length=500)] = ""):
    sub = _sub_or_400(ctx, "confirm", token)
    # A button, not a GET that confirms: mail scanners follow links on their own.
    return page(ctx, "confirm_subscription.html", title="Confirm your subscription", sub=sub,
                about=mail_render.describe(sub), token=token)  # fmt: skip


@router.post("/subscriptions/confirm")
async def confirm(request: Request):
    ctx, form = await form_ctx(request)
    token = str(form.get("token") or "")
    sub = _sub_or_400(ctx, "confirm", token)
    if not ctx.store.confirm_subscription(sub["id"], sub["confirm_nonce"]):
        raise HTTPException(400, "This confirmation link is invalid, expired or already used.")
    sub = ctx.store.get_subscription(sub["id"])
    return _manage_page(ctx, sub, notice="Subscribed! The first e-mail comes with the next "
                        "period that has papers for you.")  # fmt: skip


# -- manage --------------------------------------------------------------------------------
def _manage_page(ctx: Ctx, sub: dict, status: int = 200, notice: str = "", errors=None):
    token = mail_render.manage_token(ctx.app.signer, sub)
    return page(ctx, "subscription.html", status=status, title="Your subscription", sub=sub,
                about=mail_render.describe(sub), status_label=STATUS.get(sub["status"], ""),
                token=token, notice=notice, errors=errors or {},
                timezones=timezones())  # fmt: skip


@router.get("/subscriptions/manage")
def manage_form(ctx: CtxDep, token: Annotated[str, Query(max_length=500)] = ""):
    return _manage_page(ctx, _sub_or_400(ctx, "manage", token))


@router.post("/subscriptions/manage")
async def manage(request: Request):
    ctx, form = await form_ctx(request)
    sub = _sub_or_400(ctx, "manage", str(form.get("token") or ""))
    data = {k: v for k, v in form.items() if isinstance(v, str)}
    req, errors = subs.validate({**data, "email": sub["email"]})
    if req is None:
        return _manage_page(ctx, sub, status=400, errors=errors)
    _apply_change(ctx, sub, req)
    return _manage_page(ctx, ctx.store.get_subscription(sub["id"]), notice="Saved.")


def _apply_change(ctx: Ctx, sub: dict, req: subs.Request) -> None:
    changes: dict = {"kind": req.kind, "query": req.query, "frequency": req.frequency,
                     "timezone": req.timezone}  # fmt: skip
    if req.query != sub["query"]:  # the stored vector belongs to the old query
        vec = embed_topic(ctx.app.search, req.query) if req.kind == "topic" else None
        changes.update(query_vector=None if vec is None else vec.tobytes(),
                       query_model=None if vec is None else ctx.app.search.model)  # fmt: skip
    ctx.store.update_subscription(sub["id"], **changes)


# -- unsubscribe ---------------------------------------------------------------------------
@router.get("/subscriptions/unsubscribe")
def unsubscribe_form(ctx: CtxDep, token: Annotated[str, Query(max_length=500)] = ""):
    sub = _sub_or_400(ctx, "manage", token)
    if sub["status"] == "unsubscribed":
        return _manage_page(ctx, sub, notice="You are unsubscribed.")
    return page(ctx, "unsubscribe.html", title="Unsubscribe", sub=sub,
                about=mail_render.describe(sub), token=token)  # fmt: skip


@router.post("/subscriptions/unsubscribe")
async def unsubscribe(request: Request, token: Annotated[str, Query(max_length=500)] = ""):
    """From our page (form with the token) or a mail client's RFC 8058 one-click POST
    (``List-Unsubscribe=One-Click`` body, token in the URL, no cookies)."""
    ctx = get_ctx(request)
    try:
        form = await request.form(max_files=0, max_fields=10)
    except Exception:  # noqa: BLE001 - an unreadable body: the token in the URL decides
        form = {}
    token = token or str(form.get("token") or "")
    sub = _sub_or_400(ctx, "manage", token)
    ctx.store.stop_subscription(sub["id"])
    one_click = form.get("List-Unsubscribe") == "One-Click"
    if one_click or not _csrf_ok(ctx, form.get("csrf_token")):
        return PlainTextResponse("Unsubscribed.\n")
    return _manage_page(ctx, ctx.store.get_subscription(sub["id"]),
                        notice="You are unsubscribed. No more e-mails will be sent.")  # fmt: skip


# -- preview -------------------------------------------------------------------------------
@router.get("/digest/preview")
def preview(
    ctx: CtxDep,
    token: Annotated[str, Query(max_length=500)] = "",
    kind: str = "trending",
    query: Annotated[str, Query(max_length=300)] = "",
    frequency: str = "daily",
    format: str = "html",
):
    """The next e-mail of a subscription (``token``), or of the one described."""
    if token:
        sub = _sub_or_400(ctx, "manage", token)
    else:
        req, errors = subs.validate({"email": "you@example.org", "kind": kind, "query": query,
                                     "frequency": frequency, "timezone": "UTC"})  # fmt: skip
        if req is None:
            raise HTTPException(400, " ".join(errors.values()))
        sub = {"id": 0, "email": req.email, "kind": req.kind, "query": req.query,
               "frequency": req.frequency, "timezone": req.timezone, "manage_nonce": "preview",
               "query_vector": None, "query_model": None}  # fmt: skip
    run = DigestRun(ctx.store, ctx.config, ctx.app.search, ctx.app.signer)
    run.composer.persist = False  # a preview changes nothing
    # The next e-mail as it stands: the papers since the last one was due, until now.
    now = utcnow()
    last = latest_due(sub["frequency"], sub["timezone"], parse_hour(ctx.config.digest_hour), now)
    due = Due(last.period, last.end, now)
    sent = ctx.store.sent_paper_ids([sub["id"]])[sub["id"]] if sub["id"] else set()
    picks = run.composer.compose(sub, due, sent)
    label = f"so far since {last.end:%B} {last.end.day}"
    if not picks:  # an idle instance (the demo): show its last active week instead
        last = ctx.store.latest_published()
        if last is not None:
            end = last + timedelta(seconds=1)
            older = Due(due.period, end - timedelta(days=7), end)
            picks = run.composer.compose(sub, older, sent)
            label = f"sample from the week to {last:%B} {last.day}, {last.year}"
    if not picks:
        return PlainTextResponse("Nothing new for this subscription: no e-mail would be sent.\n")
    msg = run.message(sub, label, picks, "<preview@localhost>")
    part = msg.get_body(("plain",) if format == "text" else ("html",))
    if format == "text":
        return PlainTextResponse(part.get_content())
    response = HTMLResponse(part.get_content())
    response.headers["Content-Security-Policy"] = PREVIEW_CSP
    return response


# -- API -----------------------------------------------------------------------------------
class SubscriptionBody(BaseModel):
    email: str = Field(max_length=254)
    kind: str = Field("trending", description="trending | topic")
    query: str | None = Field(None, max_length=300, description="The topic (topic alerts)")
    frequency: str = Field("daily", description="daily (weekdays) | weekly")
    timezone: str = Field("UTC", max_length=64, description="IANA time zone, e.g. Europe/Paris")


def _sub_json(sub: dict) -> dict:
    return {
        "id": sub["id"],
        "email": sub["email"],
        "kind": sub["kind"],
        "query": sub["query"],
        "frequency": sub["frequency"],
        "timezone": sub["timezone"],
        "status": sub["status"],
        "createdAt": iso(sub["created_at"]),
        "confirmedAt": iso(sub["confirmed_at"]),
    }


@api.post("/subscriptions", status_code=202, summary="Subscribe to a digest or topic alert")
def api_subscribe(request: Request, body: SubscriptionBody):
    """Sends a confirmation e-mail (double opt-in). The answer is the same whether or not
    the address is already subscribed. With a Bearer token, the confirmed address of the
    token's account is subscribed at once."""
    ctx = get_ctx(request)
    if "application/json" not in request.headers.get("content-type", ""):
        raise HTTPException(415, "send JSON (Content-Type: application/json)")
    _limits(ctx, body.email.strip())
    req, errors = subs.validate(body.model_dump())
    if req is None:
        return JSONResponse({"error": " ".join(errors.values()), "fields": errors}, 400)
    user = ctx.user if ctx.via_token or _csrf_ok(ctx, request.headers.get("x-csrf-token")) else None
    subs.subscribe(ctx.store, ctx.config, ctx.app.signer, req, user, ctx.app.search)
    return {"status": "accepted", "message": f"If needed, a confirmation was sent to {req.email}."}


@api.get("/subscriptions", summary="Your subscriptions")
def api_subscriptions(ctx: CtxDep):
    user = require_user(ctx)
    return [_sub_json(s) for s in ctx.store.subscriptions_of(user["id"], _own_email(user))]


def _own_email(user: dict) -> str | None:
    return user["email"] if user.get("confirmed_at") and user.get("email") else None


def _own_sub(ctx: Ctx, sub_id: int) -> dict:
    user = require_user(ctx)
    mine = {s["id"]: s for s in ctx.store.subscriptions_of(user["id"], _own_email(user))}
    if sub_id not in mine:
        raise HTTPException(404, "no such subscription of yours")
    return mine[sub_id]


class SubscriptionChange(BaseModel):
    kind: str | None = None
    query: str | None = Field(None, max_length=300)
    frequency: str | None = None
    timezone: str | None = Field(None, max_length=64)


@api.patch("/subscriptions/{sub_id}", summary="Change one of your subscriptions")
def api_change(request: Request, sub_id: int, body: SubscriptionChange):
    ctx = json_csrf(request)
    sub = _own_sub(ctx, sub_id)
    merged = {**sub, **{k: v for k, v in body.model_dump().items() if v is not None}}
    req, errors = subs.validate(merged)
    if req is None:
        return JSONResponse({"error": " ".join(errors.values()), "fields": errors}, 400)
    _apply_change(ctx, sub, req)
    return _sub_json(ctx.store.get_subscription(sub_id))


@api.delete("/subscriptions/{sub_id}", summary="Stop one of your subscriptions")
def api_stop(request: Request, sub_id: int):
    ctx = json_csrf(request)
    _own_sub(ctx, sub_id)
    ctx.store.stop_subscription(sub_id)
    return _sub_json(ctx.store.get_subscription(sub_id))


# -- settings ------------------------------------------------------------------------------
def settings_rows(ctx: Ctx) -> list[dict]:
    """The signed-in user's subscriptions, with their manage links, for the settings page."""
    user = ctx.user
    if user is None:
        return []
    rows = []
    for s in ctx.store.subscriptions_of(user["id"], _own_email(user)):
        token = mail_render.manage_token(ctx.app.signer, s)
        rows.append({**s, "about": mail_render.describe(s), "token": token,
                     "status_label": STATUS.get(s["status"], s["status"])})  # fmt: skip
    return rows


@router.get("/subscriptions")
def my_subscriptions(ctx: CtxDep):
    if ctx.user is None:
        return RedirectResponse("/signin?next=/settings%23subscriptions", status_code=303)
    return RedirectResponse("/settings#subscriptions", status_code=303)

