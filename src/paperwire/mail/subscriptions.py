"""Subscribing, confirming, changing and stopping — shared by the site and the API.

Double opt-in: a new subscription waits for the link in a confirmation e-mail, unless a
signed-in user subscribes the confirmed address of their own account. The answer to the
visitor is the same whether or not the address was known: what differs goes into the e-mail,
which only the address's owner reads.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote

from ..periods import PeriodError, zone
from . import render
from .digest import embed_topic
from .schedule import FREQUENCIES
from .send import send_now

EMAIL = re.compile(r"^[^@\s<>()\[\],;:\"\\]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}$")
KINDS = ("trending", "topic")
MAX_QUERY = 300


@dataclass
class Request:
    email: str
    kind: str
    query: str | None
    frequency: str
    timezone: str


def validate(data: dict) -> tuple[Request | None, dict[str, str]]:
    """A subscription request from form or JSON fields, or the problems, by field."""

    def text(name: str, default: str = "") -> str:
        value = data.get(name, default)
        return value.strip() if isinstance(value, str) else ""

    errors: dict[str, str] = {}
    email = text("email").lower()
    if not EMAIL.match(email) or len(email) > 254:
        errors["email"] = "Enter an e-mail address like name@example.org."
    kind = text("kind", "trending")
    if kind not in KINDS:
        errors["kind"] = "Choose trending papers or a topic alert."
    query = re.sub(r"\s+", " ", text("query")) or None
    if kind == "topic":
        if not query or not re.search(r"\w", query):
            errors["query"] = "Describe the topic, e.g. efficient vision transformers."
        elif len(query) > MAX_QUERY:
            errors["query"] = f"Keep the topic under {MAX_QUERY} characters."
    else:
        query = None
    frequency = text("frequency", "daily")
    if frequency not in FREQUENCIES:
        errors["frequency"] = "Choose daily (weekdays) or weekly."
    tz = text("timezone", "UTC") or "UTC"
    try:
        zone(tz)
    except PeriodError:
        errors["timezone"] = "Choose a time zone such as Europe/Paris."
    if errors:
        return None, errors
    return Request(email, kind, query, frequency, tz), {}


def subscribe(
    store, config, signer, req: Request, user: dict | None = None, engine=None
) -> None:
    """Create or renew the subscription and send the e-mail that goes with it."""
    own = (
        user is not None
        and user.get("confirmed_at") is not None
        and (user.get("email") or "").lower() == req.email
    )
    user_id = user["id"] if own else None
    base = config.base_url.rstrip("/")
    # Before looking the address up: known and unknown addresses take the same path.
    vec = embed_topic(engine, req.query) if req.kind == "topic" else None
    found = store.find_subscription(req.email, req.kind, req.query)
    if found is not None and found["status"] == "confirmed":
        if own:  # the owner changes it directly
            store.update_subscription(found["id"], frequency=req.frequency, timezone=req.timezone)
            return
        link = render.links(base, signer, found)
        send_now(
            config,
            req.email,
            *render.notice(
                config,
                "already",
                f"You are already subscribed to {config.site_name}",
                about=render.describe(found),
                manage_url=link["manage"],
            ),
        )
        return
    if found is None:
        sub = store.create_subscription(
            req.email, req.kind, req.query, req.frequency, req.timezone,
            user_id=user_id, confirmed=own,
        )  # fmt: skip
    else:  # pending, stopped or bouncing: ask again
        sub = store.restart_subscription(
            found["id"], req.frequency, req.timezone, user_id=user_id, confirmed=own
        )
    if vec is not None:
        store.update_subscription(sub["id"], query_vector=vec.tobytes(), query_model=engine.model)
    if own:
        return
    token = quote(render.confirm_token(signer, sub), safe="")
    send_now(
        config,
        req.email,
        *render.notice(
            config,
            "confirm",
            f"Confirm your {config.site_name} subscription",
            about=render.describe(sub),
            confirm_url=f"{base}/subscriptions/confirm?token={token}",
        ),
    )


def from_token(store, signer, purpose: str, token: str | None) -> dict | None:
    """The subscription a signed link points to, if the link is genuine and still valid
    (its nonce must be the subscription's current one)."""
    if not token or len(token) > 500:
        return None
    if purpose == "confirm":
        got = render.read_token(signer, "sub-confirm", token, render.CONFIRM_MAX_AGE)
        field = "confirm_nonce"
    else:
        got = render.read_token(signer, "sub-manage", token, render.LINK_MAX_AGE)
        field = "manage_nonce"
    if got is None:
        return None
    sub = store.get_subscription(got[0])
    if sub is None or not sub[field] or sub[field] != got[1]:
        return None
    return sub
