"""Digests and topic alerts: schedule, composition, rendering, and delivery over real SMTP
conversations (aiosmtpd on loopback), idempotent across crashes and concurrent runs."""

from __future__ import annotations

import email.generator
import io
import random
import re
import signal
import subprocess
import sys
import time
from datetime import date, datetime, timedelta
from datetime import time as dtime

import pytest
from fastapi.testclient import TestClient

from paperwire.core.errors import MailError
from paperwire.mail import mime, schedule
from paperwire.mail.digest import Composer
from paperwire.mail.run import LEASE, DigestRun
from paperwire.mail.send import Mailer, compose
from paperwire.plugins import site as create_site
from paperwire.store import schema as t

from .mailkit import SMTPServer, digest_cli
from .storekit import search_engine, site_engine, trending_ranker
from .webkit import add_user, make_config, seed

SEND_AT = dtime(8)  # the digests' hour in these tests (UTC)


def next_weekday(d: date | None = None) -> date:
    """The weekday after ``d``; without one, the daily period whose window holds this
    moment (it ends at the next 08:00 UTC on a weekday): the seeded papers, which arrived
    just now, are its new papers, whatever the hour the tests run."""
    if d is None:
        now = datetime.utcnow()
        d = now.date() - timedelta(days=1) if now.time() < SEND_AT else now.date()
    d += timedelta(days=1)
    while d.weekday() >= 5:
        d += timedelta(days=1)
    return d


def next_week() -> str:
    """The weekly period whose window holds this moment (sent on the next Monday 08:00
    UTC): the seeded papers (which arrived just now and have no publication date) are its
    new papers."""
    now = datetime.utcnow()
    d = now.date()
    early_monday = d.weekday() == 0 and now.time() < SEND_AT
    monday = d if early_monday else d + timedelta(days=7 - d.weekday())
    year, week, _ = monday.isocalendar()
    return f"{year}-W{week:02d}"


WEEK = next_week()
WEEK_AFTER = schedule.period_due("weekly", "UTC", dtime(8), WEEK).end.date() + timedelta(days=7)
WEEK_AFTER = "{}-W{:02d}".format(*WEEK_AFTER.isocalendar()[:2])


def backdate(store, *sub_ids: int) -> None:
    """Subscribers who joined long ago (a period is only sent to earlier subscribers)."""
    with store.begin() as conn:
        conn.execute(
            t.subscriptions.update()
            .where(t.subscriptions.c.id.in_(sub_ids))
            .values(confirmed_at=datetime(2020, 1, 1))
        )


def subscribe(store, email, kind="trending", query=None, frequency="daily", tz="UTC") -> int:
    sub = store.mail.create_subscription(email, kind, query, frequency, tz, confirmed=True)
    backdate(store, sub.id)
    return sub.id


def upvote_some(store, ids: list[str], n: int = 4) -> None:
    for i in range(3):
        uid = add_user(store, f"voter{i}")
        for pid in ids[: n - i]:
            store.feed.set_upvote(uid, pid, True)


# -- schedule ------------------------------------------------------------------------------
def test_schedule_daily_weekdays_weekly_mondays_and_time_zones():
    at = dtime(8, 0)
    # Tuesday 2026-11-24 09:00 UTC: Tuesday's daily digest is due, covering since Monday.
    due = schedule.latest_due("daily", "UTC", at, datetime(2026, 11, 24, 9, 0))
    assert due.period == "2026-11-24"
    assert (due.start, due.end) == (datetime(2026, 11, 23, 8), datetime(2026, 11, 24, 8))
    # before 08:00 it is still Monday's; Monday's covers the weekend
    due = schedule.latest_due("daily", "UTC", at, datetime(2026, 11, 24, 7, 59))
    assert due.period == "2026-11-23" and due.start == datetime(2026, 11, 20, 8)
    # on Sunday, Friday's is the latest
    assert schedule.latest_due("daily", "UTC", at, datetime(2026, 11, 29, 12)).period == (
        "2026-11-27"
    )
    # weekly: the Monday's, a week long
    due = schedule.latest_due("weekly", "UTC", at, datetime(2026, 11, 26, 12))
    assert due.period == "2026-W48" and due.end - due.start == timedelta(days=7)
    # the subscriber's own clock: 08:00 in Tokyo is 23:00 UTC the day before
    due = schedule.latest_due("daily", "Asia/Tokyo", at, datetime(2026, 11, 24, 0, 30))
    assert due.period == "2026-11-24" and due.end == datetime(2026, 11, 23, 23)
    # across a daylight-saving change the window is local days, not 24 h
    due = schedule.period_due("daily", "Europe/Paris", at, "2026-10-26")
    assert due.end - due.start == timedelta(days=3, hours=1)
    assert schedule.period_due("daily", "UTC", at, "2026-11-28") is None  # a Saturday
    assert schedule.period_due("daily", "UTC", at, "2026-W48") is None
    with pytest.raises(ValueError):
        schedule.check_period("2026-13-01")
    with pytest.raises(ValueError):
        schedule.check_period("2026-W54; DROP TABLE")
    # a missed run: the window reaches back to where the last one ended (at most a week)
    due = schedule.period_due("daily", "UTC", at, "2026-11-25")
    caught = schedule.with_catch_up(due, "daily", datetime(2026, 11, 23, 8))
    assert caught.start == datetime(2026, 11, 23, 8)
    assert schedule.with_catch_up(due, "daily", datetime(2026, 10, 1)) == due


