"""A real SMTP server on loopback (aiosmtpd) that records what it accepts, can refuse or
stall chosen messages, and counts connections; and `paperwire digest send` run as its own
process against it."""

from __future__ import annotations

import asyncio
import email
import email.policy
import os
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass, field

from aiosmtpd.controller import Controller


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self) -> email.message.EmailMessage:
        return email.message_from_bytes(self.data, policy=email.policy.default)


@dataclass
class Recorder:
    """The handler. ``refuse``: address -> list of replies for its next RCPTs (e.g.
    ``"451 4.3.0 busy"``, ``"550 5.1.1 no such user"``); ``stall_at``: the DATA number (1-based)
    at which to wait until ``release`` is set, then answer 451 (the message is not taken)."""

    received: list[Received] = field(default_factory=list)
    refuse: dict[str, list[str]] = field(default_factory=dict)
    connections: int = 0
    data_calls: int = 0
    delay: float = 0.0
    stall_at: int | None = None
    stalled: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        self.connections += 1
        session.host_name = hostname
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        replies = self.refuse.get(address)
        if replies:
            return replies.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.data_calls += 1
        if self.stall_at is not None and self.data_calls == self.stall_at:
            self.stalled.set()
            while not self.release.is_set():
                await asyncio.sleep(0.01)
            return "451 4.3.0 the server went away"
        if self.delay:
            await asyncio.sleep(self.delay)
        self.received.append(
            Received(envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.content))
        )
        return "250 2.0.0 accepted"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SMTPServer:
    def __init__(self):
        self.recorder = Recorder()
        self.port = free_port()
        self.controller = Controller(self.recorder, hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> SMTPServer:
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.recorder.release.set()
        self.controller.stop()

    @property
    def settings(self) -> dict:
        return {
            "smtp_host": "127.0.0.1",
            "smtp_port": self.port,
            "smtp_starttls": False,
            "mail_backoff": 0.01,
        }

    @property
    def messages(self) -> list[email.message.EmailMessage]:
        return [r.message for r in self.recorder.received]


def digest_cli(url: str, smtp_port: int, tmp_path, *args: str, **env: str) -> subprocess.Popen:
    """`paperwire digest send ARGS` in its own process, mailing through the test SMTP server
    on ``smtp_port``; ``env``: more PAPERWIRE_ settings (names without the prefix)."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PAPERWIRE_")}
    environ.update(
        PAPERWIRE_SECRET_KEY="test-secret-key",
        PAPERWIRE_BASE_URL="http://testserver",
        PAPERWIRE_SMTP_HOST="127.0.0.1",
        PAPERWIRE_SMTP_PORT=str(smtp_port),
        PAPERWIRE_SMTP_STARTTLS="false",
        PAPERWIRE_MAIL_BACKOFF="0.01",
        PAPERWIRE_OUTBOX_DIR=str(tmp_path / "outbox"),
    )
    environ.update({f"PAPERWIRE_{k.upper()}": v for k, v in env.items()})
    return subprocess.Popen(
        [sys.executable, "-m", "paperwire", "--quiet", "--db", url, "digest", "send", *args],
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
