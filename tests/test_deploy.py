"""deploy/: a real `paperwire serve --workers 2` behind Debian's nginx running the rendered
deploy/nginx/paperwire.conf (TLS, static files, cache, limits, trusted_proxies), the
template renderer, and the systemd units (systemd-analyze verify)."""

from __future__ import annotations

import os
import re
import select
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from paperwire.store import Store
from paperwire.web import throttle

from .conftest import require
from .nginxkit import (
    BROTLI_MODULE,
    DEPLOY,
    STATIC,
    app_server,
    free_port,
    nginx_problem,
    render,
    run_nginx,
)
from .webkit import add_user, clear_of_window_end, seed

processes = pytest.mark.processes
# The sign-in form's own CSRF field (a page's meta tag may be absent for visitors).
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """nginx in front of one `serve --workers 2` on SQLite and one app server that is down
    (a dead upstream: nginx must fail over); a user with an API token; the feed's ids."""
    require("nginx", nginx_problem())
    tmp = tmp_path_factory.mktemp("deploy")
    url = f"sqlite:///{tmp / 'site.db'}"
    with Store(url) as store:
        store.db.upgrade()
        ids = seed(store)
        uid = add_user(store, "voter")
        token = store.accounts.create_token(uid, "nginx test")
    settings = {
        "trusted_proxies": "127.0.0.1/32",
        "rate_limit_auth": 1,
        "semantic_search": "false",
        "base_url": "https://localhost",
        "feed_timezone": "UTC",
        "feed_rollover": "00:00",
    }
    with (
        app_server(url, tmp / "app", workers=2, settings=settings) as app,
        run_nginx(tmp / "nginx", [app.address, f"127.0.0.1:{free_port()}"]) as ngx,
    ):
        yield {"app": app, "nginx": ngx, "ids": ids, "token": token, "url": url}


@processes
def test_pages_api_and_feeds_through_nginx_over_tls(stack):
    ngx, ids = stack["nginx"], stack["ids"]
    with ngx.client() as client:
        for _ in range(6):  # round-robin meets the dead upstream: nginx fails over
            page = client.get("/papers", headers={"Accept-Encoding": "gzip"})
            assert page.status_code == 200 and "text/html" in page.headers["content-type"]
            assert page.headers["content-encoding"] == "gzip"
            assert page.headers["strict-transport-security"] == "max-age=63072000"
            assert "server-timing" in page.headers  # answered by the app
        api = client.get("/api/daily_papers", params={"limit": 5})
        assert api.status_code == 200 and len(api.json()) == 5
        assert client.get(f"/api/papers/{ids[0]}").json()["id"] == ids[0]
        atom = client.get("/feeds/daily.atom", headers={"Accept-Encoding": "gzip"})
        assert atom.status_code == 200 and atom.headers["content-encoding"] == "gzip"
        assert client.get("/metrics").status_code == 403  # not from outside
    # Plain HTTP only redirects to HTTPS, path and query kept.
    r = httpx.get(f"{ngx.http_url}/papers?q=vision", follow_redirects=False)
    assert r.status_code == 301 and r.headers["location"] == f"{ngx.url}/papers?q=vision"


@processes
def test_brotli_where_debian_has_the_module(stack):
    """deploy/nginx/brotli.conf with libnginx-mod-http-brotli-filter: br for browsers that
    ask for it (gzip for the others, above)."""
    problem = None if BROTLI_MODULE.exists() else f"{BROTLI_MODULE} missing"
    require("nginx's brotli module (apt install libnginx-mod-http-brotli-filter)", problem)
    with stack["nginx"].client() as client:
        for path in ("/papers", "/api/daily_papers?limit=20", "/static/style.css?v=1"):
            with client.stream("GET", path, headers={"Accept-Encoding": "br, gzip"}) as r:
                assert r.status_code == 200 and r.headers["content-encoding"] == "br", path


@processes
def test_static_files_come_from_nginx_not_the_app(stack):
    ngx, app = stack["nginx"], stack["app"]
    with ngx.client() as client:
        html = client.get("/papers").text
        versioned = re.search(r'href="(/static/style\.css\?v=[^"]+)"', html)
        assert versioned, "templates version their static URLs"
        css = client.get(versioned.group(1), headers={"Accept-Encoding": "identity"})
        assert css.status_code == 200 and css.content == (STATIC / "style.css").read_bytes()
        assert css.headers["cache-control"] == "public, max-age=31536000, immutable"
        # The app stamps Server-Timing on everything it answers (its /static too): nginx's
        # answer has none, and nginx's own ETag form.
        assert "server-timing" not in css.headers
        assert "server-timing" in httpx.get(f"{app.url}/static/style.css").headers
        assert re.fullmatch(r'"[0-9a-f]+-[0-9a-f]+"', css.headers["etag"])
        icon = client.get("/static/favicon.svg")  # unversioned: an hour
        assert icon.headers["cache-control"] == "public, max-age=3600"
        assert client.get("/static/../../app.py").status_code in (400, 404)


