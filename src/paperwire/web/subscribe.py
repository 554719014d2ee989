"""E-mail subscriptions on the site and in the API: subscribe, confirm, manage, unsubscribe
(including RFC 8058 one-click), and a preview of the e-mail in the browser.

The links in e-mails carry a signed token: ``sub-confirm`` (7 days, single use: its nonce is
cleared on use) or ``sub-manage`` (long-lived, revoked by replacing the subscription's
nonce). Every form is CSRF-protected except the one-click unsubscribe POST, which mail
clients send without cookies: the signed token is what authorizes it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from pydantic import BaseModel, Field, JsonValue

from ..core import timezones
from ..core.clock import utcnow
from ..core.hooks import hookimpl
from ..core.models import Subscription, User
from ..mail import render as mail_render
from ..mail import subscriptions as subs
from ..mail.run import DigestRun
from ..mail.schedule import Due, latest_due, parse_hour
from . import openapi
from .api_errors import no_such
from .deps import (
    Ctx,
    CtxDep,
    FormDep,
    JsonWriterDep,
    PostedDep,
    RowId,
    link_post,
    rate_limit,
    require_user,
)
from .render import iso_z
from .responses import check_mail, page

router = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api", tags=["subscriptions"])
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


TOPIC_WITHOUT_ALERT = "You typed a topic: choose “A topic alert”, or clear the topic."


def _limits(ctx: Ctx, email: str) -> None:
    limit = ctx.settings.digests.rate_limit_subscribe
    rate_limit(ctx, f"subscribe:ip:{ctx.ip}", limit * 4, HOUR)
    if email:
        rate_limit(ctx, f"subscribe:addr:{email.lower()[:254]}", limit, HOUR)


def _form_page(
    ctx: Ctx,
    form: dict[str, Any],
    errors: dict[str, str] | None = None,
    status: int = 200,
    detect: bool = False,
) -> Response:
    return page(
        ctx,
        "subscribe.html",
        status=status,
        title="Papers in your inbox",
        form=form,
        errors=errors or {},
        # The browser's zone fills the field in only when nobody chose one yet.
        detect_timezone=detect,
        digest_hour=ctx.settings.digests.digest_hour,
    )


# -- subscribe -----------------------------------------------------------------------------
@router.get("/subscribe")
def subscribe_form(
    ctx: CtxDep,
    kind: str = "trending",
    query: Annotated[str, Query(max_length=300)] = "",
    frequency: str = "daily",
) -> Response:
    email = ctx.user.email if ctx.user and ctx.user.email else ""
    chosen = ctx.user.timezone if ctx.user else None
    form = {"email": email, "kind": kind if kind in subs.KINDS else "trending",
            "query": query, "frequency": frequency, "timezone": chosen or "UTC"}  # fmt: skip
    return _form_page(ctx, form, detect=not chosen)


@router.post("/subscribe")
def subscribe(post: PostedDep) -> Response:
    ctx = post.ctx
    data = post.fields()
    own = _own_email(ctx.user) if ctx.user else None
    if data.get("kind") == subs.FOR_YOU and own:
        data["email"] = own  # For you goes to the account's address
    _limits(ctx, data.get("email", "").strip())
    req, errors = subs.validate(data, for_you=own is not None)
    if data.get("kind", "trending") != "topic" and data.get("query", "").strip():
        # A topic typed while "What to send" stayed on another choice would be dropped
        # without a word (the script ticks "A topic alert" as one types; without it, this).
        errors.setdefault("query", TOPIC_WITHOUT_ALERT)
        req = None
    if req is None:
        return _form_page(ctx, data, errors, status=400)
    active = _subscribe(ctx, req, ctx.user)
    if active is not None:  # the visitor's own confirmed address: nothing was mailed
        return _saved(ctx, active.sub, _active_key(active))
    return check_mail(ctx, "subscription", req.email)


def _active_key(active: subs.Active) -> str:
    return "already" if active.already else "subscribed"


def _active_notice(active: subs.Active) -> str:
    return _notice(active.sub, _active_key(active)) or ""


# -- confirm -------------------------------------------------------------------------------
def _subscribe(ctx: Ctx, req: subs.SubscriptionRequest, user: User | None) -> subs.Active | None:
    return subs.subscribe(ctx.store, req, user, ctx.site.search)


# -- For you -------------------------------------------------------------------------------
@dataclass
class ForYouDigest:
    """The For-you tab's e-mail form: the reader's digest (None: not subscribed) and its
    manage link."""

    sub: Subscription | None
    token: str
    timezone: str


def for_you_digest(ctx: Ctx) -> ForYouDigest | None:
    """For the For-you tab (None for a visitor, or an account without a confirmed address)."""
    user = ctx.user
    if user is None or _own_email(user) is None:
        return None
    sub = ctx.store.mail.for_you_subscription(user.id)
    if sub is not None and sub.status != "confirmed":
        sub = None
    token = mail_render.manage_token(ctx.site.signer, sub) if sub else ""
    return ForYouDigest(sub, token, user.timezone or "UTC")


@router.get("/subscriptions/for-you")
def for_you_again() -> Response:
    """The address after subscribing from the For-you tab, opened again: the tab."""
    return RedirectResponse("/papers/for-you", status_code=303)


@router.post("/subscriptions/for-you")
def subscribe_for_you(post: PostedDep) -> Response:
    """The For-you tab's button: the signed-in reader's For-you papers by e-mail, daily or
    weekly, to their account's address (active at once: it is confirmed)."""
    ctx = post.ctx
    user = ctx.user
    if user is None:
        return RedirectResponse("/signin?next=/papers/for-you", status_code=303)
    own = _own_email(user)
    if own is None:
        raise HTTPException(400, "Confirm your account's e-mail address first.")
    tz = post.text("timezone") or user.timezone or "UTC"
    data = {"email": own, "kind": subs.FOR_YOU, "frequency": post.text("frequency") or "daily",
            "timezone": tz}  # fmt: skip
    req, errors = subs.validate(data)
    if req is None:
        raise HTTPException(400, " ".join(errors.values()))
    active = subs.subscribe_for_you(ctx.store, req, user)
    return _saved(ctx, active.sub, _active_key(active))


