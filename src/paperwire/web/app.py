"""Building the web application: one FastAPI app serving pages, the JSON API and Atom feeds.

The routes come from the ``register_routes`` hook (the built-in pages, API and feeds are
registered like any plugin's), the search engine and trending ranker from their hooks; this
module only puts the app together: shared state, middleware, error handlers.
"""

from __future__ import annotations

import gc
import logging
import re
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import PlainTextResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__
from ..core.settings import Settings
from ..ingest.sources import Sources
from ..rank import Rankers
from ..search import engine_for
from ..search.retrievers import SearchBackends
from ..store import Store, open_store
from ..store.database import storage_refused
from . import api_errors
from .cache import CacheMiddleware, page_cache
from .guards import CRASHED, CrashGuard, ReadOnlyGuard, RequestGuard, read_only_response
from .openapi import install as install_openapi
from .ops import install as install_ops
from .proxies import TrustedProxies, parse_networks
from .responses import error_response
from .security import HSTS
from .site import Site

HERE = Path(__file__).parent
log = logging.getLogger("paperwire.web")

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' https: data:; style-src 'self'; script-src 'self'; "
        "object-src 'none'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    # No page uses these browser powers: none is granted to it or to anything it embeds.
    "Permissions-Policy": (
        "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()"
    ),
}


@dataclass(frozen=True)
class Extensions:
    """What plugins bring to the site (see :mod:`paperwire.plugins`)."""

    routers: Sequence[APIRouter]
    sources: Sources
    rankers: Rankers
    backends: SearchBackends


def create_app(settings: Settings, extensions: Extensions, store: Store | None = None) -> FastAPI:
    """The site over ``store`` (opened from the settings when not given)."""
    if store is None:
        store = open_store(settings.store.database_url)
    app = FastAPI(
        lifespan=_threads(settings.site.threads),
        title=f"{settings.site.site_name} API",
        version=__version__,
        description=(
            "Daily papers, compatible with Hugging Face's public papers API "
            "(`/api/daily_papers`, `/api/papers/{id}`, `/api/papers/search`), plus upvotes, "
            "comments and submissions. Authenticate writes with `Authorization: Bearer <token>` "
            "(create tokens in Settings)."
        ),
        # paperwire.web.docs serves /api/docs with assets from a package, not a CDN.
        docs_url=None,
        redoc_url=None,
    )
    app.state.site = Site(
        settings,
        store,
        search=engine_for(store, settings.search, extensions.backends),
        ranker=extensions.rankers.get(settings.site.trending_ranker),
        sources=extensions.sources,
    )

    # Innermost: a crashing view is answered here (with the headers below), the connection
    # kept open.
    app.add_middleware(CrashGuard)
    app.add_middleware(SecurityHeaders, https=settings.site.secure_cookies)
    app.add_middleware(BodyLimit, limit=settings.site.max_body_bytes)
    app.add_middleware(RequestGuard)
    app.add_middleware(ReadOnlyGuard, enabled=settings.site.read_only)
    # Outermost: repeat anonymous GETs are answered from memory before routing.
    # A new data version brings the vector index up to date before pages use it, so a cached
    # search never misses a paper another process has just embedded; and For you counts the
    # words of new feed papers in the background.
    app.state.page_cache = page_cache(settings.site, store, partial(_data_changed, app.state.site))
    app.add_middleware(CacheMiddleware, cache=app.state.page_cache)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    # Plain functions: Starlette runs them in the thread pool (an error page may read the
    # visitor from the database).
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _bad_params)
    app.add_exception_handler(Exception, _crash)
    for router in extensions.routers:
        app.include_router(router)
    # Per path pattern, the methods its routes take, for the Allow header of a 405.
    app.state.methods = [
        (route.path_regex, set(route.methods or ()))
        for router in extensions.routers
        for route in router.routes
        if isinstance(route, APIRoute)
    ]
    install_openapi(app, settings.site.comment_max_chars)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> Response:  # the process answers: on the event loop, no database
        return PlainTextResponse("ok")

    install_ops(app)  # /readyz, /metrics, request timing and the access log
    # Outermost: everything further in (the access log, the page cache, rate limits via
    # Ctx.ip) sees the real client behind a trusted proxy.
    app.add_middleware(TrustedProxies, networks=parse_networks(settings.site.trusted_proxies))
    return app


def _data_changed(site: Site) -> None:
    """The stored data changed (run before pages see the new version): the vector index
    takes in new vectors now; the trending rank is computed anew at its next read (a vote
    in another process); For you counts new feed papers' words in the background; the
    speller looks for new papers at its next use."""
    site.search.catch_up()
    site.trending.invalidate()
    site.warm_for_you()
    site.speller.data_changed()


