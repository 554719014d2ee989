"""How dates, counts and author lists read, on pages and in e-mails alike."""

from __future__ import annotations

from datetime import date, datetime
from typing import Protocol


class Attributed(Protocol):
    """What :func:`authors_label` and :func:`byline` read (a
    :class:`~paperwire.core.models.Card`)."""

    org: str | None
    org_fullname: str | None
    num_authors: int
    authors: list[str]
    published: datetime | None


def short_date(value: date | datetime | None) -> str:
    if value is None:
        return ""
    return f"{value:%b} {value.day}, {value.year}"


def short_moment(value: datetime | None) -> str:
    """The day and the hour, for a moment kept in UTC: "Dec 7, 2026, 01:45 UTC"."""
    if value is None:
        return ""
    return f"{short_date(value)}, {value:%H:%M} UTC"


def authors_label(card: Attributed) -> str:
    """The organization, or "N authors"; empty when neither is known (never "0 authors")."""
    if card.org_fullname or card.org:
        return card.org_fullname or card.org or ""
    n = card.num_authors or len(card.authors or [])
    if not n:
        return ""
    return f"{n} author" + ("" if n == 1 else "s")


def authors_line(authors: list[str], limit: int = 3) -> str:
    """ "A, B, C and 4 more", or empty."""
    if not authors:
        return ""
    if len(authors) <= limit:
        return ", ".join(authors)
    return ", ".join(authors[:limit]) + f" and {len(authors) - limit} more"


def dotted(*parts: str | None) -> str:
    """The parts that are known, joined by " · " (so no separator ever dangles)."""
    return " · ".join(p for p in parts if p)


def byline(card: Attributed) -> str:
    """Who and when in one line: the first authors (or the organization) and the date, each
    left out when unknown."""
    who = authors_line(card.authors or []) or card.org_fullname or card.org
    return dotted(who, short_date(card.published))


def compact(n: int | None) -> str:
    n = n or 0
    if n >= 1000:
        return f"{n / 1000:.1f}k".replace(".0k", "k")
    return str(n)


_BROWSERS = (  # the first match wins: Edge and Opera also say Chrome, Chrome also says Safari
    ("Edg/", "Edge"),
    ("OPR/", "Opera"),
    ("Firefox/", "Firefox"),
    ("Chromium/", "Chromium"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
    ("curl/", "curl"),
    ("python-httpx", "Python (httpx)"),
    ("python-requests", "Python (requests)"),
)
_SYSTEMS = (
    ("Android", "Android"),
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("CrOS", "ChromeOS"),
    ("Linux", "Linux"),
)


UNKNOWN_DEVICE = "Unknown device"


def device_label(agent: str | None) -> str:
    """A browser's User-Agent as a person reads it ("Firefox on Linux"), for the sessions
    list in Settings; "Unknown device" when it says nothing we know."""
    agent = agent or ""
    browser = next((name for key, name in _BROWSERS if key in agent), None)
    system = next((name for key, name in _SYSTEMS if key in agent), None)
    if browser and system:
        return f"{browser} on {system}"
    return browser or system or UNKNOWN_DEVICE
