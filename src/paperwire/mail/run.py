"""Sending the digests that are due: ``paperwire digest send`` and the scheduler of
``paperwire serve``/``worker`` both run a :class:`DigestRun`.

Never twice, never lost:
- one row per (subscription, period) in ``deliveries`` (unique key): a run claims it with
  the papers it chose and a Message-ID *before* sending (a batch of digests in one
  transaction), and marks it sent — with the papers recorded as sent to that subscriber — in
  one transaction of its own right after the server accepted the message. A run killed at
  any point leaves rows that are either finished (skipped next time) or pending (sent next
  time, with the same papers and Message-ID);
- a lease row makes two instances take turns; the unique key holds even without it;
- temporary failures are retried in the run with a doubling delay, then by later runs (up to
  ``digest_max_attempts``); a permanent refusal (5xx) marks the address as bouncing.

The one window no database can close: the server accepted a message and the process died
before its commit (a few milliseconds). The next run sends it again with the same
Message-ID, which receiving systems use to drop duplicates.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from datetime import time as clock_time
from email import message_from_bytes
from email import policy as email_policy
from email.message import EmailMessage

from ..core.clock import utcnow
from ..core.errors import MailError, ModelError, PeriodError
from ..core.models import Card, Delivery, Subscription
from ..core.settings import Settings
from ..core.signing import Signer
from ..rank import Ranker
from ..search import SearchEngine
from ..store import Store
from ..store.mail import DONE, Claim
from . import render
from .digest import Composer, Pick
from .mime import Wire, digest_wire
from .schedule import Due, latest_due, parse_hour, period_due, with_catch_up
from .send import Mailer, new_message_id, site_address

log = logging.getLogger("paperwire.mail")
LEASE = "digests"
LEASE_TTL = 120.0  # renewed every LEASE_TTL / 5 while a run goes on
BATCH = 100  # digests chosen, then claimed in one transaction, at a time
SWITCH = 0.001  # s: the sending thread, woken by the server's reply, waits at most this long
# for the interpreter while the run chooses papers (Python's default: 5 ms, for each reply)
Todo = tuple[Subscription, Due, Delivery | None]  # a digest to send, started earlier or not
Chosen = tuple[Subscription, Due, Delivery | None, list[Pick]]  # … with its papers


@dataclass
class RunStats:
    due: int = 0
    sent: int = 0
    empty: int = 0
    already: int = 0  # finished by an earlier run
    failed: int = 0  # temporary failure: a later run tries again
    bounced: int = 0
    abandoned: int = 0
    busy: bool = False  # another instance holds the lease
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)
    # where the time went: choosing papers, rendering, SMTP, bookkeeping in the database
    # (rendering and sending run in a thread of their own beside choosing: these add up to
    # more than ``seconds``)
    timings: dict[str, float] = field(
        default_factory=lambda: {"compose": 0.0, "render": 0.0, "send": 0.0, "store": 0.0}
    )

    def add(self, other: RunStats) -> None:
        """Add the deliveries counted in ``other`` (a batch sent by another thread)."""
        self.sent += other.sent
        self.failed += other.failed
        self.bounced += other.bounced
        self.abandoned += other.abandoned
        self.errors += other.errors
        for key, seconds in other.timings.items():
            self.timings[key] = self.timings.get(key, 0.0) + seconds

    def line(self) -> str:
        if self.busy:
            return "another instance is sending digests; nothing done"
        rate = self.sent / self.seconds if self.seconds else 0.0
        return (
            f"{self.due} due: {self.sent} sent, {self.empty} with nothing new, "
            f"{self.already} already done, {self.failed} to retry, {self.bounced} bounced, "
            f"{self.abandoned} given up — {self.seconds:.1f} s ({rate:.0f} messages/s)"
        )


def holder_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _dead_local_holder(holder: str) -> bool:
    """A holder on this machine whose process is gone (killed, crashed)."""
    host, _, pid = holder.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def take_lease(store: Store, holder: str) -> bool:
    if store.jobs.acquire_lease(LEASE, holder, LEASE_TTL):
        return True
    current = store.jobs.lease(LEASE)
    if current and _dead_local_holder(current.holder):
        log.warning("taking over the digest lease of %s, which is gone", current.holder)
        return store.jobs.take_over_lease(LEASE, current.holder, holder, LEASE_TTL)
    return False


def _due_for(sub: Subscription, period: str | None, hour: clock_time, now: datetime) -> Due | None:
    try:
        if period:
            return period_due(sub.frequency, sub.timezone, hour, period)
        return latest_due(sub.frequency, sub.timezone, hour, now)
    except PeriodError:  # a time zone this machine does not know (any more)
        return None


class DigestRun:
    """One run over every confirmed subscription (see the module's docstring)."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        engine: SearchEngine,
        ranker: Ranker,
        signer: Signer | None = None,
        mailer: Mailer | None = None,
    ):
        self.store = store
        self.site, self.mail, self.digests = settings.site, settings.mail, settings.digests
        self.composer = Composer(store, self.digests, ranker, engine)
        self.signer = signer or Signer(store.accounts.instance_secret(self.site.secret_key))
        self.base_url = site_address(store, self.site).rstrip("/")
        self.mailer = mailer
        self.hour = parse_hour(self.digests.digest_hour)
        self._cards: dict[str, Card] = {}
        self._subs: dict[int, Subscription] = {}

    # -- one message ---------------------------------------------------------------------
    def wire(
        self,
        sub: Subscription,
        label: str,
        picks: list[Pick],
        message_id: str,
        to_server: bool = True,
    ) -> Wire:
        """The digest to ``sub`` of these papers, in the bytes that go to the server (or,
        not ``to_server``, into a file)."""
        # Many digests share papers (trending ones above all): read each card once per run.
        missing = [p.paper_id for p in picks if p.paper_id not in self._cards]
        if missing:
            self._cards.update({c.id: c for c in self.store.feed.cards(missing)})
        base = self.base_url
        items = [
            render.DigestItem(card, p.why, f"{base}/papers/{card.id}")
            for p in picks
            if (card := self._cards.get(p.paper_id)) is not None
        ]
        link = render.links(base, self.signer, sub)
        subject, text, html = render.digest(self.site.site_name, sub, label, items, link)
        headers = {
            "List-Unsubscribe": f"<{link['unsubscribe']}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "List-Id": f"{self.site.site_name} digests <digests.{_host(base)}>",
            "Auto-Submitted": "auto-generated",
            "Precedence": "bulk",
        }
        return digest_wire(
            self.mail, sub.email, subject, text, html, headers, message_id, to_server
        )

    def message(
        self, sub: Subscription, label: str, picks: list[Pick], message_id: str
    ) -> EmailMessage:
        """The same digest as a message object (the preview page shows its parts)."""
        data = self.wire(sub, label, picks, message_id, to_server=False).as_file()
        return message_from_bytes(data, _class=EmailMessage, policy=email_policy.default)

    # -- the run -------------------------------------------------------------------------
    def plan(self, period: str | None, now: datetime) -> list[tuple[Subscription, Due]]:
        """Confirmed subscriptions and the period due for each (windows made up for missed
        runs)."""
        subs = self.store.mail.active_subscriptions()
        self._subs = {s.id: s for s in subs}
        last = self.store.mail.last_windows([s.id for s in subs])
        out = []
        for sub in subs:
            due = _due_for(sub, period, self.hour, now)
            if due is None or (sub.confirmed_at and sub.confirmed_at >= due.end):
                continue  # a subscriber's first digest is the first period after joining
            out.append((sub, with_catch_up(due, sub.frequency, last.get(sub.id))))
        return out

    def run(
        self,
        period: str | None = None,
        now: datetime | None = None,
        dry_run: bool = False,
        limit: int | None = None,
        progress: Callable[[int], None] | None = None,
        preview: Callable[[Subscription, Due, list[Pick]], None] | None = None,
    ) -> RunStats:
        started = time.perf_counter()
        stats = RunStats()
        self.composer.persist = not dry_run
        now = now or utcnow()
        holder = holder_name()
        if not dry_run and not take_lease(self.store, holder):
            stats.busy = True
            return stats
        renewed = time.monotonic()
        try:
            plan = self.plan(period, now)
            existing = self.store.mail.deliveries_for([due.period for _, due in plan])
            planned = {(s.id, d.period) for s, d in plan}
            # Deliveries of earlier periods left unfinished (temporary failures, a killed
            # run) go first, so that newer digests leave out what they hold.
            todo: list[Todo] = []
            for row in self.store.mail.unfinished_deliveries():
                key = (row.subscription_id, row.period)
                if key not in planned and row.subscription_id in self._subs:
                    assert row.window_start is not None and row.window_end is not None
                    due = Due(row.period, row.window_start, row.window_end)
                    todo.append((self._subs[row.subscription_id], due, row))
            for sub, due in plan:
                found = existing.get((sub.id, due.period))
                if found is not None and found.status in DONE:
                    stats.already += 1
                    continue
                todo.append((sub, due, found))
            if limit is not None:
                todo = todo[:limit]
            stats.due = len(todo) + stats.already
            sent_before = self.store.mail.sent_paper_ids([s.id for s, _, _ in todo])
            self.composer.prepare([(s, d.start, d.end) for s, d, found in todo if found is None])
            mailer = self.mailer or Mailer(self.mail)
            # One batch is rendered and sent by its own thread while the next is chosen and
            # claimed: the SMTP conversation waits on the server, and choosing is CPU.
            sender = ThreadPoolExecutor(1, thread_name_prefix="paperwire-digest-send")
            flight: _Flight | None = None
            _quick_switches(True)
            try:
                for batch in _batches(todo, BATCH):
                    if not dry_run and time.monotonic() - renewed > LEASE_TTL / 5:
                        if not self.store.jobs.acquire_lease(LEASE, holder, LEASE_TTL):
                            stats.errors.append("lost the lease to another instance; stopped")
                            break
                        renewed = time.monotonic()
                    if flight is not None and flight.subs & {s.id for s, _, _ in batch}:
                        _land(flight, stats, progress)  # its digest goes first
                        flight = None
                    chosen = self._choose(batch, sent_before, now, stats)
                    if dry_run:
                        _preview(chosen, stats, preview)
                        if progress:
                            progress(len(batch))
                        continue
                    claimed = self._claim(chosen, stats)
                    if flight is not None:
                        _land(flight, stats, progress)
                    job = sender.submit(self._deliver_all, claimed, sent_before, mailer)
                    flight = _Flight(job, {s.id for s, _, _ in batch}, len(batch))
                if flight is not None:
                    _land(flight, stats, progress)
                    flight = None
            finally:
                if flight is not None:  # unwinding: the batch in flight ends first
                    futures.wait([flight.job])
                sender.shutdown()
                _quick_switches(False)
                if self.mailer is None:
                    mailer.close()
        finally:
            if not dry_run:
                self.store.jobs.release_lease(LEASE, holder)
        stats.seconds = time.perf_counter() - started
        return stats

    def _choose(
        self,
        batch: list[Todo],
        sent_before: dict[int, set[str]],
        now: datetime,
        stats: RunStats,
    ) -> list[Chosen]:
        """The papers of each digest of ``batch``: chosen now, or by the earlier run that
        started it (leaving out those waiting for their retry time, or for a model)."""
        t0 = time.perf_counter()
        out: list[Chosen] = []
        for sub, due, row in batch:
            if row is not None and row.next_attempt_at and row.next_attempt_at > now:
                stats.failed += 1  # waiting for its retry time
            elif row is not None:  # an earlier run chose these papers: the same message
                out.append((sub, due, row, _picks(row)))
            else:
                try:
                    out.append(
                        (sub, due, None, self.composer.compose(sub, due, sent_before[sub.id]))
                    )
                except ModelError as exc:  # a For-you paper left to embed, no model: next run
                    stats.failed += 1
                    stats.errors.append(f"{sub.email}: {exc}")
                    log.warning("digest to %s (%s): %s", sub.email, due.period, exc)
        stats.timings["compose"] += time.perf_counter() - t0
        return out

    def _claim(
        self, chosen: list[Chosen], stats: RunStats
    ) -> list[tuple[Subscription, Due, Delivery, list[Pick]]]:
        """The deliveries of ``chosen``, the new ones claimed together (one transaction) with
        their papers and Message-ID before anything is sent. Those that are finished (empty,
        or finished by another run meanwhile) are counted and left out."""
        t0 = time.perf_counter()
        claims = [
            Claim(sub.id, due.period, (due.start, due.end), [[p.paper_id, p.why] for p in picks],
                  new_message_id(self.mail, f"digest.{sub.id}.{due.period}"))
            for sub, due, row, picks in chosen
            if row is None
        ]  # fmt: skip
        claimed = self.store.mail.claim_deliveries(claims)
        out = []
        for sub, due, row, picks in chosen:
            if row is None:
                row = claimed[(sub.id, due.period)]
                if row.status in DONE:
                    stats.empty += row.status == "empty"
                    stats.already += row.status != "empty"
                    continue
                picks = _picks(row)  # ours, or the choice of a run that claimed it first
            out.append((sub, due, row, picks))
        stats.timings["store"] += time.perf_counter() - t0
        return out

    def _deliver_all(
        self,
        claimed: list[tuple[Subscription, Due, Delivery, list[Pick]]],
        sent_before: dict[int, set[str]],
        mailer: Mailer,
    ) -> RunStats:
        """Render and send these claimed digests, in order (the sending thread's work); what
        happened, to add to the run's figures."""
        part = RunStats()
        for sub, due, row, picks in claimed:
            self._deliver(sub, due, row, picks, sent_before[sub.id], mailer, part)
        return part

    def _deliver(
        self,
        sub: Subscription,
        due: Due,
        row: Delivery,
        picks: list[Pick],
        already_sent: set[str],
        mailer: Mailer,
        stats: RunStats,
    ) -> None:
        """Render and send one claimed digest, then mark it sent (its own transaction, right
        after the server took it) or failed."""
        clock = time.perf_counter
        if row.attempts >= self.digests.digest_max_attempts:
            self.store.mail.mark_failed(row.id, row.last_error or "", status="abandoned")
            stats.abandoned += 1
            return
        try:
            t0 = clock()
            to_server = bool(self.mail.smtp_host)
            wire = self.wire(sub, due.label, picks, row.message_id or "", to_server)
            t1 = clock()
            stats.timings["render"] += t1 - t0
            mailer.send_wire(wire)
            stats.timings["send"] += clock() - t1
        except MailError as exc:
            if exc.permanent:
                self.store.mail.mark_failed(row.id, str(exc), status="bounced")
                self.store.mail.mark_bouncing(sub.id, str(exc))
                stats.bounced += 1
            else:
                wait = 60.0 * 2 ** min(row.attempts, 8)
                self.store.mail.mark_failed(row.id, str(exc), status="retry", retry_after=wait)
                stats.failed += 1
            stats.errors.append(f"{sub.email}: {exc}")
            log.warning("digest to %s (%s): %s", sub.email, due.period, exc)
            return
        t2 = clock()
        self.store.mail.mark_sent(row.id, sub.id, [p.paper_id for p in picks])
        already_sent.update(p.paper_id for p in picks)  # for this subscriber's next digest
        stats.timings["store"] += clock() - t2
        stats.sent += 1


