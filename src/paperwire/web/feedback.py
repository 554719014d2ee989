"""The notice a page shows its signed-in visitor after a one-click action on a card: "saved
to *Reading list*" (with a link to choose collections, and an undo) or "hidden from your
feeds" (with an undo), or, after signing in to upvote, that the upvote counted. The action
redirects back with ``?saved_paper=ID&collection=ID``, ``?dismissed=ID`` or ``?upvoted=ID``;
only the visitor's own collection is ever named."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from ..core.errors import InvalidArxivId
from ..core.ids import parse_arxiv_id
from ..core.models import Card, Collection
from .deps import Ctx, row_id


@dataclass(frozen=True)
class Notice:
    kind: str  # saved | dismissed | upvoted
    card: Card
    collection: Collection | None = None
    fresh: bool = True  # saved: False when the paper was in the collection already


def back_to(path: str, **params: str) -> str:
    """``path`` (a safe local one) with these query parameters added."""
    if not params:
        return path
    return path + ("&" if "?" in path else "?") + urlencode(params)


def named_paper(ctx: Ctx, raw: str | None) -> Card | None:
    """The paper ``raw`` (from a query string or a form) names, if it is an arXiv id of a
    paper here."""
    if not raw or len(raw) > 60:
        return None
    try:
        pid = parse_arxiv_id(raw)[0]
    except InvalidArxivId:
        return None
    return ctx.store.feed.card(pid)


def notice(ctx: Ctx) -> Notice | None:
    """What the visitor's last one-click action on a card did, from the query string."""
    if ctx.user is None:
        return None
    query = ctx.request.query_params
    card = named_paper(
        ctx, query.get("saved_paper") or query.get("dismissed") or query.get("upvoted")
    )
    if card is None:
        return None
    if query.get("dismissed"):
        return Notice("dismissed", card)
    if query.get("upvoted"):
        # After signing in to upvote (signin_intent): only said when it is so.
        if card.id not in ctx.store.signals.marks(ctx.user.id, [card.id]).upvoted:
            return None
        return Notice("upvoted", card)
    cid = row_id(query.get("collection", ""))
    found = ctx.store.collections.owned(cid, ctx.user.id) if cid else None
    if found is None:
        return None
    return Notice("saved", card, found, fresh=query.get("new") != "0")