def _sign_in_attempts(client: httpx.Client, forwarded: list[str], who: str) -> list[int]:
    """Failed sign-ins, each with its own account name (so only the per-address limit
    counts) and its own (forged) X-Forwarded-For."""
    form = client.get("/signin")
    token = CSRF.search(form.text)
    assert token
    # The cookie is Secure (base_url is https, so it is a __Host- cookie): sent by hand, also
    # to the app's plain HTTP.
    headers = {"Cookie": f"__Host-pw_csrf={form.cookies['__Host-pw_csrf']}"}
    client.cookies.clear()
    out = []
    for i, fwd in enumerate(forwarded):
        data = {"login": f"{who}{i}", "password": "wrong password", "csrf_token": token.group(1)}
        r = client.post("/signin", data=data, headers={**headers, "X-Forwarded-For": fwd})
        out.append(r.status_code)
    return out


@processes
def test_rate_limits_key_on_the_real_client_behind_nginx(stack):
    """rate_limit_auth=1: sign-ins per address are bounded by the flood guard (20 per 15
    minutes). Through nginx, forged X-Forwarded-For values from one client share its limit;
    another client has its own. Straight to the app (a peer it does not trust) the header
    counts for nothing."""
    ngx, app = stack["nginx"], stack["app"]
    forged = [f"198.51.100.{i}" for i in range(1, throttle.IP_FACTOR + 2)]
    clear_of_window_end(throttle.WINDOW)  # the limit counts in fixed 15-minute windows
    with ngx.client("127.0.0.3") as client:
        codes = _sign_in_attempts(client, forged, "a")
        assert codes == [400] * throttle.IP_FACTOR + [429]
    with ngx.client("127.0.0.4") as other:  # not the proxy's address: its own limit
        assert _sign_in_attempts(other, ["127.0.0.3"], "b") == [400]
    direct = httpx.HTTPTransport(local_address="127.0.0.3")
    with httpx.Client(base_url=app.url, transport=direct) as client:
        # The same client straight to the app: the same (spent) limit, whatever it claims.
        assert _sign_in_attempts(client, ["198.51.100.7"], "c") == [429]
    direct = httpx.HTTPTransport(local_address="127.0.0.5")
    with httpx.Client(base_url=app.url, transport=direct) as client:
        # Claiming to be the spent client, from an untrusted peer: not believed.
        assert _sign_in_attempts(client, ["127.0.0.3"], "d") == [400]


@processes
def test_huge_headers_are_refused_by_nginx(stack):
    ngx = stack["nginx"]
    with ngx.client() as client:
        assert client.get("/papers", headers={"X-Note": "x" * 8000}).status_code == 200
        for size in (17_000, 1_000_000):
            r = client.get("/papers", headers={"X-Note": "x" * size})
            assert r.status_code == 400 and "nginx" in r.text, size


@processes
@pytest.mark.parametrize("port", ["http_port", "https_port"])
def test_a_header_sent_slowly_is_cut_off_after_10_seconds(stack, port):
    """Slowloris: a client that sends a header line every 2 s, never finishing, is dropped
    by nginx after client_header_timeout (10 s, not extended by each line), on the plain
    port and on the TLS one (where even the handshake never comes)."""
    raw = socket.create_connection(("127.0.0.1", getattr(stack["nginx"], port)))
    started, closed = time.monotonic(), None
    try:
        raw.sendall(b"GET /papers HTTP/1.1\r\nHost: localhost\r\n")
        for i in range(20):
            if select.select([raw], [], [], 1.0)[0]:
                if raw.recv(4096) == b"":
                    closed = time.monotonic() - started
                    break
            elif i % 2:
                raw.sendall(f"X-Slow-{i}: 1\r\n".encode())
    except OSError:  # reset by nginx (reset_timedout_connection)
        closed = time.monotonic() - started
    finally:
        raw.close()
    assert closed is not None and 9 < closed < 13, closed


@processes
def test_signed_in_api_and_posts_bypass_the_cache(stack):
    ngx, ids, token = stack["nginx"], stack["ids"], stack["token"]
    with ngx.client() as client:
        bearer = {"Authorization": f"Bearer {token}"}
        for _ in range(2):
            r = client.get("/api/whoami", headers=bearer)
            assert r.status_code == 200 and r.headers["x-cache-status"] == "BYPASS"
            r = client.get("/papers", headers={"Cookie": "pw_session=anything"})
            assert r.headers["x-cache-status"] == "BYPASS"
        r = client.post(f"/api/papers/{ids[1]}/upvote", headers=bearer)
        assert r.status_code == 200 and r.headers.get("x-cache-status", "") in ("", "BYPASS")
    # Nothing personal was stored: only public answers are cached.
    cached = b"".join(p.read_bytes() for p in ngx.cache.rglob("*") if p.is_file())
    assert b"voter" not in cached


