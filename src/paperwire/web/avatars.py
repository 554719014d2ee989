"""Avatars on the site: generated drawings for every user and organization, images
uploaded by an organization's admins (checked, re-encoded, kept in the database), served
with long caching; and who administers an organization."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import UploadFile

from ..core import avatars
from ..core.hooks import hookimpl
from ..core.models import Organization
from .deps import STALE_FORM, Ctx, CtxDep, PostedDep, rate_limit, require_user
from .responses import page

router = APIRouter(include_in_schema=False)
YEAR = "public, max-age=31536000, immutable"
# Opened on its own, an avatar may not run or load anything.
IMAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox"


def _image(request: Request, body: bytes, content_type: str, etag: str, cache: str) -> Response:
    headers = {
        "Cache-Control": cache,
        "ETag": f'"{etag}"',
        "Content-Security-Policy": IMAGE_CSP,
        "X-Content-Type-Options": "nosniff",
    }
    if request.headers.get("if-none-match") == headers["ETag"]:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=content_type, headers=headers)


@router.get("/avatars/{kind}/{file:path}")
def avatar(request: Request, kind: str, file: str, v: str = "") -> Response:
    """``NAME.svg``: the generated drawing (for any name: it reveals nothing);
    ``NAME.webp``: an organization's uploaded image, cached for a year under its version.
    The same for every visitor: no session is read, no cookie set."""
    name, _, ext = file.rpartition(".")
    if kind not in avatars.KINDS or not name or len(name) > 200:
        raise HTTPException(404, "no such avatar")
    if ext == "svg":
        body = avatars.svg(name).encode()
        etag = hashlib.sha256(body).hexdigest()[:32]
        return _image(request, body, "image/svg+xml", etag, YEAR)
    store = request.app.state.site.store
    org = store.accounts.get_organization(name) if kind == "organizations" else None
    stored = store.avatars.get("organization", org.id) if org and ext == "webp" else None
    if stored is None:
        raise HTTPException(404, "no such avatar")
    # Pages link the current version; an old or missing one is only cached briefly.
    cache = YEAR if v == stored.sha256[:16] else "public, max-age=300"
    return _image(request, stored.data, stored.content_type, stored.sha256[:32], cache)


# -- organization admins -------------------------------------------------------------------
def can_manage(ctx: Ctx, org: Organization) -> bool:
    """Site admins and the organization's own admins may change its avatar and admins."""
    if ctx.user is None:
        return False
    return ctx.role_at_least("admin") or ctx.store.members.is_admin(org.id, ctx.user.id)


def _managed(ctx: Ctx, name: str) -> Organization:
    require_user(ctx)
    org = ctx.store.accounts.get_organization(name)
    if org is None:
        raise HTTPException(404, f"No organization called {name!r}.")
    if not can_manage(ctx, org):
        raise HTTPException(403, "Only this organization's admins (or a site admin) can do that.")
    return org


def _settings_page(
    ctx: Ctx, org: Organization, status: int = 200, error: str = "", notice: str = ""
) -> Response:
    return page(
        ctx,
        "organization_settings.html",
        status=status,
        title=f"{org.fullname or org.name}: settings",
        org=org,
        admins=ctx.store.members.admins(org.id),
        error=error,
        notice=notice,
        max_kb=avatars.MAX_UPLOAD_BYTES // 1024,
    )


@router.get("/organizations/{name}/settings")
def org_settings(ctx: CtxDep, name: str) -> Response:
    if ctx.user is None:
        return RedirectResponse(f"/signin?next=/organizations/{name}/settings", status_code=303)
    return _settings_page(ctx, _managed(ctx, name))


@dataclass
class Upload:
    csrf: str | None
    data: bytes | None


async def read_upload(request: Request) -> Upload:
    """A posted form with one file, read no further than the size limit allows."""
    try:
        form = await request.form(max_files=1, max_fields=5)
    except Exception as exc:  # noqa: BLE001 - a malformed multipart body
        raise HTTPException(400, f"unreadable form: {exc}") from None
    token = form.get("csrf_token")
    file = form.get("image")
    data = await file.read(avatars.MAX_UPLOAD_BYTES + 1) if isinstance(file, UploadFile) else None
    await form.close()
    return Upload(token if isinstance(token, str) else None, data)


@router.post("/organizations/{name}/avatar")
def upload_avatar(
    ctx: CtxDep, name: str, upload: Annotated[Upload, Depends(read_upload)]
) -> Response:
    if not ctx.csrf_ok(upload.csrf):
        raise HTTPException(403, STALE_FORM)
    org = _managed(ctx, name)
    assert ctx.user is not None
    rate_limit(ctx, f"avatar:{ctx.user.id}", 20, 3600)
    try:
        image = avatars.process_upload(upload.data or b"")
    except avatars.AvatarError as exc:
        status = 413 if len(upload.data or b"") > avatars.MAX_UPLOAD_BYTES else 400
        return _settings_page(ctx, org, status=status, error=str(exc))
    ctx.store.avatars.put_organization(
        org.id,
        content_type=image.content_type,
        data=image.data,
        sha256=image.sha256,
        width=image.width,
        height=image.height,
        url=f"/avatars/organizations/{quote(org.name, safe='')}.webp?v={image.sha256[:16]}",
        uploaded_by=ctx.user.id,
    )
    return RedirectResponse(f"/organizations/{org.name}/settings?saved=1", status_code=303)


@router.post("/organizations/{name}/avatar/delete")
def delete_avatar(post: PostedDep, name: str) -> Response:
    org = _managed(post.ctx, name)
    post.ctx.store.avatars.delete_organization(org.id)
    return RedirectResponse(f"/organizations/{org.name}/settings", status_code=303)


@router.post("/organizations/{name}/admins")
def set_admin(post: PostedDep, name: str) -> Response:
    """Name an admin (``username``), or take the role back (``remove=1``)."""
    ctx = post.ctx
    org = _managed(ctx, name)
    person = ctx.store.accounts.get_user(username=post.text("username").strip().lstrip("@"))
    if person is None:
        return _settings_page(ctx, org, status=404, error="No user by that name.")
    if post.text("remove") == "1":
        ctx.store.members.remove_admin(org.id, person.id)
    else:
        ctx.store.members.add_admin(org.id, person.id)
    return RedirectResponse(f"/organizations/{org.name}/settings", status_code=303)


@hookimpl
def register_routes(register: Callable[[APIRouter], None]) -> None:
    register(router)
