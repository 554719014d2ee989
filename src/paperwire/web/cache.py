"""Answering repeat anonymous GETs from memory: a pure ASGI middleware, in front of routing,
that keeps complete responses checked against the store's data version, with ETags and 304s.

Who is personal: a request with the session cookie or an ``Authorization`` header, and any
response that sets a cookie or says ``private``/``no-store``/``no-cache`` (a page that shows
the visitor's CSRF token does). Personal responses get ``Cache-Control: private, no-cache``
and are never stored. Anonymous ``200`` answers to GET that set no caching of their own are
stored (LRU by bytes) under the data version seen when their request began, and carry a
strong ``ETag`` (hash of the body), ``Last-Modified`` and ``Cache-Control: public, max-age=0,
s-maxage=1`` (a shared proxy may keep them one second). Error pages say ``no-store``.

The data version (:mod:`paperwire.store.changes`) grows with every write to what pages
show, from any process or instance. A thread per process polls it every ``page_cache_poll``
seconds and publishes each value one poll after reading it (by then the transaction that
bumped it has committed); a write handled by this process marks every entry stale at once.
An entry is only answered for the version it was rendered under, and for at most
``page_cache_ttl`` seconds; while the version is unknown (database unreachable, process
idle) nothing is answered from memory.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from email.utils import formatdate, parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

from ..core.settings import SiteSettings
from ..store import Store
from .security import HOST_PREFIX, SESSION_COOKIE

log = logging.getLogger("paperwire.web.cache")

Message = MutableMapping[str, Any]
Send = Callable[[Message], Awaitable[None]]
Token = tuple[int, int]  # (data version, writes handled by this process)

PUBLIC = b"public, max-age=0, s-maxage=1"
PERSONAL = b"private, no-cache"
ERROR = b"no-store"
# Answered by the app itself every time: files with their own validators, probes, metrics.
BYPASS = ("/static/", "/healthz", "/readyz", "/metrics")
MAX_KEY = 2048  # longer URLs are answered, never stored
MAX_BUFFER = 8 << 20  # larger bodies stream through without an ETag
IDLE = 10.0  # seconds without a request after which a process stops polling
NOT_STORED = {b"server-timing", b"date", b"server", b"x-cache"}
_SESSIONS = (SESSION_COOKIE.encode(), (HOST_PREFIX + SESSION_COOKIE).encode())


class DataVersion:
    """The data version as this process knows it, polled by a background thread (started on
    demand, resting when the process has been idle for a while)."""

    def __init__(
        self, read: Callable[[], int], interval: float, on_change: Callable[[], None] | None = None
    ):
        self.read = read
        self.on_change = on_change  # run before a new version is published
        self.interval = max(0.02, interval)
        self.local = 0
        self.changed_at = time.time()  # when the token last changed (Last-Modified)
        self._state: tuple[int, float] | None = None  # (published version, when polled)
        self._seen: int | None = None
        self._seen_at = 0.0  # when (time.time()) the value in _seen was read
        # Every write another process acknowledged before this time (time.time()) is in
        # the published version: what a shared cache may be told a copy covers.
        self.covered = 0.0
        self._token: Token | None = None
        self._used = time.monotonic()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._failing = False

    def token(self) -> Token | None:
        """What entries are valid for now; None while the version is not known."""
        now = time.monotonic()
        self._used = now
        state = self._state
        if state is None or now - state[1] > max(1.0, 5 * self.interval):
            self._wake()
            return None
        token = (state[0], self.local)
        if token != self._token:
            self._token, self.changed_at = token, time.time()
        return token

    def written(self) -> None:
        """This process handled a write: every entry is stale from now on."""
        self.local += 1

    def close(self) -> None:
        self._stop.set()

    def _wake(self) -> None:
        if self._thread is not None and self._thread.is_alive() or self._stop.is_set():
            return
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._thread = threading.Thread(
                target=_poll, args=(weakref.ref(self),), daemon=True, name="data-version"
            )
            self._thread.start()

    def poll(self) -> bool:
        """Read the version once; False when the process is idle (the thread rests)."""
        if time.monotonic() - self._used > IDLE:
            self._seen = None
            return False
        at = time.time()  # before the read: every write acknowledged by now is counted in it
        try:
            value = self.read()
        except Exception as exc:  # noqa: BLE001 - a database down: answer from the app
            # said once per outage, not every poll
            (log.debug if self._failing else log.warning)("cannot read the data version: %s", exc)
            self._seen, self._failing = None, True
            return True
        if self._failing:
            log.warning("the data version can be read again")
            self._failing = False
        seen, seen_at = self._seen, self._seen_at
        self._seen, self._seen_at = value, at
        if seen is not None:  # published one poll after it was read: its writer committed
            if self.on_change is not None and (self._state is None or self._state[0] != seen):
                try:
                    self.on_change()  # e.g. the vector index takes in new vectors first
                except Exception as exc:  # noqa: BLE001 - the cache must go on
                    log.warning("after a data change: %s", exc)
            self._state = (seen, time.monotonic())
            # Nothing new since the published value was read: it covers every write up to
            # this read (no need to wait a poll); else up to the read it came from.
            self.covered = at if value == seen else seen_at
        return True


def _poll(ref: weakref.ref[DataVersion]) -> None:
    while True:
        version = ref()
        if version is None or not version.poll():
            return
        stop, interval = version._stop, version.interval
        del version  # an app that is gone ends its thread
        if stop.wait(interval):
            return


@dataclass(slots=True)
class Entry:
    token: Token
    headers: list[tuple[bytes, bytes]]
    body: bytes
    etag: bytes
    modified: int  # Last-Modified, seconds since the epoch
    at: float
    size: int
    route: Any = None  # the route that answered, for the metrics of the hits (web.ops)
    wall: float = 0.0  # time.time() when its request came (see Visit.wall)


class PageCache:
    """Stored responses by URL, least recently used first out, bounded in bytes."""

    def __init__(self, version: DataVersion, max_bytes: int, ttl: float):
        self.version = version
        self.max_bytes = max(0, max_bytes)
        self.ttl = ttl
        self.entries: OrderedDict[str, Entry] = OrderedDict()
        # URLs being rendered now, each by one request that the others wait for.
        self.rendering: dict[str, tuple[Token, asyncio.Future[None]]] = {}
        self.bytes = 0
        self.hits = 0
        self.misses = 0

    def get(self, key: str, token: Token) -> Entry | None:
        """The entry for the current data version (perhaps past its time: see ``fresh``)."""
        entry = self.entries.get(key)
        if entry is None:
            return None
        if entry.token != token:
            self._drop(key)
            return None
        self.entries.move_to_end(key)
        return entry

    def fresh(self, entry: Entry) -> bool:
        return time.monotonic() - entry.at <= self.ttl

    def put(self, key: str, entry: Entry) -> None:
        if entry.size > self.max_bytes // 8:
            return
        self._drop(key)
        self.entries[key] = entry
        self.bytes += entry.size
        while self.bytes > self.max_bytes:
            _, old = self.entries.popitem(last=False)
            self.bytes -= old.size

    def _drop(self, key: str) -> None:
        old = self.entries.pop(key, None)
        if old is not None:
            self.bytes -= old.size


def page_cache(
    settings: SiteSettings, store: Store, on_change: Callable[[], None] | None = None
) -> PageCache:
    version = DataVersion(store.changes.version, settings.page_cache_poll, on_change)
    return PageCache(version, settings.page_cache_mb << 20, settings.page_cache_ttl)


@dataclass(slots=True)
class Visit:
    """What a GET or HEAD asks, as far as caching goes."""

    method: str
    personal: bool
    key: str | None
    if_none_match: bytes | None
    if_modified_since: bytes | None
    started: float
    wall: float  # time.time() when the request came: what an answer rendered now covers


def _visit(scope: Message) -> Visit:
    personal = False
    inm = ims = None
    host = b""
    for name, value in scope["headers"]:
        if name == b"cookie":
            personal = personal or _has_session(value)
        elif name == b"authorization":
            personal = True
        elif name == b"if-none-match":
            inm = value
        elif name == b"if-modified-since":
            ims = value
        elif name == b"host":
            host = value
    key = _key(scope, host)
    return Visit(scope["method"], personal, key, inm, ims, time.perf_counter(), time.time())


def _has_session(cookie: bytes) -> bool:
    for part in cookie.split(b";"):
        name, _, value = part.strip().partition(b"=")
        if name in _SESSIONS and value:
            return True
    return False


def _key(scope: Message, host: bytes) -> str | None:
    """The URL as the views see it: query parameters in a stable order (parsed the way
    Starlette parses them), with the host and scheme that links are built from."""
    raw: bytes = scope.get("query_string", b"")
    path: str = scope["path"]
    if len(raw) + len(path) + len(host) > MAX_KEY:
        return None
    query = ""
    if raw:
        pairs = parse_qsl(raw.decode("latin-1"), keep_blank_values=True)
        pairs.sort(key=lambda kv: kv[0])
        query = urlencode(pairs)
    return f"{scope.get('scheme', 'http')}://{host.decode('latin-1')}{path}?{query}"


def _cache_control(headers: list[tuple[bytes, bytes]]) -> bytes | None:
    for name, value in headers:
        if name == b"cache-control":
            return value.lower()
    return None


def _set(headers: list[tuple[bytes, bytes]], name: bytes, value: bytes) -> None:
    headers[:] = [(k, v) for k, v in headers if k != name]
    headers.append((name, value))


def _personal_headers(headers: list[tuple[bytes, bytes]]) -> None:
    """Personal: never kept by a shared cache (a stricter no-store, or a versioned file
    marked immutable, stays as it is)."""
    cc = _cache_control(headers) or b""
    if b"no-store" not in cc and b"immutable" not in cc:
        _set(headers, b"cache-control", PERSONAL)


def _matches(if_none_match: bytes, etag: bytes) -> bool:
    if if_none_match.strip() == b"*":
        return True
    for tag in if_none_match.split(b","):
        tag = tag.strip()
        if tag.startswith(b"W/"):
            tag = tag[2:]
        if tag == etag:
            return True
    return False


def _not_modified(visit: Visit, etag: bytes, modified: int | None) -> bool:
    if visit.if_none_match is not None:
        return _matches(visit.if_none_match, etag)
    if visit.if_modified_since is None or modified is None:
        return False
    try:
        since = parsedate_to_datetime(visit.if_modified_since.decode("latin-1")).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return False
    return modified <= since


def _http_date(seconds: int) -> bytes:
    return formatdate(seconds, usegmt=True).encode()


def expires_with(covers: float) -> tuple[bytes, bytes]:
    """For a shared cache in front (nginx, which hides this header from clients): the copy
    ends with the second of ``covers``, so that a write shows within a second of its
    acknowledgement (and the refresh). nginx counts "s-maxage=1" in whole seconds and would
    keep a copy up to 2 s; and a copy whose data is known only as of an earlier second (a
    write in another process not seen yet) is stale at once."""
    return (b"x-accel-expires", b"@%d" % int(covers))


def _validators(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    return [(k, v) for k, v in headers if k in (b"etag", b"last-modified", b"cache-control")]


async def _answer(
    send: Send,
    visit: Visit,
    headers: list[tuple[bytes, bytes]],
    body: bytes,
    etag: bytes,
    modified: int | None,
    how: bytes,
    covers: float,
) -> None:
    """A stored or freshly rendered anonymous response: 304 when the visitor's copy is
    current, the headers only for HEAD. ``covers``: the time (time.time()) before which
    every acknowledged write is in it."""
    timing = f"app;dur={(time.perf_counter() - visit.started) * 1000:.2f}".encode()
    extra = [(b"x-cache", how), (b"server-timing", timing), expires_with(covers)]
    if _not_modified(visit, etag, modified):
        await send(
            {
                "type": "http.response.start",
                "status": 304,
                "headers": _validators(headers) + extra,
            }
        )
        await send({"type": "http.response.body", "body": b""})
        return
    await send({"type": "http.response.start", "status": 200, "headers": headers + extra})
    await send({"type": "http.response.body", "body": b"" if visit.method == "HEAD" else body})


class CacheMiddleware:
    """The outermost middleware: see the module's documentation."""

    def __init__(self, app: Any, cache: PageCache):
        self.app, self.cache = app, cache

    async def __call__(self, scope: Message, receive: Any, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(BYPASS):
            return await self.app(scope, receive, send)
        if scope["method"] not in ("GET", "HEAD"):
            return await self._write(scope, receive, send)
        visit = _visit(scope)
        if visit.personal:
            return await self.app(scope, receive, _personal_send(send))
        token = self.cache.version.token() if self.cache.max_bytes else None
        if token is None or visit.key is None:
            self.cache.misses += 1
            return await self.app(
                scope, receive, _Capture(self.cache, send, visit, None, scope=scope).send
            )
        entry = await self._lookup(visit.key, token)
        if entry is not None:
            self.cache.hits += 1
            scope["route"] = entry.route
            covers = max(self.cache.version.covered, entry.wall)
            return await _answer(
                send, visit, entry.headers, entry.body, entry.etag, entry.modified, b"hit", covers
            )
        self.cache.misses += 1
        await self._render(scope, receive, send, visit, token)

    async def _lookup(self, key: str, token: Token) -> Entry | None:
        """The entry to answer with: a fresh one; one past its time while another request
        renders it again (the data did not change); or, after waiting for the request that
        renders it, the new one. None: render it."""
        entry = self.cache.get(key, token)
        if entry is not None and self.cache.fresh(entry):
            return entry
        busy = self.cache.rendering.get(key)
        if busy is None or busy[0] != token:
            return None
        if entry is not None:
            return entry
        loop = asyncio.get_running_loop()
        if busy[1].get_loop() is not loop:
            return None
        await asyncio.shield(busy[1])
        return self.cache.get(key, token)

    async def _render(
        self, scope: Message, receive: Any, send: Send, visit: Visit, token: Token
    ) -> None:
        assert visit.key is not None
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.cache.rendering[visit.key] = (token, done)
        try:
            await self.app(
                scope, receive, _Capture(self.cache, send, visit, token, done, scope=scope).send
            )
        finally:
            if self.cache.rendering.get(visit.key, (None, None))[1] is done:
                del self.cache.rendering[visit.key]
            if not done.done():
                done.set_result(None)

    async def _write(self, scope: Message, receive: Any, send: Send) -> None:
        """Any other method may write: the cache is stale once it answered (and again when
        it is done, for a write that lands while its answer streams)."""
        status = 0

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if status < 400:
                    self.cache.version.written()
                headers = list(message.get("headers", []))
                _personal_headers(headers)
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            if status < 400:
                self.cache.version.written()


def _personal_send(send: Send) -> Send:
    async def personal(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            _personal_headers(headers)
            message["headers"] = headers
        await send(message)

    return personal


class _Capture:
    """The app's answer to an anonymous GET or HEAD: a cacheable one is buffered, given its
    validators, stored and answered (or answered 304); any other passes through."""

    def __init__(
        self,
        cache: PageCache,
        send: Send,
        visit: Visit,
        token: Token | None,
        stored: asyncio.Future[None] | None = None,
        *,
        scope: Message,
    ):
        self.cache, self.downstream, self.visit, self.token = cache, send, visit, token
        self.scope = scope  # routed by the time the answer starts
        self.stored = stored  # resolved once the entry is kept, for the requests waiting
        self.start: Message | None = None
        self.chunks: list[bytes] = []
        self.size = 0
        self.passing = False

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            headers = list(message.get("headers", []))
            message["headers"] = headers
            if self._cacheable(message["status"], headers):
                self.start = message
                return
            self._mark(message["status"], headers)
            self.passing = True
        elif kind == "http.response.body" and not self.passing and self.start is not None:
            chunk = message.get("body", b"")
            self.chunks.append(chunk)
            self.size += len(chunk)
            if message.get("more_body", False):
                if self.size > MAX_BUFFER:  # too large to keep: stream the rest
                    await self._flush()
                return
            return await self._finish()
        await self.downstream(message)

    def _cacheable(self, status: int, headers: list[tuple[bytes, bytes]]) -> bool:
        if status != 200 or self.visit.method != "GET":
            return False
        return not any(k in (b"set-cookie", b"cache-control", b"etag") for k, _ in headers)

    def _mark(self, status: int, headers: list[tuple[bytes, bytes]]) -> None:
        cc = _cache_control(headers)
        if any(k == b"set-cookie" for k, _ in headers):
            _personal_headers(headers)
        elif status >= 400 and cc is None:
            _set(headers, b"cache-control", ERROR)
        elif status == 200 and cc is None and not any(k == b"etag" for k, _ in headers):
            _set(headers, b"cache-control", PUBLIC)  # a HEAD: as its GET would be

    async def _flush(self) -> None:
        assert self.start is not None
        _set(self.start["headers"], b"cache-control", PUBLIC)
        _set(self.start["headers"], *expires_with(self.visit.wall))
        await self.downstream(self.start)
        await self.downstream(
            {"type": "http.response.body", "body": b"".join(self.chunks), "more_body": True}
        )
        self.passing = True

    async def _finish(self) -> None:
        assert self.start is not None
        body = b"".join(self.chunks)
        etag = b'"' + hashlib.blake2b(body, digest_size=16).hexdigest().encode() + b'"'
        headers = [(k, v) for k, v in self.start["headers"] if k not in NOT_STORED]
        headers += [(b"etag", etag), (b"cache-control", PUBLIC)]
        modified = None
        if self.token is not None:
            modified = int(self.cache.version.changed_at)
            headers.append((b"last-modified", _http_date(modified)))
            if self.visit.key is not None:
                size = len(body) + len(self.visit.key) + sum(len(k) + len(v) for k, v in headers)
                entry = Entry(
                    self.token,
                    headers,
                    body,
                    etag,
                    modified,
                    time.monotonic(),
                    size,
                    self.scope.get("route"),
                    self.visit.wall,
                )
                self.cache.put(self.visit.key, entry)
                if self.stored is not None and not self.stored.done():
                    self.stored.set_result(None)
        how = b"miss" if self.token is not None else b"off"
        await _answer(
            self.downstream, self.visit, headers, body, etag, modified, how, self.visit.wall
        )