@processes
def test_anonymous_reads_are_served_from_the_nginx_cache(stack):
    """With the app's Cache-Control for anonymous reads ("public, max-age=0, s-maxage=1"),
    quick repeated anonymous requests are answered by nginx from its cache."""
    ngx, ids = stack["nginx"], stack["ids"]
    for path in ("/papers", f"/papers/{ids[2]}", "/api/daily_papers?limit=5"):
        statuses = []
        for _ in range(3):
            with ngx.client() as client:  # cookie-less, like a new visitor
                statuses.append(client.get(path).headers.get("x-cache-status"))
        # From nginx's cache: a fresh copy (HIT), or one past its second while one request
        # fetches it again in the background (STALE, UPDATING); never all from the app.
        assert {"HIT", "STALE", "UPDATING"} & set(statuses), (path, statuses)


@processes
@pytest.mark.serial
def test_a_vote_through_nginx_is_seen_by_anonymous_readers_within_a_second(stack):
    """A vote through nginx reaches anonymous readers through nginx within a second of its
    acknowledgement (plus the read itself) when the app ends each public copy with its
    second ("X-Accel-Expires: @<unix second>"; nginx counts cache lifetimes in whole
    seconds), else within the 2 s that "s-maxage=1" alone can keep a copy. Three votes, each
    right after the paper's answer was cached: the worst case."""
    ngx, app, ids, token = stack["nginx"], stack["app"], stack["ids"], stack["token"]
    ends_with_its_second = "x-accel-expires" in httpx.get(f"{app.url}/api/papers/{ids[3]}").headers
    bound = 1.1 if ends_with_its_second else 2.1
    waits = []
    with ngx.client() as reader, ngx.client() as voter:
        for pid in ids[3:6]:
            before = reader.get(f"/api/papers/{pid}").json()["upvotes"]
            reader.get(f"/api/papers/{pid}")  # cached now, if cacheable
            bearer = {"Authorization": f"Bearer {token}"}
            r = voter.post(f"/api/papers/{pid}/upvote", headers=bearer)
            assert r.status_code == 200 and r.json()["upvotes"] == before + 1
            acknowledged = time.monotonic()
            while reader.get(f"/api/papers/{pid}").json()["upvotes"] != before + 1:
                assert time.monotonic() - acknowledged < 5.0, "vote not visible"
                time.sleep(0.01)
            waits.append(time.monotonic() - acknowledged)
    assert max(waits) < bound, f"votes reached anonymous readers after {waits} s"


def test_the_renderer_fills_every_value_and_repeats_list_lines():
    out = render("a {{server_name}};\n  server {{upstreams}} x;\n", {"upstreams": "h1:1, h2:2"})
    assert out == "a papers.example.org;\n  server h1:1 x;\n  server h2:2 x;\n"
    with pytest.raises(ValueError, match="nothing_like_this"):
        render("{{nothing_like_this}}\n", {})
    # The production defaults leave no placeholder in the shipped template.
    site = render((DEPLOY / "nginx" / "paperwire.conf").read_text(), {"static_root": "/srv/s"})
    assert not re.search(r"\{\{\w+\}\}", site) and "listen [::]:443 ssl http2;" in site
    assert "ssl_certificate /etc/letsencrypt/live/papers.example.org/fullchain.pem;" in site
    assert "client_max_body_size 1048576;" in site  # = the app's max_body_bytes default


def test_the_render_command_line(tmp_path):
    cmd = [sys.executable, str(DEPLOY / "render.py"), str(DEPLOY / "nginx" / "paperwire.conf"),
           "server_name=papers.test", "upstreams=10.0.0.1:8001,10.0.0.2:8001"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True).stdout
    assert "server 10.0.0.2:8001 max_fails=1 fail_timeout=5s;" in out
    assert f"alias {STATIC}/;" in out  # the installed package's static folder
    bad = subprocess.run([*cmd[:3], "colour=blue"], capture_output=True, text=True)
    assert bad.returncode == 2 and "NAME=VALUE" in bad.stderr


UNITS = sorted((DEPLOY / "systemd").glob("*.[st]*"))


def test_systemd_units_pass_systemd_analyze_verify(tmp_path):
    """Every unit as systemd reads it (with ExecStart pointed at this machine's paperwire)."""
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    assert {u.name for u in UNITS} >= {"paperwire.service", "paperwire-worker.service"}
    paperwire = Path(sys.executable).parent / "paperwire"
    if not paperwire.exists():
        pytest.skip(f"no paperwire command beside {sys.executable}")
    for unit in UNITS:
        text = unit.read_text().replace("/opt/paperwire/venv/bin/paperwire", str(paperwire))
        (tmp_path / unit.name).write_text(text)
    r = subprocess.run(
        ["systemd-analyze", "verify", *sorted(str(p) for p in tmp_path.iterdir())],
        capture_output=True,
        text=True,
        env={**os.environ, "SYSTEMD_LOG_LEVEL": "warning"},
    )
    problems = [line for line in (r.stdout + r.stderr).splitlines() if str(tmp_path) in line]
    assert r.returncode == 0 and not problems, r.stdout + r.stderr
