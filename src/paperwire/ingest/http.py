"""A polite HTTP client: one request at a time, a minimum interval, retries with backoff.

arXiv asks for at most one request every 3 seconds over one connection; GitHub and Hugging
Face get the same treatment with their own interval. 5xx answers, timeouts and broken
connections are retried (honouring ``Retry-After``); 4xx answers are returned to the caller.
A request may carry a deadline (a visitor waiting on a page): then waiting for its turn and
the one attempt both end by then.
"""

from __future__ import annotations

import email.utils
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

import httpx

from ..core.errors import SourceError as SourceError  # re-exported: what callers catch
from ..core.errors import SourceUnavailable
from ..core.settings import DEFAULT_AGENT, SourceSettings

RETRY_STATUS = {500, 502, 503, 504, 429}
MAX_RETRY_AFTER = 300.0


class TransientError(RuntimeError):
    """A response that is worth asking for again (e.g. a truncated body)."""


class TooLarge(SourceError):
    """The response is bigger than the caller accepts (never retried)."""


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Parse ``Retry-After`` (seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now_dt = datetime.fromtimestamp(now if now is not None else time.time(), UTC)
    return max(0.0, (when - now_dt).total_seconds())


class PoliteClient:
    def __init__(
        self,
        *,
        min_interval: float = 3.0,
        retries: int = 4,
        backoff: float = 2.0,
        timeout: float = 60.0,
        user_agent: str = DEFAULT_AGENT,
        headers: dict[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.min_interval = min_interval
        self.retries = retries
        self.backoff = backoff
        self.sleep = sleep
        self._last = 0.0
        self._lock = threading.Lock()
        self.requests_made = 0
        self.client = httpx.Client(
            timeout=timeout,
            headers={"User-Agent": user_agent, **(headers or {})},
            follow_redirects=True,
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
        )

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> PoliteClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _turn(self, url: str, deadline: float | None) -> None:
        """Take the lock and wait for our turn (``min_interval`` after the end of the last
        request, see :meth:`get`), within the deadline if there is one."""
        if deadline is None:
            self._lock.acquire()
        elif not self._lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
            raise SourceUnavailable(f"{url}: busy until the deadline", "was busy")
        gap = self.min_interval - (time.monotonic() - self._last)
        if deadline is not None and time.monotonic() + max(gap, 0.0) >= deadline:
            self._lock.release()
            raise SourceUnavailable(f"{url}: no turn before the deadline", "was busy")
        if gap > 0:
            self.sleep(gap)

    def _request(
        self,
        url: str,
        params: dict | None,
        headers: dict | None,
        deadline: float | None,
        max_bytes: int | None,
    ) -> httpx.Response:
        if deadline is None and max_bytes is None:
            resp = self.client.get(url, params=params, headers=headers)
            resp.read()
            return resp
        # httpx times each read, not the whole response: a server that trickles bytes would
        # outlast the deadline, so the body is read in pieces against the clock (and the
        # size cap, counted on the decoded bytes so that a compressed bomb is caught too).
        timeout = self.client.timeout
        if deadline is not None:
            left = max(0.01, deadline - time.monotonic())
            timeout = httpx.Timeout(min(left, self.client.timeout.read or left))
        body = bytearray()
        with self.client.stream(
            "GET", url, params=params, headers=headers, timeout=timeout
        ) as resp:
            declared = resp.headers.get("Content-Length", "")
            if max_bytes is not None and declared.isdigit() and int(declared) > max_bytes:
                raise TooLarge(f"{url}: {declared} bytes, more than the {max_bytes} accepted")
            for piece in resp.iter_bytes():
                body += piece
                if max_bytes is not None and len(body) > max_bytes:
                    raise TooLarge(f"{url}: more than the {max_bytes} bytes accepted")
                if deadline is not None and time.monotonic() > deadline:
                    raise httpx.ReadTimeout("deadline passed while reading", request=resp.request)
        # The body is decoded already: the copy must not claim an encoding or a length.
        kept = [
            (k, v)
            for k, v in resp.headers.multi_items()
            if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")
        ]
        return httpx.Response(
            resp.status_code, headers=kept, content=bytes(body), request=resp.request
        )

    def get(
        self,
        url: str,
        params: dict | None = None,
        headers: dict | None = None,
        check: Callable[[httpx.Response], None] | None = None,
        deadline: float | None = None,
        max_bytes: int | None = None,
    ) -> httpx.Response:
        """GET with rate limiting and retries. ``check`` may raise TransientError to retry
        a response whose status was fine but whose body was not (e.g. truncated XML).
        ``deadline`` (a ``time.monotonic()`` value): one attempt, given up by then (the
        caller retries later, e.g. from the jobs queue). Failures raise
        :class:`SourceUnavailable`. With ``max_bytes``, a bigger body raises
        :class:`TooLarge` as soon as it is known (from Content-Length, or while reading),
        so that it is never held in memory."""
        attempt = 0
        while True:
            attempt += 1
            delay: float | None = None
            reason = "could not be reached"
            self._turn(url, deadline)
            try:
                try:
                    self.requests_made += 1
                    resp = self._request(url, params, headers, deadline, max_bytes)
                except (httpx.TimeoutException, httpx.TransportError) as exc:
                    problem = f"{type(exc).__name__}: {exc}"
                    if isinstance(exc, httpx.TimeoutException):
                        reason = "did not answer in time"
                else:
                    if resp.status_code not in RETRY_STATUS:
                        if check is None or resp.status_code >= 400:
                            return resp
                        try:
                            check(resp)
                            return resp
                        except TransientError as exc:
                            problem = str(exc)
                            reason = "sent an incomplete answer"
                    else:
                        problem = f"HTTP {resp.status_code}"
                        reason = f"answered with an error (HTTP {resp.status_code})"
                        delay = retry_after_seconds(resp.headers.get("Retry-After"))
            finally:
                # The interval counts from the end of this request, not its start: a request
                # reaches the server after it leaves here, by a delay we do not control, so
                # only this way does the server never see two closer than min_interval.
                self._last = time.monotonic()
                self._lock.release()
            if delay is None:
                delay = self.backoff * (2 ** (attempt - 1))
            delay = min(delay, MAX_RETRY_AFTER)
            if attempt > self.retries or deadline is not None:
                raise SourceUnavailable(
                    f"{url}: giving up after {attempt} attempts ({problem})", reason
                )
            self.sleep(delay)


def polite_client(settings: SourceSettings, arxiv: bool = False, **headers: str) -> PoliteClient:
    """A client configured from the settings (arXiv's interval when ``arxiv``)."""
    return PoliteClient(
        min_interval=settings.arxiv_min_interval if arxiv else settings.http_min_interval,
        retries=settings.http_retries,
        backoff=settings.http_backoff,
        timeout=settings.http_timeout,
        user_agent=settings.user_agent,
        headers=headers or None,
    )
