"""What the access log costs per request: the app (ASGI, in-process, no network) answering
`/healthz` with access lines off, as text, and as JSON, written to a file, in interleaved
rounds; with ``--wrk``, also a real `paperwire serve --workers 2` under wrk in each mode.

    python bench/access_log.py [--requests 20000] [--rounds 3] [--wrk] [--json OUT]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import benchkit
from benchkit import HERE

from paperwire import plugins
from paperwire.core import logs
from paperwire.core.settings import Settings
from paperwire.store import Store

MODES = {"off": {"access_log": False}, "text": {}, "json": {"log_format": "json"}}
SCOPE = {
    "type": "http", "http_version": "1.1", "method": "GET", "scheme": "http",
    "path": "/healthz", "raw_path": b"/healthz", "query_string": b"", "root_path": "",
    "headers": [(b"host", b"bench")], "client": ("127.0.0.1", 40000), "server": ("bench", 80),
}  # fmt: skip


def app_for(mode: str, db: str, log_file: Path) -> Any:
    settings = Settings.load(
        overrides={"database_url": db, "semantic_search": False, **MODES[mode]}, environ={}
    )
    logs.configure(settings.ops)
    # The chosen format, to a file rather than the terminal (as under systemd or a collector).
    root = logging.getLogger()
    handler = logging.FileHandler(log_file)
    handler.setFormatter(root.handlers[0].formatter)
    root.handlers[:] = [handler]
    return plugins.site(settings)


async def _drive(app: Any, n: int) -> None:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        pass

    for _ in range(n):
        await app(dict(SCOPE), receive, send)


def in_process(requests: int, rounds: int, work: Path) -> dict[str, float]:
    db = f"sqlite:///{work / 'bench.db'}"
    Store(db).db.upgrade()
    cpu: dict[str, list[float]] = {m: [] for m in MODES}
    for _ in range(rounds):
        for mode in MODES:
            app = app_for(mode, db, work / f"{mode}.log")
            asyncio.run(_drive(app, 500))  # warm up
            started = time.process_time()
            asyncio.run(_drive(app, requests))
            cpu[mode].append((time.process_time() - started) / requests * 1e6)
    return {m: statistics.median(v) for m, v in cpu.items()}


def per_line(lines: int, work: Path) -> dict[str, float]:
    """CPU time of writing one access line alone (format and write), per format."""
    from paperwire.web.ops import _access_line

    out = {}
    scope = {**SCOPE, "path": "/papers/2401.09417", "query_string": b"q=vision&page=2"}
    for mode in ("text", "json"):
        app_for(mode, f"sqlite:///{work / 'bench.db'}", work / f"line-{mode}.log")
        started = time.process_time()
        for _ in range(lines):
            _access_line(scope, 200, 0.0123)
        out[mode] = (time.process_time() - started) / lines * 1e6
    return out


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def under_wrk(mode: str, work: Path, seconds: int) -> float:
    port = _port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAPERWIRE_")}
    env.pop("XDG_RUNTIME_DIR", None)
    env.update(PYTHONPATH=str(HERE.parent / "src"), PAPERWIRE_SEMANTIC_SEARCH="0",
               PAPERWIRE_DIGEST_INTERVAL="0", PAPERWIRE_JOB_INTERVAL="0",
               PAPERWIRE_THUMBNAIL_INTERVAL="0",
               PAPERWIRE_ACCESS_LOG="0" if mode == "off" else "1",
               PAPERWIRE_LOG_FORMAT="json" if mode == "json" else "text")  # fmt: skip
    cmd = [sys.executable, "-m", "paperwire", "--db", f"sqlite:///{work / 'bench.db'}",
           "serve", "--port", str(port), "--workers", "2"]  # fmt: skip
    with open(work / f"serve-{mode}.log", "wb") as err:
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=err)
        try:
            url = f"http://127.0.0.1:{port}/healthz"
            for _ in range(240):
                if subprocess.run(["curl", "-sf", url], capture_output=True).returncode == 0:
                    break
                time.sleep(0.5)
            subprocess.run(["wrk", "-t2", "-c20", "-d2s", url], capture_output=True)
            out = subprocess.run(
                ["wrk", "-t2", "-c20", f"-d{seconds}s", url], capture_output=True, text=True
            ).stdout
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    return float(found.group(1)) if found else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--wrk", action="store_true", help="also serve --workers 2 under wrk")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--json", dest="json_out")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="paperwire-bench-log-"))
    try:
        cpu = in_process(args.requests, args.rounds, work)
        figures: dict[str, Any] = {"cpu_us_per_request": cpu}
        base = cpu["off"]
        for mode, us in cpu.items():
            print(f"in-process /healthz, access log {mode:<4}: {us:7.1f} µs CPU/request "
                  f"({us / base:.2f}x off)")  # fmt: skip
        figures["cpu_us_per_line"] = per_line(args.requests * 5, work)
        for mode, us in figures["cpu_us_per_line"].items():
            print(f"one access line alone, {mode:<4}: {us:5.1f} µs CPU")
        if args.wrk and shutil.which("wrk"):
            rps: dict[str, list[float]] = {m: [] for m in MODES}
            for _ in range(args.rounds):
                for mode in MODES:
                    rps[mode].append(under_wrk(mode, work, args.seconds))
            figures["wrk_requests_per_s"] = rps
            for mode, values in rps.items():
                shown = ", ".join(f"{v:,.0f}" for v in values)
                print(f"serve --workers 2, wrk -c20 /healthz, access log {mode:<4}: {shown} req/s")
        benchkit.write_json("access_log", figures, args.json_out)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
