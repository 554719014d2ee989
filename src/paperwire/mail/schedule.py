"""When digests are due, in each subscriber's time zone.

A **daily** digest goes out on weekdays at ``digest_hour`` local time and holds the papers
since the previous one (Monday's covers the weekend); its period is the local sending date,
``2026-11-24``. A **weekly** digest goes out on Mondays and holds the past seven days; its
period is the ISO week of that Monday, ``2026-W48``. A (subscription, period) pair is sent
at most once (the deliveries table's unique key).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from ..core.errors import PeriodError
from ..core.periods import parse_day, parse_rollover, parse_week, zone

FREQUENCIES = ("daily", "weekly")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")
# How far back a window may reach to make up for runs that did not happen.
CATCH_UP = {"daily": timedelta(days=7), "weekly": timedelta(days=21)}


@dataclass(frozen=True)
class Due:
    period: str
    start: datetime  # naive UTC, inclusive
    end: datetime  # naive UTC, exclusive

    @property
    def label(self) -> str:
        if _WEEK.match(self.period):
            return f"week of {self.start:%B} {self.start.day}"
        d = date.fromisoformat(self.period)
        return f"{d:%A, %B} {d.day}"


def parse_hour(text: str) -> time:
    return parse_rollover(text)


def _utc(d: date, at: time, tz: tzinfo) -> datetime:
    return datetime.combine(d, at, tzinfo=tz).astimezone(UTC).replace(tzinfo=None)


def _prev_weekday(d: date) -> date:
    d -= timedelta(days=1)
    while d.weekday() >= 5:
        d -= timedelta(days=1)
    return d


def _daily(d: date, at: time, tz: tzinfo) -> Due:
    return Due(d.isoformat(), _utc(_prev_weekday(d), at, tz), _utc(d, at, tz))


def _weekly(monday: date, at: time, tz: tzinfo) -> Due:
    year, week, _ = monday.isocalendar()
    end = _utc(monday, at, tz)
    return Due(f"{year}-W{week:02d}", _utc(monday - timedelta(days=7), at, tz), end)


def latest_due(frequency: str, tz_name: str, at: time, now: datetime) -> Due:
    """The most recent period whose sending time has passed at ``now`` (naive UTC)."""
    tz = zone(tz_name)
    local = now.replace(tzinfo=UTC).astimezone(tz)
    d = local.date()
    if local.time() < at:
        d -= timedelta(days=1)
    if frequency == "weekly":
        return _weekly(d - timedelta(days=d.weekday()), at, tz)
    while d.weekday() >= 5:
        d -= timedelta(days=1)
    return _daily(d, at, tz)


def period_due(frequency: str, tz_name: str, at: time, period: str) -> Due | None:
    """The window of an explicit period, or None when it is not one of this frequency's
    (a week for a daily digest, a weekend day). Raises PeriodError for a day or week that
    does not exist."""
    tz = zone(tz_name)
    if frequency == "daily" and _DAY.match(period):
        d = parse_day(period).start
        return _daily(d, at, tz) if d.weekday() < 5 else None
    if frequency == "weekly" and _WEEK.match(period):
        return _weekly(parse_week(period).start, at, tz)
    return None


def check_period(text: str) -> str:
    """A period given on the command line: ``YYYY-MM-DD`` (daily) or ``YYYY-Www`` (weekly)."""
    text = text.strip()
    for parse in (parse_day, parse_week):
        try:
            parse(text)
            return text
        except PeriodError:
            continue
    raise PeriodError(f"invalid period {text!r}: expected YYYY-MM-DD (daily) or YYYY-Www (weekly)")


def with_catch_up(due: Due, frequency: str, last_end: datetime | None) -> Due:
    """Start the window where the last served one ended, when runs were missed (never more
    than ``CATCH_UP`` back): papers of a day nobody sent are not lost."""
    if last_end is not None and due.end - CATCH_UP[frequency] <= last_end < due.start:
        return Due(due.period, last_end, due.end)
    return due
