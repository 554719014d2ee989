"""The web application: one FastAPI app serving pages, the JSON API and Atom feeds.

Views stay thin: they read the request, call the store, and render. Everything a page needs
about the visitor (user, CSRF token) travels in a :class:`Ctx`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__
from ..config import Config
from ..periods import FeedClock
from ..search import engine_for
from ..store import Store
from . import render
from .security import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    SESSION_MAX_AGE,
    RateLimiter,
    new_nonce,
    site_signer,
)

HERE = Path(__file__).parent
log = logging.getLogger("paperwire.web")


@dataclass
class Ctx:
    """The visitor of one request."""

    request: Request
    user: dict | None
    nonce: str
    new_nonce: bool
    csrf: str
    via_token: bool = False
    extra_cookies: list = field(default_factory=list)

    @property
    def app(self) -> Site:
        return self.request.app.state.site

    @property
    def store(self) -> Store:
        return self.app.store

    @property
    def config(self) -> Config:
        return self.app.config

    @property
    def ip(self) -> str:
        return self.request.client.host if self.request.client else "unknown"

    def role_at_least(self, role: str) -> bool:
        order = {"user": 0, "curator": 1, "admin": 2}
        return self.user is not None and order[self.user["role"]] >= order[role]


class Site:
    """What every request shares: settings, store, signer, templates, feed clock."""

    def __init__(self, config: Config, store: Store):
        self.config = config
        self.store = store
        self.signer = site_signer(config, store)
        self.limiter = RateLimiter(store)
        self.arxiv_client = None  # made on first use; one per process, at arXiv's pace
        self.clock = FeedClock(config.feed_timezone, config.feed_rollover)
        self.search = engine_for(config, store)
        self.secure_cookies = config.cookie_secure or config.base_url.startswith("https://")
        self.templates = Jinja2Templates(directory=str(HERE / "templates"))
        env = self.templates.env
        env.globals.update(site_name=config.site_name, version=__version__)
        env.filters.update(
            short_date=render.short_date,
            authors_label=render.authors_label,
            compact=render.compact,
        )


# -- visitor -------------------------------------------------------------------------------
def _session_user(request: Request, site: Site) -> dict | None:
    raw = request.cookies.get(SESSION_COOKIE)
    if not raw:
        return None
    payload = site.signer.loads("session", raw, SESSION_MAX_AGE)
    if not isinstance(payload, list) or len(payload) != 2:
        return None
    user = site.store.get_user(id=int(payload[0]))
    if user is None or not user["is_active"] or user["session_version"] != payload[1]:
        return None
    return user


def get_ctx(request: Request) -> Ctx:
    site: Site = request.app.state.site
    cached = getattr(request.state, "ctx", None)
    if cached is not None:
        return cached
    user, via_token = None, False
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        user = site.store.user_for_token(auth[7:].strip())
        if user is None:
            raise HTTPException(401, "invalid or revoked API token")
        via_token = True
    else:
        user = _session_user(request, site)
    nonce = request.cookies.get(CSRF_COOKIE) or ""
    fresh = len(nonce) < 16
    if fresh:
        nonce = new_nonce()
    ctx = Ctx(request, user, nonce, fresh, site.signer.csrf_token(nonce), via_token)
    request.state.ctx = ctx
    return ctx


def _csrf_ok(ctx: Ctx, token: str | None) -> bool:
    if ctx.via_token:  # API tokens are not sent by browsers on their own
        return True
    return not ctx.new_nonce and ctx.app.signer.csrf_ok(ctx.nonce, token)


async def form_ctx(request: Request) -> tuple[Ctx, FormData]:
    """For POST forms: the visitor and the form, after the CSRF check."""
    ctx = get_ctx(request)
    try:
        form = await request.form(max_files=0, max_fields=50)
    except Exception as exc:  # malformed multipart or urlencoded body
        raise HTTPException(400, f"unreadable form: {exc}") from None
    token = form.get("csrf_token") or request.headers.get("x-csrf-token")
    if not _csrf_ok(ctx, token if isinstance(token, str) else None):
        raise HTTPException(
            403, "This form has expired or came from another site. Reload the page and try again."
        )
    return ctx, form


def json_csrf(request: Request) -> Ctx:
    """For JSON writes with a session cookie: the page's token in ``X-CSRF-Token``."""
    ctx = get_ctx(request)
    if not _csrf_ok(ctx, request.headers.get("x-csrf-token")):
        raise HTTPException(403, "missing or wrong X-CSRF-Token header (or use a Bearer token)")
    return ctx


def require_user(ctx: Ctx, role: str = "user") -> dict:
    if ctx.user is None:
        raise HTTPException(401, "Sign in first.")
    if not ctx.role_at_least(role):
        raise HTTPException(403, f"This needs the {role} role.")
    return ctx.user


def rate_limit(ctx: Ctx, key: str, limit: int, window: int) -> None:
    if not ctx.app.limiter.allow(key, limit, window):
        raise HTTPException(
            429,
            "Too many attempts. Wait a few minutes and try again.",
            headers={"Retry-After": str(window)},
        )


