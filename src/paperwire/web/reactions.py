"""Comment reactions (👍 ❤️ 🎉 🤔 👀 🚀): a form per reaction that works without JavaScript,
the same in place with it, and the API; counts come from the store, exact under races."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field, JsonValue

from ..core.errors import InvalidArxivId
from ..core.hooks import hookimpl
from ..core.ids import parse_arxiv_id
from ..core.models import Comment, ReactionCount
from ..core.reactions import REACTIONS, Reaction, parse_reaction
from .api_errors import no_such
from .deps import Ctx, PostedDep, RowId, WriterDep, rate_limit, require_user
from .openapi import WRITE, ArxivPath, errors, signed_in
from .responses import wants_json

router = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api", tags=["papers"])
CHOICES = ", ".join(f"{r.emoji} {r.name}" for r in REACTIONS)
# What the API takes, exactly: a name, or an emoji with or without its variation selector.
VALUES: list[JsonValue] = list(
    dict.fromkeys(v for r in REACTIONS for v in (r.emoji, r.emoji.replace("\ufe0f", ""), r.name))
)


def summary(counts: dict[str, tuple[int, bool]]) -> list[ReactionCount]:
    """Every reaction of the set with its count, in the set's order (zero counts too, so
    that a page can offer them)."""
    out = []
    for r in REACTIONS:
        count, mine = counts.get(r.name, (0, False))
        out.append(ReactionCount(r.name, r.emoji, r.label, count, mine))
    return out


def attach(ctx: Ctx, comments: Iterable[Any]) -> None:
    """Set ``reactions`` on each comment (objects with ``id``), in one query."""
    items = list(comments)
    viewer = ctx.user.id if ctx.user else None
    counts = ctx.store.reactions.counts([c.id for c in items], viewer)
    for c in items:
        c.reactions = summary(counts.get(c.id, {}))


def as_json(reactions: Sequence[ReactionCount]) -> list[dict[str, Any]]:
    """The reactions given at least once, for the API."""
    return [
        {"reaction": r.emoji, "name": r.name, "count": r.count, "reacted": r.mine}
        for r in reactions
        if r.count
    ]


def _reaction(value: str) -> Reaction:
    found = parse_reaction(value[:32])
    if found is None:
        raise HTTPException(400, f"Unknown reaction {value[:32]!r}; use one of: {CHOICES}.")
    return found


def _comment(ctx: Ctx, comment_id: int, paper_id: str | None = None) -> Comment:
    comment = ctx.store.discussion.get(comment_id)
    if (
        comment is None
        or comment.deleted
        or comment.hidden
        or (paper_id is not None and comment.paper_id != paper_id)
    ):
        raise HTTPException(404, no_such("comment", comment_id))
    return comment


def react(
    ctx: Ctx, comment_id: int, value: str, on: bool, paper_id: str | None = None
) -> dict[str, Any]:
    """Give or take back one reaction; idempotent. Answers with the comment's reactions."""
    user = require_user(ctx)
    reaction = _reaction(value)
    comment = _comment(ctx, comment_id, paper_id)
    rate_limit(ctx, f"write:{user.id}", ctx.settings.site.rate_limit_writes, 60)
    changed, count = ctx.store.reactions.set(comment.id, user.id, reaction.name, on)
    counts = ctx.store.reactions.counts([comment.id], user.id).get(comment.id, {})
    return {
        "commentId": comment.id,
        "paperId": comment.paper_id,
        "reaction": reaction.emoji,
        "name": reaction.name,
        "reacted": on,
        "count": count,
        "changed": changed,
        "reactions": as_json(summary(counts)),
    }


# -- the page's forms ----------------------------------------------------------------------
@router.post("/comments/{comment_id}/reactions")
def react_form(post: PostedDep, comment_id: RowId) -> Response:
    """One reaction button: ``reaction`` (name or emoji) and ``state`` (1 give, 0 take
    back). Back to the comment, or JSON for the page's script."""
    ctx = post.ctx
    if ctx.user is None:
        if wants_json(ctx.request):
            raise HTTPException(401, "Sign in to react.")
        comment = ctx.store.discussion.get(comment_id)
        back = f"/papers/{comment.paper_id}" if comment else "/papers"
        return RedirectResponse(f"/signin?next={back}", status_code=303)
    on = post.text("state", "1") not in ("0", "false", "off")
    result = react(ctx, comment_id, post.text("reaction"), on)
    if wants_json(ctx.request):
        return JSONResponse(result)
    return RedirectResponse(f"/papers/{result['paperId']}#comment-{comment_id}", status_code=303)


# -- API -----------------------------------------------------------------------------------
def _pid(raw: str) -> str:
    try:
        return parse_arxiv_id(raw)[0]
    except InvalidArxivId as exc:
        raise HTTPException(400, str(exc)) from None


class ReactionBody(BaseModel):
    reaction: str = Field(
        max_length=32,
        description=f"The emoji or its name, one of: {CHOICES}",
        examples=["👍"],
        json_schema_extra={"enum": VALUES},
    )


def _exact(value: str) -> str:
    if value not in VALUES:
        raise HTTPException(400, f"Unknown reaction {value[:32]!r}; use one of: {CHOICES}.")
    return value


@api.post(
    "/papers/{arxiv_id:arxiv}/comments/{comment_id}/reactions",
    summary="React to a comment",
    response_model=None,
    responses=errors(*WRITE, 413),
    openapi_extra=signed_in(),
)
def add_reaction(
    ctx: WriterDep, arxiv_id: ArxivPath, comment_id: RowId, body: ReactionBody
) -> dict[str, Any]:
    """Give a reaction (one per person per reaction; giving it twice counts once).
    Answers with the comment's reaction counts."""
    return react(ctx, comment_id, _exact(body.reaction), True, _pid(arxiv_id))


@api.delete(
    "/papers/{arxiv_id:arxiv}/comments/{comment_id}/reactions",
    summary="Take back a reaction",
    response_model=None,
    responses=errors(*WRITE),
    openapi_extra=signed_in(),
)
def remove_reaction(
    ctx: WriterDep,
    arxiv_id: ArxivPath,
    comment_id: RowId,
    reaction: Annotated[
        str,
        Query(
            max_length=32,
            description="The emoji or its name",
            json_schema_extra={"enum": VALUES},
        ),
    ],
) -> dict[str, Any]:
    return react(ctx, comment_id, _exact(reaction), False, _pid(arxiv_id))


@hookimpl
def register_routes(register: Callable[[APIRouter], None]) -> None:
    register(api)
    register(router)
