"""Deliver one message: to an SMTP server when ``smtp_host`` is set, otherwise as an .eml
file in ``outbox_dir`` (the development default: open it with any mail client)."""

from __future__ import annotations

import hashlib
import logging
import smtplib
import ssl
import time
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

from ..core.errors import MailError
from ..core.settings import MailSettings, Settings, SiteSettings
from ..core.signing import Signer
from ..store import Store
from ..store.database import storage_refused
from .mime import Wire, check_headers, header_value

log = logging.getLogger("paperwire.mail")


def compose(
    mail: MailSettings,
    to: str,
    subject: str,
    text: str,
    html: str | None = None,
    headers: dict[str, str] | None = None,
    message_id: str | None = None,
) -> EmailMessage:
    """A message with a plain-text part (and an HTML alternative). Header values that carry
    line breaks are refused, so that no input can inject headers."""
    check_headers(to, subject, *(headers or {}).values())
    msg = EmailMessage()
    msg["From"] = mail.mail_from
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = message_id or make_msgid(domain=mail.domain)
    for name, value in (headers or {}).items():
        msg[name] = header_value(name, value)
    msg.set_content(text)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    return msg


def new_message_id(mail: MailSettings, tag: str) -> str:
    return make_msgid(idstring=tag, domain=mail.domain)


class Mailer:
    """One connection for many messages (reconnecting when the server drops it), with
    retries and a doubling delay on temporary failures. Use as a context manager."""

    def __init__(
        self,
        mail: MailSettings,
        retries: int | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.mail = mail
        self.retries = mail.mail_retries if retries is None else retries
        self.sleep = sleep
        self._smtp: smtplib.SMTP | None = None

    def __enter__(self) -> Mailer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (OSError, smtplib.SMTPException):
                pass
            self._smtp = None

    def send(self, msg: EmailMessage) -> str:
        """Hand the message over; returns where it went. Raises :class:`MailError` once the
        retries are spent (``permanent`` for a 5xx answer: retrying will not help)."""
        if not self.mail.smtp_host:
            return self._to_outbox(str(msg["Message-ID"]), bytes(msg))
        return self._with_retries(lambda smtp: smtp.send_message(msg))

    def send_wire(self, wire: Wire) -> str:
        """:meth:`send` for a message already in its bytes (:mod:`.mime`)."""
        if not self.mail.smtp_host:
            return self._to_outbox(wire.message_id, wire.as_file())
        return self._with_retries(lambda smtp: _sendmail(smtp, wire))

    def _with_retries(self, hand_over: Callable[[smtplib.SMTP], object]) -> str:
        delay = self.mail.mail_backoff
        for attempt in range(self.retries + 1):
            try:
                self._send_smtp(hand_over)
                return f"smtp://{self.mail.smtp_host}:{self.mail.smtp_port}"
            except MailError as exc:
                self.close()  # a fresh connection for the next try
                if exc.permanent or attempt == self.retries:
                    raise
                self.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")

    def _to_outbox(self, message_id: str, data: bytes) -> str:
        outbox = Path(self.mail.outbox_dir)
        outbox.mkdir(parents=True, exist_ok=True)
        # Named by Message-ID: writing the same message again replaces the file.
        name = hashlib.sha256(message_id.encode()).hexdigest()[:32]
        path = outbox / f"{name}.eml"
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.rename(path)
        return str(path)

    def _connect(self) -> smtplib.SMTP:
        c = self.mail
        if c.smtp_tls:
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                c.smtp_host, c.smtp_port, context=ssl.create_default_context(), timeout=30
            )
        else:
            smtp = smtplib.SMTP(c.smtp_host, c.smtp_port, timeout=30)
        try:
            if c.smtp_starttls and not c.smtp_tls:
                smtp.ehlo()
                if not smtp.has_extn("starttls"):  # never fall back to plain text silently
                    raise MailError("the SMTP server does not offer STARTTLS (smtp_starttls)")
                smtp.starttls(context=ssl.create_default_context())
            if c.smtp_user:
                smtp.login(c.smtp_user, c.smtp_password)
        except BaseException:
            smtp.close()
            raise
        return smtp

    def _send_smtp(self, hand_over: Callable[[smtplib.SMTP], object]) -> None:
        try:
            if self._smtp is None:
                self._smtp = self._connect()
            hand_over(self._smtp)
        except smtplib.SMTPResponseException as exc:
            if exc.smtp_code >= 500:  # the connection stays usable after a refusal
                self._reset()
            raise MailError(
                f"SMTP {exc.smtp_code}: {exc.smtp_error!r}", exc.smtp_code >= 500
            ) from exc
        except smtplib.SMTPRecipientsRefused as exc:
            self._reset()
            codes = [code for code, _ in exc.recipients.values()]
            raise MailError(
                f"recipient refused: {exc.recipients}", all(c >= 500 for c in codes)
            ) from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise MailError(f"SMTP: {exc}") from exc

    def _reset(self) -> None:
        try:
            if self._smtp is not None:
                self._smtp.rset()
        except (OSError, smtplib.SMTPException):
            self.close()


def _sendmail(smtp: smtplib.SMTP, wire: Wire) -> None:
    """What ``smtp.send_message`` does with the message these bytes are of."""
    options: tuple[str, ...] = ()
    if wire.international:
        smtp.ehlo_or_helo_if_needed()
        if not smtp.has_extn("smtputf8"):
            raise smtplib.SMTPNotSupportedError(
                "a non-ASCII address, and the server does not offer SMTPUTF8"
            )
        options = ("SMTPUTF8", "BODY=8BITMIME")
    smtp.sendmail(wire.sender, [wire.recipient], wire.data, options)


def send(mail: MailSettings, msg: EmailMessage) -> str:
    """Hand one message over at once, without retries (the jobs queue retries visitors'
    messages with its backoff, see :mod:`.outgoing`); returns where it went (SMTP host or
    file path)."""
    with Mailer(mail, retries=0) as mailer:
        return mailer.send(msg)


# Where ``serve`` (and ``demo``) keep the address the site answers on, in the database.
ADDRESS_KEY = "base_url"


def site_address(store: Store, site: SiteSettings) -> str:
    """The site's address for the links of e-mails: ``base_url`` when it is set; left at its
    default, the address ``serve`` or ``demo`` answers on (``--port``), which they keep in
    the database, so that ``digest send``, ``jobs run`` and ``worker``, started apart with
    the same database, link to the site and not to the default port."""
    if site.base_url != SiteSettings().base_url:
        return site.base_url
    return store.accounts.meta(ADDRESS_KEY) or site.base_url


def keep_site_address(store: Store, site: SiteSettings) -> None:
    """What ``serve`` does as it starts: keep the address it answers on (see
    :func:`site_address`). A database that refuses writes (read-only, full) does not stop
    the site from starting: its pages are still served."""
    if store.accounts.meta(ADDRESS_KEY) == site.base_url:
        return
    try:
        store.accounts.set_meta(ADDRESS_KEY, site.base_url)
    except Exception as exc:
        if not storage_refused(exc):
            raise
        log.warning("the site's address was not kept in the database (%s): e-mails sent by "
                    "other processes link to their own base_url", exc)  # fmt: skip


class MailJob:
    """What composes a queued message (the jobs queue's mail handlers): the store, the
    site's and mail settings, the site's address and the signer of its links."""

    def __init__(self, store: Store, settings: Settings):
        self.store = store
        self.site = settings.site
        self.mail = settings.mail
        self.base = site_address(store, settings.site).rstrip("/")
        self.signer = Signer(store.accounts.instance_secret(settings.site.secret_key))
