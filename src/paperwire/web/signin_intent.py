"""The upvote a signed-out visitor clicked, carried through sign-in (and its two-factor
step) and applied once they are in: the click is not lost to the detour.

The sign-in page names the paper ("Sign in to upvote *Title*"), so a crafted link cannot
make a reader upvote something unawares: what they sign in to do is on the form they send,
with its CSRF token."""

from __future__ import annotations

from fastapi import HTTPException

from ..core.models import Card
from . import service
from .deps import Ctx
from .feedback import back_to

FIELD = "upvote"


def signin_url(pid: str, nxt: str) -> str:
    """Where a signed-out upvote of ``pid`` on page ``nxt`` sends the visitor."""
    return back_to("/signin", next=nxt, **{FIELD: pid})


def apply(ctx: Ctx, card: Card | None, nxt: str) -> str:
    """Upvote ``card`` for the visitor just signed in; the page to go to then (``nxt``,
    saying the upvote counted). A vote refused (a rate limit) leaves ``nxt`` as it was: the
    button then shows it was not counted."""
    if card is None:
        return nxt
    try:
        service.upvote(ctx, card.id, True)
    except HTTPException:
        return nxt
    return back_to(nxt, upvoted=card.id)
