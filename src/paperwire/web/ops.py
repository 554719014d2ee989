"""What operators ask a serving process: readiness (``/readyz``), metrics (``/metrics``,
operators only), and one access line per request, with no secret from its URL.

``/healthz`` (in :mod:`paperwire.web.app`) only says the process answers; ``/readyz`` says
whether it should get traffic: the database answers, its schema is the one this code
expects, and the vector index is loaded when search by meaning is on.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from ..core.errors import ConfigError
from ..core.settings import OpsSettings
from ..search import SearchEngine
from .site import Site

access_log = logging.getLogger("paperwire.access")
router = APIRouter(include_in_schema=False)

UNMATCHED = "<unmatched>"
REDACTED = "[redacted]"
# Path parameters and query keys whose values are secrets (signed links, API keys).
SECRET_NAMES = re.compile(r"token|secret|password|key|sig|code", re.I)
# A long opaque path segment (a signed token in a mistyped URL that matched no route).
OPAQUE = re.compile(r"^[A-Za-z0-9_.~=-]{32,}$")
MAX_QUERY = 200
NO_STORE = {"Cache-Control": "no-store"}

Networks = list[ipaddress.IPv4Network | ipaddress.IPv6Network]


def install(app: FastAPI) -> None:
    """Add readiness, metrics and request timing (with the access log) to the app."""
    from . import metrics  # only now: `paperwire serve` has chosen where metrics live

    site: Site = app.state.site
    ops = site.settings.ops
    app.state.ops = OpsState(networks=parse_networks(ops.metrics_allow), settings=ops)
    site.search = cast(SearchEngine, metrics.TimedSearch(site.search))
    app.add_middleware(RequestTiming, observe=metrics.observe_request, log=ops.access_log)
    app.include_router(router)


@dataclass(frozen=True)
class OpsState:
    networks: Networks
    settings: OpsSettings


def parse_networks(text: str) -> Networks:
    try:
        return [ipaddress.ip_network(part.strip()) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise ConfigError(f"metrics_allow: {exc}") from None


# -- readiness ---------------------------------------------------------------------------
def readiness(site: Site) -> tuple[bool, dict[str, Any]]:
    """Whether this process should get traffic, and what was found (no heavy query: the
    schema revision and one primary-key range count)."""
    db = site.store.db
    head = db.head_revision()
    body: dict[str, Any] = {"ready": False, "db": "unreachable", "schema": None, "head": head}
    if db.sqlite_path is not None and not db.sqlite_path.exists():
        body["db"] = "missing"
        return False, {**body, "reason": f"database file {db.sqlite_path} is missing"}
    try:
        revision = db.revision()
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready", said why
        return False, {**body, "reason": f"database unreachable: {_first_line(exc)}"}
    body.update(db="ok", schema=revision)
    if revision != head:
        reason = f"schema at {revision or 'nothing'}, this code needs {head}"
        return False, {**body, "reason": f"{reason}: run `paperwire db upgrade`"}
    # Storage that refuses writes leaves the site ready (reads are served; writes get a 503)
    # but says so, for the operator's alerting.
    try:
        problem = db.storage_problem()
    except Exception as exc:  # noqa: BLE001 - a failed probe is a degraded storage, said why
        problem = f"write probe failed: {_first_line(exc)}"
    body["storage"] = "ok" if problem is None else "degraded"
    if problem is not None:
        body["storage_problem"] = problem
    ready, body["index"] = _index_state(site)
    body["ready"] = ready
    if not ready:
        body["reason"] = "vector index not loaded yet"
    return ready, body


def _index_state(site: Site) -> tuple[bool, dict[str, Any]]:
    vectors = site.search.vectors
    if vectors is None:
        return True, {"enabled": False}
    if vectors.problem:  # search by meaning turned itself off (model missing): keywords work
        return True, {"enabled": True, "available": False, "problem": vectors.problem}
    loaded = getattr(vectors, "loaded", None)
    if loaded is None:
        return True, {"enabled": True, "loaded": "unknown"}  # a plugin's backend
    state = loaded()
    if state is None:
        return False, {"enabled": True, "loaded": False}
    papers, high_water = state
    behind, oldest = site.store.embeddings.behind(vectors.model, high_water)
    lag_seconds = _age(oldest) if behind else 0.0
    from . import metrics

    metrics.observe_index(papers, behind, lag_seconds)
    return True, {
        "enabled": True,
        "loaded": True,
        "papers": papers,
        "lag_papers": behind,
        "lag_seconds": round(lag_seconds, 1),
    }


def _age(when: datetime | None) -> float:
    if when is None:
        return 0.0
    aware = when if when.tzinfo else when.replace(tzinfo=UTC)
    return max(0.0, (datetime.now(UTC) - aware).total_seconds())


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@router.get("/readyz")
def readyz(request: Request) -> Response:
    ready, body = readiness(request.app.state.site)
    return JSONResponse(body, status_code=200 if ready else 503, headers=NO_STORE)


# -- metrics -----------------------------------------------------------------------------
def may_read_metrics(state: OpsState, client: str | None, authorization: str) -> bool:
    """From an allowed address, or with the metrics token (when one is set)."""
    token = state.settings.metrics_token
    if token and authorization.startswith("Bearer "):
        if hmac.compare_digest(authorization[7:].strip().encode(), token.encode()):
            return True
    try:
        address = ipaddress.ip_address(client or "")
    except ValueError:
        return False
    return any(address in net for net in state.networks)


@router.get("/metrics")
def metrics_view(request: Request) -> Response:
    from . import metrics

    client = request.client.host if request.client else None
    allowed = may_read_metrics(
        request.app.state.ops, client, request.headers.get("authorization", "")
    )
    if not allowed:
        return PlainTextResponse("metrics are for operators\n", status_code=403, headers=NO_STORE)
    site: Site = request.app.state.site
    _index_state(site)  # this worker's index lag, fresh for the scrape
    return Response(
        metrics.exposition(site.store),
        media_type="text/plain; version=0.0.4; charset=utf-8",
        headers=NO_STORE,
    )


# -- timing and the access log -----------------------------------------------------------
def route_label(scope: dict[str, Any]) -> str:
    """The route template that answered (bounded label values), or one label for paths no
    route matched."""
    route = scope.get("route")
    label = getattr(route, "path_format", None) or getattr(route, "path", None)
    return str(label) if label else UNMATCHED


def safe_path(scope: dict[str, Any]) -> str:
    """The path and query string as an access line shows them: secret path parameters and
    query values replaced, long opaque segments too, the query string cut short."""
    path = str(scope.get("path", ""))
    for name, value in (scope.get("path_params") or {}).items():
        if SECRET_NAMES.search(name) and isinstance(value, str) and value:
            path = path.replace(value, REDACTED)
    if len(path) > 32:  # room for a long opaque segment
        path = "/".join(REDACTED if OPAQUE.match(seg) else seg for seg in path.split("/"))
    raw = scope.get("query_string", b"")
    if not raw:
        return path
    query = raw.decode("latin-1")
    if "%" in query or SECRET_NAMES.search(query):  # rebuilt only when a key may be secret
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode(_redact(pairs), safe="[]/:,")
    if len(query) > MAX_QUERY:
        query = query[:MAX_QUERY] + "…"
    return f"{path}?{query}"


def _redact(pairs: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(k, REDACTED if SECRET_NAMES.search(k) and v else v) for k, v in pairs]


class RequestTiming:
    """Pure ASGI middleware: times each HTTP request into the latency histograms by route
    template and status class, and writes its access line."""

    def __init__(self, app: Any, observe: Callable[[str, str, int, float], None], log: bool = True):
        self.app, self.observe, self.log = app, observe, log

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        status = 500  # unless the app answers otherwise

        async def sending(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            seconds = time.perf_counter() - started
            self.observe(scope["method"], route_label(scope), status, seconds)
            if self.log and access_log.isEnabledFor(logging.INFO):
                _access_line(scope, status, seconds)


def _access_line(scope: dict[str, Any], status: int, seconds: float) -> None:
    client = scope.get("client")
    fields = {
        "method": scope["method"],
        "path": safe_path(scope),
        "status": status,
        "duration_ms": round(seconds * 1000, 2),
        "client": client[0] if client else None,
    }
    access_log.info(
        '%s "%s %s" %s %.1f ms',
        fields["client"] or "-",
        fields["method"],
        fields["path"],
        status,
        fields["duration_ms"],
        extra=fields,
    )
