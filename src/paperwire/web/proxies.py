"""Trusted reverse proxies: the real client address and scheme from ``X-Forwarded-For`` and
``X-Forwarded-Proto``, believed only when the direct peer is a proxy we trust.

Behind nginx every connection comes from nginx, so rate limits and logs would see one
address. :class:`TrustedProxies` rewrites the ASGI scope's ``client`` and ``scheme`` before
anything else reads them, only for requests whose peer is inside ``trusted_proxies``; from
anyone else those headers are ignored, since any client can send them.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Any

from ..core.errors import ConfigError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_networks(text: str) -> tuple[Network, ...]:
    """The CIDRs of a ``trusted_proxies`` value (comma- or space-separated; a bare address is
    one host). A bad entry is a configuration error that names it."""
    out = []
    for part in text.replace(",", " ").split():
        try:
            out.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ConfigError(f"trusted_proxies: {part!r} is not an address or CIDR") from None
    return tuple(out)


def _address(text: str) -> Address | None:
    """An address from one X-Forwarded-For entry (``[v6]`` and ``v4:port`` forms too)."""
    text = text.strip()
    if text.startswith("[") and "]" in text:
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _inside(address: Address, networks: Sequence[Network]) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address.version == n.version and address in n for n in networks)


def real_client(forwarded_for: str, networks: Sequence[Network]) -> str | None:
    """The client that reached our first trusted proxy: walk ``X-Forwarded-For`` from the
    right (each proxy appends the peer it saw), skipping our own proxies; the first address
    that is not one of them is the client. A malformed entry ends the walk with no answer
    (nothing left of it can be vouched for), and so does a chain of trusted hops only."""
    for entry in reversed(forwarded_for.split(",")):
        address = _address(entry)
        if address is None:
            return None
        if not _inside(address, networks):
            return str(address)
    return None


class TrustedProxies:
    """ASGI middleware: ``scope["client"]`` and ``scope["scheme"]`` from the forwarding
    headers of requests that come from a trusted proxy; other requests are untouched. The
    scope is changed in place, so that uvicorn's access log, which reads the same scope when
    the response is done, shows the real client too."""

    def __init__(self, app: Any, networks: Sequence[Network]):
        self.app, self.networks = app, tuple(networks)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self.networks and scope["type"] in ("http", "websocket"):
            self.rewrite(scope)
        await self.app(scope, receive, send)

    def rewrite(self, scope: dict[str, Any]) -> None:
        peer = scope.get("client")
        address = _address(peer[0]) if peer else None
        if address is None or not _inside(address, self.networks):
            return
        forwarded, proto = [], None
        for name, value in scope.get("headers") or ():
            if name == b"x-forwarded-for":
                forwarded.append(value.decode("latin-1"))
            elif name == b"x-forwarded-proto":
                proto = value.decode("latin-1").strip().lower()
        client = real_client(",".join(forwarded), self.networks) if forwarded else None
        if client is not None:
            scope["client"] = (client, 0)
        if proto in ("http", "https"):
            ws = scope["type"] == "websocket"
            scope["scheme"] = {"http": "ws", "https": "wss"}[proto] if ws else proto
