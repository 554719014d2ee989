#!/usr/bin/env python3
"""Fills the {{name}} values of a deploy/ template and prints the result (stdlib only).

    python3 deploy/render.py deploy/nginx/paperwire.conf server_name=papers.example.org \\
        upstreams=10.0.0.11:8001,10.0.0.12:8001 > /etc/nginx/sites-available/paperwire

A value with commas is a list: the template line that holds it is repeated once per item.
Values not given take the defaults below (static_root: the installed package's static
folder, found by importing paperwire with this Python). An unknown name, or a {{name}}
left without a value, is an error.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")

DEFAULTS = {
    "server_name": "papers.example.org",
    "https_url": "https://{server_name}",
    "listen_http": "80,[::]:80",
    "listen_https": "443,[::]:443",
    "upstreams": "127.0.0.1:8001",
    "ssl_certificate": "/etc/letsencrypt/live/{server_name}/fullchain.pem",
    "ssl_certificate_key": "/etc/letsencrypt/live/{server_name}/privkey.pem",
    "cache_path": "/var/cache/nginx/paperwire",
    # The app's max_body_bytes (1 MiB by default).
    "max_body": "1048576",
    "conn_per_address": "64",
}


def static_root(python: str = sys.executable) -> str:
    """The static folder of the paperwire package that ``python`` imports."""
    code = "import paperwire.web as w, pathlib; print(pathlib.Path(w.__file__).parent / 'static')"
    done = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def _fill(line: str, values: Mapping[str, str]) -> str:
    def value(m: re.Match[str]) -> str:
        if m.group(1) not in values:
            raise ValueError(f"no value for {m.group(0)}")
        return values[m.group(1)]

    return PLACEHOLDER.sub(value, line)


def render(template: str, values: Mapping[str, str]) -> str:
    """``template`` with every {{name}} replaced; a line holding a list value is repeated."""
    merged = {**DEFAULTS, **values}
    merged = {k: v.format(**merged) if "{" in v else v for k, v in merged.items()}
    out = []
    for line in template.splitlines():
        lists = [n for n in PLACEHOLDER.findall(line) if "," in merged.get(n, "")]
        if len(lists) > 1:
            raise ValueError(f"one list per line: {line.strip()}")
        if not lists:
            out.append(_fill(line, merged))
            continue
        for item in merged[lists[0]].split(","):
            out.append(_fill(line, {**merged, lists[0]: item.strip()}))
    return "\n".join(out) + "\n"


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 2
    values = {}
    for arg in argv[1:]:
        name, sep, value = arg.partition("=")
        if not sep or name not in {*DEFAULTS, "static_root"}:
            names = ", ".join(sorted({*DEFAULTS, "static_root"}))
            print(f"render.py: expected NAME=VALUE, NAME one of {names}", file=sys.stderr)
            return 2
        values[name] = value
    if "static_root" not in values:
        values["static_root"] = static_root()
    try:
        sys.stdout.write(render(Path(argv[0]).read_text(), values))
    except (OSError, ValueError) as exc:
        print(f"render.py: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
