"""Small helpers shared by the store's modules."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime

BATCH = 900  # rows per statement; stays under SQLite's bound-parameter limits


class StoreError(RuntimeError):
    """A database problem the caller should report, not a bug."""


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def chunks(items: Sequence, size: int = BATCH) -> Iterable[Sequence]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def as_date(value) -> date | None:
    if value is None or (isinstance(value, date) and not isinstance(value, datetime)):
        return value
    if isinstance(value, datetime):
        return value.date()
    return date.fromisoformat(str(value)[:10])


def as_datetime(value) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def iso(value) -> str | None:
    if value is None:
        return None
    return value.isoformat() if hasattr(value, "isoformat") else str(value)
