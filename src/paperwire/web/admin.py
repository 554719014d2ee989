"""Administration: authorship claims, hidden comments, organizations, roles."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import RedirectResponse

from ..ids import InvalidArxivId, normalize_arxiv_id
from ..store.accounts import ROLES
from .app import Ctx, form_ctx, get_ctx, page, require_user

router = APIRouter(include_in_schema=False)
CtxDep = Annotated[Ctx, Depends(get_ctx)]
ORG_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


def _admin_page(ctx: Ctx, status: int = 200, **extra):
    require_user(ctx, "admin")
    return page(
        ctx,
        "admin.html",
        status=status,
        title="Administration",
        claims=ctx.store.claims(status="pending"),
        hidden=ctx.store.hidden_comments(),
        orgs=ctx.store.organizations(),
        users=ctx.store.list_users(),
        roles=ROLES,
        **extra,
    )


@router.get("/admin")
def admin(ctx: CtxDep):
    return _admin_page(ctx)


@router.post("/admin/claims/{claim_id}")
async def decide_claim(request: Request, claim_id: int):
    ctx, form = await form_ctx(request)
    user = require_user(ctx, "admin")
    decision = str(form.get("decision") or "")
    if decision not in ("approve", "reject"):
        raise HTTPException(400, "decision must be approve or reject")
    if not ctx.store.decide_claim(claim_id, decision == "approve", user["id"]):
        raise HTTPException(404, "no such claim")
    return RedirectResponse("/admin#claims", status_code=303)


@router.post("/admin/organizations")
async def create_org(request: Request):
    ctx, form = await form_ctx(request)
    require_user(ctx, "admin")
    name = str(form.get("name") or "").strip()
    if not ORG_NAME.match(name):
        return _admin_page(ctx, 400, error="Organization names use letters, digits, . _ -")
    if ctx.store.create_organization(name, str(form.get("fullname") or "").strip()[:200]) is None:
        return _admin_page(ctx, 409, error=f"An organization called {name!r} exists.")
    return RedirectResponse("/admin#organizations", status_code=303)


@router.post("/admin/papers/organization")
async def paper_org(request: Request):
    ctx, form = await form_ctx(request)
    require_user(ctx, "admin")
    try:
        pid = normalize_arxiv_id(str(form.get("arxiv_id") or ""))
    except InvalidArxivId as exc:
        return _admin_page(ctx, 400, error=str(exc))
    name = str(form.get("organization") or "").strip()
    org = ctx.store.get_organization(name) if name else None
    if name and org is None:
        return _admin_page(ctx, 404, error=f"No organization called {name!r}.")
    if not ctx.store.set_paper_organization(pid, org["id"] if org else None):
        return _admin_page(ctx, 404, error=f"Unknown paper {pid}.")
    return RedirectResponse(f"/papers/{pid}", status_code=303)


@router.post("/admin/users/{user_id}/role")
async def set_role(request: Request, user_id: int):
    ctx, form = await form_ctx(request)
    me = require_user(ctx, "admin")
    role = str(form.get("role") or "")
    if role not in ROLES:
        raise HTTPException(400, f"role must be one of {', '.join(ROLES)}")
    if user_id == me["id"] and role != "admin":
        return _admin_page(ctx, 400, error="You cannot take the admin role from yourself.")
    if ctx.store.get_user(id=user_id) is None:
        raise HTTPException(404, "no such user")
    ctx.store.update_user(user_id, role=role)
    return RedirectResponse("/admin#users", status_code=303)
