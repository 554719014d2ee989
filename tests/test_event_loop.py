"""Nothing blocks the event loop: a real `paperwire serve` with 8 clients looping on sign-in
(argon2, wrong and right passwords), subscribe and submit (an unknown paper, with arXiv
never answering) still answers /healthz at once — p99 under 50 ms."""

from __future__ import annotations

import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

import httpx
import pytest

from paperwire.store import Store

from .webkit import PASSWORD, add_user, seed

pytestmark = [pytest.mark.processes, pytest.mark.serial]
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
CLIENTS, SECONDS = 8, 5.0


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Silent:
    """An "arXiv" that accepts connections and never answers."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)

    def close(self):
        self.sock.close()
        for conn in self.held:
            conn.close()


def _serve(tmp_path, arxiv_port: int):
    db = f"sqlite:///{tmp_path / 'site.db'}"
    with Store(db) as store:
        store.db.upgrade()
        seed(store)
        for n in range(CLIENTS):  # one account each: wrong passwords slow down only their own
            add_user(store, f"ada{n}")
    toml = tmp_path / "site.toml"
    toml.write_text(
        'secret_key = "loop-test"\ndigest_interval = 0\nthumbnail_interval = 0\n'
        "semantic_search = false\nrate_limit_auth = 1000000\nrate_limit_subscribe = 1000000\n"
        f'submit_daily_limit = 0\nsubmit_max_age_days = 0\narxiv_api_url = "http://127.0.0.1:{arxiv_port}/api"\n'
        f'outbox_dir = "{tmp_path / "outbox"}"\narxiv_visitor_wait = 1.0\nhttp_retries = 0\n'
    )
    port = _port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAPERWIRE_")}
    cmd = [sys.executable, "-m", "paperwire", "-q", "--config", str(toml), "--db", db,
           "serve", "--port", str(port), "--workers", "1"]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz").status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise AssertionError(proc.stderr.read().decode()[-2000:])


def _client_loop(url: str, n: int, stop: threading.Event, counts: dict[str, list[int]]):
    with httpx.Client(base_url=url, timeout=30) as c:
        token = CSRF.search(c.get("/signin").text).group(1)
        i = 0
        while not stop.is_set():
            i += 1
            posts = [
                ("/signin", {"login": f"ada{n}", "password": "wrong password!"}),
                ("/signin", {"login": f"ada{n}", "password": PASSWORD, "next": "/papers"}),
                (
                    "/subscribe",
                    {
                        "email": f"reader{n}-{i}@example.org",
                        "kind": "trending",
                        "frequency": "daily",
                        "timezone": "UTC",
                    },
                ),  # fmt: skip
                ("/papers/submit", {"arxiv_id": f"2501.{n:02d}{i % 1000:03d}"}),
            ]
            for path, form in posts:
                r = c.post(path, data={**form, "csrf_token": token})
                counts.setdefault(path, []).append(r.status_code)
                if r.status_code == 303:  # signed in: forms now carry the session's token
                    token = CSRF.search(c.get("/signin").text).group(1)
                if stop.is_set():
                    return


def test_healthz_answers_at_once_while_clients_sign_in_subscribe_and_submit(tmp_path):
    arxiv = Silent()
    proc, url = _serve(tmp_path, arxiv.port)
    stop, counts = threading.Event(), {}
    clients = [threading.Thread(target=_client_loop, args=(url, n, stop, counts))
               for n in range(CLIENTS)]  # fmt: skip
    try:
        for t in clients:
            t.start()
        time.sleep(0.5)
        took = []
        with httpx.Client(base_url=url, timeout=10) as probe:
            end = time.monotonic() + SECONDS
            while time.monotonic() < end:
                started = time.perf_counter()
                assert probe.get("/healthz").status_code == 200
                took.append(time.perf_counter() - started)
                time.sleep(0.02)
    finally:
        stop.set()
        for t in clients:
            t.join(40)
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
        arxiv.close()
    p99 = sorted(took)[int(len(took) * 0.99) - 1]
    done = ", ".join(f"{path} {sorted(set(codes))} x{len(codes)}" for path, codes in counts.items())
    median = statistics.median(took) * 1000
    print(f"\n/healthz under load: {len(took)} answers, median {median:.1f} ms, "
          f"p99 {p99 * 1000:.1f} ms; requests: {done}")  # fmt: skip
    # The clients did their work: failed and successful sign-ins, subscriptions, submissions.
    assert {400, 303} <= set(counts["/signin"])
    assert set(counts.get("/subscribe", [303])) == {303}  # on to "check your inbox"
    assert set(counts.get("/papers/submit", [303])) == {303}  # on to the pending page
    assert 500 not in {c for codes in counts.values() for c in codes}
    assert p99 < 0.050
