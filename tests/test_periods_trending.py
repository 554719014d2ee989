"""Feed days (roll-over, zones, weeks, months) and the trending formula."""

from datetime import UTC, date, datetime, timedelta

import pytest

from paperwire.core import periods
from paperwire.core.models import TrendingInput
from paperwire.rank import trending as tr


def test_rollover_in_new_york():
    clock = periods.FeedClock("America/New_York", "21:30")
    # 21:29 and 21:30 New York time on 2026-03-18 (UTC-4 in March after DST)
    assert clock.feed_date(datetime(2026, 3, 19, 1, 29, tzinfo=UTC)) == date(2026, 3, 18)
    assert clock.feed_date(datetime(2026, 3, 19, 1, 30, tzinfo=UTC)) == date(2026, 3, 19)
    assert periods.FeedClock("UTC", "00:00").feed_date(datetime(2026, 3, 19, 23, 59)) == date(
        2026, 3, 19
    )


@pytest.mark.parametrize("tz, roll", [("Mars/Olympus", "21:30"), ("UTC", "25:00"), ("UTC", "9")])
def test_bad_clock_settings(tz, roll):
    with pytest.raises(periods.PeriodError):
        periods.FeedClock(tz, roll)


def test_weeks_and_months():
    w = periods.parse_week("2026-W01")
    assert (w.start, w.end, w.key) == (date(2025, 12, 29), date(2026, 1, 4), "2026-W01")
    assert w.shift(-1).key == "2025-W52" and w.shift(1).key == "2026-W02"
    assert periods.parse_week("2026-W53").start == date(2026, 12, 28)  # a 53-week year
    with pytest.raises(periods.PeriodError):
        periods.parse_week("2025-W53")
    m = periods.parse_month("2024-02")
    assert (m.start, m.end) == (date(2024, 2, 1), date(2024, 2, 29))
    assert m.shift(-2).key == "2023-12" and m.shift(11).key == "2025-01"
    assert periods.parse_day("2024-02-29").path == "/papers/date/2024-02-29"
    for bad, fn in [
        ("2023-02-29", periods.parse_day),
        ("2026-W54", periods.parse_week),
        ("2026-1", periods.parse_month),
        ("", periods.parse_day),
    ]:
        with pytest.raises(periods.PeriodError):
            fn(bad)


NOW = datetime(2026, 3, 20, 12, 0)


def item(pid, *, external=0, votes=(), arrived_h=24.0, stars=None, history=()):
    return TrendingInput(
        id=pid,
        published=None,
        upvotes_external=external,
        github_stars=stars,
        submitted_at=NOW - timedelta(hours=arrived_h),
        votes=[NOW - timedelta(hours=h) for h in votes],
        stars_history=[(NOW - timedelta(hours=h), s) for h, s in history],
    )


def test_vote_velocity_beats_old_totals():
    fresh = tr.score(item("a", votes=[1, 2, 3, 4, 5], arrived_h=6), NOW)
    old = tr.score(item("b", external=20, arrived_h=24 * 6), NOW)
    assert fresh.score > old.score
    one = tr.score(item("c", votes=[0]), NOW)
    assert one.vote_points == pytest.approx(1.0)
    half = tr.score(item("d", votes=[tr.VOTE_HALF_LIFE_H]), NOW)
    assert half.vote_points == pytest.approx(0.5)


def test_star_growth_from_history_and_for_new_papers():
    since = NOW - timedelta(days=tr.WINDOW_DAYS)
    grown = item("a", stars=1100, history=[(24 * 20, 100), (24 * 3, 600), (1, 1100)])
    assert tr.star_growth(grown, since) == 1000  # from the last value before the window
    new = item("b", stars=300, arrived_h=10)
    assert tr.star_growth(new, since) == 300
    old_repo = item("c", stars=5000, arrived_h=24 * 30)
    assert tr.star_growth(old_repo, since) == 0
    s = tr.score(item("d", stars=1023, arrived_h=0), NOW)
    assert s.star_points == pytest.approx(tr.STAR_WEIGHT * 10)


def test_idle_instance_ranks_as_of_its_last_activity():
    anchor = datetime(2026, 8, 22, 9, 0)
    assert tr.as_of(anchor, now=datetime(2026, 11, 24)) == anchor
    recent = datetime(2026, 11, 23)
    assert tr.as_of(recent, now=datetime(2026, 11, 24)) == datetime(2026, 11, 24)


def test_trending_on_the_store(store):
    from tests.webkit import seed

    ids = seed(store, days=2)
    u = store.accounts.create_user("fan", None, None)
    store.feed.set_upvote(u, ids[7], True)
    ranked, moment = tr.trending(store)
    assert ranked[0].paper_id == ids[7] and len(ranked) == 10
