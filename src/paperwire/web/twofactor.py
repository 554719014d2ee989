"""Two-factor sign-in (TOTP) and recovery codes: turning it on in Settings, the second step
of signing in, new recovery codes, turning it off.

* Turning it on: the page shows a new secret (as text, and as an ``otpauth://`` URI that
  authenticator apps read, both as a link and as a QR code to scan); it is on once a
  current code and the password confirm it. The secret travels in a signed form field until
  then, and is stored sealed under the instance secret (:mod:`paperwire.core.twofactor`).
  Ten single-use recovery codes are shown once; only their hashes are kept. Other sessions
  end (they were opened with the password alone).
* Signing in: after the right password (never before, so a wrong password tells nothing
  about the account), :func:`second_step` answers with a form for a code, carrying a signed
  token good for 5 minutes, bound to the user, their session version and their count of
  second steps (so it is good once). Each TOTP time step is accepted once (a replayed code
  is refused), each recovery code once; attempts are rate-limited per address and account.
  Then :func:`~paperwire.web.responses.sign_in`, the one way to sign in.
* API tokens are their own credential: a request with one never asks for a code, and
  tokens cannot change the second factor.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, HTTPException
from fastapi.responses import RedirectResponse, Response
from markupsafe import Markup

from ..core import twofactor as tf
from ..core.hooks import hookimpl
from ..core.models import Card, User
from ..core.passwords import verify_password
from . import audit, feedback, idempotency, signin_intent
from .deps import Ctx, CtxDep, Posted, PostedDep, rate_limit, require_user
from .responses import finish, page, safe_next, sign_in

router = APIRouter(include_in_schema=False)
SIGNIN_MAX_AGE = 5 * 60  # the second step's token
SETUP_MAX_AGE = 30 * 60  # a secret shown for setup, until it is confirmed
WINDOW = 15 * 60  # the rate limits' window, as for the password step
SETTINGS = "/settings/two-factor"
WRONG_CODE = "That code is not right (or was used already). Try the current one."
EXPIRED = "This sign-in has expired or was finished already. Sign in again."


def _limits(ctx: Ctx, action: str, account: str) -> None:
    limit = ctx.settings.site.rate_limit_auth
    rate_limit(ctx, f"{action}:ip:{ctx.ip}", limit * 3, WINDOW)
    rate_limit(ctx, f"{action}:acct:{account}", limit, WINDOW)


def _secret(ctx: Ctx, state: tf.TwoFactor) -> str | None:
    return tf.unseal(ctx.site.signer.secret, state.user_id, state.secret_sealed)


def check_code(ctx: Ctx, state: tf.TwoFactor, typed: str) -> bool:
    """Whether ``typed`` is a current TOTP code never accepted before, or an unused recovery
    code; either is spent by this call."""
    text = "".join(typed.split())[:100]
    if tf.is_totp_code(text):
        secret = _secret(ctx, state)
        step = tf.matching_step(secret, text) if secret else None
        return step is not None and ctx.store.twofactor.use_step(state.user_id, step)
    code = tf.normal_recovery_code(text)
    return code is not None and ctx.store.twofactor.use_recovery_code(
        state.user_id, tf.recovery_hash(code)
    )


# -- signing in ----------------------------------------------------------------------------
def second_step(
    ctx: Ctx, user: User, nxt: str, notice: str = "", to_upvote: Card | None = None
) -> Response | None:
    """After the right password (or a password reset's link): the page asking for a code
    when ``user`` has two-factor sign-in on, else None (sign them in). ``to_upvote``: the
    paper they signed in to upvote (signin_intent), carried through this step."""
    state = ctx.store.twofactor.get(user.id)
    if state is None:
        return None
    token = ctx.site.signer.dumps("two-factor", [user.id, user.session_version, state.signins])
    return _signin_page(ctx, token, nxt, notice=notice, to_upvote=to_upvote)


def _signin_page(ctx: Ctx, token: str, nxt: str, status: int = 200, **extra: Any) -> Response:
    return page(
        ctx,
        "two_factor_signin.html",
        status=status,
        title="Two-factor sign-in",
        token=token,
        next=nxt,
        **extra,
    )


@router.get("/signin/two-factor")
def signin_code_again(ctx: CtxDep) -> Response:
    """A reload or a bookmark of the second step (its token came with a POST): start over."""
    return RedirectResponse("/signin", status_code=303)


def _pending(ctx: Ctx, token: str) -> tuple[User, tf.TwoFactor, int] | None:
    """The user a second step's token names, their second factor and the token's count; None
    when the token is forged, expired, used, or the account changed since."""
    payload = ctx.site.signer.loads("two-factor", token, SIGNIN_MAX_AGE)
    if not (
        isinstance(payload, list) and len(payload) == 3 and all(type(x) is int for x in payload)
    ):
        return None
    user = ctx.store.accounts.get_user(id=payload[0])
    if user is None or not user.is_active or user.session_version != payload[1]:
        return None
    state = ctx.store.twofactor.get(user.id)
    if state is None or state.signins != payload[2]:
        return None
    return user, state, payload[2]


@router.post("/signin/two-factor")
def signin_code(post: PostedDep) -> Response:
    ctx = post.ctx
    token = post.text("token")[:1000]
    nxt = safe_next(post.text("next"))
    to_upvote = feedback.named_paper(ctx, post.text(signin_intent.FIELD))
    rate_limit(ctx, f"two-factor:ip:{ctx.ip}", ctx.settings.site.rate_limit_auth * 3, WINDOW)
    found = _pending(ctx, token)
    again = {"title": "Sign in", "next": nxt, "to_upvote": to_upvote, "error": EXPIRED}
    if found is None:
        return page(ctx, "signin.html", status=400, **again)
    user, state, count = found
    rate_limit(ctx, f"two-factor:acct:{user.id}", ctx.settings.site.rate_limit_auth, WINDOW)
    if not check_code(ctx, state, post.text("code")):
        return _signin_page(ctx, token, nxt, status=400, error=WRONG_CODE, to_upvote=to_upvote)
    if not ctx.store.twofactor.finish_signin(user.id, count):  # the token was used meanwhile
        return page(ctx, "signin.html", status=400, **again)
    sign_in(ctx, user)
    audit.record(ctx, "signin", user.id, two_factor=True)
    nxt = signin_intent.apply(ctx, to_upvote, nxt)
    return finish(ctx, RedirectResponse(nxt, status_code=303))


# -- settings ------------------------------------------------------------------------------
def _owner(ctx: Ctx) -> User:
    user = require_user(ctx)
    if ctx.via_token:
        raise HTTPException(403, "API tokens cannot change two-factor sign-in.")
    return user


def _settings_page(ctx: Ctx, status: int = 200, **extra: Any) -> Response:
    user = _owner(ctx)
    state = ctx.store.twofactor.get(user.id)
    if state is None and "setup" not in extra:
        extra.update(_setup(ctx, user, tf.new_secret()))
    return page(
        ctx,
        "two_factor.html",
        status=status,
        title="Two-factor sign-in",
        state=state,
        required=user.role == "admin" and ctx.settings.site.require_2fa_for_admins,
        **extra,
    )


def _setup(ctx: Ctx, user: User, secret: str) -> dict[str, Any]:
    """What the page shows to set up ``secret``, and the signed field that carries it."""
    uri = tf.provisioning_uri(secret, user.username, ctx.settings.site.site_name)
    return {
        "secret": tf.grouped(secret),
        "uri": uri,
        "qr": Markup(tf.qr_svg(uri)),
        "setup": ctx.site.signer.dumps("two-factor-setup", [user.id, user.session_version, secret]),
    }


@router.get(SETTINGS)
def two_factor_settings(ctx: CtxDep) -> Response:
    if ctx.user is None:
        return RedirectResponse(f"/signin?next={SETTINGS}", status_code=303)
    return _settings_page(ctx)


@router.post(f"{SETTINGS}/enable")
def enable(post: PostedDep) -> Response:
    ctx = post.ctx
    user = _owner(ctx)
    _limits(ctx, "two-factor-settings", str(user.id))
    payload = ctx.site.signer.loads("two-factor-setup", post.text("setup")[:1000], SETUP_MAX_AGE)
    if (
        not isinstance(payload, list)
        or len(payload) != 3
        or payload[:2] != [user.id, user.session_version]
        or not isinstance(payload[2], str)
    ):
        return _settings_page(
            ctx, status=400, error="This setup has expired. Add the new secret below instead."
        )
    secret: str = payload[2]
    again = _setup(ctx, user, secret)
    if not verify_password(user.password_hash, post.secret("password")):
        return _settings_page(ctx, status=400, error="The password is wrong.", **again)
    step = tf.matching_step(secret, "".join(post.text("code").split()))
    if step is None:
        return _settings_page(ctx, status=400, error=WRONG_CODE, **again)
    codes = tf.new_recovery_codes()
    sealed = tf.seal(ctx.site.signer.secret, user.id, secret)
    if not ctx.store.twofactor.enable(user.id, sealed, step, [tf.recovery_hash(c) for c in codes]):
        return _settings_page(ctx, status=409, error="Two-factor sign-in is on already.")
    # Sessions opened with the password alone end; this browser stays signed in.
    ctx.store.accounts.end_sessions(user.id)
    ctx.bind_session(None, None, None)
    sign_in(ctx, ctx.store.accounts.get_user(id=user.id) or user)
    audit.notify(ctx, "two-factor-on", user)
    return _settings_page(
        ctx,
        codes=codes,
        notice="Two-factor sign-in is on; other sessions were signed out.",
    )


def _confirmed(post: Posted) -> tuple[User, tf.TwoFactor] | Response:
    """The signed-in owner and their second factor, for a change that needs the password
    (rate-limited like the other two-factor settings)."""
    ctx = post.ctx
    user = _owner(ctx)
    _limits(ctx, "two-factor-settings", str(user.id))
    state = ctx.store.twofactor.get(user.id)
    if state is None:
        return _settings_page(ctx, status=409, error="Two-factor sign-in is off.")
    if not verify_password(user.password_hash, post.secret("password")):
        return _settings_page(ctx, status=400, error="The password is wrong.")
    return user, state


@router.post(f"{SETTINGS}/recovery-codes")
def new_recovery_codes(post: PostedDep) -> Response:
    ctx = post.ctx
    confirmed = _confirmed(post)
    if isinstance(confirmed, Response):
        return confirmed
    user, _ = confirmed
    codes = tf.new_recovery_codes()

    def write() -> None:
        ctx.store.twofactor.replace_recovery_codes(user.id, [tf.recovery_hash(c) for c in codes])

    scope = f"POST {SETTINGS}/recovery-codes"
    if not idempotency.first_time(ctx, post.text("idempotency_key"), [], scope, write):
        return _settings_page(
            ctx, notice="This form was sent already: the new recovery codes were made and "
            "shown once, then. If you did not keep them, make new ones below.",
        )  # fmt: skip
    return _settings_page(ctx, codes=codes, notice="New recovery codes; the old ones are void.")


@router.post(f"{SETTINGS}/disable")
def disable(post: PostedDep) -> Response:
    ctx = post.ctx
    confirmed = _confirmed(post)
    if isinstance(confirmed, Response):
        return confirmed
    user, state = confirmed
    if not check_code(ctx, state, post.text("code")):
        return _settings_page(ctx, status=400, error=WRONG_CODE)
    ctx.store.twofactor.disable(user.id)
    audit.notify(ctx, "two-factor-off", user)
    return _settings_page(ctx, notice="Two-factor sign-in is off.")


@hookimpl
def register_routes(register: Callable[[APIRouter], None]) -> None:
    register(router)
