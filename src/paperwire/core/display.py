"""How dates, counts and author lists read, on pages and in e-mails alike."""

from __future__ import annotations

from datetime import date, datetime
from typing import Protocol


class Attributed(Protocol):
    """What :func:`authors_label` reads (a :class:`~paperwire.core.models.Card`)."""

    org: str | None
    org_fullname: str | None
    num_authors: int
    authors: list[str]


def short_date(value: date | datetime | None) -> str:
    if value is None:
        return ""
    return f"{value:%b} {value.day}, {value.year}"


def authors_label(card: Attributed) -> str:
    """The organization, or "N authors"."""
    if card.org_fullname or card.org:
        return card.org_fullname or card.org or ""
    n = card.num_authors or len(card.authors or [])
    return f"{n} author" + ("" if n == 1 else "s")


def compact(n: int | None) -> str:
    n = n or 0
    if n >= 1000:
        return f"{n / 1000:.1f}k".replace(".0k", "k")
    return str(n)
