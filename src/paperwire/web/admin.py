"""Administration: authorship claims, reported and hidden comments, organizations (accounts:
web.admin_users)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, HTTPException
from fastapi.responses import RedirectResponse, Response

from ..core.errors import InvalidArxivId
from ..core.hooks import hookimpl
from ..core.ids import normalize_arxiv_id
from ..store.reports import REASONS
from . import audit
from .deps import Ctx, CtxDep, PostedDep, RowId, require_user
from .responses import page

router = APIRouter(include_in_schema=False)
ORG_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


def _admin_page(ctx: Ctx, status: int = 200, **extra: Any) -> Response:
    require_user(ctx, "admin")
    accounts = ctx.store.accounts
    return page(
        ctx,
        "admin.html",
        status=status,
        title="Administration",
        claims=accounts.claims(status="pending"),
        reported=ctx.store.reports.open(),
        reasons=REASONS,
        hidden=ctx.store.discussion.hidden(),
        orgs=accounts.organizations(),
        **extra,
    )


@router.get("/admin")
def admin(ctx: CtxDep) -> Response:
    return _admin_page(ctx)


@router.post("/admin/claims/{claim_id}")
def decide_claim(post: PostedDep, claim_id: RowId) -> Response:
    ctx = post.ctx
    user = require_user(ctx, "admin")
    decision = post.text("decision")
    if decision not in ("approve", "reject"):
        raise HTTPException(400, "decision must be approve or reject")
    if not ctx.store.accounts.decide_claim(claim_id, decision == "approve", user.id):
        raise HTTPException(404, "no such claim")
    audit.record(ctx, f"claim-{decision}d", None, claim_id=claim_id)
    return RedirectResponse("/admin#claims", status_code=303)


@router.post("/admin/organizations")
def create_org(post: PostedDep) -> Response:
    ctx = post.ctx
    require_user(ctx, "admin")
    name = post.text("name").strip()
    if not ORG_NAME.match(name):
        return _admin_page(ctx, 400, error="Organization names use letters, digits, . _ -")
    fullname = post.text("fullname").strip()[:200]
    if ctx.store.accounts.create_organization(name, fullname) is None:
        return _admin_page(ctx, 409, error=f"An organization called {name!r} exists.")
    return RedirectResponse("/admin#organizations", status_code=303)


@router.post("/admin/papers/organization")
def paper_org(post: PostedDep) -> Response:
    ctx = post.ctx
    require_user(ctx, "admin")
    try:
        pid = normalize_arxiv_id(post.text("arxiv_id"))
    except InvalidArxivId as exc:
        return _admin_page(ctx, 400, error=str(exc))
    name = post.text("organization").strip()
    org = ctx.store.accounts.get_organization(name) if name else None
    if name and org is None:
        return _admin_page(ctx, 404, error=f"No organization called {name!r}.")
    if not ctx.store.accounts.set_paper_organization(pid, org.id if org else None):
        return _admin_page(ctx, 404, error=f"Unknown paper {pid}.")
    return RedirectResponse(f"/papers/{pid}", status_code=303)


@hookimpl
def register_routes(register: Callable[[APIRouter], None]) -> None:
    register(router)
