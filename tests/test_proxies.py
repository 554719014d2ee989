"""trusted_proxies: the real client from X-Forwarded-For / X-Forwarded-Proto, only from a
trusted peer (paperwire.web.proxies), on fake ASGI scopes and through the whole app."""

import asyncio
import re

import pytest
from fastapi.testclient import TestClient

from paperwire.core.errors import ConfigError
from paperwire.web.proxies import TrustedProxies, parse_networks, real_client

from .webkit import clear_of_window_end, site

# The sign-in form's own CSRF field (a page's meta tag may be absent for visitors).
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
NGINX = parse_networks("10.0.0.0/8, 127.0.0.1 ::1")


def seen(peer, headers=(), networks=NGINX, kind="http", scheme="http"):
    """What the app behind the middleware sees: (client, scheme)."""
    got = {}

    async def app(scope, receive, send):
        got.update(client=scope["client"], scheme=scope["scheme"])

    scope = {
        "type": kind,
        "scheme": scheme,
        "client": peer,
        "headers": [(k.lower().encode(), v.encode("latin-1")) for k, v in headers],
    }
    asyncio.run(TrustedProxies(app, networks)(scope, None, None))
    return got["client"], got["scheme"]


def test_a_trusted_proxy_names_the_client_and_scheme():
    headers = [("X-Forwarded-For", "203.0.113.7"), ("X-Forwarded-Proto", "https")]
    assert seen(("10.1.2.3", 5000), headers) == (("203.0.113.7", 0), "https")


def test_anyone_else_cannot_choose_their_address_or_scheme():
    headers = [("X-Forwarded-For", "203.0.113.7"), ("X-Forwarded-Proto", "https")]
    assert seen(("198.51.100.9", 5000), headers) == (("198.51.100.9", 5000), "http")
    # No trusted proxies configured (the default): nobody is believed, not even loopback.
    assert seen(("127.0.0.1", 1), headers, networks=()) == (("127.0.0.1", 1), "http")


def test_the_walk_goes_from_the_right_and_skips_only_trusted_hops():
    # The client sent a forged entry; nginx appended the peer it saw; a second trusted hop too.
    chain = "6.6.6.6, 203.0.113.7, 10.0.0.5"
    assert real_client(chain, NGINX) == "203.0.113.7"
    assert seen(("127.0.0.1", 9), [("X-Forwarded-For", chain)])[0] == ("203.0.113.7", 0)
    # Several header lines are one list, in order.
    lines = [("X-Forwarded-For", "6.6.6.6"), ("X-Forwarded-For", "198.51.100.1, 10.9.9.9")]
    assert seen(("10.0.0.1", 9), lines)[0] == ("198.51.100.1", 0)


def test_malformed_or_all_trusted_chains_leave_the_peer():
    for chain in ("", "not-an-ip", "203.0.113.7, garbage", "10.0.0.1, 10.0.0.2", " , "):
        assert real_client(chain, NGINX) is None, chain
        assert seen(("10.0.0.1", 9), [("X-Forwarded-For", chain)])[0] == ("10.0.0.1", 9)
    # Garbage to the left of the real client is never reached.
    assert real_client("garbage, 203.0.113.7", NGINX) == "203.0.113.7"
    # An unknown scheme is ignored.
    assert seen(("10.0.0.1", 9), [("X-Forwarded-Proto", "gopher")]) == (("10.0.0.1", 9), "http")


def test_address_forms_ports_v6_and_v4_mapped():
    assert real_client("[2001:db8::1]:443", NGINX) == "2001:db8::1"
    assert real_client("2001:db8::1", NGINX) == "2001:db8::1"
    assert real_client("203.0.113.7:5555", NGINX) == "203.0.113.7"
    assert real_client("203.0.113.7, ::1", NGINX) == "203.0.113.7"
    # A dual-stack socket shows an IPv4 proxy as ::ffff:10.0.0.1: still trusted.
    assert seen(("::ffff:10.0.0.1", 9), [("X-Forwarded-For", "203.0.113.7")])[0][0] == (
        "203.0.113.7"
    )


def test_websockets_get_ws_schemes_and_other_scopes_pass():
    headers = [("X-Forwarded-Proto", "https")]
    assert seen(("10.0.0.1", 9), headers, kind="websocket", scheme="ws")[1] == "wss"


def test_bad_settings_are_configuration_errors():
    assert parse_networks("") == ()
    assert [str(n) for n in parse_networks("10.0.0.0/8,192.168.1.7 fd00::/8")] == [
        "10.0.0.0/8",
        "192.168.1.7/32",
        "fd00::/8",
    ]
    with pytest.raises(ConfigError, match="nginx"):
        parse_networks("10.0.0.0/8, nginx")


def _signins(app, forwarded: list[str], who: str) -> list[int]:
    """Failed sign-ins from a client at 10.0.0.1 (a proxy, when trusted), each with its
    X-Forwarded-For and an account name of its own (so only the address limit counts)."""
    client = TestClient(app, base_url="http://testserver", client=("10.0.0.1", 4000))
    statuses = []
    for i, fwd in enumerate(forwarded):
        csrf = CSRF.search(client.get("/signin").text)
        assert csrf
        data = {"login": f"{who}{i}", "password": "x" * 12, "csrf_token": csrf.group(1)}
        r = client.post("/signin", data=data, headers={"X-Forwarded-For": fwd})
        statuses.append(r.status_code)
    return statuses


def test_rate_limits_key_on_the_real_client_through_the_app(sqlite_store, tmp_path):
    """The whole app: rate_limit_auth=1 allows 20 sign-ins per address per 15 minutes (the
    flood guard, web.throttle.IP_FACTOR). From a trusted proxy, two clients have a limit each;
    from an untrusted peer, the header is ignored and every attempt counts against the peer."""
    from paperwire.web.throttle import IP_FACTOR as n
    from paperwire.web.throttle import WINDOW

    clear_of_window_end(WINDOW)  # the limit counts in fixed 15-minute windows
    trusting, _ = site(sqlite_store, tmp_path, rate_limit_auth=1, trusted_proxies="10.0.0.0/8")
    fwd = ["198.51.100.1"] * n + ["198.51.100.2"] * n + ["198.51.100.1"]
    assert _signins(trusting, fwd, "trusting") == [400] * (2 * n) + [429]

    untrusting, _ = site(sqlite_store, tmp_path, rate_limit_auth=1)
    forged = [f"203.0.113.{i}" for i in range(n + 1)]
    assert _signins(untrusting, forged, "plain") == [400] * n + [429]
