"""Request dependencies: who is asking (:class:`Ctx`), a posted form after its CSRF check,
an API writer, roles and rate limits. Views declare what they need with the ``Annotated``
types below and stay plain ``def`` functions, so that their database work runs in the thread
pool, never on the event loop; only reading the request body is async.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Path, Request
from starlette.datastructures import FormData

from ..core.models import User
from ..core.settings import Settings
from ..core.signing import new_nonce
from ..core.text import clean
from ..store import Store
from .site import Site

# Row ids are 32-bit on PostgreSQL (SERIAL): a larger number is no row, and a 400 before it
# reaches the database (it used to be a 500 from the driver's overflow).
MAX_ROW_ID = 2**31 - 1
RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID, description="a row id")]


def row_id(text: str) -> int | None:
    """A row id typed into a form, or None when it is not one (ASCII digits only: "²" is a
    digit to str.isdigit but no number to int)."""
    if not (text.isascii() and text.isdigit()) or len(text) > 10:
        return None
    number = int(text)
    return number if 0 < number <= MAX_ROW_ID else None


STALE_FORM = (
    "This form has expired (the page stayed open across a sign-in or sign-out, or the form "
    "was sent twice) or came from another site. Go back, reload the page and try again."
)
SIGNED_OUT_FORM = (
    "You are signed out (in another tab, or your session ended), so this was not sent. "
    "Sign in, then send it again."
)


class StaleForm(HTTPException):
    """A form whose CSRF token does not match: 403, with the text it carried (a comment,
    a note), which the error page gives back so that nothing typed is lost."""

    def __init__(self, ctx: Ctx, kept: str = ""):
        super().__init__(403, SIGNED_OUT_FORM if kept and not ctx.user else STALE_FORM)
        self.kept = kept


TWO_FACTOR_REQUIRED = (
    "Admins of this site must turn on two-factor sign-in first: /settings/two-factor"
)


@dataclass
class Ctx:
    """The visitor of one request."""

    request: Request
    user: User | None
    nonce: str
    new_nonce: bool
    csrf: str
    via_token: bool = False
    # A Bearer token's scopes (core.models.TOKEN_SCOPES); a session may do all its user may.
    scopes: tuple[str, ...] = ()
    # The signed-in browser's session: its row and the token its cookie holds (the CSRF
    # token of a signed-in visitor is derived from it, so it is bound to the session).
    session_id: int | None = None
    session_token: str | None = None
    extra_cookies: list[tuple[tuple[str, str], dict[str, Any]]] = field(default_factory=list)
    # Whether the response shows the CSRF token: then it is this visitor's own (personal,
    # never cached for others), and a new nonce goes out as a cookie.
    csrf_used: bool = False
    unread: int = 0  # the signed-in visitor's unread notifications (read with the session)

    def use_csrf(self) -> str:
        self.csrf_used = True
        return self.csrf

    @property
    def site(self) -> Site:
        site: Site = self.request.app.state.site
        return site

    @property
    def store(self) -> Store:
        return self.site.store

    @property
    def settings(self) -> Settings:
        return self.site.settings

    @property
    def ip(self) -> str:
        return self.request.client.host if self.request.client else "unknown"

    def role_at_least(self, role: str) -> bool:
        """Whether the visitor holds ``role``; through a token, roles above "user" also need
        the token's admin scope."""
        if self.user is None or not self.user.has_role(role):
            return False
        if self.via_token and role != "user" and "admin" not in self.scopes:
            return False
        return role != "admin" or not self.admin_lacks_two_factor

    @cached_property
    def admin_lacks_two_factor(self) -> bool:
        """An admin without two-factor sign-in where ``require_2fa_for_admins`` is on: no
        admin powers until they turn it on (whatever the credential, so that a password
        alone cannot mint an API token that has them)."""
        return (
            self.user is not None
            and self.user.role == "admin"
            and self.settings.site.require_2fa_for_admins
            and not self.store.twofactor.enabled(self.user.id)
        )

    def csrf_ok(self, token: str | None) -> bool:
        """Whether ``token`` is this visitor's CSRF token (API tokens need none: browsers do
        not send them on their own). A signed-in visitor's is bound to their session."""
        if self.via_token:
            return True
        if self.session_token is not None:
            return self.site.signer.csrf_ok(session_nonce(self.session_token), token)
        return not self.new_nonce and self.site.signer.csrf_ok(self.nonce, token)

    def bind_session(self, user: User | None, session_id: int | None, token: str | None) -> None:
        """From now on the visitor is ``user`` in session ``session_id`` (or nobody): the
        CSRF token the rest of the response prints is the new session's."""
        self.user, self.session_id, self.session_token = user, session_id, token
        self.csrf = self.site.signer.csrf_token(session_nonce(token) if token else self.nonce)


