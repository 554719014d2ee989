"""The API's OpenAPI schema, true to what the server answers: the errors each route can give
(with their JSON shape), the constraints the server checks on parameters and bodies, and how
callers authenticate. tests/test_api_contract.py holds a real server to it with schemathesis.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import FastAPI, Path
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, Field
from starlette.convertors import Convertor, register_url_convertor

from .security import SESSION_COOKIE

# An arXiv id as the API's paths take it: new style (2401.09417) or old style
# (hep-th/9901001), optionally with its version (v1, v2, ...). ASCII digits only.
_ID = r"(?:[0-9]{4}\.[0-9]{4,5}|[a-z]+(?:-[a-z]+)?(?:\.[A-Z]{2})?/[0-9]{7})(?:v[1-9][0-9]*)?"
ARXIV_ID = f"^{_ID}$"
# What a request body may name a paper by: the id, "arXiv:<id>", or its arXiv, Hugging Face
# or OAI address (core.ids.parse_arxiv_id reads them all).
ARXIV_REF = (
    r"^(?:[aA][rR][xX][iI][vV]:|https?://(?:export\.|www\.)?arxiv\.org/(?:abs|pdf|html)/"
    rf"|https?://huggingface\.co/papers/|oai:arxiv\.org:)?{_ID}(?:\.pdf|/*)$"
)
# A year the calendar has (0001-9999), then the rest of a day, ISO week or month.
_YEAR = "(?:[1-9][0-9]{3}|0[1-9][0-9]{2}|00[1-9][0-9]|000[1-9])"
DATE = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"  # with format: date (a day the calendar has)
WEEK = f"^{_YEAR}-W(?:0[1-9]|[1-4][0-9]|5[0-3])$"
MONTH = f"^{_YEAR}-(?:0[1-9]|1[0-2])$"
# Text with something left once control characters, bidi overrides and surrounding
# whitespace are taken out (core.text.clean): what a comment needs.
# (The private-use planes 15 and 16 as the characters themselves: ECMA-262 has no escape
# for them.)
VISIBLE = (
    "[^\\s\\x00-\\x1f\\x7f-\\x9f\\u202a-\\u202e\\u2066-\\u2069\\ue000-\\uf8ff\\ufffe\\uffff"
    "\U000f0000-\U0010ffff]"
)


class _ArxivConvertor(Convertor[str]):
    """A path segment, or an old-style id (``hep-th/9901001``: one slash): never more, so
    ``/api/papers/0/upvote`` is the upvote route (405 for GET), not paper ``0/upvote``."""

    # Not the API's own words under /api/papers/: GET /api/papers/index is a 405, not paper
    # "index".
    regex = (
        r"(?!(?:index|search|pending)(?:/|$))[^/]+"
        r"|[a-z]+(?:-[a-z]+)?(?:\.[A-Z]{2})?/[0-9]{7}(?:v[0-9]+)?"
    )

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("arxiv", _ArxivConvertor())

ArxivPath = Annotated[
    str,
    Path(
        pattern=ARXIV_ID,
        description="arXiv id, new or old style, optionally versioned: 2401.09417, "
        "2401.09417v2, hep-th/9901001",
        examples=["2401.09417"],
    ),
]


def date_schema(description: str) -> dict[str, Any]:
    """``json_schema_extra`` of a YYYY-MM-DD parameter: a real day, not only its shape (the
    route checks it: api_errors.check_date, in the words of every date error)."""
    return {"pattern": DATE, "format": "date", "description": description}


def optional(description: str, **schema: Any) -> dict[str, Any]:
    """``json_schema_extra`` of a query parameter that is ``schema``, or empty for none."""
    return {
        "description": description,
        "anyOf": [{"type": "string", **schema}, {"type": "string", "maxLength": 0}],
    }


PENDING: dict[int | str, dict[str, Any]] = {
    202: {
        "description": "arXiv did not answer within a few seconds: the pending request, "
        "retried in the background (see GET /api/papers/pending)"
    }
}


class ErrorBody(BaseModel):
    """Every error of the API: a sentence for people."""

    error: str = Field(description="What went wrong, for people")


class FieldErrors(ErrorBody):
    """An error about the fields of a body, with a message per field."""

    fields: dict[str, str] = Field(default_factory=dict, description="field name: problem")


WHY = {
    400: "A parameter or the body is invalid, or a rule of the instance refuses it (the "
    "message says which)",
    401: "Not signed in, or the Bearer token is invalid or revoked",
    403: "Signed in without the right (a role, or a session without its X-CSRF-Token)",
    404: "No such paper, comment or subscription",
    409: "A conflicting change happened at the same moment (or a request with the same "
    "Idempotency-Key is still running); try again",
    413: "The request body is larger than the instance accepts",
    415: "The body is not JSON",
    422: "The Idempotency-Key was used before with another body",
    429: "Too many requests; wait the seconds in Retry-After",
    503: "Could not answer now (a search over its time budget, or the storage is read-only or "
    "full); see Retry-After",
}
_RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}}


_LONG_URL = (
    "; or, as plain text from the HTTP server before the app sees it, a URL over about "
    "64 KB (a long q of characters that percent-encode to 12 bytes each)"
)


def errors(
    *codes: int, fields: bool = False, long_url: bool = False
) -> dict[int | str, dict[str, Any]]:
    """The ``responses`` of a route for the error statuses it can answer (``long_url``: its
    parameters can make a URL longer than the HTTP server reads)."""
    out: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        model = FieldErrors if fields and code == 400 else ErrorBody
        entry: dict[str, Any] = {"model": model, "description": WHY[code]}
        if long_url and code == 400:
            entry["description"] += _LONG_URL
            entry["content"] = {"text/plain": {"schema": {"type": "string"}}}
        if code in (429, 503):
            entry["headers"] = _RETRY_AFTER
        out[code] = entry
    return out


# Every JSON route: bad parameters, and a Bearer token that is not (or no longer) one.
READ = (400, 401)
# Writes: also 403 (a session without its X-CSRF-Token), 429 (per-account write limit).
# 503: the storage is read-only or full (reads go on).
WRITE = (400, 401, 403, 404, 429, 503)
# Writes that take an Idempotency-Key: 409 while the first is running, 422 for another body.
IDEMPOTENT = (409, 422)

_SECURITY_SCHEMES = {
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "An API token (create one in Settings)",
    },
    "session": {
        "type": "apiKey",
        "in": "cookie",
        "name": SESSION_COOKIE,
        "description": "The site's sign-in cookie (browsers); writes also need X-CSRF-Token",
    },
    "csrf": {
        "type": "apiKey",
        "in": "header",
        "name": "X-CSRF-Token",
        "description": "The page's CSRF token (meta csrf-token), with the session cookie",
    },
}
# Who may call an operation, as Swagger UI shows it (a lock only where signing in matters):
# a write takes a Bearer token or the session with its X-CSRF-Token; a read, the session
# alone. Public operations declare none (``security: []``); optional sign-in lists ``{}``
# first (anyone), then the ways that personalise the answer.
_WRITE_AUTH: list[dict[str, list[str]]] = [{"bearer": []}, {"session": [], "csrf": []}]
_READ_AUTH: list[dict[str, list[str]]] = [{"bearer": []}, {"session": []}]
_REQUIRES = "x-requires-sign-in"
_OPTIONAL = "x-optional-sign-in"


def _security(method: str, op: dict[str, Any]) -> list[dict[str, list[str]]]:
    signed_in = _READ_AUTH if method == "get" else _WRITE_AUTH
    if op.pop(_REQUIRES, False):
        return signed_in
    if op.pop(_OPTIONAL, False):
        return [{}, *signed_in]
    return []


def install(app: FastAPI, comment_max_chars: int) -> None:
    """Serve a schema without FastAPI's 422 (this app answers 400: app._bad_params) and with
    security schemes: required where a route answers 401 to a caller without them (
    :func:`signed_in`), optional where they change the answer (:func:`optional_sign_in`),
    none elsewhere."""

    def schema() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        spec = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
        components = spec.setdefault("components", {})
        schemas = components.setdefault("schemas", {})
        for name in ("HTTPValidationError", "ValidationError"):
            schemas.pop(name, None)
        components["securitySchemes"] = _SECURITY_SCHEMES
        for item in spec.get("paths", {}).values():
            for method, op in item.items():
                responses = op.get("responses", {})
                if responses.get("422", {}).get("description") == "Validation Error":
                    responses.pop("422")  # FastAPI's own: this app answers 400
                op["security"] = _security(method, op)
        body = schemas.get("CommentBody", {}).get("properties", {}).get("body")
        if body is not None:  # the instance's limit, not the hard cap of the model
            body["maxLength"] = min(body.get("maxLength", comment_max_chars), comment_max_chars)
        app.openapi_schema = spec
        return spec

    app.openapi = schema  # type: ignore[method-assign]


def signed_in() -> dict[str, Any]:
    """``openapi_extra`` of a route that answers only callers who are signed in."""
    return {_REQUIRES: True}


def optional_sign_in() -> dict[str, Any]:
    """``openapi_extra`` of a route open to anyone whose answer depends on who signed in (a
    private collection its owner sees, hidden comments a moderator sees). Routes with
    neither are public: no security requirement, no lock in Swagger UI."""
    return {_OPTIONAL: True}