# -- store ---------------------------------------------------------------------------------
def test_subscription_lifecycle_and_single_use_confirmation(store):
    sub = store.mail.create_subscription("a@example.org", "topic", "Diffusion", "weekly", "UTC")
    assert sub.status == "pending" and sub.confirm_nonce and sub.manage_nonce
    assert store.mail.find_subscription("a@example.org", "topic", "  diffusion ").id == sub.id
    assert store.mail.find_subscription("a@example.org", "trending", None) is None
    assert not store.mail.confirm_subscription(sub.id, "forged")
    assert store.mail.confirm_subscription(sub.id, sub.confirm_nonce)
    assert not store.mail.confirm_subscription(sub.id, sub.confirm_nonce)  # used
    assert [s.id for s in store.mail.active_subscriptions()] == [sub.id]
    assert store.mail.stop_subscription(sub.id)
    assert not store.mail.stop_subscription(sub.id)
    assert store.mail.active_subscriptions() == []
    again = store.mail.restart_subscription(sub.id, "daily", "Europe/Paris")
    assert again.status == "pending" and again.confirm_nonce != sub.confirm_nonce


def test_deliveries_are_claimed_once_and_record_sent_papers(store):
    seed(store)
    sid = subscribe(store, "a@example.org")
    window = (datetime(2026, 1, 1), datetime(2026, 1, 2))
    first = store.mail.claim_delivery(sid, "2026-01-01", window, [["2503.11731", "why"]], "<m1@x>")
    again = store.mail.claim_delivery(sid, "2026-01-01", window, [["2503.11742", ""]], "<m2@x>")
    assert again.id == first.id and again.message_id == "<m1@x>"
    assert again.paper_ids == [["2503.11731", "why"]]  # the first claim's choice wins
    store.mail.mark_sent(first.id, sid, ["2503.11731"])
    store.mail.mark_sent(first.id, sid, ["2503.11731"])  # repeating is harmless
    assert store.mail.sent_paper_ids([sid]) == {sid: {"2503.11731"}}
    empty = store.mail.claim_delivery(sid, "2026-01-02", window, [], "<m3@x>")
    assert empty.status == "empty"
    assert store.mail.delivery_counts() == {"sent": 1, "empty": 1}


def test_a_batch_of_claims_is_one_transaction_and_earlier_claims_win(store):
    """A run claims its digests a batch at a time: new ones are created with their papers,
    those another (perhaps killed) run claimed first keep that run's papers and Message-ID."""
    from paperwire.store.mail import Claim

    seed(store)
    a, b, c = (subscribe(store, f"{n}@example.org") for n in "abc")
    window = (datetime(2026, 1, 1), datetime(2026, 1, 2))
    first = store.mail.claim_delivery(a, "2026-01-01", window, [["2503.11731", "x"]], "<a@x>")
    claims = [
        Claim(a, "2026-01-01", window, [["2503.11742", "y"]], "<a2@x>"),
        Claim(b, "2026-01-01", window, [["2503.11742", "y"]], "<b@x>"),
        Claim(c, "2026-01-01", window, [], "<c@x>"),
        Claim(b, "2026-01-02", window, [["2503.11731", "z"]], "<b2@x>"),
    ]
    got = store.mail.claim_deliveries(claims)
    assert set(got) == {(a, "2026-01-01"), (b, "2026-01-01"), (c, "2026-01-01"),
                        (b, "2026-01-02")}  # fmt: skip
    assert got[(a, "2026-01-01")].id == first.id and got[(a, "2026-01-01")].message_id == "<a@x>"
    assert got[(b, "2026-01-01")].paper_ids == [["2503.11742", "y"]]
    assert got[(c, "2026-01-01")].status == "empty"
    assert store.mail.claim_deliveries(claims) == got  # claiming again changes nothing
    assert store.mail.claim_deliveries([]) == {}
    assert store.mail.delivery_counts() == {"pending": 3, "empty": 1}


def test_lease_is_exclusive_until_released_or_expired(store):
    assert store.jobs.acquire_lease("job", "a", 60)
    assert not store.jobs.acquire_lease("job", "b", 60)
    assert store.jobs.acquire_lease("job", "a", 60)  # renewal
    store.jobs.release_lease("job", "b")  # not b's to release
    assert store.jobs.lease("job").holder == "a"
    store.jobs.release_lease("job", "a")
    assert store.jobs.acquire_lease("job", "b", -1)  # taken, but already expired
    assert store.jobs.acquire_lease("job", "c", 60)


# -- composition ---------------------------------------------------------------------------
@pytest.fixture
def mailsite(store, tmp_path):
    ids = seed(store)
    upvote_some(store, ids)
    return store, ids, tmp_path


