"""The queue runner: claim due jobs one at a time, hand each to the handler of its kind,
and record what came of it — done, tried again later with exponential backoff, or failed
for good (a permanent error, or no attempts left). Any handler may run twice (a worker can
die after its work and before its report), so handlers are idempotent."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ..core.clock import backoff_delay, utcnow
from ..core.errors import JobError, SourceUnavailable
from ..core.models import Job
from ..store import Store

log = logging.getLogger("paperwire.jobs")

# What a handler returns is the job's result, in words for the person who asked for it. It
# raises JobError (temporary or permanent) with a message for that person.
Handler = Callable[[Job], str | None]

MAX_BACKOFF = 3600.0
LEASE = 300.0  # seconds a claimed job stays with its worker; then another may take it over
UNEXPECTED = "Something went wrong on this site while trying; it will be tried again."


@dataclass
class StepStats:
    claimed: int = 0
    done: int = 0
    retried: int = 0
    failed: int = 0
    lost: int = 0  # reports refused: another worker took the job over meanwhile
    errors: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (
            f"{self.claimed} job(s): {self.done} done, {self.retried} to try again, "
            f"{self.failed} failed" + (f", {self.lost} taken over" if self.lost else "")
        )


class QueueRunner:
    """Runs the due jobs of the kinds it has handlers for (others are left for a worker that
    knows them)."""

    def __init__(
        self,
        store: Store,
        handlers: Mapping[str, Handler],
        *,
        backoff: float = 60.0,
        lease: float = LEASE,
        holder: str | None = None,
        clock: Callable[[], datetime] = utcnow,
    ):
        self.store = store
        self.handlers = dict(handlers)
        self.backoff = backoff
        self.lease = lease
        self.holder = holder or f"{socket.gethostname()[:100]}:{os.getpid()}"
        self.clock = clock

    def step(self, limit: int = 50) -> StepStats:
        """Run up to ``limit`` due jobs, one after the other."""
        stats = StepStats()
        kinds = sorted(self.handlers)
        while stats.claimed < limit:
            job = self.store.queue.claim(self.holder, self.lease, kinds, now=self.clock())
            if job is None:
                break
            stats.claimed += 1
            self._run(job, stats)
        return stats

    def _run(self, job: Job, stats: StepStats) -> None:
        queue = self.store.queue
        if job.attempts > job.max_attempts:  # its worker died mid-attempt, again and again
            ok = queue.fail(job, job.last_error or UNEXPECTED, now=self.clock())
            self._count(ok, stats, "failed")
            return
        try:
            result = self.handlers[job.kind](job)
        except JobError as exc:
            self._failed(job, str(exc), exc.permanent, stats)
        except SourceUnavailable as exc:
            self._failed(job, f"The source {exc.reason}.", False, stats)
        except Exception as exc:  # noqa: BLE001 - a bug in one job must not stop the others
            log.exception("job %s %s failed", job.kind, job.key)
            stats.errors.append(f"{job.kind} {job.key}: {type(exc).__name__}: {exc}")
            self._failed(job, UNEXPECTED, False, stats)
        else:
            self._count(queue.done(job, result, now=self.clock()), stats, "done")

    def _failed(self, job: Job, reason: str, permanent: bool, stats: StepStats) -> None:
        now = self.clock()
        if permanent or job.attempts >= job.max_attempts:
            if not permanent:
                reason = f"{reason} Gave up after {job.attempts} tries."
            self._count(self.store.queue.fail(job, reason, now=now), stats, "failed")
            return
        at = now + timedelta(seconds=backoff_delay(job.attempts, self.backoff, MAX_BACKOFF))
        self._count(self.store.queue.retry(job, reason, at, now=now), stats, "retried")

    @staticmethod
    def _count(ok: bool, stats: StepStats, outcome: str) -> None:
        if not ok:
            stats.lost += 1
            return
        setattr(stats, outcome, getattr(stats, outcome) + 1)