def session_nonce(token: str) -> str:
    """What a signed-in visitor's CSRF token is derived from: their session's token."""
    return "session:" + token


SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def get_ctx(request: Request) -> Ctx:
    """The visitor: a Bearer token's user, or the session cookie's; and the CSRF pair."""
    cached = getattr(request.state, "ctx", None)
    if isinstance(cached, Ctx):
        return cached
    site: Site = request.app.state.site
    user: User | None = None
    scopes: tuple[str, ...] = ()
    session_id, session_token, unread = None, None, 0
    scheme, _, credentials = request.headers.get("authorization", "").strip().partition(" ")
    # A Bearer header, even empty or malformed, is what the caller means to be: never a
    # fall-back to a session cookie sent beside it. (Other schemes, e.g. a proxy's Basic
    # auth, are not ours: ignored.)
    via_token = scheme.lower() == "bearer"
    if via_token:
        found = site.store.accounts.token_owner(credentials.strip())
        if found is None:
            raise HTTPException(401, "invalid, expired or revoked API token")
        user, scopes = found
        if request.method not in SAFE_METHODS and "write" not in scopes:
            raise HTTPException(403, "This API token has the read scope only.")
    else:
        raw = request.cookies.get(site.session_cookie)
        signed_in = site.store.sessions.user_for(raw) if raw else None
        if signed_in is not None:
            user, session_id, session_token = signed_in.user, signed_in.session_id, raw
            unread = signed_in.unread
    nonce = request.cookies.get(site.csrf_cookie) or ""
    fresh = len(nonce) < 16
    if fresh:
        nonce = new_nonce()
    csrf = site.signer.csrf_token(session_nonce(session_token) if session_token else nonce)
    ctx = Ctx(
        request,
        user,
        nonce,
        fresh,
        csrf,
        via_token,
        scopes,
        session_id,
        session_token,
        unread=unread,
    )
    request.state.ctx = ctx
    return ctx


CtxDep = Annotated[Ctx, Depends(get_ctx)]


async def read_form(request: Request) -> FormData:
    """The posted form (urlencoded or multipart without files); 400 when unreadable."""
    try:
        return await request.form(max_files=0, max_fields=50)
    except Exception as exc:  # noqa: BLE001 - a malformed multipart or urlencoded body
        raise HTTPException(400, f"unreadable form: {exc}") from None


async def read_form_leniently(request: Request) -> FormData:
    """The posted form, or an empty one when the body is unreadable."""
    try:
        return await request.form(max_files=0, max_fields=10)
    except Exception:  # noqa: BLE001 - the caller decides on the URL alone
        return FormData()


def link_post(ctx: Ctx, form: FormData, token: str) -> tuple[str, bool]:
    """A POST that a signed link authorizes (stop a subscription, stop notification
    e-mails), from our page (the token in the form) or a mail client's RFC 8058 one-click
    POST (``List-Unsubscribe=One-Click``, the token in the URL, no cookies): the token, and
    whether to answer in plain text (one-click, or no CSRF token of this visitor: not from
    our page)."""
    form_token = form.get("token")
    token = token or (form_token if isinstance(form_token, str) else "")
    csrf = form.get("csrf_token")
    one_click = form.get("List-Unsubscribe") == "One-Click"
    return token, one_click or not ctx.csrf_ok(csrf if isinstance(csrf, str) else None)


