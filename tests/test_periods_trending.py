"""Feed days (roll-over, zones, weeks, months) and the trending formula."""

from datetime import UTC, date, datetime, timedelta

import pytest

from paperwire.core import periods
from paperwire.core.clock import utcnow
from paperwire.core.models import TrendingInput
from paperwire.ingest.listing import listing_record
from paperwire.ingest.pipeline import import_jsonl
from paperwire.rank import trending as tr

from .storekit import TRUST
from .webkit import LISTING


def test_rollover_in_new_york():
    clock = periods.FeedClock("America/New_York", "21:30")
    # 21:29 and 21:30 New York time on 2026-03-18 (UTC-4 in March after DST)
    assert clock.feed_date(datetime(2026, 3, 19, 1, 29, tzinfo=UTC)) == date(2026, 3, 18)
    assert clock.feed_date(datetime(2026, 3, 19, 1, 30, tzinfo=UTC)) == date(2026, 3, 19)
    assert periods.FeedClock("UTC", "00:00").feed_date(datetime(2026, 3, 19, 23, 59)) == date(
        2026, 3, 19
    )
    # When the feed reaches a day: its eve's 21:30 in New York (DST or not), or midnight.
    assert clock.begins(date(2026, 3, 19)) == datetime(2026, 3, 19, 1, 30, tzinfo=UTC)
    assert clock.begins(date(2026, 12, 7)) == datetime(2026, 12, 7, 2, 30, tzinfo=UTC)
    assert clock.feed_date(clock.begins(date(2026, 12, 7))) == date(2026, 12, 7)
    assert clock.describe() == "at 21:30, America/New_York time"
    midnight = periods.FeedClock("Europe/Paris", "00:00")
    assert midnight.begins(date(2026, 7, 1)) == datetime(2026, 6, 30, 22, 0, tzinfo=UTC)
    assert midnight.describe() == "at midnight, Europe/Paris time"
    assert periods.FeedClock("UTC", "06:00").describe() == "at 06:00 UTC"


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


def archive(store, now, spells):
    """Papers of the test listing put on the feed in spells: (days before ``now``, how many)
    each; returns the ids of each spell."""
    import_jsonl(store, TRUST, LISTING, listing_record)
    ids = sorted(p.id for p in store.feed.latest(limit=100))
    uid = store.accounts.create_user("curator1", None, None, role="curator")
    out = []
    for ago, n in spells:
        when = now - timedelta(days=ago)
        spell, ids = ids[:n], ids[n:]
        for i, pid in enumerate(spell):
            store.feed.submit(pid, uid, when.date(), when - timedelta(minutes=i))
        out.append(spell)
    return out


def test_quiet_instance_goes_on_with_earlier_activity(store):
    now = utcnow().replace(microsecond=0)  # the store's votes are stamped with the real time
    recent, older = archive(store, now, [(40, 25), (80, 20)])
    ranked, moment = tr.trending(store, now=now)
    assert moment == now
    # Nothing in the last 14 days: the rank as of the last activity, then the spell before.
    assert [t.paper_id for t in ranked[:25]] == recent  # no votes, no stars: by id
    assert {t.paper_id for t in ranked[25:]} == set(older) and len(ranked) == 45
    assert {t.as_of for t in ranked[:25]} == {now - timedelta(days=40)}
    assert {t.as_of for t in ranked[25:]} == {now - timedelta(days=80)}

    fan = store.accounts.create_user("fan", None, None)
    voted = older[7]
    store.feed.set_upvote(fan, voted, True)
    ranked, _ = tr.trending(store, now=utcnow() + timedelta(hours=1))
    assert ranked[0].paper_id == voted and ranked[0].as_of is None
    assert ranked[0].vote_points == pytest.approx(0.5 ** (1 / tr.VOTE_HALF_LIFE_H), rel=1e-3)
    assert len(ranked) == 45 and len({t.paper_id for t in ranked}) == 45
    assert [t.paper_id for t in ranked[1:26]] == recent

    # The rank as it was (digests): later activity, the vote included, is left out.
    then, moment = tr.trending(store, now=now, until=now - timedelta(days=50))
    assert moment == now - timedelta(days=50)
    assert {t.paper_id for t in then} == set(older)
    assert all(t.as_of == now - timedelta(days=80) for t in then)


def test_busy_instance_lists_only_its_window(store, monkeypatch):
    now = utcnow().replace(microsecond=0)
    recent, older = archive(store, now, [(3, 12), (30, 10)])
    ranked, _ = tr.trending(store, now=now)
    assert len(ranked) == 22 and all(t.as_of is None for t in ranked[:12])
    monkeypatch.setattr(tr, "FULL_LIST", 12)  # enough activity: nothing earlier is added
    ranked, _ = tr.trending(store, now=now)
    assert [t.paper_id for t in ranked] == recent
    monkeypatch.setattr(tr, "FULL_LIST", 50)
    monkeypatch.setattr(tr, "MAX_ERAS", 0)
    assert len(tr.trending(store, now=now)[0]) == 12


def test_stars_seen_after_the_moment_do_not_count():
    later = item("a", stars=900, arrived_h=24 * 20, history=[(24 * 5, 100), (-24, 900)])
    assert tr.star_growth(later, NOW - timedelta(days=tr.WINDOW_DAYS), NOW) == 0
    assert tr.star_growth(later, NOW - timedelta(days=tr.WINDOW_DAYS)) == 800


def test_trending_on_the_store(store):
    from tests.webkit import seed

    ids = seed(store, days=2)
    u = store.accounts.create_user("fan", None, None)
    store.feed.set_upvote(u, ids[7], True)
    ranked, moment = tr.trending(store)
    assert ranked[0].paper_id == ids[7] and len(ranked) == 10


def test_digest_says_when_an_earlier_rank_applies():
    from paperwire.mail.digest import trend_reason
    from paperwire.rank import Trend

    t = Trend("a", 3.0, vote_points=3.0)
    assert trend_reason(t) == "trending score 3.0, from recent upvotes"
    earlier = Trend("a", 3.0, vote_points=3.0, as_of=datetime(2026, 8, 22, 9))
    assert trend_reason(earlier) == (
        "trending score 3.0, from upvotes, as it stood on Aug 22, 2026"
        " (papers active since come first)"
    )
