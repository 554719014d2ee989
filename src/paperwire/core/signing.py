"""Signing what the site hands out (session cookies, e-mail links, CSRF tokens) and hashing
API tokens. The key is the instance's secret (``secret_key``, or one generated once and kept
in the database so that every process agrees)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer


class Signer:
    """Signed, timestamped tokens, one salt per purpose, so that a token made for one use is
    worthless for another."""

    def __init__(self, secret: str):
        self.secret = secret.encode()
        self._serializers: dict[str, URLSafeTimedSerializer] = {}

    def _s(self, purpose: str) -> URLSafeTimedSerializer:
        if purpose not in self._serializers:
            self._serializers[purpose] = URLSafeTimedSerializer(self.secret, salt=purpose)
        return self._serializers[purpose]

    def dumps(self, purpose: str, payload: Any) -> str:
        return str(self._s(purpose).dumps(payload))

    def loads(self, purpose: str, token: str, max_age: int) -> Any:
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


def new_secret() -> str:
    """A fresh instance secret."""
    return secrets.token_urlsafe(48)


def new_nonce() -> str:
    return secrets.token_urlsafe(24)


def new_session_token() -> str:
    """What a session cookie holds: random, and kept by the server only as its SHA-256."""
    return secrets.token_urlsafe(32)


def new_api_token() -> str:
    return "pw_" + secrets.token_urlsafe(30)


def token_hash(token: str) -> str:
    """API tokens and sessions are kept as their SHA-256: a leaked table gives no usable
    token (they are random and long: a fast hash is enough)."""
    return hashlib.sha256(token.encode()).hexdigest()
