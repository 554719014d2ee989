"""Pure ASGI guards around the site: addresses no route can answer refused before routing,
and a crashing view answered with a 500 that keeps the visitor's connection open."""

from __future__ import annotations

import logging
import re
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from ..store.database import storage_refused
from .responses import error_response

log = logging.getLogger("paperwire.web")

_NUL = re.compile(rb"%00|\x00")
CRASHED = "Something broke on our side; it has been logged."
READ_ONLY = (
    "The site is read-only for now (storage full or under maintenance): reading works, "
    "but nothing can be saved. Please try again in a few minutes."
)
RETRY_AFTER = {"Retry-After": "300"}
_SAFE = {"GET", "HEAD", "OPTIONS"}


def read_only_response(request: Request) -> Any:
    """The 503 for a write the storage cannot take (a page or JSON, with Retry-After)."""
    return error_response(request, 503, READ_ONLY, dict(RETRY_AFTER))


class ReadOnlyGuard:
    """With the ``read_only`` setting (maintenance), every write is a 503 before any view
    runs; reads are served as usual."""

    def __init__(self, app: Any, enabled: bool):
        self.app, self.enabled = app, enabled

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self.enabled and scope["type"] == "http" and scope["method"] not in _SAFE:
            response = await run_in_threadpool(read_only_response, Request(scope))
            return await response(scope, receive, send)
        await self.app(scope, receive, send)


class RequestGuard:
    """A NUL byte (raw or ``%00``) in the path or the query string is a 400 with a clear
    message: no name, id or search holds one, and databases refuse them in text."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and (
            _NUL.search(scope.get("raw_path") or b"") or _NUL.search(scope.get("query_string", b""))
        ):
            response = await run_in_threadpool(
                error_response, Request(scope), 400, "A NUL byte (%00) has no place in an address."
            )
            return await response(scope, receive, send)
        await self.app(scope, receive, send)


class CrashGuard:
    """A bug in a view: logged, and answered with the site's 500 page (or JSON) — without
    re-raising, so that the server keeps the keep-alive connection (Starlette's own handler
    re-raises after answering, and uvicorn then closes the connection, failing the client's
    next request too)."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = False

        async def watched(message: Any) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except Exception as exc:  # noqa: BLE001 - a bug: log it, answer politely
            if storage_refused(exc) and not started:  # read-only or full: not a bug, a 503
                log.warning("storage refused %s %s: %s", scope["method"], scope["path"], exc)
                response = await run_in_threadpool(read_only_response, Request(scope))
                return await response(scope, receive, send)
            log.error("unhandled error on %s %s", scope["method"], scope["path"], exc_info=exc)
            if started:  # half a response went out: nothing sensible can follow it
                raise
            response = await run_in_threadpool(error_response, Request(scope), 500, CRASHED)
            await response(scope, receive, send)
