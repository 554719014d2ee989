"""Page speed and sustained load against a real server process on the 74.7k-paper corpus.

    python bench/web_pages.py [--db bench-web.db] [--workers 2] [--clients 100] [--seconds 20]
                              [--json OUT]

1. Builds (once) a SQLite store with the listing file and a realistic feed: 25 papers per
   listing day on that day's feed, with upvotes from 200 users and a few comments.
2. Starts `paperwire serve --workers N` in its own process group.
3. Server time (the app's Server-Timing header) of the daily page and of paper pages,
   sequential requests: p50/p90/p99.
4. Sustained load from this separate process: C concurrent keep-alive clients for S seconds
   over a mix of daily pages, paper pages, the API and Atom; errors and requests/s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import httpx
from benchkit import SHARED, TRUST, write_json

from paperwire.ingest.listing import listing_record
from paperwire.ingest.pipeline import import_jsonl
from paperwire.store import Store

CORPUS = SHARED / "data/arxiv-listings"


def build(path: Path) -> None:
    if path.exists():
        return
    store = Store(f"sqlite:///{path}")
    store.db.upgrade()
    corpus = next(CORPUS.glob("*.jsonl.gz"))
    t0 = time.perf_counter()
    import_jsonl(store, TRUST, corpus, listing_record)
    print(f"imported corpus in {time.perf_counter() - t0:.1f} s")
    users = [store.accounts.create_user(f"user{i}", None, None) for i in range(200)]
    by_day: dict = {}
    for p in store.feed.latest(limit=200000):
        if p.published:
            by_day.setdefault(p.published.date(), []).append(p.id)
    rng = random.Random(7)
    on_feed = 0
    for day, ids in sorted(by_day.items()):
        for pid in sorted(ids)[:25]:
            submitted = datetime.combine(day, datetime.min.time())
            store.feed.submit(pid, rng.choice(users), day, submitted)
            on_feed += 1
            for uid in rng.sample(users, rng.randint(0, 12)):
                store.feed.set_upvote(uid, pid, True)
            if rng.random() < 0.1:
                store.discussion.add(pid, rng.choice(users), "Interesting **result**, see @user1.")
    store.close()
    print(f"feed: {on_feed} entries over {len(by_day)} days")


def start_server(db: Path, port: int, workers: int) -> subprocess.Popen:
    env = {**os.environ, "PAPERWIRE_SECRET_KEY": "bench", "PAPERWIRE_RATE_LIMIT_WRITES": "0"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "paperwire",
            "-q",
            "--db",
            f"sqlite:///{db}",
            "serve",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        env=env,
        start_new_session=True,
    )
    for _ in range(200):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit("server did not start")


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def server_times(base: str, urls: list[str]) -> list[float]:
    out = []
    with httpx.Client(base_url=base) as client:
        for url in urls:
            r = client.get(url)
            r.raise_for_status()
            out.append(float(r.headers["server-timing"].split("dur=")[1]))
    return out


async def load(base: str, urls: list[str], clients: int, seconds: float) -> tuple[int, int, list]:
    done = errors = 0
    latencies: list[float] = []
    stop = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:

        async def worker(seed: int):
            nonlocal done, errors
            rng = random.Random(seed)
            while time.monotonic() < stop:
                t0 = time.perf_counter()
                try:
                    r = await client.get(rng.choice(urls))
                    ok = r.status_code == 200
                except httpx.HTTPError:
                    ok = False
                latencies.append(time.perf_counter() - t0)
                done += 1
                errors += not ok

        await asyncio.gather(*(worker(i) for i in range(clients)))
    return done, errors, latencies


WRK_SCRIPT = """
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args)
  errors = 0
  paths = {}
  for line in io.lines("%s") do paths[#paths + 1] = line end
  math.randomseed(os.time() + #threads)
end
function request() return wrk.format("GET", paths[math.random(#paths)]) end
function response(status) if status ~= 200 then errors = errors + 1 end end
function done(summary, latency, requests)
  local bad = 0
  for _, t in ipairs(threads) do bad = bad + t:get("errors") end
  local sock = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.timeout
  io.write(string.format("wrk: %%d requests, %%d non-200, %%d socket errors, %%.0f req/s, "
    .. "latency p50 %%.1f ms p99 %%.1f ms\\n", summary.requests, bad, sock,
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000))
end
"""


def wrk(base: str, urls: list[str], clients: int, seconds: float) -> str:
    """Sustained load from wrk (Debian package), in its own process: 2 threads."""
    with tempfile.TemporaryDirectory() as tmp:
        paths = Path(tmp, "paths.txt")
        paths.write_text("\n".join(urls) + "\n")
        script = Path(tmp, "mix.lua")
        script.write_text(WRK_SCRIPT % paths)
        out = subprocess.run(
            [
                "wrk",
                "-t2",
                f"-c{clients}",
                f"-d{int(seconds)}s",
                "--timeout",
                "10s",
                "-s",
                str(script),
                base,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    return out.strip()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", type=Path, default=Path("bench-web.db"))
    ap.add_argument("--port", type=int, default=8799)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--clients", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--json", help="write the figures here (default: bench/results/)")
    args = ap.parse_args()
    figures: dict = {"workers": args.workers, "clients": args.clients}
    build(args.db)
    store = Store(f"sqlite:///{args.db}")
    days = [
        d
        for d in {
            c.feed_date
            for c in store.feed.period(
                datetime(2025, 1, 1).date(), datetime(2027, 1, 1).date(), limit=100000
            )[0]
        }
    ]
    papers = [p.id for p in store.feed.latest(limit=100000)]
    print(
        f"corpus: {store.db.count('papers'):,} papers, {store.db.count('feed_entries'):,} on the "
        f"feed, {store.db.count('upvotes'):,} upvotes, {len(days)} feed days"
    )
    store.close()
    rng = random.Random(1)
    proc = start_server(args.db, args.port, args.workers)
    base = f"http://127.0.0.1:{args.port}"
    try:
        daily = [f"/papers/date/{rng.choice(days)}" for _ in range(300)]
        paper = [f"/papers/{rng.choice(papers)}" for _ in range(300)]
        server_times(base, daily[:20] + paper[:20])  # warm up
        for label, urls in (
            ("daily page", daily),
            ("paper page", paper),
            ("/papers (today)", ["/papers"] * 100),
            (
                "/api/daily_papers",
                [f"/api/daily_papers?date={rng.choice(days)}" for _ in range(200)],
            ),
        ):
            t = server_times(base, urls)
            figures[label] = {"server_p50_ms": statistics.median(t), "server_p90_ms": pct(t, 0.9),
                              "server_p99_ms": pct(t, 0.99)}  # fmt: skip
            print(
                f"{label:<20} server time p50 {statistics.median(t):6.2f} ms  "
                f"p90 {pct(t, 0.9):6.2f} ms  p99 {pct(t, 0.99):6.2f} ms  (n={len(t)})"
            )
        mix = (
            daily[:100]
            + paper[:150]
            + ["/papers", "/papers/trending", "/feeds/daily.atom"]
            + [f"/api/daily_papers?date={d}" for d in days[:50]]
            + [f"/api/papers/{p}" for p in papers[:50]]
        )
        if shutil.which("wrk"):
            print(f"load: {args.clients} clients x {args.seconds:.0f} s, {args.workers} workers")
            line = wrk(base, mix, args.clients, args.seconds)
            print(line)
            figures["load"] = {"wrk": line}
        else:  # a Python load generator needs a core of its own: expect lower figures
            done, errors, lat = asyncio.run(load(base, mix, args.clients, args.seconds))
            print(
                f"load (python client): {args.clients} clients x {args.seconds:.0f} s, "
                f"{args.workers} workers: {done:,} requests, {errors} errors, "
                f"{done / args.seconds:,.0f} req/s, client latency p50 "
                f"{statistics.median(lat) * 1000:.0f} ms p99 {pct(lat, 0.99) * 1000:.0f} ms"
            )
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)
    write_json("web_pages", figures, args.json)


if __name__ == "__main__":
    main()
