"""Responses: pages rendered for a visitor (with the cookies the visit sets), errors as a page
or as JSON, sign-in cookies, safe redirect targets."""

from __future__ import annotations

import html
from typing import Any
from urllib.parse import urlsplit

from fastapi import HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from ..core.models import User
from ..core.signing import new_nonce
from ..store.database import storage_refused
from . import feedback
from .deps import TWO_FACTOR_REQUIRED, Ctx, get_ctx
from .security import SENT_COOKIE, SENT_MAX_AGE, SESSION_MAX_AGE, cookie_name


def message_page(
    ctx: Ctx,
    heading: str,
    text: str,
    link: tuple[str, str],
    status: int = 200,
    title: str | None = None,
) -> Response:
    """A page that says one thing (done, or why not) and where to go on."""
    return page(
        ctx,
        "message.html",
        status=status,
        title=title or heading,
        heading=heading,
        text=text,
        link=link,
    )


def finish(ctx: Ctx, response: Response) -> Response:
    """Set the cookies this visit owes the browser (a new CSRF nonce, a session)."""
    if ctx.new_nonce and ctx.csrf_used:
        response.set_cookie(ctx.site.csrf_cookie, ctx.nonce, **cookie_options(ctx, SESSION_MAX_AGE))
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
    context.setdefault("feedback", feedback.notice(ctx))  # after a one-click card action
    response = ctx.site.templates.TemplateResponse(
        ctx.request, template, context, status_code=status
    )
    if ctx.user:
        response.headers["Cache-Control"] = "no-store"
    elif ctx.csrf_used:
        response.headers["Cache-Control"] = "private, no-cache"
    return finish(ctx, response)


# -- "check your inbox" ----------------------------------------------------------------------
# A form that sends a link by e-mail (sign-up, password reset, subscription) answers with a
# redirect to this page (Post/Redirect/Get: a reload shows it again instead of sending the
# form twice). The address it names travels in a short-lived signed cookie, not in the URL,
# where server logs and the browser's history would keep it.
CHECK_MAIL = ("signup", "reset", "subscription")


def check_mail(ctx: Ctx, what: str, email: str) -> Response:
    """The answer to a form that mailed ``email`` a link: on to its "check your inbox" page.
    The same for every address, known or not (no user enumeration)."""
    token = ctx.site.signer.dumps("check-mail", [what, email])
    name = cookie_name(SENT_COOKIE, ctx.site.secure_cookies)
    ctx.extra_cookies.append(((name, token), cookie_options(ctx, SENT_MAX_AGE)))
    return finish(ctx, RedirectResponse(f"/check-mail/{what}", status_code=303))


def check_mail_page(ctx: Ctx, what: str) -> Response:
    """The "check your inbox" page, naming the address the visitor's cookie says (while it
    lasts). Personal: never kept by a cache."""
    raw = ctx.request.cookies.get(cookie_name(SENT_COOKIE, ctx.site.secure_cookies), "")
    payload = ctx.site.signer.loads("check-mail", raw[:1000], SENT_MAX_AGE) if raw else None
    email = ""
    if isinstance(payload, list) and len(payload) == 2 and payload[0] == what:
        email = str(payload[1])
    response = page(
        ctx,
        "check_mail.html",
        title="Check your inbox",
        email=email,
        reset=what == "reset",
        subscription=what == "subscription",
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def cookie_options(ctx: Ctx, max_age: int) -> dict[str, Any]:
    # __Host- cookies (over https) must be Secure, for path /, with no Domain.
    return {
        "max_age": max_age,
        "path": "/",
        "httponly": True,
        "samesite": "lax",
        "secure": ctx.site.secure_cookies,
    }


def sign_in(ctx: Ctx, user: User) -> None:
    """The response of this request signs ``user`` in: a new server-side session (the
    browser's previous one, if any, ends: no session fixation), its cookie, and a new CSRF
    nonce; the page it renders already shows them signed in, with the new session's CSRF
    token."""
    if ctx.session_id is not None and ctx.user is not None:
        ctx.store.sessions.revoke(ctx.user.id, ctx.session_id)
    agent = ctx.request.headers.get("user-agent", "")
    token = ctx.store.sessions.create(user.id, SESSION_MAX_AGE, ip=ctx.ip, agent=agent)
    session = ctx.store.sessions.user_for(token)
    ctx.bind_session(user, session.session_id if session else None, token)
    ctx.unread = session.unread if session else 0
    ctx.extra_cookies.append(
        ((ctx.site.session_cookie, token), cookie_options(ctx, SESSION_MAX_AGE))
    )
    ctx.nonce, ctx.new_nonce = new_nonce(), True
    ctx.csrf_used = True  # the rotated nonce goes out with this response


def sign_out(ctx: Ctx, response: Response) -> Response:
    """End this browser's session (the row, so the cookie is worthless even if kept)."""
    if ctx.session_id is not None and ctx.user is not None:
        ctx.store.sessions.revoke(ctx.user.id, ctx.session_id)
    ctx.bind_session(None, None, None)
    response.delete_cookie(
        ctx.site.session_cookie, path="/", secure=ctx.site.secure_cookies, httponly=True
    )
    return response


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


def _came_from(request: Request) -> str:
    """The page of this site the request was sent from (its Referer), or ""."""
    ref = urlsplit(request.headers.get("referer", "")[:MAX_NEXT])
    if ref.netloc != request.url.netloc or not ref.path.startswith("/"):
        return ""
    return safe_next(ref.path + (f"?{ref.query}" if ref.query else ""), "")


def wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or "application/json" in request.headers.get(
        "accept", ""
    )


HEADINGS = {
    400: "That did not work",
    401: "Please sign in",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed here",
    409: "Already done",
    413: "Too large",
    429: "Slow down",
    502: "Source unavailable",
}
STOCK = {404: "Not Found", 405: "Method Not Allowed"}  # Starlette's details, said better:
PLAIN = {
    404: "There is no page at this address: the link may be mistyped, or what it showed was "
    "removed.",
    405: "This address does not take that kind of request.",
}


def error_response(
    request: Request,
    status: int,
    message: str,
    headers: dict[str, str] | None = None,
    kept: str = "",
) -> Response:
    """An error as JSON (API, or asked for) or as a page (with ``kept``: the text the
    request carried, given back to copy)."""
    if wants_json(request):
        return JSONResponse({"error": message}, status_code=status, headers=headers)
    heading = HEADINGS.get(status, f"Error {status}")
    if message == STOCK.get(status):  # the framework's own words ("Not Found")
        message = PLAIN[status]
    try:
        ctx = get_ctx(request)
        response = page(
            ctx,
            "error.html",
            status=status,
            title=heading,
            heading=heading,
            status_code=status,
            message=message,
            set_up_two_factor=message == TWO_FACTOR_REQUIRED,
            kept=kept,
            came_from=_came_from(request),
        )
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
