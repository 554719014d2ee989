"""Passwords: argon2 hashes, a constant-time answer for unknown accounts, the rules a new
password must meet."""

from __future__ import annotations

import os
import secrets
import threading

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
# Verified against when the account does not exist, so that a wrong user name takes as long
# as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


# Each argon2 hash runs 4 threads and 64 MiB: at most one per core at once, so that a burst of
# sign-ins queues here instead of starving the event loop and every other request of CPU.
_slots = threading.BoundedSemaphore(
    len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
)


def hash_password(password: str) -> str:
    with _slots:
        return _hasher.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    try:
        with _slots:
            return _hasher.verify(stored or _DUMMY_HASH, password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def password_problem(password: str, username: str = "") -> str | None:
    """Why ``password`` cannot be used (None: it can)."""
    if len(password) < 10:
        return "Use at least 10 characters."
    if len(password) > 1024:
        return "Use at most 1024 characters."
    if username and password.lower() == username.lower():
        return "The password must not be your user name."
    return None
