"""A polite HTTP client: one request at a time, a minimum interval, retries with backoff.

arXiv asks for at most one request every 3 seconds over one connection; GitHub and Hugging
Face get the same treatment with their own interval. 5xx answers, timeouts and broken
connections are retried (honouring ``Retry-After``); 4xx answers are returned to the caller.
"""

from __future__ import annotations

import email.utils
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

import httpx

from ..core.errors import SourceError
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

    def _wait_turn(self) -> None:
        gap = self.min_interval - (time.monotonic() - self._last)
        if gap > 0:
            self.sleep(gap)
        self._last = time.monotonic()

    def get(
        self,
        url: str,
        params: dict | None = None,
        headers: dict | None = None,
        check: Callable[[httpx.Response], None] | None = None,
        max_bytes: int | None = None,
    ) -> httpx.Response:
        """GET with rate limiting and retries. ``check`` may raise TransientError to retry
        a response whose status was fine but whose body was not (e.g. truncated XML).
        With ``max_bytes``, a bigger body raises :class:`TooLarge` as soon as it is known
        (from Content-Length, or while reading), so that it is never held in memory."""
        attempt = 0
        while True:
            attempt += 1
            delay: float | None = None
            with self._lock:
                self._wait_turn()
                try:
                    self.requests_made += 1
                    resp = self._fetch(url, params, headers, max_bytes)
                except (httpx.TimeoutException, httpx.TransportError) as exc:
                    problem = f"{type(exc).__name__}: {exc}"
                else:
                    if resp.status_code not in RETRY_STATUS:
                        if check is None or resp.status_code >= 400:
                            return resp
                        try:
                            check(resp)
                            return resp
                        except TransientError as exc:
                            problem = str(exc)
                    else:
                        problem = f"HTTP {resp.status_code}"
                        delay = retry_after_seconds(resp.headers.get("Retry-After"))
            if attempt > self.retries:
                raise SourceError(f"{url}: giving up after {attempt} attempts ({problem})")
            if delay is None:
                delay = self.backoff * (2 ** (attempt - 1))
            self.sleep(min(delay, MAX_RETRY_AFTER))

    def _fetch(
        self, url: str, params: dict | None, headers: dict | None, max_bytes: int | None
    ) -> httpx.Response:
        if max_bytes is None:
            resp = self.client.get(url, params=params, headers=headers)
            resp.read()
            return resp
        request = self.client.build_request("GET", url, params=params, headers=headers)
        resp = self.client.send(request, stream=True)
        try:
            declared = resp.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise TooLarge(f"{url}: {declared} bytes, more than the {max_bytes} accepted")
            body = bytearray()
            for chunk in resp.iter_bytes():
                body += chunk
                if len(body) > max_bytes:
                    raise TooLarge(f"{url}: more than the {max_bytes} bytes accepted")
        finally:
            resp.close()
        # The body is decoded already: the copy must not claim an encoding or a length.
        kept = [
            (k, v)
            for k, v in resp.headers.multi_items()
            if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")
        ]
        return httpx.Response(resp.status_code, headers=kept, content=bytes(body), request=request)


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
