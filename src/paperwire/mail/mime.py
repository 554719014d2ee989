"""A digest's bytes on the wire, made directly: the bytes `smtplib` sends for the
:class:`~email.message.EmailMessage` that :func:`.send.compose` builds (headers folded by the
same policy, the same transfer encodings, the same layout; but a long List-Unsubscribe stays
one line, and a part with a line starting "From " goes quoted-printable rather than show the
">" smtplib would put before it), at a fraction of the cost —
thousands of digests leave in one run, and building and flattening message objects was
most of their time.

Headers that repeat from message to message (From, List-Id, the parts' headers…) are
folded once; a body's quoted-printable lines, once per distinct line (a paper's lines come
back in every digest that holds it). ``tests/test_mail.py`` holds these bytes to the
email package's."""

from __future__ import annotations

import binascii
import functools
import random
import re
import sys
from dataclasses import dataclass
from email import policy as email_policy
from email import quoprimime
from email.utils import formatdate, getaddresses, make_msgid

from ..core.errors import MailError
from ..core.settings import MailSettings

HEADER_SAFE = re.compile(r"[\r\n]")  # a line break in a header value would inject headers

_POLICIES = {utf8: email_policy.default.clone(linesep="\r\n", utf8=utf8) for utf8 in (False, True)}
_MAX_LINE = email_policy.default.max_line_length or 78
_CRLF = b"\r\n"
_BOUNDARY_DIGITS = len(repr(sys.maxsize - 1))
_FROM = re.compile(b"^From ", re.MULTILINE)


@dataclass(frozen=True)
class Wire:
    """A message ready for SMTP: its envelope and its bytes (CRLF line ends)."""

    sender: str
    recipient: str
    message_id: str
    data: bytes
    international: bool  # a non-ASCII address to a server: needs its SMTPUTF8

    def as_file(self) -> bytes:
        """The bytes with LF line ends (made not ``to_server``: ``bytes(message)``)."""
        return self.data.replace(_CRLF, b"\n")


def check_headers(*values: str) -> None:
    """Refuse header values that carry line breaks, so that no input can inject headers."""
    for value in values:
        if HEADER_SAFE.search(value):
            raise MailError("line break in a header value", permanent=True)


# Headers whose value is one long URL: folding would turn it into RFC 2047 encoded words
# ("=?utf-8?q?=3Chttps=3A//…"), which no mail client reads as a link, so one-click
# unsubscribe (RFC 2369, RFC 8058) would not work. They go on one line (RFC 5322 allows 998
# characters; the email package's folding wants 78).
ONE_LINE = frozenset({"List-Unsubscribe"})


class OneLine(str):
    """A header value the email package writes as it is, on one line (see ONE_LINE)."""

    name: str

    def __new__(cls, name: str, value: str) -> OneLine:
        made = super().__new__(cls, value)
        made.name = name
        return made

    def fold(self, *, policy: email_policy.Policy) -> str:
        return f"{self.name}: {self}{policy.linesep}"


def _one_line(name: str, value: str) -> bool:
    return name in ONE_LINE and value.isascii()


def header_value(name: str, value: str) -> str:
    """What :func:`.send.compose` sets a header to: ``value``, or a :class:`OneLine`."""
    return OneLine(name, value) if _one_line(name, value) else value


@functools.lru_cache(maxsize=4096)
def header(name: str, value: str, utf8: bool = False) -> bytes:
    """``name: value`` folded as the email package writes it (parsed, then folded), or on
    one line (ONE_LINE)."""
    policy = _POLICIES[utf8]
    if _one_line(name, value):
        return f"{name}: {value}".encode() + _CRLF
    return policy.fold_binary(*policy.header_store_parse(name, value))


def _address(name: str, value: str) -> str:
    """The address of a From or To header, as smtplib takes it for the envelope."""
    parsed = _POLICIES[False].header_store_parse(name, value)[1]
    return getaddresses([str(parsed)])[0][1]


@functools.lru_cache(maxsize=65536)
def _qp_line(line: bytes) -> str:
    """One line, quoted-printable (the encoding works line by line)."""
    return quoprimime.body_encode(line.decode("latin-1"), _MAX_LINE, "\r\n")


def _base64(data: bytes) -> str:
    step = _MAX_LINE // 4 * 3
    return "".join(
        binascii.b2a_base64(data[i : i + step]).decode("ascii") for i in range(0, len(data), step)
    )


