"""Recording security events from a request: the visitor's address and a short user agent
go with each; :func:`notify` also mails the owner a notice (password, API tokens);
now and then events older than ``audit_retention_days`` are pruned."""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import RedirectResponse, Response

from ..core.display import UNKNOWN_DEVICE, device_label
from ..core.hooks import hookimpl
from ..core.models import User
from ..mail import outgoing
from .deps import Ctx, CtxDep, require_user
from .responses import page

router = APIRouter(include_in_schema=False)
PER_PAGE = 30
PageNo = Annotated[int, Query(alias="page", ge=1, le=10000, description="page number")]

PRUNE_CHANCE = 0.01


def short_agent(agent: str) -> str:
    """A user agent as a person reads it ("Firefox on Linux"), or its first words."""
    label = device_label(agent)
    return label if label != UNKNOWN_DEVICE else re.sub(r"\s+", " ", agent).strip()[:60]


def record(ctx: Ctx, kind: str, user_id: int | None, **detail: Any) -> int:
    """One event about ``user_id``, done by the signed-in visitor (if any), from here."""
    store, actor = ctx.store, ctx.user.id if ctx.user else None
    agent = short_agent(ctx.request.headers.get("user-agent", ""))
    event = store.audit.record(kind, user_id, actor, ctx.ip, agent or None, **detail)
    if random.random() < PRUNE_CHANCE:
        store.audit.prune(ctx.settings.site.audit_retention_days)
    return event


def notify(ctx: Ctx, kind: str, user: User, **detail: Any) -> int:
    """Record an event and mail its owner a notice of it (mail.outgoing's "notice")."""
    event = record(ctx, kind, user.id, **detail)
    if user.email:
        outgoing.queue(ctx.store, "notice", user.email, user_id=user.id, event_id=event)
    return event


# What each kind of event says on the security pages (the kind itself stays the filter's).
EVENT_LABELS = {
    "signin": "Signed in",
    "signin-failed": "Failed sign-in (wrong password or code)",
    "signout": "Signed out",
    "signout-everywhere": "Signed out everywhere",
    "session-revoked": "A session was signed out",
    "password-change": "Password changed",
    "password-reset": "Password reset by e-mail",
    "email-change-requested": "E-mail address change asked for",
    "email-changed": "E-mail address changed",
    "token-created": "API token created",
    "token-revoked": "API token deleted",
    "two-factor-on": "Two-factor sign-in turned on",
    "two-factor-off": "Two-factor sign-in turned off",
    "account-deleted": "Account deleted",
    "account-disabled": "Account disabled",
    "account-enabled": "Account enabled",
    "role-change": "Role changed",
    "comment-deleted": "Comment deleted",
    "comment-reported": "Comment reported",
    "reports-dismissed": "Reports dismissed",
}


def event_label(kind: str) -> str:
    return EVENT_LABELS.get(kind, kind.replace("-", " ").capitalize())


def detail_text(detail: dict[str, Any]) -> str:
    """An event's details in words: "with a two-factor code", "name: laptop"."""
    parts = []
    for key, value in detail.items():
        if key == "two_factor":
            parts.append("with a two-factor code" if value else "with the password only")
        elif isinstance(value, bool):
            parts.append(f"{key.replace('_', ' ')}: {'yes' if value else 'no'}")
        else:
            parts.append(f"{key.replace('_', ' ')}: {value}")
    return ", ".join(parts)


def _events_page(ctx: Ctx, page_no: int, heading: str, **filters: Any) -> Response:
    offset = (page_no - 1) * PER_PAGE
    found = ctx.store.audit.events(limit=PER_PAGE + 1, offset=offset, **filters)
    return page(
        ctx,
        "audit.html",
        title=heading,
        heading=heading,
        events=found[:PER_PAGE],
        more=len(found) > PER_PAGE,
        page_no=page_no,
        query="",
        admin_view=False,
        label=event_label,
        detail=detail_text,
    )


@router.get("/settings/security")
def security_activity(ctx: CtxDep, page_no: PageNo = 1) -> Response:
    """Settings → Security activity: the visitor's own events, newest first."""
    if ctx.user is None:
        return RedirectResponse("/signin?next=/settings/security", status_code=303)
    return _events_page(ctx, page_no, "Security activity", user_id=ctx.user.id)


@router.get("/admin/audit")
def admin_audit(
    ctx: CtxDep,
    user: Annotated[str, Query(max_length=100)] = "",
    kind: Annotated[str, Query(max_length=40)] = "",
    page_no: PageNo = 1,
) -> Response:
    """Every account's events, filtered by user name and kind."""
    require_user(ctx, "admin")
    user_id = None
    if user.strip():
        person = ctx.store.accounts.get_user(username=user.strip())
        if person is None:
            raise HTTPException(404, f"No user called {user.strip()!r}.")
        user_id = person.id
    offset = (page_no - 1) * PER_PAGE
    found = ctx.store.audit.events(
        user_id=user_id, kind=kind.strip() or None, limit=PER_PAGE + 1, offset=offset
    )
    query = urlencode({k: v for k, v in (("user", user), ("kind", kind)) if v})
    return page(
        ctx,
        "audit.html",
        title="Audit log",
        heading="Audit log",
        events=found[:PER_PAGE],
        more=len(found) > PER_PAGE,
        page_no=page_no,
        query=query + "&" if query else "",
        label=event_label,
        detail=detail_text,
        admin_view=True,
        who=user,
        kind=kind,
    )


@hookimpl
def register_routes(register: Callable[[APIRouter], None]) -> None:
    register(router)