@dataclass
class Posted:
    """A form posted by the visitor, past its CSRF check."""

    ctx: Ctx
    form: FormData

    def text(self, name: str, default: str = "") -> str:
        """A field's text without control characters or bidi overrides (core.text.clean)."""
        value = self.form.get(name)
        return clean(value) if isinstance(value, str) else default

    def secret(self, name: str) -> str:
        """A password field exactly as typed."""
        value = self.form.get(name)
        return value if isinstance(value, str) else ""

    def fields(self) -> dict[str, str]:
        return {k: clean(v) for k, v in self.form.items() if isinstance(v, str)}


# The checks below are async though they await nothing: each takes microseconds of CPU (an
# HMAC, a comparison) and never touches the database, and FastAPI would otherwise run each in
# the thread pool, a hop that under load queues behind every page being rendered.
async def posted(ctx: CtxDep, form: Annotated[FormData, Depends(read_form)]) -> Posted:
    return check_posted(ctx, form)


def check_posted(ctx: Ctx, form: FormData) -> Posted:
    """The posted form, past its CSRF check (403 otherwise)."""
    token = form.get("csrf_token") or ctx.request.headers.get("x-csrf-token")
    if not ctx.csrf_ok(token if isinstance(token, str) else None):
        typed = [v for k in KEPT_FIELDS if isinstance(v := form.get(k), str) and v.strip()]
        raise StaleForm(ctx, "\n\n".join(typed))
    return Posted(ctx, form)


KEPT_FIELDS = ("body", "note", "description", "bio")  # what a person typed at length


PostedDep = Annotated[Posted, Depends(posted)]
FormDep = Annotated[FormData, Depends(read_form_leniently)]


SIGN_IN = "sign in (a Bearer token or a session)"


async def json_writer(ctx: CtxDep) -> Ctx:
    """For JSON writes: a Bearer token, or a session with the page's token in
    ``X-CSRF-Token``. Nobody signed in: 401, whatever the header."""
    if ctx.user is None:
        raise HTTPException(401, SIGN_IN, headers={"WWW-Authenticate": "Bearer"})
    if not ctx.csrf_ok(ctx.request.headers.get("x-csrf-token")):
        raise HTTPException(403, "missing or wrong X-CSRF-Token header (or use a Bearer token)")
    return ctx


JsonWriterDep = Annotated[Ctx, Depends(json_writer)]


async def api_writer(ctx: JsonWriterDep) -> Ctx:
    """A signed-in caller: a Bearer token, or a session cookie with X-CSRF-Token."""
    require_user(ctx)
    return ctx


WriterDep = Annotated[Ctx, Depends(api_writer)]


def require_user(ctx: Ctx, role: str = "user") -> User:
    if ctx.user is None:
        if ctx.request.url.path.startswith("/api/"):  # as for writes (json_writer)
            raise HTTPException(401, SIGN_IN, headers={"WWW-Authenticate": "Bearer"})
        raise HTTPException(401, "Sign in first.")
    if not ctx.role_at_least(role):
        if ctx.user.has_role(role) and ctx.via_token and "admin" not in ctx.scopes:
            raise HTTPException(403, "This API token lacks the admin scope.")
        if ctx.user.has_role(role):  # an admin held back by require_2fa_for_admins
            raise HTTPException(403, TWO_FACTOR_REQUIRED)
        raise HTTPException(403, f"This needs the {role} role.")
    return ctx.user


def rate_limit(ctx: Ctx, key: str, limit: int, window: int) -> None:
    if not ctx.site.limiter.allow(key, limit, window):
        raise HTTPException(
            429,
            "Too many attempts. Wait a few minutes and try again.",
            headers={"Retry-After": str(window)},
        )
