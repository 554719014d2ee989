"""Report abuse: a signed-in reader reports a comment (a form under each comment, and the
API); the reports wait in the admins' queue on /admin until an admin hides the comment or
dismisses them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from fastapi import APIRouter, HTTPException
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field

from ..core.hooks import hookimpl
from ..core.text import clean
from ..store.reports import NOTE_MAX, REASONS
from . import audit, service
from .api_errors import no_such
from .deps import Ctx, PostedDep, RowId, WriterDep, rate_limit, require_user
from .openapi import errors, signed_in
from .responses import message_page

router = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api", tags=["comments"])
PER_HOUR = 30  # reports a reader may file in an hour


def report(ctx: Ctx, comment_id: int, reason: str, note: str) -> str:
    """File ``ctx.user``'s report of a comment; the comment's paper id."""
    user = require_user(ctx)
    if reason not in REASONS:
        raise HTTPException(400, f"reason must be one of {', '.join(REASONS)}")
    if len(note) > NOTE_MAX:
        raise HTTPException(400, f"a note has at most {NOTE_MAX} characters")
    comment = ctx.store.discussion.get(comment_id)
    if comment is None or comment.deleted:
        raise HTTPException(404, no_such("comment", comment_id))
    if comment.user_id == user.id:
        raise HTTPException(400, "You cannot report your own comment.")
    rate_limit(ctx, f"report:{user.id}", PER_HOUR, 3600)
    ctx.store.reports.report(comment_id, user.id, reason, clean(note).strip())
    audit.record(ctx, "comment-reported", comment.user_id, comment_id=comment_id, reason=reason)
    return comment.paper_id


@router.post("/comments/{comment_id}/report")
def report_form(post: PostedDep, comment_id: RowId) -> Response:
    pid = report(post.ctx, comment_id, post.text("reason"), post.text("note"))
    return message_page(
        post.ctx,
        "Thanks for the report",
        "A moderator will look at the comment. Reporting it again replaces your report.",
        (f"/papers/{pid}#comment-{comment_id}", "Back to the discussion"),
    )


@router.post("/admin/reports/{comment_id}")
def decide(post: PostedDep, comment_id: RowId) -> Response:
    """Hide the reported comment, or dismiss its reports."""
    ctx = post.ctx
    admin = require_user(ctx, "admin")
    decision = post.text("decision")
    if decision == "hide":
        service.hide_comment(ctx, comment_id, True)
    elif decision == "dismiss":
        if ctx.store.reports.resolve(comment_id, admin.id, "dismissed"):
            audit.record(ctx, "reports-dismissed", None, comment_id=comment_id)
    else:
        raise HTTPException(400, "decision must be hide or dismiss")
    return RedirectResponse("/admin#reports", status_code=303)


class ReportBody(BaseModel):
    reason: Literal["spam", "harassment", "off-topic", "other"]
    note: str = Field(default="", max_length=NOTE_MAX, description="what a moderator should know")


@api.post(
    "/comments/{comment_id}/report",
    status_code=202,
    summary="Report a comment to the moderators",
    response_model=None,
    responses=errors(400, 401, 403, 404, 429, 503),
    openapi_extra=signed_in(),
)
def report_api(ctx: WriterDep, comment_id: RowId, body: ReportBody) -> dict[str, bool]:
    report(ctx, comment_id, body.reason, body.note)
    return {"reported": True}


@hookimpl
def register_routes(register: Callable[[APIRouter], None]) -> None:
    register(router)
    register(api)
