"""Passwords (argon2), signed cookies and links, CSRF tokens, rate limits."""

from __future__ import annotations

import hashlib
import hmac
import random
import secrets
import time

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

SESSION_COOKIE = "pw_session"
CSRF_COOKIE = "pw_csrf"
SESSION_MAX_AGE = 30 * 24 * 3600
CONFIRM_MAX_AGE = 3 * 24 * 3600
RESET_MAX_AGE = 3600

_hasher = PasswordHasher()
# Verified against when the account does not exist, so that a wrong user name takes as long
# as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored or _DUMMY_HASH, password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def password_problem(password: str, username: str = "") -> str | None:
    if len(password) < 10:
        return "Use at least 10 characters."
    if len(password) > 1024:
        return "Use at most 1024 characters."
    if username and password.lower() == username.lower():
        return "The password must not be your user name."
    return None


class Signer:
    """Signs what the site hands out: session cookies, e-mail links, CSRF tokens."""

    def __init__(self, secret: str):
        self.secret = secret.encode()
        self._serializers: dict[str, URLSafeTimedSerializer] = {}

    def _s(self, purpose: str) -> URLSafeTimedSerializer:
        if purpose not in self._serializers:
            self._serializers[purpose] = URLSafeTimedSerializer(self.secret, salt=purpose)
        return self._serializers[purpose]

    def dumps(self, purpose: str, payload) -> str:
        return self._s(purpose).dumps(payload)

    def loads(self, purpose: str, token: str, max_age: int):
        """The payload, or None when the token is forged, altered or expired."""
        try:
            return self._s(purpose).loads(token, max_age=max_age)
        except (BadSignature, SignatureExpired):
            return None

    def csrf_token(self, nonce: str) -> str:
        return hmac.new(self.secret, b"csrf:" + nonce.encode(), hashlib.sha256).hexdigest()[:40]

    def csrf_ok(self, nonce: str | None, token: str | None) -> bool:
        if not nonce or not token:
            return False
        return hmac.compare_digest(self.csrf_token(nonce), token)


def site_signer(config, store) -> Signer:
    """The instance's signer: ``secret_key``, or the key generated once and kept in the
    database, so that the site, workers and the CLI's e-mails agree."""
    return Signer(config.secret_key or store.meta("secret_key", lambda: secrets.token_urlsafe(48)))


def new_nonce() -> str:
    return secrets.token_urlsafe(24)


class RateLimiter:
    """Fixed-window counters kept in the database, so that every process shares them."""

    def __init__(self, store):
        self.store = store

    def allow(self, key: str, limit: int, window: int) -> bool:
        if limit <= 0:
            return True
        if random.random() < 0.002:  # now and then, forget windows long gone
            self.store.rate_prune(time.time() - 86400)
        return self.store.rate_hit(key, limit, window)
