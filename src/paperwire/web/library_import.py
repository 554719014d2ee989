"""Import a library: a BibTeX, RIS or Zotero CSV export uploaded from "Your collections"
becomes a new collection of the papers found here (by arXiv id, DOI or title:
ingest.library_match), and the page lists what was not found (those with an arXiv id can be
indexed from arXiv). The collection's papers then count for For you."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import PurePath
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData, UploadFile

from ..core.hooks import hookimpl
from ..core.models import Collection
from ..ingest.library import MAX_BYTES, LibraryError, parse
from ..ingest.library_match import match
from ..store.collections import MAX_ITEMS, CollectionRefused
from . import idempotency
from .collections import collections_page, writer
from .deps import CtxDep, check_posted
from .responses import page

router = APIRouter(include_in_schema=False)
SHOWN_UNKNOWN = 200  # unknown entries listed on the result page


async def read_upload(request: Request) -> FormData:
    """The posted form with its one file (the body is read on the event loop)."""
    try:
        return await request.form(max_files=1, max_fields=10)
    except Exception as exc:  # noqa: BLE001 - a malformed multipart body
        raise HTTPException(400, f"unreadable form: {exc}") from None


@router.post("/collections/import")
def upload(ctx: CtxDep, form: Annotated[FormData, Depends(read_upload)]) -> Response:
    post = check_posted(ctx, form)
    user = writer(ctx)
    library_file = form.get("library")
    if not isinstance(library_file, UploadFile):
        return collections_page(ctx, 400, import_error="Choose a BibTeX, RIS or CSV file.")
    filename = library_file.filename or ""
    data = library_file.file.read(MAX_BYTES + 1)  # a spooled file: bounded by max_body_bytes
    try:
        library = parse(data, filename)
    except LibraryError as exc:
        return collections_page(ctx, 400, import_error=str(exc))
    if not library.entries:
        problem = f"{filename or 'The file'} holds no usable entry."
        return collections_page(ctx, 400, import_error=problem)
    found = match(ctx.store, library.entries)
    papers = list(dict.fromkeys(m.paper_id for m in found.matched))[:MAX_ITEMS]
    name = post.text("name").strip() or default_name(filename)
    made: list[Collection] = []

    def write() -> str:
        made.append(
            ctx.store.collections.create(
                user.id, name[:100], f"Imported from {filename or 'a library file'}"[:1000]
            )
        )
        ctx.store.collections.add_many(made[0].id, papers)
        return f"/collections/{made[0].id}"

    key = post.text("idempotency_key")
    fingerprint = [name, filename, hashlib.sha256(data).hexdigest()]
    try:
        where = idempotency.run_form(ctx, key, fingerprint, "POST /collections/import", write)
    except CollectionRefused as exc:
        return collections_page(ctx, 400, import_error=str(exc))
    if not made:  # this form was sent already (a reload of the result): its collection
        return RedirectResponse(where, status_code=303)
    how: dict[str, int] = {}
    for m in found.matched:
        how[m.how] = how.get(m.how, 0) + 1
    return page(
        ctx,
        "library_import.html",
        title="Library imported",
        collection=made[0],
        format=library.format,
        added=len(papers),
        how=how,
        unknown=found.unknown[:SHOWN_UNKNOWN],
        unknown_count=len(found.unknown),
        problems=library.problems[:50],
        problem_count=len(library.problems),
    )


def default_name(filename: str) -> str:
    """A new collection's name from the library file's ("My reading list.bib" -> "My
    reading list"), or "Imported library"."""
    stem = PurePath(filename.replace("\\", "/")).stem
    stem = " ".join(stem.replace("_", " ").split())[:100]
    return stem or "Imported library"


@hookimpl
def register_routes(register: Callable[[APIRouter], None]) -> None:
    register(router)