def _sub_or_400(ctx: Ctx, purpose: str, token: str | None) -> Subscription:
    sub = subs.from_token(ctx.store, ctx.site.signer, purpose, token)
    if sub is None:
        what = "confirmation" if purpose == "confirm" else "subscription"
        raise HTTPException(400, f"This {what} link is invalid, expired or already used.")
    return sub


ALREADY = "Already confirmed: you are subscribed (this link was used before)."
# What the manage page says once the browser is back on it after a form (Post/Redirect/Get:
# a reload shows the page again instead of sending the form twice), and the states of the
# subscription it is true of (an old address opened later says nothing false).
LIVE = ("pending", "confirmed", "bouncing")
SAVED: dict[str, tuple[str, tuple[str, ...]]] = {
    "subscribed": ("You're subscribed: {about} to {email} is active. No confirmation needed, "
                   "it is your account's confirmed address.", ("confirmed",)),
    "already": ("You were already subscribed: {about} to {email} is active (frequency and "
                "time zone updated). No e-mail was sent.", ("confirmed",)),
    "confirmed": ("Subscribed! The first e-mail comes with the next period that has papers "
                  "for you.", ("confirmed",)),
    "already-confirmed": (ALREADY, ("confirmed",)),
    "saved": ("Saved.", LIVE),
    "unsubscribed": ("You are unsubscribed. No more e-mails will be sent.", ("unsubscribed",)),
}  # fmt: skip


def _notice(sub: Subscription, key: str) -> str | None:
    """What the manage page of ``sub`` says after the form ``key`` names, if still true."""
    said = SAVED.get(key)
    if said is None or sub.status not in said[1]:
        return None
    return said[0].format(about=mail_render.describe(sub), email=sub.email)


def _saved(ctx: Ctx, sub: Subscription, key: str) -> Response:
    """On to the manage page of ``sub``, which says what the form did."""
    query = urlencode({"token": mail_render.manage_token(ctx.site.signer, sub), "saved": key})
    return RedirectResponse(f"/subscriptions/manage?{query}", status_code=303)


@router.get("/subscriptions/confirm")
def confirm_form(ctx: CtxDep, token: Annotated[str, Query(max_length=500)] = "") -> Response:
    if done := subs.already_confirmed(ctx.store, ctx.site.signer, token):
        return _manage_page(ctx, done, notice=ALREADY)
    sub = _sub_or_400(ctx, "confirm", token)
    # A button, not a GET that confirms: mail scanners follow links on their own.
    return page(ctx, "confirm_subscription.html", title="Confirm your subscription", sub=sub,
                about=mail_render.describe(sub), token=token)  # fmt: skip


