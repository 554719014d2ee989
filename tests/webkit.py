"""Helpers for web tests: a site over a test store, seeded with real papers, and a visitor
that signs in through the real forms."""

from __future__ import annotations

import re
import socket
import tempfile
import threading
import time
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient

from paperwire import plugins
from paperwire.core.passwords import hash_password
from paperwire.core.settings import Settings
from paperwire.ingest.listing import listing_record
from paperwire.ingest.pipeline import import_jsonl
from paperwire.jobs import QueueRunner, StepStats
from paperwire.mail import outgoing

from .replay import FIXTURES
from .storekit import TRUST

LISTING = FIXTURES / "listings" / "2025-03-18.head60.jsonl"
PASSWORD = "correct horse battery"
# The token in the page's meta tag (signed in) or a form's hidden field (signed-out pages
# show it only where a form needs it).
CSRF = re.compile(r'name="csrf-token" content="([^"]+)"|name="csrf_token" value="([^"]+)"')


# The ONNX model is built once per test run (a few seconds) and shared by every test.
MODEL_CACHE = Path(tempfile.gettempdir()) / "paperwire-test-models"


def make_config(tmp_path, **overrides) -> Settings:
    values = {
        "secret_key": "test-secret-key",
        "base_url": "http://testserver",
        "outbox_dir": str(tmp_path / "outbox"),
        "arxiv_min_interval": 0.0,
        "http_retries": 1,
        "http_backoff": 0.01,
        "http_timeout": 5.0,
        "feed_timezone": "UTC",
        "feed_rollover": "00:00",
        "page_size": 10,
        "model_cache_dir": str(MODEL_CACHE),
        "index_dir": str(tmp_path / "vector-index"),
    }
    values.update(overrides)
    return Settings.load(overrides=values, environ={})


def seed(store, days: int = 3) -> list[str]:
    """The 60 real papers of one arXiv listing; the first ``days * 5`` go on the feed, five a
    day on the last ``days`` days, with a submitter. Returns the feed's paper ids."""
    import_jsonl(store, TRUST, LISTING, listing_record)
    ids = [p.id for p in store.feed.latest(limit=100)]
    uid = store.accounts.create_user("curator1", "curator1@example.org", None, role="curator")
    today = date.today()
    on_feed = []
    for i, pid in enumerate(sorted(ids)[: days * 5]):
        day = today - timedelta(days=i // 5)
        store.feed.submit(pid, uid, day, datetime.combine(day, datetime.min.time()))
        on_feed.append(pid)
    return on_feed


class Visitor:
    """A browser-like client: keeps cookies, reads the CSRF token from pages."""

    def __init__(self, app):
        self.client = TestClient(app, base_url="http://testserver", follow_redirects=False)
        self._csrf = None

    def get(self, url, **kw):
        return self._read_csrf(self.client.get(url, **kw))

    def _read_csrf(self, r):
        """Like a browser, the next form is the one on the page last shown."""
        m = CSRF.search(r.text) if "text/html" in r.headers.get("content-type", "") else None
        if m:
            self._csrf = m.group(1) or m.group(2)
        return r

    @property
    def csrf(self) -> str:
        if self._csrf is None:
            self.get("/signin")
        return self._csrf

    def post(self, url, data=None, **kw):
        data = dict(data or {})
        data.setdefault("csrf_token", self.csrf)
        return self._read_csrf(self.client.post(url, data=data, **kw))

    def follow(self, r):
        """Where a form's answer sends the browser (Post/Redirect/Get): that page."""
        assert r.status_code == 303, (r.status_code, r.text[:500])
        return self.get(r.headers["location"])

    def post_and_follow(self, url, data=None, **kw):
        """A form sent, and the page its redirect shows."""
        return self.follow(self.post(url, data, **kw))

    def sign_in(self, login: str, password: str = PASSWORD):
        r = self.post("/signin", {"login": login, "password": password, "next": "/papers"})
        assert r.status_code == 303, r.text
        self._csrf = None
        return r


def add_user(store, name: str, role: str = "user", password: str = PASSWORD) -> int:
    email = f"{name}@example.org"
    return store.accounts.create_user(name, email, hash_password(password), role=role)


def send_queued_mail(store, config) -> StepStats:
    """What the queue worker of `paperwire serve` does with the e-mails visitors' requests
    queued (sign-up, reset, subscriptions): one step of the jobs queue."""
    return QueueRunner(store, outgoing.handlers(store, config)).step()


def site(store, tmp_path, **overrides):
    config = make_config(tmp_path, **overrides)
    return plugins.site(config, store), config


@contextmanager
def serve_in_thread(app):
    """The app on a real HTTP server (uvicorn) on a free loopback port."""
    import uvicorn

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(5)


def clear_of_window_end(window: int, margin: float = 90.0) -> None:
    """Rate limits count in fixed windows (store.accounts.rate_hit, store.throttle): wait,
    when needed, so that none ends during the next ``margin`` seconds of a test counting on
    one."""
    left = window - time.time() % window
    if left < margin:
        time.sleep(left + 1)
