"""E-mail bodies: an HTML part with inlined styles (table layout, explicit colours so that
clients' dark modes cannot make text vanish) and a plain-text part, from Jinja2 templates
with autoescaping. Also the signed links every message carries."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, select_autoescape

from ..core.display import authors_line, compact, dotted, short_date
from ..core.models import Card, Subscription
from ..core.signing import Signer
from ..core.tex import safe_cut, tex_html

HERE = Path(__file__).parent
# Links in e-mails stay valid for years: an old digest must still unsubscribe.
LINK_MAX_AGE = 10 * 365 * 24 * 3600
CONFIRM_MAX_AGE = 7 * 24 * 3600

# The templates are package files: compiled once, no stat() of each one on every message.
_env = Environment(
    loader=FileSystemLoader(str(HERE / "templates")),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
    auto_reload=False,
)


# A run puts the same papers in thousands of messages: each card's text is cleaned up, cut
# and typeset once, not once per message (these filters were most of rendering).
@functools.lru_cache(maxsize=16384)
def excerpt(text: str, limit: int = 320) -> str:
    """``text`` on one line, cut at a word before ``limit`` characters (never inside math)."""
    text = re.sub(r"\s+", " ", text or "").strip()
    if len(text) <= limit:
        return text
    cut = text[: safe_cut(text, limit)].rsplit(" ", 1)[0].rstrip(",;:.")
    return cut + "…"


# typed: a Markup value stays as it is, the same text as str is typeset
_tex = functools.lru_cache(maxsize=16384, typed=True)(tex_html)


def byline(card: Card) -> str:
    """:func:`paperwire.core.display.byline`, made once per card's authors and date."""
    return _byline(tuple(card.authors or ()), card.org_fullname or card.org, card.published)


@functools.lru_cache(maxsize=16384)
def _byline(authors: tuple[str, ...], org: str | None, published: datetime | None) -> str:
    return dotted(authors_line(list(authors)) or org, short_date(published))


_env.filters.update(
    excerpt=excerpt, authors_line=authors_line, byline=byline, compact=compact, tex=_tex
)
_env.filters["short_date"] = short_date


@dataclass
class DigestItem:
    """A paper in a digest: its card, why it was picked, its page."""

    card: Card
    why: str
    url: str


def manage_token(signer: Signer, sub: Subscription) -> str:
    return signer.dumps("sub-manage", [sub.id, sub.manage_nonce])


def confirm_token(signer: Signer, sub: Subscription) -> str:
    return signer.dumps("sub-confirm", [sub.id, sub.confirm_nonce])


def read_token(signer: Signer, purpose: str, token: str, max_age: int) -> tuple[int, str] | None:
    payload = signer.loads(purpose, token, max_age)
    if (
        isinstance(payload, list)
        and len(payload) == 2
        and isinstance(payload[0], int)
        and isinstance(payload[1], str)
    ):
        return payload[0], payload[1]
    return None


def links(base_url: str, signer: Signer, sub: Subscription) -> dict[str, str]:
    base = base_url.rstrip("/")
    token = quote(manage_token(signer, sub), safe="")
    return {
        "manage": f"{base}/subscriptions/manage?token={token}",
        "unsubscribe": f"{base}/subscriptions/unsubscribe?token={token}",
        "site": f"{base}/papers",
        "foryou": f"{base}/papers/for-you?span={'week' if sub.frequency == 'weekly' else 'day'}",
        "base": base,
    }


def describe(sub: Subscription) -> str:
    how = "Daily (weekdays)" if sub.frequency == "daily" else "Weekly"
    if sub.kind == "trending":
        return f"{how} digest of trending papers"
    if sub.kind == "foryou":
        return f"{how} digest of your For-you papers"
    return f"{how} alert for “{sub.query}”"


def digest(
    site_name: str, sub: Subscription, label: str, items: list[DigestItem], link: dict[str, str]
) -> tuple[str, str, str]:
    """(subject, text, html)."""
    if sub.kind == "trending":
        subject = f"Trending papers — {label}"
    elif sub.kind == "foryou":
        subject = f"Papers for you — {label}"
    else:
        query = re.sub(r"\s+", " ", sub.query or "")[:80]
        subject = f"New papers on “{query}” — {label}"
    ctx = dict(
        site_name=site_name,
        sub=sub,
        about=describe(sub),
        label=label,
        subject=subject,
        items=items,
        link=link,
    )
    text = _env.get_template("digest.txt").render(ctx)
    html = _env.get_template("digest.html").render(ctx)
    return subject, text, html


def notice(site_name: str, template: str, subject: str, **ctx: Any) -> tuple[str, str, str]:
    """A short message (confirmation, "already subscribed", notifications): (subject, text,
    html)."""
    ctx.update(site_name=site_name, subject=subject)
    text = _env.get_template(f"{template}.txt").render(ctx)
    html = _env.get_template(f"{template}.html").render(ctx)
    return subject, text, html
