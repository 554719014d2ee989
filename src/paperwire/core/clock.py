"""Time as the store keeps it: naive UTC datetimes on every backend."""

from __future__ import annotations

from datetime import UTC, date, datetime


def utcnow() -> datetime:
    """Now, as a naive UTC datetime."""
    return datetime.now(UTC).replace(tzinfo=None)


def backoff_delay(attempts: int, base: float, cap: float) -> float:
    """Seconds before the next try after ``attempts`` failed ones: base, 2·base, 4·base, …
    up to ``cap`` (the jobs queue, thumbnails)."""
    return float(min(cap, base * 2 ** min(max(0, attempts - 1), 60)))


def to_utc_naive(value: datetime | date | None) -> datetime | None:
    """A date or an aware/naive datetime as a naive UTC datetime (dates at midnight)."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        return datetime(value.year, value.month, value.day)
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


def as_date(value: object) -> date | None:
    """A date from a date, a datetime or an ISO string (as drivers return them)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def as_datetime(value: object) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def iso(value: date | datetime | None) -> str | None:
    return None if value is None else value.isoformat()
