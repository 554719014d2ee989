"""Serving throughput of real `paperwire serve` processes on the bundled demo, driven by wrk.

    python bench/serving.py [--pg ADMIN_URL] [--seconds 30] [--workers 2] [--json OUT]
                            [--no-sqlite] [--src DIR]

For each backend (a temporary SQLite file; with ``--pg``, also a fresh PostgreSQL database
created through ADMIN_URL and dropped afterwards) the demo is loaded, a signed-in reader and
50 writers (API tokens) are created, and `paperwire serve --workers N` is started in its own
process group on a free port. Then:

(a) anonymous mix (daily and weekly feed pages, trending, 30 paper pages,
    /api/daily_papers?limit=20, API paper JSON, Atom feeds) with wrk at 10 and 100
    connections: requests/s, p50/p99 latency, non-2xx answers, socket errors and timeouts;
(b) the signed-in daily page (/papers with a session cookie) at 50 connections;
(c) mixed writes: 50 users upvoting, taking back upvotes and commenting through the API for
    the same time, beside the anonymous mix at 100 connections; afterwards the database must
    hold exactly what the acknowledged answers said (upvote rows, upvote and comment counts,
    comment ids), with no error;
(d) memory: RSS and PSS of every serving process (from /proc) after the run, and
    requests/s per core of the mix at 100 connections.

``--src DIR`` serves another checkout's code (e.g. a baseline worktree's ``src``) with the
same data and load, for before/after figures from one run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from benchkit import HERE, write_json

from paperwire import plugins
from paperwire.demo import load_demo
from paperwire.store import Store
from paperwire.store import schema as t

SECRET = "bench-serving"
WRITERS = 50
WRK = shutil.which("wrk") or "/usr/bin/wrk"

# Per wrk thread: count non-2xx answers; at the end, one JSON line with the figures.
MIX_LUA = """
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args)
  bad = 0
  paths = {}
  for line in io.lines("%(paths)s") do paths[#paths + 1] = line end
  math.randomseed(%(seed)d + #threads * 7919)
end
function request()
  return wrk.format("GET", paths[math.random(#paths)], %(headers)s)
end
function response(status, headers, body)
  if status < 200 or status > 299 then bad = bad + 1 end
end
function done(summary, latency, requests)
  local non2xx = 0
  for _, th in ipairs(threads) do non2xx = non2xx + th:get("bad") end
  io.write(string.format(
    '{"requests": %%d, "seconds": %%.3f, "non2xx": %%d, "connect_errors": %%d, '
    .. '"read_errors": %%d, "write_errors": %%d, "timeouts": %%d, "p50_ms": %%.2f, '
    .. '"p90_ms": %%.2f, "p99_ms": %%.2f, "max_ms": %%.2f}\\n',
    summary.requests, summary.duration / 1e6, non2xx, summary.errors.connect,
    summary.errors.read, summary.errors.write, summary.errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000))
end
"""


# -- the data ----------------------------------------------------------------------------
@dataclass
class Fixture:
    """What the load needs to know about the loaded database."""

    url: str
    cookie: str  # the signed-in reader's session cookie
    tokens: list[str]  # one API token per writer
    writer_ids: list[int]
    mix: list[str]  # the anonymous mix's paths
    vote_papers: list[str]  # papers the writers vote on and comment on
    before: dict[str, tuple[int, int]] = field(default_factory=dict)  # id: (upvotes, comments)


def load(url: str) -> Fixture:
    """Load the demo into the (empty) database at ``url`` and make the bench's accounts."""
    t0 = time.perf_counter()
    store = Store(url)
    try:
        store.db.upgrade()
        summary = load_demo(store, plugins.sources().trust)
        print(f"  demo: {summary} ({time.perf_counter() - t0:.1f} s)")
        reader = store.accounts.create_user("benchreader", None, None)
        feed = store.feed.period(date.min, date.max, sort="submitted", limit=400)[0]
        for card in feed[:8]:  # a signed-in page shows the reader's own upvotes
            store.feed.set_upvote(reader, card.id, True)
        cookie = store.sessions.create(reader, 30 * 24 * 3600, agent="bench")
        writer_ids = [store.accounts.create_user(f"writer{i}", None, None) for i in range(WRITERS)]
        tokens = [store.accounts.create_token(uid, "bench") for uid in writer_ids]
        fixture = Fixture(url, cookie, tokens, writer_ids, mix_paths(store), [])
        fixture.vote_papers = [c.id for c in feed[:40]]
        fixture.before = counts(store, fixture.vote_papers)
    finally:
        store.close()
    return fixture


def mix_paths(store: Store) -> list[str]:
    """The anonymous mix: what visitors and feed readers ask for most."""
    rng = random.Random(13)
    feed = store.feed.period(date.min, date.max, sort="submitted", limit=5000)[0]
    days = sorted({c.feed_date for c in feed if c.feed_date}, reverse=True)
    weeks = sorted({d - timedelta(days=d.weekday()) for d in days}, reverse=True)
    papers = [c.id for c in feed]
    on_pages = rng.sample(papers[:300], 30)
    out = ["/papers", "/papers/trending"]
    out += [f"/papers/date/{d.isoformat()}" for d in days[:10]]
    out += [f"/papers/week/{w.isocalendar()[0]}-W{w.isocalendar()[1]:02d}" for w in weeks[:4]]
    out += [f"/papers/{pid}" for pid in on_pages]
    out += ["/api/daily_papers?limit=20"] * 5
    out += [f"/api/papers/{pid}" for pid in on_pages[:10]]
    out += ["/feeds/daily.atom", "/feeds/weekly.atom", "/feeds/trending.atom"]
    return out


def counts(store: Store, paper_ids: list[str]) -> dict[str, tuple[int, int]]:
    p = t.papers
    with store.db.connect() as conn:
        rows = conn.execute(
            sa.select(p.c.id, p.c.upvotes, p.c.num_comments).where(p.c.id.in_(paper_ids))
        )
        return {r.id: (r.upvotes, r.num_comments) for r in rows}


@contextmanager
def pg_db(admin_url: str) -> Iterator[str]:
    name = f"paperwire_bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield sa.engine.make_url(admin_url).set(database=name).render_as_string(False)
    finally:
        with admin.connect() as conn:
            conn.execute(
                sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname=:n"),
                {"n": name},
            )
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


# -- the server --------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def server(url: str, workers: int, src: Path, tmp: Path) -> Iterator[tuple[str, int]]:
    """`paperwire serve` in its own process group; yields (base URL, group id)."""
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(src),
        "PAPERWIRE_SECRET_KEY": SECRET,
        "PAPERWIRE_RATE_LIMIT_WRITES": "0",
        "PAPERWIRE_OUTBOX_DIR": str(tmp / "outbox"),
        "PAPERWIRE_INDEX_DIR": str(tmp / f"index-{port}"),
        "PAPERWIRE_THUMBNAIL_INTERVAL": "0",  # no PDF fetching from arXiv during the bench
    }
    cmd = [sys.executable, "-m", "paperwire", "-q", "--db", url, "serve"]
    cmd += ["--port", str(port), "--workers", str(workers)]
    log = tmp / f"server-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd, env=env, start_new_session=True, cwd=tmp, stdout=out, stderr=subprocess.STDOUT
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the server did not start: {log.read_text()[-2000:]}")
            time.sleep(0.2)
        yield base, proc.pid
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def warm(base: str, fixture: Fixture) -> None:
    """Every path of the mix once per worker (templates, trending, the vector index)."""
    with httpx.Client(base_url=base, timeout=60) as client:
        for _ in range(3):
            for path in fixture.mix:
                r = client.get(path)
                if r.status_code != 200:
                    raise SystemExit(f"warm-up: {path} answered {r.status_code}")
            client.get("/papers", cookies={"pw_session": fixture.cookie}).raise_for_status()


# -- load --------------------------------------------------------------------------------
def wrk(
    base: str, paths: list[str], connections: int, seconds: float, tmp: Path,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """wrk (2 threads) over ``paths``, each request a random one; its figures."""
    name = f"wrk-{uuid.uuid4().hex[:8]}"
    paths_file = tmp / f"{name}.txt"
    paths_file.write_text("\n".join(paths) + "\n")
    lua_headers = "nil"
    if headers:
        pairs = ", ".join(f"[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items())
        lua_headers = "{" + pairs + "}"
    script = tmp / f"{name}.lua"
    seed = random.randrange(1, 1 << 30)
    script.write_text(MIX_LUA % {"paths": paths_file, "seed": seed, "headers": lua_headers})
    out = subprocess.run(
        [WRK, "-t2", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s"]
        + ["-s", str(script), base],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    line = next(ln for ln in out.splitlines() if ln.startswith("{"))
    figures: dict[str, Any] = json.loads(line)
    figures["connections"] = connections
    figures["rps"] = round(figures["requests"] / figures["seconds"], 1)
    figures["socket_errors"] = sum(
        figures[k] for k in ("connect_errors", "read_errors", "write_errors")
    )
    return figures


def show(label: str, f: dict[str, Any]) -> None:
    print(
        f"  {label:<34} {f['rps']:>8,.1f} req/s  p50 {f['p50_ms']:7.1f} ms  p99 "
        f"{f['p99_ms']:7.1f} ms  non-2xx {f['non2xx']}  socket errors {f['socket_errors']}"
        f"  timeouts {f['timeouts']}"
    )


@dataclass
class WriteLog:
    """What the server acknowledged: the last upvote state per (writer, paper), comment ids."""

    votes: dict[tuple[int, str], bool] = field(default_factory=dict)
    comments: dict[int, str] = field(default_factory=dict)  # comment id: paper id
    requests: int = 0
    errors: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)


async def writers(base: str, fixture: Fixture, seconds: float) -> WriteLog:
    """50 users, each looping: upvote or take back an upvote of a random paper, sometimes
    comment. Each user waits for its answer before its next write (like a person)."""
    log = WriteLog()
    stop = time.monotonic() + seconds
    # Idle connections dropped before the server drops them (uvicorn: after 5 s), so that no
    # write goes out on a connection the server is closing.
    limits = httpx.Limits(
        max_connections=WRITERS, max_keepalive_connections=WRITERS, keepalive_expiry=2.0
    )
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:

        async def one(n: int) -> None:
            rng = random.Random(n)
            uid, auth = fixture.writer_ids[n], {"Authorization": f"Bearer {fixture.tokens[n]}"}
            while time.monotonic() < stop:
                pid = rng.choice(fixture.vote_papers)
                t0 = time.perf_counter()
                try:
                    if rng.random() < 0.2:
                        r = await client.post(
                            f"/api/papers/{pid}/comments",
                            json={"body": f"Bench comment {n}-{log.requests} on **{pid}**."},
                            headers=auth,
                        )
                        if r.status_code == 201:
                            log.comments[r.json()["id"]] = pid
                    else:
                        on = rng.random() < 0.6
                        method = client.post if on else client.delete
                        r = await method(f"/api/papers/{pid}/upvote", headers=auth)
                        if r.status_code == 200:
                            log.votes[(uid, pid)] = bool(r.json()["upvoted"])
                    if r.status_code not in (200, 201):
                        log.errors.append(f"{r.status_code} {r.text[:100]}")
                except httpx.HTTPError as exc:
                    log.errors.append(f"{type(exc).__name__}: {exc}")
                log.requests += 1
                log.latencies.append(time.perf_counter() - t0)

        await asyncio.gather(*(one(i) for i in range(WRITERS)))
    return log


def check_writes(fixture: Fixture, log: WriteLog) -> dict[str, Any]:
    """Compare the database with what the server acknowledged."""
    store = Store(fixture.url)
    u, c = t.upvotes, t.comments
    try:
        with store.db.connect() as conn:
            rows = conn.execute(
                sa.select(u.c.user_id, u.c.paper_id).where(u.c.user_id.in_(fixture.writer_ids))
            )
            stored_votes = {(r.user_id, r.paper_id) for r in rows}
            stored_comments = dict(
                conn.execute(
                    sa.select(c.c.id, c.c.paper_id).where(c.c.user_id.in_(fixture.writer_ids))
                ).all()
            )
        after = counts(store, fixture.vote_papers)
    finally:
        store.close()
    acked_on = {k for k, on in log.votes.items() if on}
    wrong_counts = []
    for pid, (up0, com0) in fixture.before.items():
        want_up = up0 + sum(1 for (_, p) in acked_on if p == pid)
        want_com = com0 + sum(1 for p in log.comments.values() if p == pid)
        if after[pid] != (want_up, want_com):
            wrong_counts.append(f"{pid}: stored {after[pid]}, acknowledged {(want_up, want_com)}")
    exact = (
        stored_votes == acked_on
        and stored_comments == log.comments
        and not wrong_counts
        and not log.errors
    )
    return {
        "writes": log.requests,
        "errors": len(log.errors),
        "first_errors": log.errors[:3],
        "upvote_rows": len(stored_votes),
        "upvote_rows_acknowledged": len(acked_on),
        "comments": len(stored_comments),
        "comments_acknowledged": len(log.comments),
        "wrong_counts": wrong_counts[:5],
        "exact": exact,
    }


# -- memory ------------------------------------------------------------------------------
def memory(group: int) -> list[dict[str, Any]]:
    """RSS and PSS (MiB) of every process of the server's process group."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            pgid = int(stat.rsplit(")", 1)[1].split()[2])
            if pgid != group:
                continue
            fields = {}
            for line in (entry / "smaps_rollup").read_text().splitlines()[1:]:
                key, value = line.split(":", 1)
                fields[key] = int(value.split()[0])
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()[:120]
        except (OSError, ValueError, IndexError):
            continue
        out.append(
            {
                "pid": int(entry.name),
                "role": _role(int(entry.name) == group, cmd),
                "rss_mib": round(fields.get("Rss", 0) / 1024, 1),
                "pss_mib": round(fields.get("Pss", 0) / 1024, 1),
                "cmd": cmd,
            }
        )
    return sorted(out, key=lambda p: p["pid"])


def _role(leader: bool, cmd: str) -> str:
    if leader:
        return "supervisor"
    return "worker" if "spawn_main" in cmd else "helper"  # e.g. multiprocessing's tracker


# -- one backend -------------------------------------------------------------------------
def run_backend(label: str, urls: list[str], args: argparse.Namespace, tmp: Path) -> list[Any]:
    """Every scenario on each code version's server (each over its own copy of the data),
    one after the other scenario by scenario, so that they share the machine's weather."""
    print(f"{label}:")
    fixture = load(urls[0])
    for url in urls[1:]:
        clone(urls[0], url)
    fixtures = [replace(fixture, url=url) for url in urls]
    secs, cores = args.seconds, len(os.sched_getaffinity(0))
    out: list[dict[str, Any]] = [{"src": str(src)} for src in args.src]
    with ExitStack() as stack:
        servers = [
            stack.enter_context(server(f.url, args.workers, src, tmp))
            for f, src in zip(fixtures, args.src, strict=True)
        ]
        for (base, _), f in zip(servers, fixtures, strict=True):
            warm(base, f)

        def each(name: str, title: str, work: Any) -> None:
            for i, ((base, _), f) in enumerate(zip(servers, fixtures, strict=True)):
                out[i][name] = got = work(base, f)
                show(f"{title}{_tag(args, i)}", got.get("reads", got))

        for conns in (10, 100):
            each(
                f"mix_{conns}",
                f"(a) anonymous mix, {conns} conn.",
                lambda b, f, c=conns: wrk(b, f.mix, c, secs, tmp),
            )
        each(
            "signed_in_50",
            "(b) signed-in daily page, 50 conn.",
            lambda b, f: wrk(b, ["/papers"], 50, secs, tmp, {"Cookie": f"pw_session={f.cookie}"}),
        )
        each("writes", "(c) mix at 100 beside writers", lambda b, f: write_run(b, f, secs, tmp))
        for i, (_, group) in enumerate(servers):
            out[i]["memory"] = memory(group)
    for i, figures in enumerate(out):
        check = figures["writes"]
        print(
            f"  (c) writes{_tag(args, i)}: {check['writes']:,} by {WRITERS} users "
            f"({check['rps']:.1f}/s, p50 {check['p50_ms']} ms, p99 {check['p99_ms']} ms), "
            f"{check['errors']} errors, {check['upvote_rows']} upvotes and {check['comments']} "
            f"comments stored = acknowledged: {'exact' if check['exact'] else 'NOT EXACT'}"
        )
        if not check["exact"]:
            print(f"      {check['first_errors']} {check['wrong_counts']}")
        workers = [p for p in figures["memory"] if p["role"] == "worker"]
        figures["rps_per_core_mix_100"] = round(figures["mix_100"]["rps"] / cores, 1)
        print(
            f"  (d) memory per worker{_tag(args, i)}: "
            + ", ".join(f"RSS {p['rss_mib']:.0f} MiB (PSS {p['pss_mib']:.0f})" for p in workers)
            + f"; mix at 100 conn.: {figures['rps_per_core_mix_100']:,.1f} req/s per core"
            + f" ({cores} cores)"
        )
    return out


def _tag(args: argparse.Namespace, i: int) -> str:
    return f" [{args.src[i].parent.name}]" if len(args.src) > 1 else ""


def write_run(base: str, fixture: Fixture, secs: float, tmp: Path) -> dict[str, Any]:
    """(c): the writers beside the anonymous mix at 100 connections; then the check."""

    async def both() -> tuple[dict[str, Any], WriteLog]:
        reads = asyncio.to_thread(wrk, base, fixture.mix, 100, secs, tmp)
        return await asyncio.gather(reads, writers(base, fixture, secs))

    reads, log = asyncio.run(both())
    check = check_writes(fixture, log)
    lat = sorted(log.latencies) or [0.0]
    check["rps"] = round(log.requests / secs, 1)
    check["p50_ms"] = round(lat[len(lat) // 2] * 1000, 1)
    check["p99_ms"] = round(lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000, 1)
    return {"reads": reads, **check}


def clone(source: str, dest: str) -> None:
    """A copy of the loaded database (a file copy; PostgreSQL's CREATE DATABASE TEMPLATE)."""
    src, dst = sa.engine.make_url(source), sa.engine.make_url(dest)
    if src.get_backend_name() == "sqlite":
        shutil.copyfile(str(src.database), str(dst.database))
        return
    admin = sa.create_engine(src.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE "{dst.database}"'))
        conn.execute(sa.text(f'CREATE DATABASE "{dst.database}" TEMPLATE "{src.database}"'))
    admin.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pg", metavar="ADMIN_URL", help="also run on a fresh PostgreSQL database")
    ap.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    ap.add_argument("--seconds", type=float, default=30.0, help="per load scenario")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument(
        "--src",
        type=Path,
        action="append",
        help="the code to serve (default: this checkout's src/); give it twice to compare",
    )
    ap.add_argument("--json", help="write the figures here (default: bench/results/)")
    args = ap.parse_args()
    if not Path(WRK).exists():
        raise SystemExit("wrk is needed (Debian: apt install wrk)")
    logging.disable(logging.INFO)  # the migrations of each fresh database
    args.src = [s.resolve() for s in (args.src or [HERE.parent / "src"])]
    figures: dict[str, Any] = {
        "workers": args.workers,
        "seconds": args.seconds,
        "code": [{"src": str(s), "commit": _commit(s)} for s in args.src],
    }
    for code in figures["code"]:
        print(f"serving {code['src']} ({code['commit']})")
    print(f"{args.workers} workers, {args.seconds:.0f} s per scenario")
    n = len(args.src)
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as name:
        tmp = Path(name)
        if not args.no_sqlite:
            urls = [f"sqlite:///{tmp / f'bench-serving-{i}.db'}" for i in range(n)]
            figures["sqlite"] = run_backend("SQLite", urls, args, tmp)
        if args.pg:
            with ExitStack() as dbs:
                urls = [dbs.enter_context(pg_db(args.pg)) for _ in range(n)]
                figures["postgresql"] = run_backend("PostgreSQL", urls, args, tmp)
    write_json("serving", figures, args.json)


def _commit(src: Path) -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(src), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        )
        return out.stdout.strip() or "?"
    except OSError:
        return "?"


if __name__ == "__main__":
    main()
