"""Web security constants and rate limits: cookie names and lifetimes, signed-link ages, and
fixed-window counters kept in the database so that every process shares them."""

from __future__ import annotations

import random
import time

from ..store import Store

SESSION_COOKIE = "pw_session"
CSRF_COOKIE = "pw_csrf"
# The address a form just mailed a link to, for the "check your inbox" page after it.
SENT_COOKIE = "pw_sent"
SENT_MAX_AGE = 3600
# Over https the cookies take the __Host- prefix: the browser then keeps them only if they are
# Secure, set by this very host for path /, with no Domain, so that a sibling subdomain can
# neither plant nor overwrite them.
HOST_PREFIX = "__Host-"
SESSION_MAX_AGE = 30 * 24 * 3600
# Strict-Transport-Security when the site is served over https (two years).
HSTS = "max-age=63072000"


def cookie_name(name: str, secure: bool) -> str:
    return HOST_PREFIX + name if secure else name


CONFIRM_MAX_AGE = 3 * 24 * 3600
RESET_MAX_AGE = 3600


class RateLimiter:
    """Fixed-window counters kept in the database, so that every process shares them."""

    def __init__(self, store: Store):
        self.store = store

    def allow(self, key: str, limit: int, window: int) -> bool:
        if limit <= 0:
            return True
        if random.random() < 0.002:  # now and then, forget windows long gone
            self.store.accounts.rate_prune(time.time() - 86400)
        return self.store.accounts.rate_hit(key, limit, window)
