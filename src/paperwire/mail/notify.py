"""Notifications by e-mail: a reader told on the site of a reply or an @mention and who has
not seen it there within NOTIFY_DELAY gets one e-mail gathering everything of theirs still
unread, at most one every QUIET (a busy thread is one message, not thirty). On unless the
reader turns it off (Settings, or the link in every such e-mail, which works signed out and
as an RFC 8058 one-click unsubscribe); only to confirmed addresses of active accounts.

:func:`sweep` (the digest scheduler's tick, and ``paperwire digest send``) queues one job per
reader waiting (kind ``notify-mail``, keyed by reader: asking again while it waits makes no
second one); the queue's worker runs :class:`NotificationMail`, which reads what is unread
then, sends it and marks those notifications e-mailed. Never twice: the job's Message-ID
follows from the job, so a worker that dies after sending and before marking sends the same
message again, which receiving systems drop; a reader who read everything meanwhile gets
nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from ..core.clock import utcnow
from ..core.errors import JobError, MailError
from ..core.markdown import plain_text
from ..core.models import Job, Notification
from ..core.settings import Settings
from ..core.signing import Signer
from ..core.tex import to_text
from ..jobs import Handler
from ..store import Store
from . import render
from .send import MailJob, compose, send

log = logging.getLogger("paperwire.mail")
KIND = "notify-mail"
ATTEMPTS = 8  # as the other queued e-mail: about two hours of retries
NOTIFY_DELAY = timedelta(minutes=10)  # time to see it on the site first
QUIET = timedelta(minutes=15)  # at most one such e-mail per reader in this time
LISTED = 10  # notifications quoted in one e-mail (the rest are counted)
EXCERPT = 280
OFF_PURPOSE = "notify-off"  # the signed link that turns these e-mails off
OFF_MAX_AGE = 365 * 24 * 3600


def sweep(store: Store, now: datetime | None = None) -> int:
    """Queue an e-mail for each reader whose notifications wait for one; how many."""
    now = now or utcnow()
    readers = store.notifications.waiting_for_email(now - NOTIFY_DELAY, now - QUIET)
    for user_id in readers:
        store.queue.enqueue(KIND, str(user_id), {"user_id": user_id}, max_attempts=ATTEMPTS)
    return len(readers)


def off_token(signer: Signer, user_id: int) -> str:
    return signer.dumps(OFF_PURPOSE, [user_id])


def off_user(signer: Signer, token: str) -> int | None:
    """The reader a turn-off link was made for (None: forged or too old)."""
    got = signer.loads(OFF_PURPOSE, token, max_age=OFF_MAX_AGE)
    if isinstance(got, list) and len(got) == 1 and isinstance(got[0], int):
        return got[0]
    return None


def handlers(store: Store, settings: Settings) -> Mapping[str, Handler]:
    return {KIND: NotificationMail(store, settings).run}


def subject_line(site_name: str, first: Notification, total: int) -> str:
    if total > 1:
        return f"{total} new replies and mentions on {site_name}"
    return f"{first.actor_name} {_did(first)} on {site_name}"


def _did(n: Notification) -> str:
    return "replied to your comment" if n.kind == "reply" else "mentioned you"


class NotificationMail(MailJob):
    """Composes and sends one reader's notification e-mail."""

    def run(self, job: Job) -> str:
        user = self.store.accounts.get_user(id=int(job.payload.get("user_id") or 0))
        if user is None or not user.is_active or not user.email or user.confirmed_at is None:
            return "not sent: no active account with a confirmed address"
        if not user.notify_email:
            return "not sent: the reader turned these e-mails off"
        items, total, upto = self.store.notifications.to_email(user.id, LISTED)
        if not items:
            return "not sent: nothing unread any more"
        off = f"{self.base}/notifications/email-off?token={quote(off_token(self.signer, user.id))}"
        subject, text, html = self.message(user.username, items, total, off)
        headers = {
            "List-Unsubscribe": f"<{off}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "Auto-Submitted": "auto-generated",
        }
        stamp = int(job.created_at.timestamp() * 1_000_000)
        message_id = f"<notify.{job.id}.{stamp}@{self.mail.domain}>"
        try:
            msg = compose(self.mail, user.email, subject, text, html, headers, message_id)
            where = send(self.mail, msg)
        except MailError as exc:
            problem = f"The e-mail to {user.email} could not be sent: {exc}"
            raise JobError(problem, exc.permanent) from exc
        self.store.notifications.mark_emailed(user.id, upto)
        log.info("mail %r to %s -> %s", subject, user.email, where)
        return f"sent to {user.email}: {total} notification{'' if total == 1 else 's'}"

    def message(
        self, username: str, items: list[Notification], total: int, off_url: str
    ) -> tuple[str, str, str]:
        """(subject, text, html) of the e-mail telling ``username`` of ``items`` (the
        newest of ``total``)."""
        name = self.site.site_name
        entries: list[dict[str, Any]] = [
            {
                "what": f"{n.actor_name} {_did(n)}",
                "title": to_text(n.paper_title),
                "quote": render.excerpt(plain_text(n.body), EXCERPT),
                "url": f"{self.base}/papers/{n.paper_id}#comment-{n.comment_id}",
            }
            for n in items
        ]
        subject = subject_line(name, items[0], total)
        return render.notice(
            name,
            "notifications",
            subject,
            username=username,
            entries=entries,
            more=str(total - len(items)) if total > len(items) else "",
            all_url=f"{self.base}/notifications",
            settings_url=f"{self.base}/settings#notifications",
            off_url=off_url,
        )