def _threads(count: int) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """The lifespan of a web process. It bounds the thread pool running ``def`` routes and
    dependencies: on a small machine 40 threads (anyio's default) holding the interpreter
    lock in turn make every request wait behind the others; a few keep the cores busy with
    less waiting (signed-in daily page at 50 connections: 300 -> 530 requests/s)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = max(1, count)
        # What is loaded by now lives as long as the process: out of the collector's sight,
        # a full collection no longer walks it (a 70 ms pause every few thousand requests).
        gc.collect()
        gc.freeze()
        yield

    return lifespan


def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers) if exc.headers else None
    if exc.status_code == 405:  # Starlette names the first route's methods only
        headers = (headers or {}) | {"Allow": ", ".join(_allowed(request))}
    kept = getattr(exc, "kept", "")  # (deps.StaleForm: the text the form carried)
    message = str(exc.detail)
    if exc.status_code == 404 and message == "Not Found" and api_errors.is_api(request.url.path):
        message = api_errors.no_such_path(request.url.path)  # no route: the API's words
    return error_response(request, exc.status_code, message, headers, kept)


def _allowed(request: Request) -> list[str]:
    """Every method some route takes at this path (POST and DELETE of an upvote are two
    routes)."""
    path = request.scope["path"]
    methods: set[str] = set()
    for regex, taken in request.app.state.methods:
        if regex.match(path):
            methods |= taken
    return sorted(methods)


def _bad_params(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if errors and all(
        err.get("loc", ("",))[0] == "path" and err.get("type") == "int_parsing" for err in errors
    ):
        # /collections/abc: no such page, rather than a lesson in parameter types
        if api_errors.is_api(request.url.path):
            return error_response(request, 404, api_errors.bad_path_params(errors))
        return error_response(request, 404, f"There is no page at {request.url.path[:200]}.")
    if errors and errors[0].get("type") == "json_invalid":
        return error_response(request, 400, api_errors.invalid_json(errors[0], exc.body))
    return error_response(request, 400, "; ".join(map(_human, errors)) or "bad request")


_CHOICES = re.compile(r"^\^\(([\w|.-]+)\)\$$")  # a Query pattern such as ^(day|week|new)$


def _human(err: Any) -> str:
    """One validation error as a sentence about the parameter, not pydantic's wording."""
    where = ".".join(str(x) for x in err.get("loc", ())[1:]) or "The request"
    kind, ctx = err.get("type", ""), err.get("ctx") or {}
    given = err.get("input")
    got = f" (not {str(given)[:40]!r})" if isinstance(given, str | int | float) else ""
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return f"{where} must be a whole number{got}"
    if kind in ("float_parsing", "float_type"):
        return f"{where} must be a number{got}"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        bound = next(iter(ctx.values()), "")
        words = {"greater_than_equal": "at least", "greater_than": "more than",
                 "less_than_equal": "at most", "less_than": "less than"}[kind]  # fmt: skip
        return f"{where} must be {words} {bound}{got}"
    if kind == "string_pattern_mismatch" and where == "arxiv_id":
        return (
            f"{str(given)[:40]!r} is not an arXiv id: they look like 2401.09417 or hep-th/9901001"
        )
    if kind == "string_pattern_mismatch":
        choices = _CHOICES.match(str(ctx.get("pattern", "")))
        if choices:
            return f"{where} must be one of {', '.join(choices.group(1).split('|'))}{got}"
        return f"{where} is not in the expected form{got}"
    if kind == "string_too_long":
        return f"{where} must be at most {ctx.get('max_length')} characters long"
    if kind == "string_too_short":
        least = ctx.get("min_length")
        return f"{where} must be at least {least} character{'' if least == 1 else 's'} long"
    if kind == "missing":
        return f"{where} is missing"
    return f"{where}: {err.get('msg')}"


def _crash(request: Request, exc: Exception) -> Response:  # a bug outside CrashGuard's reach
    if storage_refused(exc):  # the database is read-only or full: a 503, not a bug
        log.warning("storage refused %s %s: %s", request.method, request.url.path, exc)
        return read_only_response(request)
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(request, 500, CRASHED)


class SecurityHeaders:
    """The security headers on every response (unless it set its own), and the time spent in
    the app as ``Server-Timing`` (for browsers' dev tools and bench/web_pages.py)."""

    def __init__(self, app: Any, https: bool = False):
        self.app = app
        # Served over https (base_url, or cookie_secure): browsers must never use plain http.
        self.headers = {
            **SECURITY_HEADERS,
            **({"Strict-Transport-Security": HSTS} if https else {}),
        }

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()

        async def with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.headers.items():
                    headers.setdefault(name, value)
                headers["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.2f}"
            await send(message)

        await self.app(scope, receive, with_headers)


class BodyLimit:
    """Refuse bodies over the limit before anyone reads them (413), streamed or not."""

    def __init__(self, app: Any, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            return await _too_large(scope, send, self.limit)
        seen = 0

        async def limited() -> Any:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge()
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await _too_large(scope, send, self.limit)


class _TooLarge(Exception):
    pass


async def _too_large(scope: Any, send: Any, limit: int) -> None:
    body = f'{{"error": "request body larger than {limit} bytes"}}'.encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json"), (b"connection", b"close")],
        }
    )
    await send({"type": "http.response.body", "body": body})