@router.post("/subscriptions/confirm")
def confirm(post: PostedDep) -> Response:
    ctx = post.ctx
    if done := subs.already_confirmed(ctx.store, ctx.site.signer, post.text("token")):
        return _saved(ctx, done, "already-confirmed")  # (the form sent again)
    sub = _sub_or_400(ctx, "confirm", post.text("token"))
    if not ctx.store.mail.confirm_subscription(sub.id, sub.confirm_nonce or ""):
        raise HTTPException(400, "This confirmation link is invalid, expired or already used.")
    return _saved(ctx, _reloaded(ctx, sub), "confirmed")


# -- manage --------------------------------------------------------------------------------
def _reloaded(ctx: Ctx, sub: Subscription) -> Subscription:
    return ctx.store.mail.get_subscription(sub.id) or sub


def _manage_page(
    ctx: Ctx,
    sub: Subscription,
    status: int = 200,
    notice: str = "",
    errors: dict[str, str] | None = None,
    entered: dict[str, str] | None = None,
) -> Response:
    """The manage form of ``sub``, showing its settings, or after bad input what was typed."""
    token = mail_render.manage_token(ctx.site.signer, sub)
    shown = {"kind": sub.kind, "query": sub.query or "", "frequency": sub.frequency,
             "timezone": sub.timezone}  # fmt: skip
    shown.update({k: v for k, v in (entered or {}).items() if k in shown})
    return page(ctx, "subscription.html", status=status, title="Your subscription", sub=sub,
                about=mail_render.describe(sub), status_label=STATUS.get(sub.status, ""),
                token=token, notice=notice, errors=errors or {}, shown=shown)  # fmt: skip


@router.get("/subscriptions/manage")
def manage_form(
    ctx: CtxDep,
    token: Annotated[str, Query(max_length=500)] = "",
    saved: Annotated[str, Query(max_length=40)] = "",
) -> Response:
    sub = _sub_or_400(ctx, "manage", token)
    return _manage_page(ctx, sub, notice=_notice(sub, saved) or "")


@router.post("/subscriptions/manage")
def manage(post: PostedDep) -> Response:
    ctx = post.ctx
    sub = _sub_or_400(ctx, "manage", post.text("token"))
    fields = {**post.fields(), "email": sub.email}
    if sub.kind == subs.FOR_YOU:  # stays what it is: tied to the account
        fields.update(kind=subs.FOR_YOU, query="")
    req, errors = subs.validate(fields, for_you=sub.kind == subs.FOR_YOU)
    if req is None:
        entered = {"kind": fields.get("kind", "")[:20], "query": fields.get("query", "")[:300],
                   "frequency": fields.get("frequency", "")[:20],
                   "timezone": fields.get("timezone", "")[:64]}  # fmt: skip
        return _manage_page(ctx, sub, status=400, errors=errors, entered=entered)
    _apply_change(ctx, sub, req)
    return _saved(ctx, _reloaded(ctx, sub), "saved")


def _apply_change(ctx: Ctx, sub: Subscription, req: subs.SubscriptionRequest) -> None:
    changes: dict[str, Any] = {"kind": req.kind, "query": req.query, "frequency": req.frequency,
                               "timezone": req.timezone}  # fmt: skip
    if req.query != sub.query:  # the stored vector belongs to the old query
        query = req.query if req.kind == "topic" else None
        changes.update(subs.topic_vector(ctx.site.search, query))
    ctx.store.mail.update_subscription(sub.id, **changes)


# -- unsubscribe ---------------------------------------------------------------------------
@router.get("/subscriptions/unsubscribe")
def unsubscribe_form(ctx: CtxDep, token: Annotated[str, Query(max_length=500)] = "") -> Response:
    sub = _sub_or_400(ctx, "manage", token)
    if sub.status == "unsubscribed":
        return _manage_page(ctx, sub, notice="You are unsubscribed.")
    return page(ctx, "unsubscribe.html", title="Unsubscribe", sub=sub,
                about=mail_render.describe(sub), token=token)  # fmt: skip


