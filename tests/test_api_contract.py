"""The API keeps the promises of its OpenAPI schema: schemathesis (every check) against a real
`paperwire serve` on seeded data, anonymous and with a user's Bearer token (with the token on
SQLite and on PostgreSQL), finds nothing — no 500, no undocumented status, no response off its
schema, no schema-valid request refused, no invalid one accepted, a true Allow header.

Bounded: a fixed seed, about 2,600 requests a run on SQLite (about a minute each), fewer
on PostgreSQL (no coverage phase).

JSON Schema cannot state the rules the server checks across parameters, or the instance's
submission rules; for those operations only, a 400 to schema-valid data is expected
(CONTRACT_EXCEPTIONS below), every other check staying as it is."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from paperwire.core.signing import Signer
from paperwire.store import Store
from paperwire.web.deps import session_nonce

from .conftest import fresh_pg_database
from .webkit import add_user, seed

pytestmark = [pytest.mark.processes, pytest.mark.serial]
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
EXAMPLES = 25  # per operation and phase: about 2,600 requests a run
# PostgreSQL: random and stateful requests only (the coverage phase's boundary values test
# the schema, which SQLite's runs have covered), within the time budget.
PG_PHASES = "examples,fuzzing,stateful"
# (operation, why its schema-valid requests may still get a 400)
CONTRACT_EXCEPTIONS = [
    ("GET", "/api/daily_papers", "at most one of date, week and month"),
    ("GET", "/api/papers/search", "from must not be after to"),
    ("POST", "/api/daily_papers", "papers older than submit_max_age_days are refused"),
    ("POST", "/api/subscriptions", "a topic alert needs a query with a word"),
    ("PATCH", "/api/subscriptions/{sub_id}", "a topic alert needs a query with a word"),
]
POSITIVE = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def _serve(tmp: Path, db: str) -> Iterator[tuple[str, str, Path]]:
    """A real `paperwire serve` over ``db``, seeded, with a user's API token."""
    with Store(db) as store:
        store.db.upgrade()
        seed(store)
        uid = add_user(store, "ada")
        token = store.accounts.create_token(uid, "schemathesis")
        # the browser's way: a session cookie, and the page's CSRF token in a header
        cookie = store.sessions.create(uid, 3600, agent="schemathesis")
        csrf = Signer("contract-test").csrf_token(session_nonce(cookie))
        session = (f"Cookie: pw_session={cookie}", f"X-CSRF-Token: {csrf}")
    dead = _port()  # arXiv: nothing listens there, so fetches fail at once
    (tmp / "site.toml").write_text(
        'secret_key = "contract-test"\ndigest_interval = 0\nthumbnail_interval = 0\n'
        "semantic_search = false\nrate_limit_writes = 1000000\nrate_limit_subscribe = 1000000\n"
        f'arxiv_api_url = "http://127.0.0.1:{dead}/api"\noutbox_dir = "{tmp / "outbox"}"\n'
        "arxiv_visitor_wait = 1.0\nhttp_retries = 0\n"
    )
    port = _port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAPERWIRE_")}
    cmd = [sys.executable, "-m", "paperwire", "-q", "--config", str(tmp / "site.toml"),
           "--db", db, "serve", "--port", str(port), "--workers", "1"]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz").status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    else:
        proc.kill()
        raise AssertionError(proc.stderr.read().decode()[-2000:])
    try:
        yield url, token, tmp, session
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("contract")
    with _serve(tmp, f"sqlite:///{tmp / 'site.db'}") as running:
        yield running


@pytest.fixture(scope="module")
def pg_server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("contract-pg")
    with fresh_pg_database() as url, _serve(tmp, url) as running:
        yield running


def _config(tmp: Path) -> Path:
    lines = []
    for method, path, why in CONTRACT_EXCEPTIONS:
        lines += [
            f"# {why}",
            "[[operations]]",
            f'include-name = "{method} {path}"',  # one filter: method and path together
            f"checks.positive_data_acceptance.expected-statuses = {json.dumps([*POSITIVE, '400'])}",
            "",
        ]
    config = tmp / "schemathesis.toml"
    config.write_text("\n".join(lines))
    return config


