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
from .security import CSRF_COOKIE, SESSION_COOKIE, SESSION_MAX_AGE
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


STALE_FORM = "This form has expired or came from another site. Reload the page and try again."
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
    extra_cookies: list[tuple[tuple[str, str], dict[str, Any]]] = field(default_factory=list)
    # Whether the response shows the CSRF token: then it is this visitor's own (personal,
    # never cached for others), and a new nonce goes out as a cookie.
    csrf_used: bool = False

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
        if self.user is None or not self.user.has_role(role):
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
        not send them on their own)."""
        if self.via_token:
            return True
        return not self.new_nonce and self.site.signer.csrf_ok(self.nonce, token)


def _session_user(request: Request, site: Site) -> User | None:
    raw = request.cookies.get(SESSION_COOKIE)
    if not raw:
        return None
    payload = site.signer.loads("session", raw, SESSION_MAX_AGE)
    if not isinstance(payload, list) or len(payload) != 2 or not isinstance(payload[0], int):
        return None
    user = site.store.accounts.get_user(id=payload[0])
    if user is None or not user.is_active or user.session_version != payload[1]:
        return None
    return user


def get_ctx(request: Request) -> Ctx:
    """The visitor: a Bearer token's user, or the session cookie's; and the CSRF pair."""
    cached = getattr(request.state, "ctx", None)
    if isinstance(cached, Ctx):
        return cached
    site: Site = request.app.state.site
    user, via_token = None, False
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        user = site.store.accounts.user_for_token(auth[7:].strip())
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


def posted(ctx: CtxDep, form: Annotated[FormData, Depends(read_form)]) -> Posted:
    token = form.get("csrf_token") or ctx.request.headers.get("x-csrf-token")
    if not ctx.csrf_ok(token if isinstance(token, str) else None):
        raise HTTPException(403, STALE_FORM)
    return Posted(ctx, form)


PostedDep = Annotated[Posted, Depends(posted)]
FormDep = Annotated[FormData, Depends(read_form_leniently)]


def json_writer(ctx: CtxDep) -> Ctx:
    """For JSON writes: a Bearer token, or a session with the page's token in
    ``X-CSRF-Token``."""
    if not ctx.csrf_ok(ctx.request.headers.get("x-csrf-token")):
        raise HTTPException(403, "missing or wrong X-CSRF-Token header (or use a Bearer token)")
    return ctx


JsonWriterDep = Annotated[Ctx, Depends(json_writer)]


def api_writer(ctx: JsonWriterDep) -> Ctx:
    """A signed-in caller: a Bearer token, or a session cookie with X-CSRF-Token."""
    require_user(ctx)
    return ctx


WriterDep = Annotated[Ctx, Depends(api_writer)]


def require_user(ctx: Ctx, role: str = "user") -> User:
    if ctx.user is None:
        raise HTTPException(401, "Sign in first.")
    if not ctx.role_at_least(role):
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
