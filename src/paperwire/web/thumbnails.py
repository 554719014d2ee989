"""Thumbnail images: the first page of a paper's PDF as rendered here, served from the store.

Pages link them with the image's version (``?v=ETAG``, the card's ``thumb``), so that a browser
keeps one for a year without asking again; a request without the current version gets a
short cache and the ETag to revalidate with.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response

from ..core.hooks import hookimpl
from ..store import Store

router = APIRouter(include_in_schema=False)

IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "public, max-age=300"


@router.get("/papers/{arxiv_id:path}/thumbnail.webp")
def thumbnail(
    request: Request,
    arxiv_id: str,
    size: Annotated[Literal["card", "page"], Query()] = "card",
    v: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    store: Store = request.app.state.site.store
    image = store.thumbnails.image(arxiv_id, size)
    if image is None:
        raise HTTPException(404, "This paper has no thumbnail (yet).")
    etag = f'"{image.etag}"'
    headers = {
        "ETag": etag,
        "Cache-Control": IMMUTABLE if v == image.etag else REVALIDATE,
    }
    if etag in _etags(request.headers.get("if-none-match", "")):
        return Response(status_code=304, headers=headers)
    return Response(image.data, media_type="image/webp", headers=headers)


def _etags(header: str) -> set[str]:
    return {tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()}


@hookimpl
def register_routes(register: Callable[[APIRouter], None]) -> None:
    register(router)