@router.post("/subscriptions/unsubscribe")
def unsubscribe(
    ctx: CtxDep, form: FormDep, token: Annotated[str, Query(max_length=500)] = ""
) -> Response:
    """From our page (form with the token) or a mail client's RFC 8058 one-click POST
    (``List-Unsubscribe=One-Click`` body, token in the URL, no cookies): the signed token
    authorizes it, and an unreadable body leaves the decision to the URL."""
    token, plain = link_post(ctx, form, token)
    sub = _sub_or_400(ctx, "manage", token)
    ctx.store.mail.stop_subscription(sub.id)
    if plain:
        return PlainTextResponse("Unsubscribed.\n")
    return _saved(ctx, _reloaded(ctx, sub), "unsubscribed")


# -- preview -------------------------------------------------------------------------------
@dataclass(frozen=True)
class PreviewOf:
    """Which e-mail to preview: a subscription's (``token``), or one described."""

    token: str
    kind: str
    query: str
    frequency: str

    def params(self) -> str:
        """The query string that names this preview."""
        if self.token:
            return urlencode({"token": self.token})
        return urlencode({"kind": self.kind, "query": self.query, "frequency": self.frequency})


async def preview_of(
    token: Annotated[str, Query(max_length=500)] = "",
    kind: Annotated[str, Query(max_length=20)] = "trending",
    query: Annotated[str, Query(max_length=300)] = "",
    frequency: Annotated[str, Query(max_length=20)] = "daily",
) -> PreviewOf:
    return PreviewOf(token, kind, query, frequency)


PreviewOfDep = Annotated[PreviewOf, Depends(preview_of)]


@dataclass
class Preview:
    sub: Subscription
    label: str
    message: EmailMessage | None  # None: nothing new, no e-mail would be sent


def _preview(ctx: Ctx, of: PreviewOf) -> Preview:
    """The next e-mail of the subscription ``of`` names, as it stands now."""
    if of.token:
        sub = _sub_or_400(ctx, "manage", of.token)
    else:
        req, errors = subs.validate({"email": "you@example.org", "kind": of.kind,
                                     "query": of.query, "frequency": of.frequency,
                                     "timezone": "UTC"}, for_you=False)  # fmt: skip
        if req is None:
            raise HTTPException(400, " ".join(errors.values()))
        sub = Subscription(id=0, email=req.email, kind=req.kind, query=req.query,
                           frequency=req.frequency, timezone=req.timezone,
                           manage_nonce="preview")  # fmt: skip
    site = ctx.site
    run = DigestRun(ctx.store, ctx.settings, site.search, site.ranker, site.signer)
    run.composer.persist = False  # a preview changes nothing
    run.composer.foryou = site.for_you()  # the tab's model: its words are counted already
    # The next e-mail as it stands: the papers since the last one was due, until now.
    now = utcnow()
    hour = parse_hour(ctx.settings.digests.digest_hour)
    last = latest_due(sub.frequency, sub.timezone, hour, now)
    due = Due(last.period, last.end, now)
    sent = ctx.store.mail.sent_paper_ids([sub.id])[sub.id] if sub.id else set()
    picks = run.composer.compose(sub, due, sent)
    label = f"so far since {last.end:%B} {last.end.day}"
    if not picks:  # an idle instance (the demo): show its last active week instead
        newest = ctx.store.papers.latest_published()
        if newest is not None:
            end = newest + timedelta(seconds=1)
            older = Due(due.period, end - timedelta(days=7), end)
            picks = run.composer.compose(sub, older, sent)
            label = f"sample from the week to {newest:%B} {newest.day}, {newest.year}"
    if not picks:
        return Preview(sub, label, None)
    return Preview(sub, label, run.message(sub, label, picks, "<preview@localhost>"))


NOTHING_NEW = "Nothing new for this subscription: no e-mail would be sent."


@router.get("/digest/preview")
def preview(ctx: CtxDep, of: PreviewOfDep, format: str = "html") -> Response:
    """The next e-mail of a subscription (``token``), or of the one described: a page of the
    site that shows it (the e-mail itself in a frame, with its own styles), or its plain
    text (``format=text``)."""
    shown = _preview(ctx, of)
    if format == "text":
        part = shown.message.get_body(("plain",)) if shown.message else None
        return PlainTextResponse(part.get_content() if part else NOTHING_NEW + "\n")
    if of.token:
        back = (f"/subscriptions/manage?{of.params()}", "Change or stop this subscription")
    else:
        back = (f"/subscribe?{of.params()}", "Subscribe")
    return page(ctx, "digest_preview.html", title="Preview of the next e-mail",
                about=mail_render.describe(shown.sub), label=shown.label,
                subject=shown.message["Subject"] if shown.message else "",
                params=of.params(), back=back, nothing_new=NOTHING_NEW)  # fmt: skip


