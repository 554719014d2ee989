"""Subscribing, confirming, changing and stopping — shared by the site and the API.

Double opt-in: a new subscription waits for the link in a confirmation e-mail, unless a
signed-in user subscribes the confirmed address of their own account. The answer to the
visitor is the same whether or not the address was known: what differs goes into the e-mail,
which only the address's owner reads.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..core import timezones
from ..core.models import Subscription, User
from ..core.signing import Signer
from ..core.text import clean
from ..search import SearchEngine
from ..store import Store
from ..store.mail import FOR_YOU  # tied to the account: its address, its signals
from . import outgoing, render
from .schedule import FREQUENCIES

EMAIL = re.compile(r"^[^@\s<>()\[\],;:\"\\]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}$")
KINDS = ("trending", "topic", FOR_YOU)
SIGN_IN_FOR_YOU = "Sign in to get your For-you papers by e-mail: they come from your account."
MAX_QUERY = 300


@dataclass
class Active:
    """A subscription that is active at once (the signed-in owner's confirmed address):
    no e-mail was sent, so the owner can be told so."""

    sub: Subscription
    already: bool  # it was active before this request (frequency and time zone updated)


@dataclass
class SubscriptionRequest:
    """What a visitor asked for, checked."""

    email: str
    kind: str
    query: str | None
    frequency: str
    timezone: str


def validate(
    data: dict[str, Any], for_you: bool = True
) -> tuple[SubscriptionRequest | None, dict[str, str]]:
    """A subscription request from form or JSON fields, or the problems, by field. With
    ``for_you`` False, the For-you kind is refused (it needs a signed-in account)."""

    def text(name: str, default: str = "") -> str:
        value = data.get(name, default)
        return clean(value, lines=False) if isinstance(value, str) else ""

    errors: dict[str, str] = {}
    email = text("email").lower()
    if not EMAIL.match(email) or len(email) > 254:
        errors["email"] = "Enter an e-mail address like name@example.org."
    kind = text("kind", "trending")
    if kind not in KINDS:
        errors["kind"] = "Choose trending papers, a topic alert or your For-you papers."
    elif kind == FOR_YOU and not for_you:
        errors["kind"] = SIGN_IN_FOR_YOU
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
    known = timezones.canonical(tz)
    if known is None:
        errors["timezone"] = timezones.UNKNOWN.format(tz[:64])
    else:
        tz = known
    if errors:
        return None, errors
    return SubscriptionRequest(email, kind, query, frequency, tz), {}


def topic_vector(engine: SearchEngine | None, query: str | None) -> dict[str, Any]:
    """A topic alert's query embedded, as the columns that store it (both None without a
    model or without words)."""
    vec = engine.embed_query(query or "") if engine is not None else None
    if vec is None or engine is None:
        return {"query_vector": None, "query_model": None}
    return {"query_vector": vec.tobytes(), "query_model": engine.model}


def subscribe(
    store: Store,
    req: SubscriptionRequest,
    user: User | None = None,
    engine: SearchEngine | None = None,
) -> Active | None:
    """Create or renew the subscription and queue the e-mail that goes with it (see
    :mod:`.outgoing`). Only for the signed-in owner of the address (who may know its state)
    is the outcome returned."""
    if req.kind == FOR_YOU:
        return subscribe_for_you(store, req, user)
    own = (
        user is not None
        and user.confirmed_at is not None
        and (user.email or "").lower() == req.email
    )
    user_id = user.id if own and user is not None else None
    # Before looking the address up: known and unknown addresses take the same path.
    vector = topic_vector(engine, req.query) if req.kind == "topic" else None
    found = store.mail.find_subscription(req.email, req.kind, req.query)
    if found is not None and found.status == "confirmed":
        if own:  # the owner changes it directly
            store.mail.update_subscription(found.id, frequency=req.frequency, timezone=req.timezone)
            return Active(store.mail.get_subscription(found.id) or found, already=True)
        outgoing.queue(store, "sub-already", req.email, subscription_id=found.id)
        return None
    if found is None:
        sub = store.mail.create_subscription(
            req.email, req.kind, req.query, req.frequency, req.timezone,
            user_id=user_id, confirmed=own,
        )  # fmt: skip
    else:  # pending, stopped or bouncing: ask again
        sub = store.mail.restart_subscription(
            found.id, req.frequency, req.timezone, user_id=user_id, confirmed=own
        )
    if vector is not None and vector["query_vector"] is not None:
        store.mail.update_subscription(sub.id, **vector)
    if own:
        return Active(store.mail.get_subscription(sub.id) or sub, already=False)
    outgoing.queue(store, "sub-confirm", req.email, subscription_id=sub.id)
    return None


def subscribe_for_you(store: Store, req: SubscriptionRequest, user: User | None) -> Active:
    """The account's For-you digest, created or renewed (frequency and time zone from
    ``req``): active at once, at the account's own confirmed address (``req.email`` plays no
    part). Raises ValueError for a visitor who is not signed in with a confirmed address."""
    if user is None or user.confirmed_at is None or not user.email:
        raise ValueError(SIGN_IN_FOR_YOU)
    found = store.mail.for_you_subscription(user.id)
    if found is not None and found.status == "confirmed":
        store.mail.update_subscription(found.id, frequency=req.frequency, timezone=req.timezone)
        return Active(store.mail.get_subscription(found.id) or found, already=True)
    if found is None:
        sub = store.mail.create_subscription(
            user.email, FOR_YOU, None, req.frequency, req.timezone,
            user_id=user.id, confirmed=True,
        )  # fmt: skip
    else:  # stopped or bouncing: the owner asks again
        sub = store.mail.restart_subscription(
            found.id, req.frequency, req.timezone, user_id=user.id, confirmed=True
        )
    return Active(store.mail.get_subscription(sub.id) or sub, already=False)


def already_confirmed(store: Store, signer: Signer, token: str | None) -> Subscription | None:
    """The subscription a genuine confirmation link was for, when it is confirmed already:
    the link, opened again, says so instead of failing."""
    got = _signed(signer, "confirm", token)
    sub = store.mail.get_subscription(got[0]) if got else None
    return sub if sub is not None and sub.status == "confirmed" else None


def _signed(signer: Signer, purpose: str, token: str | None) -> tuple[int, str] | None:
    """(subscription id, nonce) of a genuine link of ``purpose`` (confirm or manage) not
    expired, or None."""
    if not token or len(token) > 500:
        return None
    if purpose == "confirm":
        return render.read_token(signer, "sub-confirm", token, render.CONFIRM_MAX_AGE)
    return render.read_token(signer, "sub-manage", token, render.LINK_MAX_AGE)


def from_token(
    store: Store, signer: Signer, purpose: str, token: str | None
) -> Subscription | None:
    """The subscription a signed link points to, if the link is genuine and still valid
    (its nonce must be the subscription's current one)."""
    got = _signed(signer, purpose, token)
    field = "confirm_nonce" if purpose == "confirm" else "manage_nonce"
    if got is None:
        return None
    sub = store.mail.get_subscription(got[0])
    nonce = None if sub is None else getattr(sub, field)
    if sub is None or not nonce or nonce != got[1]:
        return None
    return sub