def test_topic_alert_matches_by_words_and_meaning_and_explains(mailsite):
    store, _, tmp_path = mailsite
    config = make_config(tmp_path)
    engine = site_engine(store, config)
    composer = composer_for(store, config, engine)
    due = schedule.period_due("weekly", "UTC", dtime(8), WEEK)
    sub = store.mail.create_subscription("a@example.org", "topic", "vision language models",
                                    "weekly", "UTC", confirmed=True)  # fmt: skip
    picks = composer.compose(sub, due, set())
    assert picks, "the seeded listing has vision-language papers"
    titles = {c.id: c.title.lower() for c in store.feed.cards([p.paper_id for p in picks])}
    assert any("vision-language" in title for title in titles.values())
    assert all("similarity" in p.why for p in picks)
    assert [p.score for p in picks] == sorted((p.score for p in picks), reverse=True)
    # the query was embedded once and kept
    assert store.mail.get_subscription(sub.id).query_vector
    # excluded words exclude; already-sent papers are not offered again
    sub2 = store.mail.create_subscription("b@example.org", "topic", "vision language -jailbreak",
                                     "weekly", "UTC", confirmed=True)  # fmt: skip
    kept = composer.compose(sub2, due, set())
    assert all("jailbreak" not in titles.get(p.paper_id, "") for p in kept)
    got = {p.paper_id for p in picks}
    assert not {p.paper_id for p in composer.compose(sub, due, got)} & got
    # nothing new in an empty week
    empty = schedule.period_due("weekly", "UTC", dtime(8), "2024-W10")
    assert composer.compose(sub, empty, set()) == []
    # keyword-only when search by meaning is off: every word must be there
    plain = composer_for(store, config, search_engine(store, semantic=False))
    for p in plain.compose(sub, due, set()):
        text = store.feed.cards([p.paper_id])[0]
        blob = (text.title + " " + text.abstract).lower()
        assert "vision" in blob and "language" in blob and "model" in blob


# -- delivery over SMTP --------------------------------------------------------------------
def composer_for(store, config, engine):
    return Composer(store, config.digests, trending_ranker(), engine)


def _run(store, config, engine=None, **kw):
    """A digest run; without ``engine``, by words only (no model loaded)."""
    engine = engine or search_engine(store, semantic=False)
    return DigestRun(store, config, engine, trending_ranker()).run(**kw)


