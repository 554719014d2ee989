"""The guards around the site: a NUL byte in an address is a clear 400 on both backends, and
a crashing view answers 500 without closing the visitor's keep-alive connection (issue 14,
item 1: after each 500 the client's *next* request failed with "connection reset")."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta

import pytest

from .webkit import Visitor, seed, serve_in_thread, site

NUL_URLS = [
    "/users/a%00b",
    "/authors/Ada%00Lovelace",
    "/api/daily_papers?submitter=a%00",
    "/papers?q=vision%00",
    "/api/papers/search?q=%00",
    "/feeds/search.atom?q=a%00b",
    "/organizations/x%00",
]


@pytest.mark.parametrize("url", NUL_URLS)
def test_nul_in_an_address_is_a_clear_400(store, tmp_path, url):
    seed(store, days=1)
    app, _ = site(store, tmp_path)
    r = Visitor(app).get(url)
    assert r.status_code == 400, r.text
    assert "NUL" in r.text


def _exchange(sock: socket.socket, path: str) -> bytes:
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length")
    )
    while len(body) < length:
        body += sock.recv(65536)
    return head


def test_a_crash_answers_500_and_keeps_the_connection(sqlite_store, tmp_path, caplog):
    seed(sqlite_store, days=1)
    app, _ = site(sqlite_store, tmp_path)

    def boom() -> None:
        raise RuntimeError("a bug in a view")

    app.add_api_route("/boom", boom)
    with serve_in_thread(app) as base:
        host, port = base.removeprefix("http://").split(":")
        sock = socket.create_connection((host, int(port)))
        head = _exchange(sock, "/boom")
        assert head.startswith(b"HTTP/1.1 500") and b"connection: close" not in head.lower()
        assert b"content-security-policy" in head.lower()  # the site's headers on errors too
        head = _exchange(sock, "/healthz")  # the same connection still answers
        assert head.startswith(b"HTTP/1.1 200")
        sock.close()
    assert "a bug in a view" in caplog.text


def test_security_txt_from_the_setting(sqlite_store, tmp_path):
    app, _ = site(sqlite_store, tmp_path)
    assert Visitor(app).get("/.well-known/security.txt").status_code == 404
    app, _ = site(sqlite_store, tmp_path, security_contact="mailto:security@example.org")
    r = Visitor(app).get("/.well-known/security.txt")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    fields = dict(line.split(": ", 1) for line in r.text.splitlines())
    assert fields["Contact"] == "mailto:security@example.org"
    assert fields["Canonical"] == "http://testserver/.well-known/security.txt"
    expires = datetime.fromisoformat(fields["Expires"].replace("Z", "+00:00"))
    assert expires > datetime.now(UTC) + timedelta(days=30)  # a date to come (RFC 9116)
    app, _ = site(sqlite_store, tmp_path, security_contact="mailto:a@b.c\nContact: evil")
    assert Visitor(app).get("/.well-known/security.txt").status_code == 404
