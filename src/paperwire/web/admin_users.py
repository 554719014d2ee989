"""Administration of accounts: find them, change their role, disable, enable or delete them
(the same store.people calls as `paperwire user`), each change audited."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import RedirectResponse, Response

from ..core.hooks import hookimpl
from ..core.models import ROLES, User
from ..store.people import STATUSES
from . import audit
from .audit import PageNo
from .deps import Ctx, CtxDep, PostedDep, RowId, require_user
from .responses import page

router = APIRouter(include_in_schema=False)
PER_PAGE = 50
PATH = "/admin/users"


def _users_page(
    ctx: Ctx, q: str = "", status: str = "all", page_no: int = 1, code: int = 200, **extra: Any
) -> Response:
    require_user(ctx, "admin")
    found = ctx.store.people.find(q, status, limit=PER_PAGE + 1, offset=(page_no - 1) * PER_PAGE)

    def link(n: int) -> str:
        query = {k: v for k, v in (("q", q), ("status", status)) if v and v != "all"}
        return f"{PATH}?{urlencode({**query, 'page': n})}"

    return page(
        ctx,
        "admin_users.html",
        status=code,
        title="Users",
        people=found[:PER_PAGE],
        q=q,
        status_filter=status,
        statuses=STATUSES,
        roles=ROLES,
        prev_link=link(page_no - 1) if page_no > 1 else None,
        next_link=link(page_no + 1) if len(found) > PER_PAGE else None,
        **extra,
    )


@router.get(PATH)
def users(
    ctx: CtxDep,
    q: Annotated[str, Query(max_length=100)] = "",
    status: Annotated[str, Query(pattern="^(all|active|disabled)$")] = "all",
    page_no: PageNo = 1,
) -> Response:
    return _users_page(ctx, q.strip(), status, page_no)


def _person(ctx: Ctx, user_id: int) -> tuple[User, User]:
    """The signed-in admin and the local account ``user_id`` (404 when there is none)."""
    me = require_user(ctx, "admin")
    person = ctx.store.accounts.get_user(id=user_id)
    if person is None or person.origin != "local":
        raise HTTPException(404, "no such user")
    return me, person


def _back(post_q: str) -> RedirectResponse:
    query = f"?{urlencode({'q': post_q})}" if post_q else ""
    return RedirectResponse(f"{PATH}{query}#users", status_code=303)


@router.post(f"{PATH}/{{user_id}}/role")
def set_role(post: PostedDep, user_id: RowId) -> Response:
    ctx = post.ctx
    me, person = _person(ctx, user_id)
    role = post.text("role")
    if role not in ROLES:
        raise HTTPException(400, f"role must be one of {', '.join(ROLES)}")
    if user_id == me.id and role != "admin":
        return _users_page(ctx, code=400, error="You cannot take the admin role from yourself.")
    if role != person.role:
        ctx.store.accounts.update_user(user_id, role=role)
        audit.record(ctx, "role-change", user_id, old=person.role, new=role)
    return _back(post.text("q"))


@router.post(f"{PATH}/{{user_id}}/active")
def set_active(post: PostedDep, user_id: RowId) -> Response:
    """Disable an account (its sessions and API tokens end at once) or enable it again."""
    ctx = post.ctx
    me, person = _person(ctx, user_id)
    active = post.text("active") == "1"
    if user_id == me.id and not active:
        return _users_page(ctx, code=400, error="You cannot disable your own account.")
    if active != person.is_active:
        ctx.store.people.set_active(user_id, active)
        audit.record(ctx, "account-enabled" if active else "account-disabled", user_id)
    return _back(post.text("q"))


@router.post(f"{PATH}/{{user_id}}/delete")
def delete(post: PostedDep, user_id: RowId) -> Response:
    """Delete an account as a tombstone (store.people.delete); the admin types its name."""
    ctx = post.ctx
    me, person = _person(ctx, user_id)
    if user_id == me.id:
        return _users_page(
            ctx, code=400, error="Delete your own account from Settings, not from here."
        )
    if post.text("confirm").strip() != person.username:
        return _users_page(
            ctx,
            code=400,
            error=f"Type {person.username} to delete that account; nothing was deleted.",
        )
    ctx.store.people.delete(user_id)
    audit.record(ctx, "account-deleted", user_id, username=person.username)
    return _users_page(ctx, notice=f"{person.username} is deleted (now deleted-{user_id}).")


@hookimpl
def register_routes(register: Callable[[APIRouter], None]) -> None:
    register(router)