def test_digests_over_smtp_headers_parts_links_and_one_click_unsubscribe(mailsite):
    store, ids, tmp_path = mailsite
    period = next_weekday().isoformat()
    with SMTPServer() as smtp:
        config = make_config(tmp_path, **smtp.settings)
        a = subscribe(store, "ada@example.org")
        b = subscribe(store, "bob@example.org", "topic", "vision language models", "weekly")
        subscribe(store, "cy@example.org", "topic", "quantum chromodynamics lattice", "weekly")
        stats = _run(store, config, period=period)
        assert (stats.sent, stats.empty) == (1, 0), stats.line()  # weekly subs: not this period
        engine = site_engine(store, config)
        stats = _run(store, config, engine, period=WEEK)
        assert (stats.sent, stats.empty) == (1, 1), stats.line()  # nothing on QCD that week
        assert smtp.recorder.connections == 2  # one connection per run
        msgs = {m["To"]: m for m in smtp.messages}
        assert set(msgs) == {"ada@example.org", "bob@example.org"}

        digest = msgs["ada@example.org"]
        assert digest["Subject"].startswith("Trending papers — ")
        assert digest["From"] == config.mail.mail_from
        assert digest["Message-ID"] and digest["Date"]
        assert digest["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        unsub = re.fullmatch(r"<(http://testserver/\S+)>", digest["List-Unsubscribe"]).group(1)
        text = digest.get_body(("plain",)).get_content()
        html = digest.get_body(("html",)).get_content()
        voted = store.feed.cards(ids[:4])
        for card in voted:
            assert card.title[:40] in text
            assert f"http://testserver/papers/{card.id}" in html
        assert "<script" not in html and 'style="' in html and "color-scheme" in html
        assert "Why: trending score" in text

        alert = msgs["bob@example.org"]
        assert "vision language models" in alert["Subject"]
        assert "similarity" in alert.get_body(("plain",)).get_content()

        # every link in the message leads somewhere real
        client = TestClient(create_site(config, store), base_url="http://testserver")
        links = set(re.findall(r'href="(http://testserver/[^"]+)"', html))
        assert len(links) >= 6
        for link in links:
            path = link.removeprefix("http://testserver").replace("&amp;", "&")
            assert client.get(path).status_code == 200, path

        # RFC 8058: a POST with the one-click body, no cookies, no CSRF token
        r = TestClient(create_site(config, store)).post(
            unsub.removeprefix("http://testserver"),
            content="List-Unsubscribe=One-Click",
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert r.status_code == 200
        assert store.mail.get_subscription(a).status == "unsubscribed"

        # nothing twice: a second run of the same periods sends nothing
        before = len(smtp.messages)
        assert _run(store, config, period=period).sent == 0
        assert _run(store, config, engine, period=WEEK).sent == 0
        assert len(smtp.messages) == before
        # the next period leaves out what Bob already got
        nxt = _run(store, config, engine, period=WEEK_AFTER)
        assert nxt.sent == 0
        assert store.mail.sent_paper_ids([b])[b]


def test_temporary_failures_retry_then_later_runs_and_5xx_bounces(mailsite):
    store, _, tmp_path = mailsite
    period = next_weekday().isoformat()
    with SMTPServer() as smtp:
        config = make_config(tmp_path, **smtp.settings, mail_retries=2)
        flaky = subscribe(store, "flaky@example.org")
        down = subscribe(store, "down@example.org")
        gone = subscribe(store, "gone@example.org")
        smtp.recorder.refuse = {
            "flaky@example.org": ["451 4.3.2 try later"],  # once: the in-run retry succeeds
            "down@example.org": ["421 4.3.0 busy"] * 3,  # all in-run tries fail
            "gone@example.org": ["550 5.1.1 no such user"],
        }
        stats = _run(store, config, period=period)
        assert (stats.sent, stats.failed, stats.bounced) == (1, 1, 1), stats.line()
        assert [m["To"] for m in smtp.messages] == ["flaky@example.org"]
        assert store.mail.get_subscription(gone).status == "bouncing"
        assert store.mail.get_subscription(down).status == "confirmed"
        # the failed one waits for its retry time, then a later run delivers it
        assert _run(store, config, period=period).sent == 0
        with store.begin() as conn:
            conn.execute(t.deliveries.update().values(next_attempt_at=None))
        stats = _run(store, config)  # not even the same period asked: unfinished ones go too
        assert stats.sent == 1, stats.line()
        assert sorted(m["To"] for m in smtp.messages) == ["down@example.org", "flaky@example.org"]
        assert store.mail.get_subscription(flaky).status == "confirmed"


def test_mailer_reuses_one_connection_and_refuses_header_injection(tmp_path):
    with SMTPServer() as smtp:
        config = make_config(tmp_path, **smtp.settings)
        with Mailer(config.mail) as mailer:
            for i in range(5):
                mailer.send(compose(config.mail, f"r{i}@example.org", f"n{i}", "body"))
        assert smtp.recorder.connections == 1 and len(smtp.messages) == 5
    with pytest.raises(MailError) as exc:
        compose(config.mail, "a@example.org\r\nBcc: victim@example.org", "s", "b")
    assert exc.value.permanent
    with pytest.raises(MailError):
        compose(config.mail, "a@example.org", "hi\nBcc: victim@example.org", "b")


def _as_smtplib_sends(msg) -> bytes:
    """The bytes ``smtplib.SMTP.send_message`` puts on the wire for ``msg``."""
    out = io.BytesIO()
    utf8 = not "".join(a.addr_spec for a in msg["To"].addresses).isascii()
    policy = msg.policy.clone(utf8=True) if utf8 else None
    email.generator.BytesGenerator(out, policy=policy).flatten(msg, linesep="\r\n")
    return out.getvalue()


@pytest.mark.parametrize(
    "to,text,html",
    [
        ("ada@example.org", "short lines, ASCII\n" * 3, "<p>" + "long line " * 40 + "</p>\n"),
        ("ada@example.org", "short — not ASCII\nFrom here\n", "é" * 300),  # 8bit, base64
        ("zoë@example.org", "From the start — " + "x " * 60, "<p>From line\nFrom " + "=" * 90),
        ("a@example.org", "trailing space \nand tab\t\n" + "w" * 77 + " \n", ""),
    ],
)
def test_digest_bytes_are_the_email_packages(tmp_path, to, text, html):
    """:mod:`paperwire.mail.mime` makes the very bytes smtplib would send for the message
    object (headers folded alike, the same transfer encodings, "From " quoted), or that
    ``bytes(message)`` gives."""
    config = make_config(tmp_path)
    headers = {"List-Unsubscribe": "<https://example.org/subscriptions/unsubscribe?token="
               + "Wz" * 40 + ">", "List-Id": "Paperwire digests <digests.example.org>"}  # fmt: skip
    subject, mid = "New papers on “vision — language” — Monday, June 22", "<m.1@example.org>"
    random.seed(7)
    wire = mime.digest_wire(config.mail, to, subject, text, html, headers, mid)
    random.seed(7)
    message = compose(config.mail, to, subject, text, html, headers, mid)
    expected = _as_smtplib_sends(message)
    date = re.compile(rb"^Date: [^\r\n]*", re.MULTILINE)
    if b"\n>From " in expected:  # smtplib would quote it, a ">" the reader sees: instead, that
        # part goes quoted-printable with the F encoded, and reads back as the very text
        assert b"\n>From " not in wire.data and b"\n=46rom " in wire.data
        got = email.message_from_bytes(wire.data, policy=email.policy.default)
        shown = [p.get_content().replace("\r\n", "\n").rstrip("\n") for p in got.iter_parts()]
        assert shown == [text.rstrip("\n"), html.rstrip("\n")]
        head = re.compile(rb"\r\n\r\n.*", re.DOTALL)  # the message's headers only
        assert date.sub(b"", head.sub(b"", wire.data)) == date.sub(b"", head.sub(b"", expected))
    else:
        assert date.sub(b"", wire.data) == date.sub(b"", expected)
    # the unsubscribe link stays a link: on one line, never RFC 2047 encoded words, which
    # no mail client reads as one (one-click unsubscribe would not work)
    link = headers["List-Unsubscribe"].encode()
    assert b"\r\nList-Unsubscribe: " + link + b"\r\n" in wire.data and b"=?utf-8?" not in link
    assert wire.international == (not to.isascii()) and wire.recipient == to
    # an .eml file (no SMTP server) holds what bytes(message) gives
    random.seed(7)
    file = mime.digest_wire(config.mail, to, subject, text, html, headers, mid, False).as_file()
    random.seed(7)
    expected = bytes(compose(config.mail, to, subject, text, html, headers, mid))
    assert date.sub(b"", file) == date.sub(b"", expected) and b"\r" not in file


def test_smtp_down_is_a_temporary_failure_not_a_crash(mailsite):
    store, _, tmp_path = mailsite
    from .mailkit import free_port

    config = make_config(tmp_path, smtp_host="127.0.0.1", smtp_port=free_port(),
                         smtp_starttls=False, mail_backoff=0.01, mail_retries=1)  # fmt: skip
    subscribe(store, "a@example.org")
    stats = _run(store, config, period=next_weekday().isoformat())
    assert (stats.sent, stats.failed) == (0, 1) and "SMTP" in stats.errors[0]
    assert store.mail.delivery_counts() == {"retry": 1}


def test_outbox_and_dry_run(mailsite):
    store, _, tmp_path = mailsite
    config = make_config(tmp_path)  # no smtp_host: .eml files
    subscribe(store, "a@example.org")
    period = next_weekday().isoformat()
    shown = []
    stats = _run(store, config, period=period, dry_run=True,
                 preview=lambda s, d, p: shown.append((s.email, len(p))))  # fmt: skip
    assert stats.sent == 1 and shown == [("a@example.org", 4)]
    assert store.mail.delivery_counts() == {} and not (tmp_path / "outbox").exists()
    assert _run(store, config, period=period).sent == 1
    files = list((tmp_path / "outbox").glob("*.eml"))
    assert len(files) == 1 and b"List-Unsubscribe-Post" in files[0].read_bytes()


def test_busy_lease_means_no_run(mailsite):
    store, _, tmp_path = mailsite
    config = make_config(tmp_path)
    subscribe(store, "a@example.org")
    assert store.jobs.acquire_lease(LEASE, "someone-else", 60)
    stats = _run(store, config, period=next_weekday().isoformat())
    assert stats.busy and stats.sent == 0 and store.mail.delivery_counts() == {}


# -- crash and concurrency, with real processes ---------------------------------------------
def _cli(url: str, smtp: SMTPServer, tmp_path, *args) -> subprocess.Popen:
    return digest_cli(url, smtp.port, tmp_path, *args, semantic_search="false")


def _population(store, n: int) -> set[str]:
    emails = set()
    for i in range(n):
        kind = "topic" if i % 3 == 0 else "trending"
        query = ["vision", "language models", "detection"][i % 3] if kind == "topic" else None
        subscribe(store, f"user{i}@example.org", kind, query, "daily")
        emails.add(f"user{i}@example.org")
    return emails


@pytest.mark.parametrize(
    "store,kill_at",
    [("sqlite", 1), ("sqlite", 9), ("sqlite", 26), ("postgresql", 9)],
    indirect=["store"],
)
def test_killed_mid_run_then_resumed_sends_every_message_exactly_once(mailsite, kill_at):
    store, _, tmp_path = mailsite
    url = store.url
    _population(store, 30)
    period = next_weekday().isoformat()
    with SMTPServer() as smtp:
        smtp.recorder.stall_at = kill_at
        proc = _cli(url, smtp, tmp_path, "--period", period)
        assert smtp.recorder.stalled.wait(60), proc.communicate(timeout=5)
        proc.send_signal(signal.SIGKILL)  # mid-conversation, mid-run
        proc.wait(10)
        smtp.recorder.release.set()
        got_before = len(smtp.messages)
        assert got_before == kill_at - 1
        smtp.recorder.stall_at = None
        rerun = _cli(url, smtp, tmp_path, "--period", period)
        out, err = rerun.communicate(timeout=120)
        assert rerun.returncode == 0, out + err
        # keyword topic alerts (semantic search off) match some users, not all
        sent = [(m["To"], m["Message-ID"]) for m in smtp.messages]
        assert len({to for to, _ in sent}) == len(sent), "nobody got a message twice"
        counts = store.mail.delivery_counts()
        assert counts.get("sent", 0) == len(sent) and set(counts) <= {"sent", "empty"}
        assert counts["sent"] + counts.get("empty", 0) == 30
        # and a third run finds nothing to do
        third = _cli(url, smtp, tmp_path, "--period", period)
        out, _ = third.communicate(timeout=120)
        assert "0 sent" in out and len(smtp.messages) == len(sent)


def test_two_instances_at_once_never_double_send(mailsite):
    store, _, tmp_path = mailsite
    _population(store, 24)
    period = next_weekday().isoformat()
    with SMTPServer() as smtp:
        smtp.recorder.delay = 0.02
        procs = [_cli(store.url, smtp, tmp_path, "--period", period) for _ in range(2)]
        outs = [p.communicate(timeout=120) for p in procs]
        assert all(p.returncode == 0 for p in procs), outs
        sent = [m["To"] for m in smtp.messages]
        assert len(sent) == len(set(sent)) == store.mail.delivery_counts()["sent"]
        assert len(sent) + store.mail.delivery_counts().get("empty", 0) == 24


def test_digest_cli_rejects_bad_periods(tmp_path):
    from click.testing import CliRunner

    from paperwire.cli import main

    url = f"sqlite:///{tmp_path / 'x.db'}"
    r = CliRunner().invoke(main, ["--db", url, "digest", "send", "--period", "2026-02-30"])
    assert r.exit_code == 2 and "invalid period" in r.output
    r = CliRunner().invoke(main, ["--db", url, "digest", "send", "--dry-run"])
    assert r.exit_code == 0 and "0 due" in r.output


def test_new_papers_of_a_window(mailsite):
    """Papers arrive by publication date, or by arrival when published recently or on an
    unknown date; a bulk import of old papers is not news."""
    store, ids, _ = mailsite
    due = schedule.period_due("weekly", "UTC", dtime(8), WEEK)
    assert len(store.mail.new_papers(due.start, due.end)) == 60  # listing papers: no date
    with store.begin() as conn:
        conn.execute(t.papers.update().where(t.papers.c.id == ids[0])
                     .values(published=datetime(2019, 5, 1)))  # fmt: skip
        conn.execute(t.papers.update().where(t.papers.c.id == ids[1])
                     .values(published=due.start - timedelta(days=2)))  # fmt: skip
    new = {p.id for p in store.mail.new_papers(due.start, due.end)}
    assert ids[0] not in new and ids[1] in new and len(new) == 59
    old = schedule.period_due("weekly", "UTC", dtime(8), "2019-W19")
    assert [p.id for p in store.mail.new_papers(old.start, old.end)] == [ids[0]]


def _ticks(sched, n: int, timeout: float) -> None:
    """Run the scheduler's thread until it has ticked ``n`` times, then stop it."""
    sched.start()
    deadline = time.monotonic() + timeout
    while sched.runs < n and time.monotonic() < deadline:
        time.sleep(0.02)
    sched.stop()
    sched.join(5)


def test_scheduler_sends_what_is_due_and_survives_failures(tmp_path, sqlite_url):
    from paperwire.mail.scheduler import DigestScheduler
    from paperwire.plugins import rankers, search_backends
    from paperwire.store import Store

    store = Store(sqlite_url)
    store.db.upgrade()
    seed(store)
    sid = subscribe(store, "a@example.org", tz="Pacific/Auckland")
    config = make_config(tmp_path, database_url=sqlite_url)
    sched = DigestScheduler(config, search_backends(), rankers(), interval=0.05)
    _ticks(sched, 3, timeout=30)
    assert sched.runs >= 3 and not sched.is_alive()
    # the latest due period in Auckland was served exactly once, whatever the runs
    due = schedule.latest_due("daily", "Pacific/Auckland", dtime(8), datetime.utcnow())
    rows = store.mail.deliveries_for([due.period])
    assert list(rows) == [(sid, due.period)]
    # a broken database does not stop the loop
    broken = DigestScheduler(make_config(tmp_path, database_url=f"sqlite:///{tmp_path}/no/x.db"),
                             search_backends(), rankers(), interval=0.01)  # fmt: skip
    _ticks(broken, 2, timeout=10)
    assert broken.runs >= 2


def test_hostile_titles_and_queries_are_escaped_in_the_html_part(tmp_path):
    from paperwire.core.models import Card, Subscription
    from paperwire.mail import render

    config = make_config(tmp_path)
    sub = Subscription(id=1, email="a@example.org", kind="topic", frequency="daily",
                       query='<img src=x onerror=alert(1)> "quoted"', manage_nonce="n")  # fmt: skip
    card = Card(seq=1, id="2501.00001", title="<script>alert(1)</script> & Friends",
                abstract="<b>bold</b> $x<y$", authors=["<i>Eve</i>"], published=None,
                upvotes=1, num_comments=0, github_repo='x/y"><script>',
                github_stars=3)  # fmt: skip
    item = render.DigestItem(card, "<svg onload=alert(1)>", "http://testserver/papers/2501.00001")
    link = {"manage": "http://testserver/m?a=1&b=2", "unsubscribe": "http://testserver/u",
            "site": "http://testserver/papers", "base": "http://testserver"}  # fmt: skip
    subject, text, html = render.digest(config.site.site_name, sub, "Monday", [item], link)
    for raw in ("<script>", "<img src=x", "<b>bold", "<i>Eve", "<svg", '"><script>'):
        assert raw not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Friends" in html
    assert "<script>alert(1)</script> & Friends" in text  # plain text stays as written
    assert "\n" not in subject and "\r" not in subject
    msg = compose(config.mail, sub.email, subject, text, html)
    assert msg.get_body(("html",)).get_content().rstrip() == html.rstrip()


def test_retried_old_digest_goes_first_and_the_new_one_does_not_repeat_it(mailsite):
    store, _, tmp_path = mailsite
    first = next_weekday()
    second = next_weekday(first)
    with SMTPServer() as smtp:
        config = make_config(tmp_path, **smtp.settings, mail_retries=0)
        sid = subscribe(store, "a@example.org")
        smtp.recorder.refuse = {"a@example.org": ["421 4.3.0 busy"]}
        assert _run(store, config, period=first.isoformat()).failed == 1
        with store.begin() as conn:
            conn.execute(t.deliveries.update().values(next_attempt_at=None))
        stats = _run(store, config, period=second.isoformat())
        # the first period's digest went out now; the second had nothing new left
        assert (stats.sent, stats.empty) == (1, 1), stats.line()
        [msg] = smtp.messages
        assert f"{first:%A, %B} {first.day}" in msg["Subject"]
        assert len(store.mail.sent_paper_ids([sid])[sid]) == 4


def test_a_period_that_does_not_exist_is_a_clear_error_not_a_crash():
    with pytest.raises(schedule.PeriodError):
        schedule.period_due("daily", "UTC", dtime(8), "2026-02-30")
    with pytest.raises(schedule.PeriodError):
        schedule.period_due("weekly", "UTC", dtime(8), "2026-W60")


def test_topic_alerts_judge_words_exactly_as_search_does(store, tmp_path):
    """One judgement of words for both: the keyword index's (stemming, authors included),
    also when a window's papers are judged from an in-memory copy of the index."""
    from paperwire.core.records import PaperRecord

    from .storekit import TRUST

    records = [
        PaperRecord(id="2601.00001", title="How a fly steers",
                    abstract="Insect flight, as seen by a camera above the wings.",
                    source="arxiv-api"),
        PaperRecord(id="2601.00002", title="Drones",
                    abstract="Small aircraft that flies over fields and counts sheep.",
                    authors=["Ada Flies"], source="arxiv-api"),
        PaperRecord(id="2601.00003", title="Fleas",
                    abstract="Jumping insects that live on cats and dogs all summer.",
                    source="arxiv-api"),
        PaperRecord(id="2601.00004", title="Large language models",
                    abstract="Scaling laws for compute, data and parameters of transformers.",
                    authors=["Lianghui Zhu"], source="arxiv-api"),
    ]  # fmt: skip
    store.papers.upsert([r.validated() for r in records], TRUST)
    config = make_config(tmp_path)
    engine = search_engine(store, semantic=False)
    composer = composer_for(store, config, engine)
    start, end = datetime.utcnow() - timedelta(hours=1), datetime.utcnow() + timedelta(hours=1)
    for query in ("flies", "insect -fleas", "zhu", '"language models"', "fly OR fleas"):
        sub = store.mail.create_subscription(f"{len(query)}@example.org", "topic", query,
                                             "daily", "UTC", confirmed=True)  # fmt: skip
        alert = {p.paper_id for p in composer.topic_matches(sub, start, end)}
        found = {h.paper_id for h in engine.search(query, mode="keyword", limit=50).hits}
        assert alert == found and alert, query


def test_a_one_word_alert_holds_what_the_same_search_shows(mailsite):
    """A one-word topic ("model") is far in meaning from most abstracts that hold the word:
    the alert still holds every paper of the week the search finds by that word (a walkthrough
    found a "diffusion" alert empty while the search listed a dozen), plus only papers very
    close in meaning; closest first, the first ones explained."""
    store, _, tmp_path = mailsite
    config = make_config(tmp_path)
    engine = site_engine(store, config)
    composer = composer_for(store, config, engine)
    due = schedule.period_due("weekly", "UTC", dtime(8), WEEK)
    window = set(composer.window(due.start, due.end).ids)
    sub = store.mail.create_subscription("m@example.org", "topic", "model", "weekly", "UTC",
                                         confirmed=True)  # fmt: skip
    picks = composer.topic_matches(sub, due.start, due.end, limit=3)
    found = {h.paper_id for h in engine.search("model", mode="keyword", limit=500).hits} & window
    assert len(found) > 3
    qvec = composer.query_vector(sub)
    far = [p for p in found if float(engine.semantic().vector(store.papers.seq_of(p)) @ qvec) < 0.3]
    assert far, "the test needs word matches far in meaning"
    got = {p.paper_id for p in picks}
    assert found <= got
    strict = config.digests.alert_min_similarity
    for extra in got - found:
        vec = engine.semantic().vector(store.papers.seq_of(extra))
        assert float(vec @ qvec) >= strict
    assert [p.score for p in picks] == sorted((p.score for p in picks), reverse=True)
    assert all("similarity" in p.why for p in picks[:3]) and not any(p.why for p in picks[3:])
    assert len(composer.compose(sub, due, set())) == min(len(got), config.digests.digest_size)


def test_the_next_batch_is_chosen_while_one_is_being_sent(mailsite, monkeypatch):
    """A run's digests are sent by a thread of their own while the next batch is chosen: the
    server holds the run's first message until a digest of the second batch has been
    composed (a run that sent and chose in turn would wait out the timeout). Every digest
    still goes out once, counted once, and the progress adds up."""
    import threading

    from paperwire.mail import run as run_mod

    store, _, tmp_path = mailsite
    monkeypatch.setattr(run_mod, "BATCH", 2)
    composed, second_batch = [], threading.Event()
    compose_one = Composer.compose

    def compose_and_count(self, sub, due, already_sent):
        composed.append(sub.email)
        if len(composed) > 2:  # the first batch holds two
            second_batch.set()
        return compose_one(self, sub, due, already_sent)

    monkeypatch.setattr(Composer, "compose", compose_and_count)
    held: list[bool] = []

    class HoldingTheFirst(Mailer):
        def send_wire(self, wire):
            if not held:
                held.append(second_batch.wait(20))
            return super().send_wire(wire)

    with SMTPServer() as smtp:
        config = make_config(tmp_path, **smtp.settings)
        emails = [f"s{i}@example.org" for i in range(5)]
        for e in emails:
            subscribe(store, e)
        progress: list[int] = []
        switch = sys.getswitchinterval()
        with HoldingTheFirst(config.mail) as mailer:
            run = DigestRun(store, config, search_engine(store, semantic=False),
                            trending_ranker(), mailer=mailer)  # fmt: skip
            stats = run.run(period=next_weekday().isoformat(), progress=progress.append)
        assert held == [True] and sys.getswitchinterval() == switch  # (lowered in the run)
        assert (stats.sent, stats.due, stats.errors) == (5, 5, []), stats.line()
        assert progress == [2, 2, 1]
        assert sorted(m["To"] for m in smtp.messages) == emails
        assert stats.timings["send"] > 0 and stats.timings["render"] > 0


def test_an_error_in_the_sending_thread_stops_the_run_and_loses_nothing(mailsite, monkeypatch):
    """A failure the sending thread cannot handle (the database refusing to record a sent
    digest) ends the run with that error; the next run sends what is left, and the one
    digest sent but not recorded again with its Message-ID (the gap any SMTP sender has)."""
    from paperwire.mail import run as run_mod

    store, _, tmp_path = mailsite
    monkeypatch.setattr(run_mod, "BATCH", 2)
    mark_sent, calls = type(store.mail).mark_sent, []

    def failing_third(self, *args, **kw):
        calls.append(args)
        if len(calls) == 3:
            raise RuntimeError("database gone")
        return mark_sent(self, *args, **kw)

    period = next_weekday().isoformat()
    with SMTPServer() as smtp:
        config = make_config(tmp_path, **smtp.settings)
        emails = [f"s{i}@example.org" for i in range(5)]
        sids = [subscribe(store, e) for e in emails]
        monkeypatch.setattr(type(store.mail), "mark_sent", failing_third)
        with pytest.raises(RuntimeError, match="database gone"):
            _run(store, config, period=period)
        assert store.jobs.lease(LEASE) is None  # released: the next run may start at once
        monkeypatch.setattr(type(store.mail), "mark_sent", mark_sent)
        again = _run(store, config, period=period)
        assert again.sent == 5 - 2, again.line()
        assert _run(store, config, period=period).sent == 0
        got = [(m["To"], m["Message-ID"]) for m in smtp.messages]
        assert sorted({to for to, _ in got}) == emails
        [(twice, _)] = [x for x in set(got) if got.count(x) == 2]  # same message, same id
        assert len(got) == 6 and twice in emails
        sent = store.mail.sent_paper_ids(sids)
        assert all(sent[s] for s in sids)


def test_runs_at_once_in_one_process_restore_the_switch_interval():
    """Two runs in one process (a dry run beside the scheduler's) lower the interpreter's
    switch interval while either sends, and the last to end restores it."""
    from paperwire.mail import run as run_mod

    before = sys.getswitchinterval()
    run_mod._quick_switches(True)
    assert sys.getswitchinterval() == run_mod.SWITCH < before
    run_mod._quick_switches(True)
    run_mod._quick_switches(False)  # the first run ends
    assert sys.getswitchinterval() == run_mod.SWITCH
    run_mod._quick_switches(False)
    assert sys.getswitchinterval() == before


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _serve_once(url: str, port: int) -> None:
    """`paperwire serve --port PORT` with base_url left at its default, started and stopped."""
    import os

    import httpx

    env = {k: v for k, v in os.environ.items() if not k.startswith("PAPERWIRE_")}
    env.update(PAPERWIRE_SECRET_KEY="test-secret-key", PAPERWIRE_DIGEST_INTERVAL="0",
               PAPERWIRE_JOB_INTERVAL="0", PAPERWIRE_THUMBNAIL_INTERVAL="0",
               PAPERWIRE_SEMANTIC_SEARCH="false")  # fmt: skip
    cmd = [sys.executable, "-m", "paperwire", "-q", "--db", url, "serve", "--port", str(port)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "serve did not start"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)


def test_digest_send_links_to_the_address_the_site_answers_on(mailsite):
    """`paperwire demo --port P` (or serve) with base_url at its default links its pages to
    port P; `paperwire digest send`, run apart with the same database, used to link its
    e-mails to the default's port 8000 instead. A base_url that is set still wins."""
    from click.testing import CliRunner

    from paperwire.cli import main
    from paperwire.core.settings import Settings
    from paperwire.mail import outgoing

    from .test_web_auth import outbox
    from .webkit import send_queued_mail

    store, _, tmp_path = mailsite
    subscribe(store, "reader@example.org")
    port = _free_port()
    _serve_once(store.url, port)
    site = f"http://127.0.0.1:{port}"

    def send(period: str, folder: str, **env: str | None):
        config = tmp_path / folder
        environ = {"PAPERWIRE_BASE_URL": None, "PAPERWIRE_SECRET_KEY": "test-secret-key",
                   "PAPERWIRE_SEMANTIC_SEARCH": "false", "PAPERWIRE_OUTBOX_DIR": str(config),
                   "PAPERWIRE_SMTP_HOST": "", **env}  # fmt: skip
        r = CliRunner().invoke(main, ["-q", "--db", store.url, "digest", "send", "--period",
                                      period], env=environ)  # fmt: skip
        assert r.exit_code == 0 and "1 sent" in r.output, r.output
        [msg] = outbox(Settings.from_values({"outbox_dir": str(config)}))
        return msg

    msg = send(next_weekday().isoformat(), "outbox-1")
    text = msg.get_body(("plain",)).get_content()
    links = re.findall(r"https?://[^\s>\"]+", text + msg["List-Unsubscribe"])
    assert links and all(link.startswith(f"{site}/") for link in links), links
    assert f"{site}/papers/" in text and f"<{site}/subscriptions/unsubscribe?token=" in str(
        msg["List-Unsubscribe"]
    )
    # the queued messages (sign-up links) of `jobs run` or `worker` too
    config = Settings.from_values({"outbox_dir": str(tmp_path / "outbox-2"),
                                   "secret_key": "test-secret-key"})  # fmt: skip
    outgoing.queue(store, "signup", "new@example.org", username="newcomer")
    send_queued_mail(store, config)
    [signup] = outbox(config)
    assert f"{site}/confirm/" in signup.get_body(("plain",)).get_content()
    # a base_url that is set (a public name behind a proxy) is what links use
    subscribe(store, "another@example.org")
    msg = send(
        next_weekday().isoformat(), "outbox-3", PAPERWIRE_BASE_URL="https://papers.example.org"
    )
    assert msg["To"] == "another@example.org"
    text = msg.get_body(("plain",)).get_content()
    assert "https://papers.example.org/papers/" in text and site not in text