def _run(url: str, tmp: Path, name: str, *headers: str, phases: str = "", skip: str = "") -> str:
    cmd = [str(SCHEMATHESIS), "--config-file", str(_config(tmp)), "run", f"{url}/openapi.json",
           "--checks", "all", "--max-examples", str(EXAMPLES), "--seed", "1", "--workers", "1",
           "--no-shrink"]  # fmt: skip
    for header in headers:
        cmd += ["-H", header]
    if phases:
        cmd += ["--phases", phases]
    if skip:
        cmd += ["--exclude-checks", skip]
    started = time.monotonic()
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp)
    took = time.monotonic() - started
    out = done.stdout + done.stderr
    print(f"schemathesis {name}: {took:.0f} s\n{out[-1500:]}")
    assert done.returncode == 0, out[-12000:]
    return out


def test_schema_holds_for_anonymous_callers(server):
    url, _, tmp, _ = server
    out = _run(url, tmp, "anonymous")
    assert "Test cases:" in out


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_schema_holds_for_a_signed_in_caller(request, backend):
    """The writes (upvotes, comments, reactions, submissions, subscriptions) on both
    databases."""
    url, token, tmp, _ = request.getfixturevalue("server" if backend == "sqlite" else "pg_server")
    phases = "" if backend == "sqlite" else PG_PHASES
    out = _run(url, tmp, f"token-{backend}", f"Authorization: Bearer {token}", phases=phases)
    assert "Test cases:" in out


def test_schema_holds_for_a_browser_session_with_its_csrf_token(server):
    """The same writes with a session cookie and X-CSRF-Token instead of a token (SQLite;
    the phases of the PostgreSQL run)."""
    url, _, tmp, session = server
    # ignored_auth strips the credentials the schema declares from each case, but a cookie
    # given on the command line is sent by the transport whatever the case says: its probe
    # would always find the session still there.
    out = _run(url, tmp, "session", *session, phases=PG_PHASES, skip="ignored_auth")
    assert "Test cases:" in out


def test_schema_states_errors_constraints_and_security(server):
    url, _, _, _ = server
    spec = httpx.get(f"{url}/openapi.json").json()
    ops = [(p, m, op) for p, item in spec["paths"].items() for m, op in item.items()]
    # the app answers 400 for bad parameters; 422 only for an Idempotency-Key's other body
    assert all(
        "422" not in op["responses"] or "Idempotency-Key" in op["responses"]["422"]["description"]
        for _, _, op in ops
    )
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    error = spec["components"]["schemas"]["ErrorBody"]
    assert error["required"] == ["error"]
    assert set(spec["components"]["securitySchemes"]) == {"bearer", "session", "csrf"}
    upvote = spec["paths"]["/api/papers/{arxiv_id}/upvote"]["post"]
    assert {"400", "401", "403", "404", "429"} <= set(upvote["responses"])
    assert upvote["security"] == [{"bearer": []}, {"session": [], "csrf": []}]
    params = spec["paths"]["/api/daily_papers"]["get"]["parameters"]
    date = next(p["schema"] for p in params if p["name"] == "date")
    assert date["anyOf"][0]["format"] == "date"  # a day the calendar has, or empty for none
    sub = spec["components"]["schemas"]["SubscriptionBody"]["properties"]["email"]
    assert "pattern" in sub  # {"email": ""} is not a valid body


def test_routes_keep_to_their_paths_and_allow_lists_every_method(server):
    url, _, _, _ = server
    for method in ("GET", "OPTIONS"):
        r = httpx.request(method, f"{url}/api/papers/0/upvote")
        assert r.status_code == 405
        assert r.headers["allow"] == "DELETE, POST"
    r = httpx.get(f"{url}/api/papers/index")
    assert r.status_code == 405 and r.headers["allow"] == "POST"
    assert httpx.get(f"{url}/api/papers/hep-th/9901001").status_code == 404  # old style: one slash
    r = httpx.get(f"{url}/api/daily_papers", params={"week": "2025-W53"})
    assert r.status_code == 404 and "no week 53" in r.json()["error"]
    assert httpx.get(f"{url}/api/daily_papers", params={"month": "2999-12"}).status_code == 200
    r = httpx.get(f"{url}/api/daily_papers", params={"month": "9999-12"})  # past the years a
    assert r.status_code == 400 and "1900 to 2999" in r.json()["error"]  # period may name
    r = httpx.post(f"{url}/api/subscriptions", json={"email": ""})
    assert r.status_code == 400 and "email" in r.json()["fields"]
