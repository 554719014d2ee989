"""Visitor-triggered e-mail through the jobs queue: a request queues what to send (sign-up
confirmation, "your address already has an account", password reset, subscription
confirmation or "already subscribed", a security notice of an audit event) and answers
at once; the queue's worker composes and sends it (:func:`handlers`, handed to the runner by
``paperwire serve``/``worker``/``jobs``).

What is queued names the recipient, the purpose and the account or subscription it is about,
never a secret: links are signed when the message is composed, from the account or
subscription as it is then (an account confirmed meanwhile gets no confirmation link). A
request queues one job whether or not the address is known (the worker decides whether to
send), so both answers take the same path and the same time.

Never twice: a job's Message-ID follows from the job (its id and when it was queued), so a
worker that dies after sending and before its report sends the same message again — one
file in the outbox, one message that receiving systems drop as a duplicate over SMTP. The
queue retries temporary failures with its doubling backoff and records permanent ones.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

from ..core.errors import JobError, MailError
from ..core.models import Job
from ..core.settings import Settings
from ..jobs import Handler
from ..jobs.worker import wake_workers
from ..store import Store
from . import notify, render
from .send import MailJob, compose, send

log = logging.getLogger("paperwire.mail")
KIND = "mail"
ATTEMPTS = 8  # with job_backoff's doubling from a minute: tried for about two hours
PURPOSES = (
    "signup",
    "reset",
    "sub-confirm",
    "sub-already",
    "notice",
    "signin-attempts",
    "email-change",
)
# Security notices, by audit event kind: what happened, as the notice says it.
NOTICES = {
    "password-change": "Your password was changed",
    "password-reset": "Your password was reset",
    "token-created": "A new API token was created on your account",
    "two-factor-on": "Two-factor sign-in was turned on for your account",
    "two-factor-off": "Two-factor sign-in was turned off for your account",
    "email-change-requested": "A change of your account's e-mail address was asked for",
    "email-changed": "Your account's e-mail address was changed",
}
EMAIL_CHANGE_MAX_AGE = 24 * 3600  # seconds an address-change link works
# A message to send (to, subject, text, html), or why there is nothing to send any more.
Built = tuple[str, str, str, str | None] | str


def queue(
    store: Store,
    purpose: str,
    to: str,
    *,
    username: str | None = None,
    user_id: int | None = None,
    subscription_id: int | None = None,
    event_id: int | None = None,
) -> Job:
    """Queue one message. Asking again while the same message waits makes no second one."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown mail purpose {purpose!r}")
    about = subscription_id if subscription_id is not None else _digest(to)
    if event_id is not None:  # a security notice: one per event
        about = event_id
    payload: dict[str, Any] = {
        "purpose": purpose,
        "to": to,
        "username": username,
        "user_id": user_id,
        "subscription_id": subscription_id,
    }
    if event_id is not None:
        payload["event_id"] = event_id
    job, _ = store.queue.enqueue(KIND, f"{purpose}:{about}", payload, max_attempts=ATTEMPTS)
    wake_workers()  # sent in a moment, not at the queue thread's next look
    return job


def _digest(address: str) -> str:
    # The key is short and the same for an address in any case (addresses can be 320 long).
    return hashlib.sha256(address.lower().encode()).hexdigest()[:32]


def handlers(store: Store, settings: Settings) -> Mapping[str, Handler]:
    """The queue handlers of mail jobs, over ``store``: these messages, and the readers'
    notification e-mails (:mod:`paperwire.mail.notify`)."""
    return {KIND: OutgoingMail(store, settings).run, **notify.handlers(store, settings)}