_switching = threading.Lock()
_switch_users: list[float] = []  # the interval before the first run that lowered it


def _quick_switches(on: bool) -> None:
    """Lower the interpreter's thread switch interval to SWITCH while a run sends (``on``),
    and restore it when the last run in this process is done."""
    with _switching:
        if on:
            _switch_users.append(sys.getswitchinterval())
            sys.setswitchinterval(min(_switch_users[0], SWITCH))
        else:
            before = _switch_users.pop()
            if not _switch_users:
                sys.setswitchinterval(before)


@dataclass
class _Flight:
    """A batch being delivered by the sending thread."""

    job: futures.Future[RunStats]
    subs: set[int]  # its subscriptions
    size: int  # digests in the batch, as counted for progress


def _land(flight: _Flight, stats: RunStats, progress: Callable[[int], None] | None) -> None:
    """Wait for the batch in flight to be delivered (its error, if any, is raised here) and
    add its figures to the run's."""
    stats.add(flight.job.result())
    if progress:
        progress(flight.size)


def _batches(todo: list[Todo], size: int) -> Iterator[list[Todo]]:
    """``todo`` in batches of at most ``size``, a subscriber at most once in each (its next
    digest is chosen after the one before was sent: it leaves out what that one held)."""
    batch: list[Todo] = []
    subs: set[int] = set()
    for item in todo:
        if len(batch) == size or item[0].id in subs:
            yield batch
            batch, subs = [], set()
        batch.append(item)
        subs.add(item[0].id)
    if batch:
        yield batch


def _preview(
    chosen: list[Chosen],
    stats: RunStats,
    preview: Callable[[Subscription, Due, list[Pick]], None] | None,
) -> None:
    """A dry run: count (and show) what would be sent."""
    for sub, due, _, picks in chosen:
        if preview:
            preview(sub, due, picks)
        if picks:
            stats.sent += 1
        else:
            stats.empty += 1


def _picks(row: Delivery) -> list[Pick]:
    return [Pick(pid, why, 0.0) for pid, why in row.paper_ids or []]


def _host(base_url: str) -> str:
    return base_url.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0] or "localhost"
