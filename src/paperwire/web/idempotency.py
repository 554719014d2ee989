"""Idempotency-Key on write requests (draft-ietf-httpapi-idempotency-key-header): a client
that retries a request it got no answer to gets the first answer again (header
``Idempotent-Replayed: true``) instead of writing twice."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from fastapi import HTTPException, Request
from fastapi.responses import JSONResponse

from .deps import Ctx

MAX_KEY = 255


def check_key(raw: str | None) -> str | None:
    """The key, or None without one; 400 unless 1-255 printable ASCII characters."""
    if raw is None:
        return None
    if not 1 <= len(raw) <= MAX_KEY or not all(" " <= c <= "~" for c in raw):
        raise HTTPException(400, "Idempotency-Key must be 1-255 printable ASCII characters")
    return raw


def fingerprint(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def run_json(
    ctx: Ctx, request: Request, payload: Any, status: int, write: Callable[[], Any]
) -> Any:
    """``write()``'s JSON result, or with an Idempotency-Key header, a JSONResponse: the
    first request's (kept), 409 while it is in flight, 422 for a different body."""
    key = check_key(request.headers.get("idempotency-key"))
    if key is None or ctx.user is None:
        return write()
    uid, scope, fp = ctx.user.id, f"{request.method} {request.url.path}"[:300], fingerprint(payload)
    repo = ctx.store.idempotency
    outcome, kept_status, kept_body = repo.claim(uid, key, scope, fp)
    if outcome == "busy":
        raise HTTPException(409, "A request with this Idempotency-Key is in progress")
    if outcome == "mismatch":
        raise HTTPException(422, "This Idempotency-Key was used with a different request body")
    if outcome == "replay":
        return JSONResponse(
            json.loads(kept_body), kept_status, headers={"Idempotent-Replayed": "true"}
        )
    try:
        result = write()
    except BaseException:
        repo.release(uid, key, scope)
        raise
    if isinstance(result, JSONResponse):  # e.g. 202 for a request waiting for arXiv
        repo.complete(uid, key, scope, result.status_code, bytes(result.body).decode())
        return result
    repo.complete(uid, key, scope, status, json.dumps(result))
    return JSONResponse(result, status)


def run_form(ctx: Ctx, raw_key: str, payload: Any, scope: str, write: Callable[[], str]) -> str:
    """Where a form POST redirects: ``write()``'s location, or with a (hidden-field) key
    already answered, the first answer's (nothing written again)."""
    key = check_key(raw_key or None)
    if key is None or ctx.user is None:
        return write()
    uid, fp, repo = ctx.user.id, fingerprint(payload), ctx.store.idempotency
    outcome, _, kept = repo.claim(uid, key, scope, fp)
    if outcome == "busy":
        raise HTTPException(409, "This form is already being sent; reload the page in a moment")
    if outcome == "mismatch":
        raise HTTPException(422, "This form was already sent with other content")
    if outcome == "replay":
        return kept
    try:
        location = write()
    except BaseException:
        repo.release(uid, key, scope)
        raise
    repo.complete(uid, key, scope, 303, location)
    return location


def first_time(ctx: Ctx, raw_key: str, payload: Any, scope: str, write: Callable[[], None]) -> bool:
    """Run ``write()`` for a form whose answer shows a secret once (a new API token, new
    recovery codes), so that cannot redirect: False, with nothing run, when this rendering of
    the form was already sent (a reload of the answer, a double click)."""
    ran = False

    def run() -> str:
        nonlocal ran
        write()
        ran = True
        return ""

    run_form(ctx, raw_key, payload, scope, run)
    return ran
