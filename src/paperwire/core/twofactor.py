"""Two-factor sign-in: TOTP secrets and codes (RFC 6238, 30-second steps, 6 digits, as every
authenticator app makes them), single-use recovery codes, and the secret sealed with a key
derived from the instance secret, so that a copy of the database alone gives no second factor.

The seal is AES-256-GCM (the ``cryptography`` package) with a random 96-bit nonce, under a
key derived from the instance secret by HMAC-SHA256, and the user id as associated data (a
sealed secret moved to another user's row does not open).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote, urlencode

import pyotp
import segno
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

STEP = 30  # seconds per TOTP code
DIGITS = 6
RECOVERY_CODES = 10
# Lower-case base32 without padding: 12 characters are 60 random bits per recovery code.
_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"
_RECOVERY_LEN = 12
_SEAL_VERSION = "v2"  # AES-256-GCM


@dataclass(slots=True)
class TwoFactor:
    """A user's second factor as stored: the sealed secret, when it was turned on, the last
    time step a code was accepted for (no code is accepted twice), and a counter of second
    steps completed (the sign-in token of one second step is good once)."""

    user_id: int
    secret_sealed: str
    enabled_at: datetime
    last_step: int | None
    signins: int
    recovery_left: int = 0


def new_secret() -> str:
    """A fresh TOTP secret: 160 random bits in base32 (what authenticator apps expect)."""
    return pyotp.random_base32(32)


def provisioning_uri(secret: str, account: str, issuer: str) -> str:
    """The otpauth:// URI an authenticator app reads (from a QR code, or typed in)."""
    label = quote(f"{issuer}:{account}", safe="")
    query = urlencode(
        {"secret": secret, "issuer": issuer, "algorithm": "SHA1", "digits": DIGITS, "period": STEP}
    )
    return f"otpauth://totp/{label}?{query}"


def qr_svg(uri: str) -> str:
    """``uri`` as a QR code, an inline SVG element (black on white with the standard 4-module
    quiet zone, whatever the page's colour scheme, so phone cameras read it), labelled for
    screen readers. ``uri`` is an otpauth URI of our own making; segno escapes nothing into
    the markup but the title we give it, which is plain text here."""
    code = segno.make(uri, error="m", micro=False)
    svg = code.svg_inline(scale=4, dark="#000", light="#fff", border=4, svgclass="qr")
    return svg.replace("<svg ", '<svg role="img" aria-label="QR code of the link below" ', 1)


def grouped(secret: str) -> str:
    """The secret in groups of four, easier to type into an app by hand."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def current_step(now: float | None = None) -> int:
    return int((time.time() if now is None else now) // STEP)


def code_at(secret: str, step: int) -> str:
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP).generate_otp(step)


def matching_step(secret: str, code: str, now: float | None = None, window: int = 1) -> int | None:
    """The time step ``code`` was made for, within ``window`` steps of now (a phone's clock
    a little off), or None. Every candidate is compared, in constant time."""
    if len(code) != DIGITS or not (code.isascii() and code.isdigit()):
        return None
    here = current_step(now)
    found = None
    for step in range(here - window, here + window + 1):
        if hmac.compare_digest(code_at(secret, step), code) and found is None:
            found = step
    return found


def is_totp_code(text: str) -> bool:
    return len(text) == DIGITS and text.isascii() and text.isdigit()


def new_recovery_codes(count: int = RECOVERY_CODES) -> list[str]:
    """Fresh recovery codes, shown once as ``xxxx-xxxx-xxxx``."""
    out = []
    for _ in range(count):
        raw = "".join(secrets.choice(_ALPHABET) for _ in range(_RECOVERY_LEN))
        out.append("-".join(raw[i : i + 4] for i in range(0, _RECOVERY_LEN, 4)))
    return out


def normal_recovery_code(text: str) -> str | None:
    """A typed recovery code without spaces or hyphens, in lower case; None when it cannot
    be one."""
    raw = "".join(text.split()).replace("-", "").lower()
    if len(raw) != _RECOVERY_LEN or any(c not in _ALPHABET for c in raw):
        return None
    return raw


def recovery_hash(code: str) -> str:
    """What is kept of a recovery code: the SHA-256 of its normal form (60 random bits, so
    a slow hash adds nothing; guessing is bounded by the sign-in rate limits)."""
    raw = normal_recovery_code(code) or code
    return hashlib.sha256(b"paperwire-recovery:" + raw.encode()).hexdigest()


# -- sealing the secret ---------------------------------------------------------------------
_NONCE = 12


def _aead(instance_secret: bytes) -> AESGCM:
    key = hmac.new(instance_secret, b"paperwire two-factor: aes-256-gcm", hashlib.sha256)
    return AESGCM(key.digest())


def _associated(user_id: int) -> bytes:
    return f"{_SEAL_VERSION}:{user_id}".encode()


def seal(instance_secret: bytes, user_id: int, secret: str) -> str:
    """``secret`` encrypted and authenticated for ``user_id`` under the instance secret."""
    nonce = secrets.token_bytes(_NONCE)
    cipher = _aead(instance_secret).encrypt(nonce, secret.encode(), _associated(user_id))
    sealed = base64.urlsafe_b64encode(nonce + cipher).decode().rstrip("=")
    return f"{_SEAL_VERSION}.{sealed}"


def unseal(instance_secret: bytes, user_id: int, sealed: str) -> str | None:
    """The secret, or None when it was sealed under another instance secret, for another
    user, or altered."""
    version, _, data = sealed.partition(".")
    if version != _SEAL_VERSION:
        return None
    try:
        raw = base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))
    except ValueError:
        return None
    if len(raw) < _NONCE + 16:  # a nonce and GCM's tag at least
        return None
    try:
        plain = _aead(instance_secret).decrypt(raw[:_NONCE], raw[_NONCE:], _associated(user_id))
        return plain.decode()
    except (InvalidTag, UnicodeDecodeError):
        return None