class OutgoingMail(MailJob):
    """Composes and sends one queued message."""

    def run(self, job: Job) -> str:
        purpose = job.payload.get("purpose")
        build: Callable[[dict[str, Any]], Built] | None = {
            "signup": self._signup,
            "reset": self._reset,
            "sub-confirm": self._sub_confirm,
            "sub-already": self._sub_already,
            "notice": self._notice,
            "signin-attempts": self._signin_attempts,
            "email-change": self._email_change,
        }.get(str(purpose))
        if build is None:
            raise JobError(f"unknown mail purpose {purpose!r}", permanent=True)
        built = build(job.payload)
        if isinstance(built, str):  # nothing to send any more, and why
            return built
        to, subject, text, html = built
        try:
            msg = compose(self.mail, to, subject, text, html, message_id=self.message_id(job))
            where = send(self.mail, msg)
        except MailError as exc:
            raise JobError(f"The e-mail to {to} could not be sent: {exc}", exc.permanent) from exc
        log.info("mail %r to %s -> %s", subject, to, where)
        return f"sent to {to}"

    def message_id(self, job: Job) -> str:
        stamp = int(job.created_at.timestamp() * 1_000_000)
        return f"<mail.{job.id}.{stamp}@{self.mail.domain}>"

    # -- the messages ------------------------------------------------------------------------
    def _signup(self, p: dict[str, Any]) -> Built:
        to, name = str(p["to"]), self.site.site_name
        if self.store.accounts.address_taken(to):  # tell the address's owner, nobody else
            return (
                to,
                f"Someone tried to sign up to {name} with your address",
                "Hello,\n\nSomeone (maybe you) tried to create an account with this address, "
                f"which already has one. Forgot your password? Reset it here:\n\n{self.base}"
                "/reset\n",
                None,
            )
        username = str(p.get("username") or "")
        if not username:
            return "not sent: the sign-up names no user name"
        # The link carries the name and the address, nothing secret: the account is made,
        # and its password chosen, by whoever opens it (the mailbox's owner).
        token = self.signer.dumps("confirm", [username, to])
        return (
            to,
            f"Confirm your {name} account",
            f"Hello {username},\n\nConfirm your address and choose your password to finish "
            f"signing up:\n\n{self.base}/confirm/{token}\n\nThe link works for 3 days. If "
            "you did not sign up, ignore this message: no account exists until the link is "
            "used.\n",
            None,
        )

    def _reset(self, p: dict[str, Any]) -> Built:
        to = str(p["to"])
        user = self.store.accounts.get_user(login=to)
        if user is None or (user.email or "").lower() != to.lower() or not user.is_active:
            return "not sent: no active account has this address"
        token = self.signer.dumps("reset", [user.id, user.session_version])
        return (
            to,
            f"Reset your {self.site.site_name} password",
            f"Hello {user.username},\n\nChoose a new password here (the link works for one "
            f"hour, once):\n\n{self.base}/reset/{token}\n\n"
            "If you did not ask for this, ignore this message.\n",
            None,
        )

    def _sub_confirm(self, p: dict[str, Any]) -> Built:
        sub = self.store.mail.get_subscription(int(p["subscription_id"]))
        if sub is None or sub.status != "pending" or not sub.confirm_nonce:
            return "not sent: the subscription is no longer waiting for confirmation"
        token = quote(render.confirm_token(self.signer, sub), safe="")
        name = self.site.site_name
        subject, text, html = render.notice(
            name,
            "confirm",
            f"Confirm your {name} subscription",
            about=render.describe(sub),
            confirm_url=f"{self.base}/subscriptions/confirm?token={token}",
        )
        return sub.email, subject, text, html

    def _sub_already(self, p: dict[str, Any]) -> Built:
        sub = self.store.mail.get_subscription(int(p["subscription_id"]))
        if sub is None or sub.status != "confirmed":
            return "not sent: the subscription is no longer active"
        name = self.site.site_name
        subject, text, html = render.notice(
            name,
            "already",
            f"You are already subscribed to {name}",
            about=render.describe(sub),
            manage_url=render.links(self.base, self.signer, sub)["manage"],
        )
        return sub.email, subject, text, html

    def _notice(self, p: dict[str, Any]) -> Built:
        """A security notice: what happened to the account, when and from where."""
        event = self.store.audit.get(int(p["event_id"]))
        user = self.store.accounts.get_user(id=int(p["user_id"]))
        if event is None or user is None or not user.email or event.kind not in NOTICES:
            return "not sent: the account or the event is gone"
        to = str(p.get("to") or user.email)  # the address of record when it happened
        when = event.created_at.strftime("%Y-%m-%d %H:%M UTC")
        where = event.ip or "an unknown address"
        if event.agent:
            where += f" ({event.agent})"
        what = NOTICES[event.kind]
        detail = event.detail or {}
        if event.kind == "token-created":
            what = f"A new API token {detail.get('name', '')!r} was created on your account"
        elif event.kind.startswith("email-change") and detail.get("new"):
            what += f" (to {detail['new']})"
        return (
            to,
            f"{what.split(' on your')[0]} ({self.site.site_name})",
            f"Hello {user.username},\n\n{what} at {when} from {where}.\n\n"
            "If this wasn't you, reset your password here (it signs out every session):\n\n"
            f"{self.base}/reset\n\nand check your API tokens in {self.base}/settings#tokens\n",
            None,
        )

    def _signin_attempts(self, p: dict[str, Any]) -> Built:
        user = self.store.accounts.get_user(login=str(p.get("username") or ""))
        if user is None or not user.email or not user.is_active:
            return "not sent: no active account has this name"
        name = self.site.site_name
        return (
            user.email,
            f"Someone is trying to sign in to your {name} account",
            f"Hello {user.username},\n\nSomeone is trying to sign in to your {name} account "
            "with wrong passwords. If it's not you, there is nothing to do: your password "
            "held, and attempts from elsewhere are slowed down while your own browsers can "
            "still sign in. Consider turning on two-factor sign-in in your settings:\n\n"
            f"{self.base}/settings\n",
            None,
        )

    def _email_change(self, p: dict[str, Any]) -> Built:
        """The link that moves an account to a new address, sent to that address."""
        to, name = str(p["to"]), self.site.site_name
        user = self.store.accounts.get_user(id=int(p.get("user_id") or 0))
        if user is None or not user.is_active or not user.email:
            return "not sent: the account is gone or disabled"
        if self.store.accounts.address_taken(to):  # tell the address's owner, nobody else
            return (
                to,
                f"Someone asked to move a {name} account to your address",
                "Hello,\n\nSomeone (maybe you) asked to move another account to this "
                "address, which already has one. Nothing changes; if it was you, sign in with "
                f"this address instead, or reset its password here:\n\n{self.base}/reset\n",
                None,
            )
        token = self.signer.dumps("email", [user.id, user.email, to])
        return (
            to,
            f"Confirm your new {name} address",
            f"Hello {user.username},\n\nOpen this link to make {to} your account's address "
            f"(it works for a day, once):\n\n{self.base}/settings/email/{token}\n\n"
            "If you did not ask for this, ignore this message: nothing changes.\n",
            None,
        )