def encode_body(text: str) -> tuple[str, bytes]:
    """(transfer encoding, encoded body with CRLF line ends): the choice and encoding of
    ``EmailMessage.set_content(text)`` (7bit or 8bit when every line is short enough, else
    quoted-printable or base64, whichever is shorter on the first ten lines)."""
    lines = text.encode("utf-8").splitlines()
    if max((len(x) for x in lines), default=0) <= _MAX_LINE:
        return ("7bit" if text.isascii() else "8bit"), _CRLF.join(lines) + _CRLF
    sniff = b"\n".join(lines[:10]) + b"\n"
    qp_sniff = quoprimime.body_encode(sniff.decode("latin-1"), _MAX_LINE)
    if len(qp_sniff) > len(binascii.b2a_base64(sniff)):
        body = _base64(b"\n".join(lines) + b"\n").encode("ascii")
        return "base64", body.replace(b"\n", _CRLF)
    return "quoted-printable", _qp_lines(lines)


def _qp_lines(lines: list[bytes]) -> bytes:
    return "\r\n".join(map(_qp_line, lines)).encode("ascii") + _CRLF


def _part(subtype: str, text: str, mangle: bool, last_headers: bytes = b"") -> bytes:
    """One part of a digest. ``mangle``: a body line starting "From " would be quoted as
    ">From " (mbox style, as smtplib's generator does), a ">" the reader would see; such a
    part goes quoted-printable instead, with the "F" encoded ("=46rom "), which reads back
    as the very text."""
    cte, body = encode_body(text)
    if mangle and _FROM.search(body):
        if cte != "quoted-printable":
            lines = text.encode("utf-8").splitlines()
            cte, body = "quoted-printable", _qp_lines(lines)
        body = _FROM.sub(b"=46rom ", body)  # (also after a soft line break)
    return (
        header("Content-Type", f'{subtype}; charset="utf-8"')
        + header("Content-Transfer-Encoding", cte)
        + last_headers
        + _CRLF
        + body
    )


def _boundary(text: bytes) -> str:
    """A random boundary that no line of ``text`` is (as the email package makes it)."""
    boundary = "=" * 15 + f"{random.randrange(sys.maxsize):0{_BOUNDARY_DIGITS}d}" + "=="
    chosen, counter = boundary, 0
    while _boundary_line(chosen, text):
        chosen, counter = f"{boundary}.{counter}", counter + 1
    return chosen


def _boundary_line(boundary: str, text: bytes) -> bool:
    """Whether a line of ``text`` is ``--boundary`` or ``--boundary--`` (compiling the
    pattern only when the text holds it at all: a random one would churn ``re``'s cache)."""
    line = f"--{boundary}".encode()
    pattern = b"^" + re.escape(line) + b"(--)?$"
    return line in text and re.search(pattern, text, re.MULTILINE) is not None


def digest_wire(
    mail: MailSettings,
    to: str,
    subject: str,
    text: str,
    html: str,
    headers: dict[str, str],
    message_id: str,
    to_server: bool = True,
) -> Wire:
    """The message :func:`.send.compose` would make of these (a plain-text part and its
    HTML alternative), as smtplib would send it; not ``to_server``: as ``bytes(message)``
    (an .eml file, the preview page)."""
    check_headers(to, subject, *headers.values())
    message_id = message_id or make_msgid(domain=mail.domain)
    sender, recipient = _address("From", mail.mail_from), _address("To", to)
    utf8 = to_server and not (sender + recipient).isascii()
    mangle = to_server and not utf8
    parts = [
        _part("text/plain", text, mangle),
        _part("text/html", html, mangle, header("MIME-Version", "1.0")),
    ]
    boundary = _boundary(_CRLF.join(parts))
    top = [
        ("From", mail.mail_from),
        ("To", to),
        ("Subject", subject),
        ("Date", formatdate(localtime=False, usegmt=True)),
        ("Message-ID", message_id),
        *headers.items(),
        ("MIME-Version", "1.0"),
        ("Content-Type", f'multipart/alternative; boundary="{boundary}"'),
    ]
    line = f"--{boundary}".encode()
    data = b"".join(
        [
            *(header(name, value, utf8) for name, value in top),
            _CRLF + line + _CRLF,
            (_CRLF + line + _CRLF).join(parts),
            _CRLF + line + b"--" + _CRLF,
        ]
    )
    return Wire(sender, recipient, message_id, data, utf8)
