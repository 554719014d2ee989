"""The API's documentation page: Swagger UI inside the site's own layout, its script and
stylesheet served from the fastapi-offline package, so the page works under the site's strict
CSP and on an instance without internet access."""

from __future__ import annotations

from collections.abc import Callable
from importlib import metadata, resources

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, Response

from ..core.hooks import hookimpl
from .deps import CtxDep
from .responses import page

router = APIRouter(include_in_schema=False)
ASSETS = "/api/docs/assets"
# The files of Swagger UI the page needs, and their media types; nothing else is served.
FILES = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css"}
SWAGGER_UI = resources.files("fastapi_offline") / "static"
# Part of the assets' URLs: a new package version is a new URL, so browsers may keep a
# version forever.
BUNDLE_VERSION = metadata.version("fastapi-offline")


@router.get("/api/docs")
def api_docs(ctx: CtxDep) -> Response:
    return page(
        ctx,
        "api_docs.html",
        title="API",
        description="The JSON API of this instance: every operation, tried in the browser.",
        openapi_url=ctx.request.app.openapi_url,
        api_version=ctx.request.app.version,
        assets=f"{ASSETS}/{BUNDLE_VERSION}",
    )


@router.get(ASSETS + "/{version}/{name}")
def asset(version: str, name: str) -> Response:
    if version != BUNDLE_VERSION or name not in FILES:
        raise HTTPException(404, "No such file.")
    path = SWAGGER_UI / name
    return FileResponse(
        str(path),
        media_type=FILES[name],
        headers={"Cache-Control": "public, max-age=31536000, immutable"},
    )


@hookimpl
def register_routes(register: Callable[[APIRouter], None]) -> None:
    register(router)
