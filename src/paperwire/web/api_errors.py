"""The API's words for its errors, the same whichever route or layer finds them: what does not
exist (404), a body that is not JSON, a date that is not one. Every error is ``{"error": ...}``
(responses.error_response)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date
from typing import Any

from fastapi import HTTPException

from .openapi import DATE

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


def invalid_json(err: dict[str, Any], doc: Any) -> str:
    """A body that is not JSON, where: ``the body is not valid JSON: Expecting value at line
    1 column 2``."""
    reason = str((err.get("ctx") or {}).get("error") or "JSON decode error")
    loc = err.get("loc", ())
    pos = loc[1] if len(loc) > 1 and isinstance(loc[1], int) else None
    if pos is None or not isinstance(doc, str | bytes):
        return f"the body is not valid JSON: {reason}"
    text = doc.decode("utf-8", "replace") if isinstance(doc, bytes) else doc
    line = text.count("\n", 0, pos) + 1
    column = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return f"the body is not valid JSON: {reason} at line {line} column {column}"


def bad_date(name: str, value: str) -> str:
    """A date parameter that is not a date (the words of service.BadDates, which checks the
    search's)."""
    return f"{name} must be a date like 2026-03-01, not {value[:40]!r}"


def check_date(name: str, value: str | None) -> None:
    """400 unless ``value`` is absent or a YYYY-MM-DD the calendar has (empty is neither)."""
    if value is None:
        return
    try:
        if re.fullmatch(DATE, value):
            date.fromisoformat(value)
            return
    except ValueError:
        pass
    raise HTTPException(400, bad_date(name, value))
