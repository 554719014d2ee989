"""The API's words for its errors, the same whichever route or layer finds them: what does not
exist (404). Every error is ``{"error": ...}``
(responses.error_response)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import HTTPException

API = "/api/"
# A path parameter of the API's routes, and what it names.
NOUNS = {
    "arxiv_id": "paper",
    "collection_id": "collection",
    "comment_id": "comment",
    "sub_id": "subscription",
    "username": "user",
}


def is_api(path: str) -> bool:
    return path.startswith(API)


def no_such(thing: str, ident: object) -> str:
    """A 404's message: ``No such collection: 12.``"""
    return f"No such {thing}: {str(ident)[:200]}."


def not_found(thing: str, ident: object) -> HTTPException:
    return HTTPException(404, no_such(thing, ident))


def no_such_path(path: str) -> str:
    """No route answers ``path``."""
    return no_such("API path", path)


def bad_path_params(errors: Sequence[Any]) -> str:
    """A path parameter that cannot be one (``/api/collections/abc``): no such thing."""
    loc = errors[0].get("loc", ())
    name = str(loc[1]) if len(loc) > 1 else ""
    return no_such(NOUNS.get(name, name.removesuffix("_id") or "thing"), errors[0].get("input"))
