"""Recording security events from a request: the visitor's address and a short user agent
go with each; :func:`notify` also mails the owner a notice (password, API tokens);
now and then events older than ``audit_retention_days`` are pruned."""

from __future__ import annotations

import random
import re
from typing import Any

from ..core.models import User
from ..mail import outgoing
from .deps import Ctx

PRUNE_CHANCE = 0.01
_BROWSERS = (
    ("Edg/", "Edge"),
    ("Firefox/", "Firefox"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
)
_SYSTEMS = (
    ("Android", "Android"),
    ("iPhone", "iOS"),
    ("iPad", "iOS"),
    ("Windows", "Windows"),
    ("Mac OS", "macOS"),
    ("Linux", "Linux"),
)


def short_agent(agent: str) -> str:
    """A user agent as a person reads it ("Firefox on Linux"), or its first words."""
    browser = next((name for mark, name in _BROWSERS if mark in agent), "")
    system = next((name for mark, name in _SYSTEMS if mark in agent), "")
    if browser:
        return f"{browser} on {system}" if system else browser
    return re.sub(r"\s+", " ", agent).strip()[:60]


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
