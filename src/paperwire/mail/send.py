"""Deliver one message: to an SMTP server when ``smtp_host`` is set, otherwise as an .eml
file in ``outbox_dir`` (the development default: open it with any mail client)."""

from __future__ import annotations

import re
import smtplib
import ssl
import uuid
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

from ..config import Config

_HEADER_SAFE = re.compile(r"[\r\n]")


class MailError(RuntimeError):
    """The message could not be handed over; ``permanent`` when retrying will not help."""

    def __init__(self, message: str, permanent: bool = False):
        super().__init__(message)
        self.permanent = permanent


def compose(
    config: Config,
    to: str,
    subject: str,
    text: str,
    html: str | None = None,
    headers: dict[str, str] | None = None,
) -> EmailMessage:
    """A message with a plain-text part (and an HTML alternative). Header values that carry
    line breaks are refused, so that no input can inject headers."""
    for value in (to, subject, *(headers or {}).values()):
        if _HEADER_SAFE.search(value):
            raise MailError("line break in a header value", permanent=True)
    msg = EmailMessage()
    msg["From"] = config.mail_from
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    domain = config.mail_from.rsplit("@", 1)[-1].strip(" >") or "localhost"
    msg["Message-ID"] = make_msgid(domain=domain)
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(text)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    return msg


def send(config: Config, msg: EmailMessage) -> str:
    """Hand the message over; returns where it went (SMTP host or file path)."""
    if not config.smtp_host:
        outbox = Path(config.outbox_dir)
        outbox.mkdir(parents=True, exist_ok=True)
        path = outbox / f"{uuid.uuid4().hex}.eml"
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(bytes(msg))
        tmp.rename(path)
        return str(path)
    try:
        if config.smtp_tls:
            smtp = smtplib.SMTP_SSL(
                config.smtp_host,
                config.smtp_port,
                context=ssl.create_default_context(),
                timeout=30,
            )
        else:
            smtp = smtplib.SMTP(config.smtp_host, config.smtp_port, timeout=30)
        with smtp:
            if config.smtp_starttls and not config.smtp_tls:
                smtp.ehlo()
                if not smtp.has_extn("starttls"):  # never fall back to plain text silently
                    raise MailError("the SMTP server does not offer STARTTLS (smtp_starttls)")
                smtp.starttls(context=ssl.create_default_context())
            if config.smtp_user:
                smtp.login(config.smtp_user, config.smtp_password)
            smtp.send_message(msg)
    except smtplib.SMTPResponseException as exc:
        raise MailError(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}", exc.smtp_code >= 500) from exc
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        raise MailError(
            f"recipient refused: {exc.recipients}", all(c >= 500 for c in codes)
        ) from exc
    except (OSError, smtplib.SMTPException) as exc:
        raise MailError(f"SMTP: {exc}") from exc
    return f"smtp://{config.smtp_host}:{config.smtp_port}"