@router.get("/digest/preview/email")
def preview_email(ctx: CtxDep, of: PreviewOfDep) -> Response:
    """The HTML e-mail the preview page frames: a whole e-mail, its own styles, no scripts,
    nothing loaded from elsewhere; its links open in the whole window."""
    shown = _preview(ctx, of)
    part = shown.message.get_body(("html",)) if shown.message else None
    if part is None:
        return PlainTextResponse(NOTHING_NEW + "\n")
    content = part.get_content().replace("<head>", '<head>\n<base target="_top">', 1)
    return HTMLResponse(content, headers={"Content-Security-Policy": PREVIEW_CSP,
                                          "X-Frame-Options": "SAMEORIGIN"})  # fmt: skip


# -- API -----------------------------------------------------------------------------------
ZONES: list[JsonValue] = [*sorted(timezones.canonical_names())]


class SubscriptionBody(BaseModel):
    email: str = Field(
        max_length=254,
        description="An e-mail address like name@example.org",
        json_schema_extra={"pattern": subs.EMAIL.pattern},
    )
    kind: str = Field(
        "trending",
        description="trending | topic | foryou (your For-you papers: signed in only, to your "
        "account's confirmed address)",
        json_schema_extra={"enum": list(subs.KINDS)},
    )
    query: str | None = Field(
        None, max_length=300, description="The topic (needed by topic alerts, with a word)"
    )
    frequency: str = Field(
        "daily",
        description="daily (weekdays) | weekly",
        json_schema_extra={"enum": list(subs.FREQUENCIES)},
    )
    timezone: str = Field(
        "UTC",
        max_length=64,
        description="IANA time zone, e.g. Europe/Paris",
        json_schema_extra={"enum": ZONES},
    )


def _sub_json(sub: Subscription) -> dict[str, Any]:
    return {
        "id": sub.id,
        "email": sub.email,
        "kind": sub.kind,
        "query": sub.query,
        "frequency": sub.frequency,
        "timezone": sub.timezone,
        "status": sub.status,
        "createdAt": iso_z(sub.created_at),
        "confirmedAt": iso_z(sub.confirmed_at),
    }


@api.post(
    "/subscriptions",
    status_code=202,
    summary="Subscribe to a digest or topic alert",
    response_model=None,
    responses={
        200: {"description": "The caller's own confirmed address, subscribed at once"},
        **openapi.errors(400, 401, 413, 415, 429, fields=True),
    },
    openapi_extra=openapi.optional_sign_in(),
)
def api_subscribe(ctx: CtxDep, body: SubscriptionBody) -> dict[str, str] | JSONResponse:
    """Sends a confirmation e-mail (double opt-in): 202, the same answer whether or not the
    address is already subscribed. With a Bearer token (or a session and its X-CSRF-Token),
    the confirmed address of the caller's account is subscribed at once: 200 with the
    subscription."""
    request = ctx.request
    if "application/json" not in request.headers.get("content-type", ""):
        raise HTTPException(415, "send JSON (Content-Type: application/json)")
    _limits(ctx, body.email.strip())
    user = ctx.user if ctx.csrf_ok(request.headers.get("x-csrf-token")) else None
    own = _own_email(user) if user else None
    data = body.model_dump()
    if data["kind"] == subs.FOR_YOU and own:
        data["email"] = own  # For you goes to the account's address
    req, errors = subs.validate(data, for_you=own is not None)
    if req is None:
        return JSONResponse({"error": " ".join(errors.values()), "fields": errors}, 400)
    active = _subscribe(ctx, req, user)
    if active is not None:
        out = {"status": "active", "message": _active_notice(active),
               "subscription": _sub_json(active.sub)}  # fmt: skip
        return JSONResponse(out, status_code=200)
    return {"status": "accepted", "message": f"If needed, a confirmation was sent to {req.email}."}


@api.get(
    "/subscriptions",
    summary="Your subscriptions",
    response_model=None,
    responses=openapi.errors(401),
    openapi_extra=openapi.signed_in(),
)
def api_subscriptions(ctx: CtxDep) -> list[dict[str, Any]]:
    user = require_user(ctx)
    return [_sub_json(s) for s in ctx.store.mail.subscriptions_of(user.id, _own_email(user))]


