"""Paperwire behind nginx against nginx's physical limit on this box, in one run, with wrk.

    python bench/proxy.py [--db bench-proxy.db] [--workers 2] [--clients 100] [--seconds 30]
                          [--json OUT]

The demo data (loaded once into --db) and the anonymous mix of the issue: today's feed,
trending, the daily-papers API, the daily Atom feed and 20 paper pages (and their API
answers). Three measurements at the same concurrency, over HTTPS through the rendered
deploy/nginx/paperwire.conf (tests/nginxkit.py) where nginx is involved:

1. static: nginx serving the very same bytes as files (saved from the app): the limit;
2. cached: nginx with its cache in front of `paperwire serve --workers N`, while a voter
   upvotes and takes back upvotes through nginx and an anonymous reader measures how long
   each change takes to show (through nginx);
3. app alone: `paperwire serve --workers N` straight (plain HTTP).

Prints requests/s, p50/p99 latency, errors (non-200 answers, socket errors and timeouts)
and the ratio cached/static (the issue's target: at least 40 %).
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from benchkit import HERE, write_json

sys.path.insert(0, str(HERE.parent))

from tests.nginxkit import app_server, free_port, run_nginx  # noqa: E402

from paperwire.store import Store  # noqa: E402

WRK_LUA = """
counter = 1
threads = {}
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end
function init(args)
  bad = 0
  paths = {}
  for line in io.lines("%s") do paths[#paths + 1] = line end
  math.randomseed(os.time() * 13 + id)
end
function request() return wrk.format("GET", paths[math.random(#paths)]) end
function response(status) if status ~= 200 then bad = bad + 1 end end
function done(summary, latency, requests)
  local non200 = 0
  for _, t in ipairs(threads) do non200 = non200 + t:get("bad") end
  local e = summary.errors
  io.write(string.format("RESULT requests=%%d non200=%%d socket=%%d timeouts=%%d "
    .. "seconds=%%.3f p50=%%d p99=%%d\\n", summary.requests, non200,
    e.connect + e.read + e.write, e.timeout, summary.duration / 1e6,
    latency:percentile(50), latency:percentile(99)))
end
"""

EXTENSIONS = {"text/html": ".html", "application/json": ".json", "application/atom+xml": ".atom"}


def wrk(base: str, paths: list[str], clients: int, seconds: float) -> dict[str, Any]:
    """wrk (2 threads) over ``paths`` chosen at random: requests/s, latency, errors."""
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "paths.txt").write_text("\n".join(paths) + "\n")
        script = Path(tmp) / "mix.lua"
        script.write_text(WRK_LUA % (Path(tmp) / "paths.txt"))
        out = subprocess.run(
            ["wrk", "-t2", f"-c{clients}", f"-d{int(seconds)}s", "--timeout", "10s",
             "-s", str(script), base],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
    found = re.search(r"RESULT (.*)", out)
    if not found:
        raise SystemExit(f"wrk said: {out}")
    raw = {k: float(v) for k, v in (kv.split("=") for kv in found.group(1).split())}
    return {
        "requests": int(raw["requests"]),
        "rps": raw["requests"] / raw["seconds"],
        "p50_ms": raw["p50"] / 1000,
        "p99_ms": raw["p99"] / 1000,
        "non200": int(raw["non200"]),
        "socket_errors": int(raw["socket"]),
        "timeouts": int(raw["timeouts"]),
    }


def mix(store: Store) -> tuple[list[str], list[str]]:
    """The anonymous mix's URLs, and the ids of its paper pages."""
    ids = [card.id for card in store.feed.latest(limit=20)]
    urls = ["/papers", "/papers/trending", "/api/daily_papers?limit=20", "/feeds/daily.atom"]
    urls += [f"/papers/{pid}" for pid in ids] + [f"/api/papers/{pid}" for pid in ids]
    return urls, ids


def save_static(app_url: str, urls: list[str], docroot: Path) -> list[str]:
    """Each URL's answer from the app as a file; the paths nginx serves them under."""
    docroot.mkdir(parents=True, exist_ok=True)
    paths = []
    with httpx.Client(base_url=app_url, timeout=30) as client:
        for i, url in enumerate(urls):
            r = client.get(url)
            r.raise_for_status()
            kind = r.headers["content-type"].split(";")[0]
            name = f"{i}{EXTENSIONS.get(kind, '.bin')}"
            (docroot / name).write_bytes(r.content)
            paths.append(f"/{name}")
    return paths


class Voter(threading.Thread):
    """Upvotes and takes back upvotes on the mix's papers through nginx, one change every
    ``every`` seconds, and times until an anonymous reader (through nginx) sees each."""

    def __init__(self, url: str, token: str, ids: list[str], every: float = 1.5):
        super().__init__(daemon=True)
        self.url, self.token, self.ids, self.every = url, token, ids, every
        self.waits: list[float] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        auth = {"Authorization": f"Bearer {self.token}"}
        with (
            httpx.Client(base_url=self.url, verify=False, timeout=30) as voter,
            httpx.Client(base_url=self.url, verify=False, timeout=30) as reader,
        ):
            n = 0
            while not self.stopping.wait(self.every):
                pid = self.ids[n % len(self.ids)]
                method = "POST" if (n // len(self.ids)) % 2 == 0 else "DELETE"
                n += 1
                r = voter.request(method, f"/api/papers/{pid}/upvote", headers=auth)
                if r.status_code != 200:
                    continue
                target, acknowledged = r.json()["upvotes"], time.monotonic()
                while reader.get(f"/api/papers/{pid}").json()["upvotes"] != target:
                    if time.monotonic() - acknowledged > 10:
                        break
                    time.sleep(0.01)
                self.waits.append(time.monotonic() - acknowledged)


def report(label: str, r: dict[str, Any]) -> None:
    errors = r["non200"] + r["socket_errors"] + r["timeouts"]
    print(
        f"{label:<34} {r['rps']:>9,.0f} req/s   p50 {r['p50_ms']:7.1f} ms   "
        f"p99 {r['p99_ms']:7.1f} ms   errors {errors} (non-200 {r['non200']}, "
        f"socket {r['socket_errors']}, timeouts {r['timeouts']})"
    )


def demo_db(path: Path) -> str:
    url = f"sqlite:///{path.resolve()}"
    if not path.exists():
        cmd = [sys.executable, "-m", "paperwire", "-q", "demo", "--db", str(path), "--no-serve"]
        subprocess.run(cmd, check=True)
    return url


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", type=Path, default=Path("bench-proxy.db"))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--clients", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--json", help="write the figures here (default: bench/results/)")
    args = ap.parse_args()
    if not shutil.which("wrk") or not Path("/usr/sbin/nginx").exists():
        raise SystemExit("needs wrk and nginx (apt install wrk nginx)")
    url = demo_db(args.db)
    with Store(url) as store:
        urls, ids = mix(store)
        uid = store.accounts.create_user(f"bench-voter-{int(time.time())}", None, None)
        token = store.accounts.create_token(uid, "bench")
    figures: dict[str, Any] = {
        "workers": args.workers,
        "clients": args.clients,
        "seconds": args.seconds,
        "urls": urls,
    }
    settings = {"trusted_proxies": "127.0.0.1/32", "rate_limit_writes": 0}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        with app_server(url, tmp / "app", workers=args.workers, settings=settings) as app:
            static_paths = save_static(app.url, urls, tmp / "docroot")
            static_port = free_port()
            static_server = f"""
    server {{
        listen 127.0.0.1:{static_port} ssl http2;
        ssl_certificate @FOLDER@/cert.pem;
        ssl_certificate_key @FOLDER@/key.pem;
        root {tmp / "docroot"};
    }}"""
            # One address (wrk's) opens every connection: the per-address limit is raised.
            with run_nginx(
                tmp / "nginx",
                [app.address],
                workers="auto",
                access_log=False,
                conn_per_address="10000",
                extra_http=static_server,
            ) as ngx:
                with httpx.Client(base_url=ngx.url, verify=False) as client:
                    for u in urls * 2:  # warm: the app's caches and nginx's
                        client.get(u)
                print(
                    f"{len(urls)} URLs, {args.clients} connections x {args.seconds:.0f} s, "
                    f"serve --workers {args.workers}, nginx workers auto, HTTPS"
                )
                static = wrk(f"https://127.0.0.1:{static_port}", static_paths, args.clients,
                             args.seconds)  # fmt: skip
                report("(i) nginx, same bytes as files", static)
                voter = Voter(ngx.url, token, ids[:5])
                voter.start()
                cached = wrk(ngx.url, urls, args.clients, args.seconds)
                voter.stopping.set()
                voter.join(15)
                report("(ii) nginx cache + serve", cached)
            alone = wrk(app.url, urls, args.clients, args.seconds)
            report("(iii) serve alone (HTTP)", alone)
    ratio = cached["rps"] / static["rps"]
    waits = voter.waits or [float("nan")]
    print(
        f"(ii)/(i) = {ratio:.1%} (target >= 40 %); (iii)/(i) = {alone['rps'] / static['rps']:.1%}"
    )
    print(
        f"votes seen by anonymous readers through nginx during (ii): {len(voter.waits)} votes, "
        f"median {statistics.median(waits):.2f} s, max {max(waits):.2f} s"
    )
    figures.update(
        static=static,
        cached=cached,
        alone=alone,
        ratio_cached_static=ratio,
        vote_visible_s={"n": len(voter.waits), "median": statistics.median(waits),
                        "max": max(waits), "all": voter.waits},
    )  # fmt: skip
    write_json("proxy", figures, args.json)


if __name__ == "__main__":
    main()