def safe_next(value: str | None, default: str = "/papers") -> str:
    """A redirect target from a form or query: a path on this site, never another site
    (``//host`` and ``/\\host`` are other sites to a browser)."""
    value = value or default
    if value.startswith("/") and not value.startswith(("//", "/\\")):
        return value
    return default


def wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or "application/json" in request.headers.get(
        "accept", ""
    )


# -- responses -----------------------------------------------------------------------------
def finish(ctx: Ctx, response: Response) -> Response:
    site = ctx.app
    if ctx.new_nonce:
        response.set_cookie(
            CSRF_COOKIE,
            ctx.nonce,
            max_age=SESSION_MAX_AGE,
            httponly=True,
            samesite="lax",
            secure=site.secure_cookies,
        )
    for args, kwargs in ctx.extra_cookies:
        response.set_cookie(*args, **kwargs)
    return response


def page(ctx: Ctx, template: str, status: int = 200, **context: Any) -> Response:
    context.update(ctx=ctx, user=ctx.user, csrf=ctx.csrf, request=ctx.request)
    response = ctx.app.templates.TemplateResponse(
        ctx.request, template, context, status_code=status
    )
    response.headers["Cache-Control"] = "no-store" if ctx.user else "private, max-age=0"
    return finish(ctx, response)


def sign_in(ctx: Ctx, user: dict) -> None:
    site = ctx.app
    token = site.signer.dumps("session", [user["id"], user["session_version"]])
    ctx.extra_cookies.append(
        (
            (SESSION_COOKIE, token),
            {
                "max_age": SESSION_MAX_AGE,
                "httponly": True,
                "samesite": "lax",
                "secure": site.secure_cookies,
            },
        )
    )


# -- application ---------------------------------------------------------------------------
class BodyLimit:
    """Refuse bodies over the limit before anyone reads them (413), streamed or not."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            return await _too_large(scope, send, self.limit)
        seen = 0

        async def limited():
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


async def _too_large(scope, send, limit: int) -> None:
    body = f'{{"error": "request body larger than {limit} bytes"}}'.encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json"), (b"connection", b"close")],
        }
    )
    await send({"type": "http.response.body", "body": body})


SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' https: data:; style-src 'self'; script-src 'self'; "
        "object-src 'none'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


def create_app(config: Config, store: Store | None = None) -> FastAPI:
    """The site over ``store`` (opened from ``config.database_url`` when not given)."""
    if store is None:
        store = Store(config.database_url)
        if store.dialect == "sqlite":
            store.upgrade()
        store.check_ready()
    app = FastAPI(
        title=f"{config.site_name} API",
        version=__version__,
        description=(
            "Daily papers, compatible with Hugging Face's public papers API "
            "(`/api/daily_papers`, `/api/papers/{id}`, `/api/papers/search`), plus upvotes, "
            "comments and submissions. Authenticate writes with `Authorization: Bearer <token>` "
            "(create tokens in Settings)."
        ),
        docs_url="/api/docs",
        redoc_url=None,
    )
    app.state.site = Site(config, store)

    @app.middleware("http")
    async def headers(request: Request, call_next):
        started = time.perf_counter()
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        # Time spent in the app, for browsers' dev tools and bench/web_pages.py.
        response.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.2f}"
        return response

    app.add_middleware(BodyLimit, limit=config.max_body_bytes)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        return error_response(request, exc.status_code, str(exc.detail), exc.headers)

    @app.exception_handler(RequestValidationError)
    async def bad_params(request: Request, exc: RequestValidationError):
        parts = []
        for err in exc.errors():
            where = ".".join(str(x) for x in err.get("loc", ())[1:]) or "request"
            parts.append(f"{where}: {err.get('msg')}")
        return error_response(request, 400, "; ".join(parts) or "bad request")

    @app.exception_handler(Exception)
    async def crash(request: Request, exc: Exception):  # a bug: log it, answer politely
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(request, 500, "Something broke on our side; it has been logged.")

    from . import account, admin, api, feeds, pages, subscribe

    app.include_router(subscribe.api)
    for module in (api, feeds, account, admin, subscribe, pages):
        app.include_router(module.router)

    @app.get("/healthz", include_in_schema=False)
    def healthz():
        return PlainTextResponse("ok")

    return app


def error_response(
    request: Request, status: int, message: str, headers: dict | None = None
) -> Response:
    if wants_json(request):
        return JSONResponse({"error": message}, status_code=status, headers=headers)
    try:
        ctx = get_ctx(request)
    except HTTPException:  # a bad API token on a page: show the page anonymously
        ctx = None
    if ctx is None:
        return HTMLResponse(f"<h1>{status}</h1>", status_code=status, headers=headers)
    response = page(ctx, "error.html", status=status, status_code=status, message=message)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def app_from_env() -> FastAPI:
    """Factory for ``paperwire serve``'s worker processes: settings from the environment."""
    import threading

    from .service import cached_trending

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    app = create_app(Config.load())
    # Rank once in the background so that no visitor waits for the first computation.
    threading.Thread(target=cached_trending, args=(app.state.site.store,), daemon=True).start()
    # Likewise load the embedding model and the vector index.
    threading.Thread(target=app.state.site.search.warm, daemon=True).start()
    return app
