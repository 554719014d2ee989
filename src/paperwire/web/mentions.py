"""@mention suggestions for the comment boxes: people whose user name or display name starts
with what was typed after an ``@``, the paper's discussion first. Signed-in readers only, and
only what public profile pages show (names and avatars)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query

from ..core import avatars
from ..core.errors import InvalidArxivId
from ..core.hooks import hookimpl
from ..core.ids import parse_arxiv_id
from ..core.text import clean
from ..store.people import MAX_SUGGESTIONS
from .api_errors import not_found
from .deps import Ctx, CtxDep, rate_limit, require_user
from .openapi import ARXIV_ID, READ, VISIBLE, errors, optional, signed_in

router = APIRouter(prefix="/api", tags=["people"])
MAX_PREFIX = 40
# A person types a name a letter at a time, and the page asks after each pause (150 ms) for
# a start it has not asked before: two a second, for a minute, is far more than typing needs.
PER_MINUTE = 120


def _paper(ctx: Ctx, raw: str | None) -> str | None:
    if raw is None or raw == "":
        return None
    try:
        pid = parse_arxiv_id(raw)[0]
    except InvalidArxivId as exc:
        raise HTTPException(400, str(exc)) from None
    if ctx.store.feed.card(pid) is None:
        raise not_found("paper", pid)
    return pid


@router.get(
    "/people/suggest",
    summary="People to @mention",
    response_model=None,
    responses=errors(*READ, 404, 429),
    openapi_extra=signed_in(),
)
def suggest(
    ctx: CtxDep,
    q: Annotated[
        str,
        Query(
            min_length=1,
            max_length=MAX_PREFIX,
            description=f"The start of a user name or display name, 1 to {MAX_PREFIX} "
            "characters, any case (what follows the @)",
            json_schema_extra={"pattern": VISIBLE},
        ),
    ],
    paper: Annotated[
        str | None,
        Query(
            max_length=200,
            json_schema_extra=optional(
                "arXiv id of the paper commented on: its commenters and claimed authors come first",
                pattern=ARXIV_ID,
            ),
        ),
    ] = None,
    limit: Annotated[
        int, Query(ge=1, le=MAX_SUGGESTIONS, description="At most this many people")
    ] = MAX_SUGGESTIONS,
) -> list[dict[str, Any]]:
    """Accounts a comment could @mention whose user name or display name starts with ``q``
    (any case), the paper's discussion (commenters, claimed authors) first, then by user name;
    never the caller, nor disabled, deleted or unconfirmed accounts. Each with what its public
    profile shows: ``name``, ``fullname``, ``avatarUrl`` (a path on this site) and
    ``inDiscussion``."""
    user = require_user(ctx)
    prefix = clean(q, lines=False)
    if not prefix:
        raise HTTPException(
            400, f"q must be the start of a name: 1 to {MAX_PREFIX} visible characters"
        )
    pid = _paper(ctx, paper)
    rate_limit(ctx, f"mentions:{user.id}", PER_MINUTE, 60)
    found = ctx.store.people.mention_candidates(prefix, pid, exclude=user.id, limit=limit)
    return [
        {
            "name": c.username,
            "fullname": c.fullname,
            "avatarUrl": avatars.url("users", c.username),
            "inDiscussion": c.in_discussion,
        }
        for c in found
    ]


@hookimpl
def register_routes(register: Callable[[APIRouter], None]) -> None:
    register(router)
