"""Responses: pages rendered for a visitor (with the cookies the visit sets), errors as a page
or as JSON, sign-in cookies, safe redirect targets."""

from __future__ import annotations

import html
from typing import Any

from fastapi import HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from ..core.models import User
from ..store.database import storage_refused
from .deps import Ctx, get_ctx
from .security import CSRF_COOKIE, SESSION_COOKIE, SESSION_MAX_AGE


def finish(ctx: Ctx, response: Response) -> Response:
    """Set the cookies this visit owes the browser (a new CSRF nonce, a session)."""
    if ctx.new_nonce and ctx.csrf_used:
        response.set_cookie(
            CSRF_COOKIE,
            ctx.nonce,
            max_age=SESSION_MAX_AGE,
            httponly=True,
            samesite="lax",
            secure=ctx.site.secure_cookies,
        )
    for args, kwargs in ctx.extra_cookies:
        response.set_cookie(*args, **kwargs)
    return response


class CsrfToken:
    """The visitor's CSRF token as templates print it: a page that prints it is personal."""

    def __init__(self, ctx: Ctx):
        self.ctx = ctx

    def __html__(self) -> str:
        return self.ctx.use_csrf()

    __str__ = __html__


def page(ctx: Ctx, template: str, status: int = 200, **context: Any) -> Response:
    """A page for the visitor. Signed out and without a form that needs the CSRF token, it is
    the same for everyone (web.cache keeps and shares it); else it is personal."""
    context.update(ctx=ctx, user=ctx.user, csrf=CsrfToken(ctx), request=ctx.request)
    response = ctx.site.templates.TemplateResponse(
        ctx.request, template, context, status_code=status
    )
    if ctx.user:
        response.headers["Cache-Control"] = "no-store"
    elif ctx.csrf_used:
        response.headers["Cache-Control"] = "private, no-cache"
    return finish(ctx, response)


def sign_in(ctx: Ctx, user: User) -> None:
    """The response of this request signs ``user`` in (a signed session cookie), and the
    page it renders already shows them signed in."""
    ctx.user = user
    token = ctx.site.signer.dumps("session", [user.id, user.session_version])
    ctx.extra_cookies.append(
        (
            (SESSION_COOKIE, token),
            {
                "max_age": SESSION_MAX_AGE,
                "httponly": True,
                "samesite": "lax",
                "secure": ctx.site.secure_cookies,
            },
        )
    )


MAX_NEXT = 2000


def safe_next(value: str | None, default: str = "/papers") -> str:
    """A redirect target from a form or query: a path on this site, never another site
    (``//host`` and ``/\\host`` are other sites to a browser)."""
    value = value or default
    if len(value) > MAX_NEXT:  # echoed into the form and the Location header
        return default
    if value.startswith("/") and not value.startswith(("//", "/\\")):
        return value
    return default


def wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or "application/json" in request.headers.get(
        "accept", ""
    )


def error_response(
    request: Request, status: int, message: str, headers: dict[str, str] | None = None
) -> Response:
    """An error as JSON (API, or asked for) or as a page."""
    if wants_json(request):
        return JSONResponse({"error": message}, status_code=status, headers=headers)
    try:
        ctx = get_ctx(request)
        response = page(ctx, "error.html", status=status, status_code=status, message=message)
    except HTTPException:  # a bad API token on a page: show the page anonymously
        return HTMLResponse(f"<h1>{status}</h1>", status_code=status, headers=headers)
    except Exception as exc:  # the storage refuses even the page's reads: a bare page
        if not storage_refused(exc):
            raise
        return HTMLResponse(
            f"<h1>{status}</h1><p>{html.escape(message)}</p>", status_code=status, headers=headers
        )
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response
