"""Sign-in throttling without lock-out.

Wrong passwords for one account slow the next attempts down instead of locking the account:
after ``FREE`` failures in a window each further attempt waits a delay that doubles with each
failure, up to ``MAX_WAIT`` (429 with Retry-After). A browser that signed in to the account
before carries a signed "known device" cookie naming the account; with it, the right password
always works, whatever strangers elsewhere try. The per-address limit is only a coarse flood
guard, high enough for a busy shared network. After ``NOTICE_AT`` failures in a window the
account's owner gets one e-mail saying so.
"""

from __future__ import annotations

import time

from fastapi import HTTPException

from ..core.models import User
from ..mail import outgoing
from .deps import Ctx, rate_limit
from .responses import cookie_options
from .security import cookie_name

WINDOW = 15 * 60
FREE = 3  # failures in a window before attempts wait
MAX_WAIT = 300
NOTICE_AT = 5
IP_FACTOR = 20  # the per-address flood guard: rate_limit_auth times this per window
DEVICE_COOKIE = "pw_device"
DEVICE_MAX_AGE = 365 * 24 * 3600
clock = time.time  # tests turn it


def wait_after(failures: int) -> int:
    """Seconds an attempt waits after ``failures`` wrong passwords in the window."""
    if failures < FREE:
        return 0
    return min(MAX_WAIT, 2 ** (failures - FREE + 1))


def known_device(ctx: Ctx, user: User) -> bool:
    """Whether this browser signed in to ``user`` before (its signed cookie says so)."""
    token = ctx.request.cookies.get(cookie_name(DEVICE_COOKIE, ctx.site.secure_cookies))
    if not token:
        return False
    return ctx.site.signer.loads("device", token, DEVICE_MAX_AGE) == user.id


def _who(user: User | None, login: str) -> str:
    """Whose failures count: the account's (however it was named), or, for a name no
    account has, the name's: both slow down alike, so a 429 tells nothing about which
    names exist."""
    return f"user:{user.id}" if user is not None else f"login:{login.strip().lower()[:150]}"


def check(ctx: Ctx, user: User | None, login: str) -> None:
    """Before checking a password: 429 when this address floods, or when the recent
    failures for this account (or name) ask this attempt to wait (never from a known
    device of ``user``)."""
    if user is not None and known_device(ctx, user):
        return
    limit = ctx.settings.site.rate_limit_auth
    rate_limit(ctx, f"signin:ip:{ctx.ip}", limit * IP_FACTOR, WINDOW)
    now = clock()
    failures, last = ctx.store.throttle.failures(_who(user, login), WINDOW, now)
    left = int(last + wait_after(failures) - now + 0.999)
    if failures >= FREE and left > 0:
        raise HTTPException(
            429,
            "Too many wrong passwords for this account: wait a moment and try again.",
            headers={"Retry-After": str(left)},
        )


def failed(ctx: Ctx, user: User | None, login: str) -> None:
    """A wrong password for ``user`` (None: no such account): count it, and tell the
    owner once per window when it keeps happening."""
    failures = ctx.store.throttle.fail(_who(user, login), WINDOW, clock())
    if failures == NOTICE_AT and user is not None and user.email:
        outgoing.queue(ctx.store, "signin-attempts", user.email, username=user.username)


def succeeded(ctx: Ctx, user: User) -> None:
    """The right password: this browser becomes a known device of ``user``."""
    ctx.extra_cookies.append(
        (
            (
                cookie_name(DEVICE_COOKIE, ctx.site.secure_cookies),
                ctx.site.signer.dumps("device", user.id),
            ),
            cookie_options(ctx, DEVICE_MAX_AGE),
        )
    )