def _own_email(user: User) -> str | None:
    return user.email if user.confirmed_at and user.email else None


def _own_sub(ctx: Ctx, sub_id: int) -> Subscription:
    user = require_user(ctx)
    mine = {s.id: s for s in ctx.store.mail.subscriptions_of(user.id, _own_email(user))}
    if sub_id not in mine:
        raise HTTPException(404, no_such("subscription of yours", sub_id))
    return mine[sub_id]


class SubscriptionChange(BaseModel):
    kind: str | None = Field(None, json_schema_extra={"enum": [*subs.KINDS, None]})
    query: str | None = Field(None, max_length=300)
    frequency: str | None = Field(None, json_schema_extra={"enum": [*subs.FREQUENCIES, None]})
    timezone: str | None = Field(
        None,
        max_length=64,
        json_schema_extra={"enum": [*ZONES, None]},
    )


@api.patch(
    "/subscriptions/{sub_id}",
    summary="Change one of your subscriptions",
    response_model=None,
    responses=openapi.errors(400, 401, 403, 404, 413, fields=True),
    openapi_extra=openapi.signed_in(),
)
def api_change(
    ctx: JsonWriterDep, sub_id: RowId, body: SubscriptionChange
) -> dict[str, Any] | JSONResponse:
    sub = _own_sub(ctx, sub_id)
    given = {k: v for k, v in body.model_dump().items() if v is not None}
    current = {"email": sub.email, "kind": sub.kind, "query": sub.query,
               "frequency": sub.frequency, "timezone": sub.timezone}  # fmt: skip
    if sub.kind == subs.FOR_YOU:  # stays what it is: tied to the account
        given.update(kind=subs.FOR_YOU, query=None)
    req, errors = subs.validate({**current, **given}, for_you=sub.kind == subs.FOR_YOU)
    if req is None:
        return JSONResponse({"error": " ".join(errors.values()), "fields": errors}, 400)
    _apply_change(ctx, sub, req)
    return _sub_json(_reloaded(ctx, sub))


@api.delete(
    "/subscriptions/{sub_id}",
    summary="Stop one of your subscriptions",
    response_model=None,
    responses=openapi.errors(400, 401, 403, 404),
    openapi_extra=openapi.signed_in(),
)
def api_stop(ctx: JsonWriterDep, sub_id: RowId) -> dict[str, Any]:
    sub = _own_sub(ctx, sub_id)
    ctx.store.mail.stop_subscription(sub_id)
    return _sub_json(_reloaded(ctx, sub))


# -- settings ------------------------------------------------------------------------------
@dataclass
class SubscriptionRow:
    """One of a user's subscriptions, as the settings page lists it."""

    sub: Subscription
    about: str
    token: str
    status_label: str

    @property
    def email(self) -> str:
        return self.sub.email


def settings_rows(ctx: Ctx) -> list[SubscriptionRow]:
    """The signed-in user's subscriptions, with their manage links, for the settings page."""
    user = ctx.user
    if user is None:
        return []
    return [_row(ctx, s) for s in ctx.store.mail.subscriptions_of(user.id, _own_email(user))]


def _row(ctx: Ctx, sub: Subscription) -> SubscriptionRow:
    return SubscriptionRow(
        sub,
        mail_render.describe(sub),
        mail_render.manage_token(ctx.site.signer, sub),
        STATUS.get(sub.status, sub.status),
    )


def banner_subscription(ctx: Ctx, query: str = "") -> SubscriptionRow | None:
    """The signed-in reader's subscription that the feed's e-mail banner offers, if they
    have it already: a trending digest, or on a search page an alert for that query (the
    banner then says so, with a link to manage it, instead of offering it again)."""
    user = ctx.user
    if user is None:
        return None
    wanted = query.strip().casefold()
    for s in ctx.store.mail.subscriptions_of(user.id, _own_email(user)):
        if (s.kind == "topic" and wanted and (s.query or "").strip().casefold() == wanted) or (
            s.kind == "trending" and not wanted
        ):
            return _row(ctx, s)
    return None


@router.get("/subscriptions")
def my_subscriptions(ctx: CtxDep) -> Response:
    if ctx.user is None:
        return RedirectResponse("/signin?next=/settings%23subscriptions", status_code=303)
    return RedirectResponse("/settings#subscriptions", status_code=303)


@hookimpl
def register_routes(register: Callable[[APIRouter], None]) -> None:
    register(api)
    register(router)
