"""Feed days, ISO weeks and months: parsing, formatting, navigation, the day roll-over."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import PeriodError

# ASCII digits: "２０２６" is \d to Python, no year to the API's schema.
_WEEK = re.compile(r"^([0-9]{4})-W([0-9]{2})$")
_MONTH = re.compile(r"^([0-9]{4})-([0-9]{2})$")
_DAY = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


PATH_SEGMENT = {"day": "date", "week": "week", "month": "month"}
# The years a feed period may name: every paper's (arXiv began in 1991), with room on both
# sides for the periods around them (year 1 or 9999 has no day before or after it).
YEARS = (1900, 2999)


@dataclass(frozen=True)
class Period:
    kind: str  # day | week | month
    start: date
    end: date  # inclusive

    @property
    def key(self) -> str:
        if self.kind == "day":
            return self.start.isoformat()
        if self.kind == "week":
            year, week, _ = self.start.isocalendar()
            return f"{year}-W{week:02d}"
        return f"{self.start.year}-{self.start.month:02d}"

    @property
    def label(self) -> str:
        if self.kind == "day":
            return f"{self.start:%A, %B} {self.start.day}, {self.start.year}"
        if self.kind == "week":
            year, week, _ = self.start.isocalendar()
            span = f"{self.start:%b} {self.start.day} – {self.end:%b} {self.end.day}"
            return f"Week {week}, {year} ({span})"
        return f"{self.start:%B %Y}"

    @property
    def path(self) -> str:
        return f"/papers/{PATH_SEGMENT[self.kind]}/{self.key}"

    def shift(self, steps: int) -> Period:
        if self.kind == "day":
            return day(self.start + timedelta(days=steps))
        if self.kind == "week":
            return week_of(self.start + timedelta(weeks=steps))
        index = self.start.year * 12 + self.start.month - 1 + steps
        return month(index // 12, index % 12 + 1)


def day(d: date) -> Period:
    return Period("day", d, d)


def week_of(d: date) -> Period:
    monday = d - timedelta(days=d.weekday())
    return Period("week", monday, monday + timedelta(days=6))


def month(year: int, month_: int) -> Period:
    first = date(year, month_, 1)
    if month_ == 12:  # no "next January" to step back from: 9999-12 is a month too
        return Period("month", first, date(year, 12, 31))
    return Period("month", first, date(year, month_ + 1, 1) - timedelta(days=1))


def _year(what: str, text: str, year: int) -> None:
    if not YEARS[0] <= year <= YEARS[1]:
        raise PeriodError(f"invalid {what} {text!r}: the year must be {YEARS[0]} to {YEARS[1]}")


def parse_day(text: str) -> Period:
    if not _DAY.fullmatch(text or ""):
        raise PeriodError(f"invalid date {text!r}: expected YYYY-MM-DD, e.g. 2026-03-18")
    _year("date", text, int(text[:4]))
    try:
        return day(date.fromisoformat(text))
    except ValueError:
        raise PeriodError(f"invalid date {text!r}: no such day") from None


def parse_week(text: str) -> Period:
    m = _WEEK.fullmatch(text or "")
    if not m:
        raise PeriodError(f"invalid week {text!r}: expected YYYY-Www, e.g. 2026-W09")
    _year("week", text, int(m[1]))
    try:
        return week_of(date.fromisocalendar(int(m[1]), int(m[2]), 1))
    except ValueError:
        raise PeriodError(f"invalid week {text!r}: {m[1]} has no week {m[2]}") from None


def parse_month(text: str) -> Period:
    m = _MONTH.fullmatch(text or "")
    if not m or not 1 <= int(m[2]) <= 12 or int(m[1]) < 1:
        raise PeriodError(f"invalid month {text!r}: expected YYYY-MM, e.g. 2026-03")
    _year("month", text, int(m[1]))
    return month(int(m[1]), int(m[2]))


def parse(kind: str, text: str) -> Period:
    return {"day": parse_day, "week": parse_week, "month": parse_month}[kind](text)


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise PeriodError(f"unknown time zone {name!r}") from None


def parse_rollover(text: str) -> time:
    m = re.match(r"^(\d{1,2}):(\d{2})$", text.strip())
    if not m or int(m[1]) > 23 or int(m[2]) > 59:
        raise PeriodError(f"invalid roll-over time {text!r}: expected HH:MM")
    return time(int(m[1]), int(m[2]))


class FeedClock:
    """Which feed day a moment belongs to: local time in the feed's zone; from the roll-over
    time on, the next day's feed."""

    def __init__(self, tz: str, rollover: str):
        self.tz = zone(tz)
        self.rollover = parse_rollover(rollover)

    def feed_date(self, moment: datetime | None = None) -> date:
        moment = moment or datetime.now(UTC)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        local = moment.astimezone(self.tz)
        if self.rollover != time(0, 0) and local.time() >= self.rollover:
            return local.date() + timedelta(days=1)
        return local.date()

    def begins(self, day: date) -> datetime:
        """The moment (UTC) the feed moves to ``day``: its eve's roll-over time, or its
        midnight, in the feed's zone."""
        if self.rollover == time(0, 0):
            local = datetime.combine(day, self.rollover, self.tz)
        else:
            local = datetime.combine(day - timedelta(days=1), self.rollover, self.tz)
        return local.astimezone(UTC)

    def describe(self) -> str:
        """When the feed's days change, for a reader: "at 21:30, America/New_York time"."""
        at = "midnight" if self.rollover == time(0, 0) else self.rollover.strftime("%H:%M")
        return (
            f"at {at} UTC" if self.tz.key in ("UTC", "Etc/UTC") else f"at {at}, {self.tz.key} time"
        )
