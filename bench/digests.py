"""Digest throughput: N confirmed subscribers (trending digests and topic alerts, daily and
weekly, a dozen time zones) on the 74.7k-paper corpus, composed, rendered and delivered to a
real SMTP server (aiosmtpd, in its own process) by one `DigestRun`.

    python bench/digests.py [--db /tmp/bench-digests.db] [--subscribers 10000] [--pg URL]
                            [--for-you] [--json OUT]

1. Builds (once) the corpus store with a realistic feed (bench/web_pages.py's builder) and
   spreads each paper's upvotes over the three days after it reached the feed.
2. Embeds the papers of the digest windows (what `paperwire index` does in operation) and
   creates the subscribers: half trending, half topic alerts whose queries are pieces of real
   titles; 70 % daily, 30 % weekly. Topic queries are embedded as the site does when someone
   subscribes (timed apart).
   With ``--for-you``, the subscribers are accounts with a For-you digest instead: each liked
   5 to 20 papers of the week before the windows ("more like this") and dismissed up to three
   of the windows' papers; every one is ranked by the site's For-you model.
3. Times one run "as of" Wednesday 2026-06-24 10:00 UTC (the corpus ends on 2026-07-01) and
   prints messages/s and where the time went; then a second run, which must send nothing.
"""

from __future__ import annotations

import argparse
import random
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parents[1] / "src"))
sys.path.insert(0, str(HERE.parent))

from benchkit import write_json  # noqa: E402

from paperwire import plugins  # noqa: E402
from paperwire.core.settings import Settings  # noqa: E402
from paperwire.mail.run import DigestRun  # noqa: E402
from paperwire.search import engine_for  # noqa: E402
from paperwire.store import Store  # noqa: E402
from paperwire.store import schema as t  # noqa: E402

NOW = datetime(2026, 6, 24, 10, 0)
ZONES = ["UTC", "Europe/Paris", "Europe/London", "America/New_York", "America/Los_Angeles",
         "America/Sao_Paulo", "Asia/Tokyo", "Asia/Shanghai", "Asia/Kolkata", "Australia/Sydney",
         "Africa/Nairobi", "Pacific/Auckland"]  # fmt: skip

SMTP_SERVER = """
import asyncio, signal, sys
from aiosmtpd.controller import Controller
class Count:
    n = 0
    nbytes = 0
    async def handle_DATA(self, server, session, envelope):
        Count.n += 1
        Count.nbytes += len(envelope.content)
        return "250 2.0.0 accepted"
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})  # for sigwait, in every thread
c = Controller(Count(), hostname="127.0.0.1", port=int(sys.argv[1]))
c.start()
print("ready", flush=True)
signal.sigwait({signal.SIGTERM})
c.stop()
print(Count.n, Count.nbytes, flush=True)
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def build(path: Path) -> None:
    from web_pages import build as build_feed

    if path.exists():
        return
    # Built under another name and renamed at the end: an interrupted build is redone.
    part = path.with_name(path.name + ".building")
    for leftover in path.parent.glob(part.name + "*"):
        leftover.unlink()
    build_feed(part)
    store = Store(f"sqlite:///{part}")
    with store.begin() as conn:  # votes come in over the days after a paper is featured
        conn.execute(sa.text(
            "UPDATE upvotes SET created_at = (SELECT datetime(f.submitted_at, '+' || "
            "(abs(random()) % 72) || ' hours') FROM feed_entries f "
            "WHERE f.paper_id = upvotes.paper_id)"
        ))  # fmt: skip
    store.close()
    part.rename(path)


def copy_to_pg(src: Store, url: str) -> Store:
    """The same data in a scratch PostgreSQL database."""
    dst = Store(url)
    dst.db.upgrade()
    if dst.db.count("papers"):
        return dst
    tables = ["users", "organizations", "papers", "feed_entries", "upvotes", "paper_embeddings"]
    with src.db.engine.connect() as a, dst.begin() as b:
        for name in tables:
            table = t.metadata.tables[name]
            rows = [r._asdict() for r in a.execute(sa.select(table))]
            for i in range(0, len(rows), 5000):
                b.execute(table.insert(), rows[i : i + 5000])
        for name in ("papers", "users", "paper_embeddings"):
            b.execute(sa.text(
                f"SELECT setval(pg_get_serial_sequence('{name}', "
                f"'{'seq' if name == 'papers' else 'id'}'), (SELECT max("
                f"{'seq' if name == 'papers' else 'id'}) FROM {name}))"
            ))  # fmt: skip
    return dst


def subscribers(store: Store, n: int, seed: int = 1) -> None:
    with store.db.engine.begin() as conn:
        conn.execute(t.sent_papers.delete())
        conn.execute(t.deliveries.delete())
        conn.execute(t.subscriptions.delete())
        titles = list(
            conn.execute(
                sa.select(t.papers.c.title)
                .where(t.papers.c.published >= datetime(2026, 5, 1))
                .order_by(t.papers.c.seq)
            ).scalars()
        )
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        topic = i % 2 == 1
        query = None
        if topic:
            words = [w for w in rng.choice(titles).split() if w.isalpha() and len(w) > 3]
            k = min(len(words), rng.randint(2, 4))
            start = rng.randint(0, max(0, len(words) - k))
            query = " ".join(words[start : start + k]).lower() or "neural networks"
        rows.append(
            dict(
                email=f"reader{i}@example.org",
                kind="topic" if topic else "trending",
                query=query,
                frequency="weekly" if rng.random() < 0.3 else "daily",
                timezone=rng.choice(ZONES),
                status="confirmed",
                created_at=datetime(2026, 1, 1),
                confirmed_at=datetime(2026, 1, 1),
                manage_nonce=f"{rng.getrandbits(64):016x}",
            )
        )
    with store.db.engine.begin() as conn:
        for i in range(0, len(rows), 2000):
            conn.execute(t.subscriptions.insert(), rows[i : i + 2000])


def for_you_readers(store: Store, n: int, seed: int = 1) -> None:
    """``n`` accounts subscribed to their For-you digest, with what they liked and dismissed."""
    P, U, S = t.papers, t.users, t.subscriptions
    with store.db.engine.begin() as conn:
        for table in (t.sent_papers, t.deliveries, t.subscriptions, t.user_paper_signals):
            conn.execute(table.delete())
        conn.execute(U.delete().where(U.c.username.like("fy-reader%")))

        def published(start: datetime, end: datetime) -> list[str]:
            q = sa.select(P.c.id).where(P.c.published >= start, P.c.published < end)
            return list(conn.execute(q.order_by(P.c.seq)).scalars())

        older = published(datetime(2026, 6, 8), datetime(2026, 6, 15))
        window = published(datetime(2026, 6, 15), NOW)
        now = datetime(2026, 1, 1)
        users = [dict(username=f"fy-reader{i}", email=f"fy-reader{i}@example.org", role="user",
                      is_active=True, origin="local", created_at=now, confirmed_at=now)
                 for i in range(n)]  # fmt: skip
        for i in range(0, n, 2000):
            conn.execute(U.insert(), users[i : i + 2000])
        ids = dict(conn.execute(sa.select(U.c.username, U.c.id).where(
            U.c.username.like("fy-reader%"))).all())  # fmt: skip
    rng = random.Random(seed)
    signals, subs = [], []
    for i in range(n):
        uid = ids[f"fy-reader{i}"]
        for pid in rng.sample(older, rng.randint(5, 20)):
            signals.append(dict(user_id=uid, kind="more_like_this", paper_id=pid, created_at=now))
        for pid in rng.sample(window, rng.randint(0, 3)):
            signals.append(dict(user_id=uid, kind="dismissed", paper_id=pid, created_at=now))
        subs.append(dict(email=f"fy-reader{i}@example.org", user_id=uid, kind="foryou",
                         frequency="weekly" if rng.random() < 0.3 else "daily",
                         timezone=rng.choice(ZONES), status="confirmed", created_at=now,
                         confirmed_at=now, manage_nonce=f"{rng.getrandbits(64):016x}"))  # fmt: skip
    with store.db.engine.begin() as conn:
        for i in range(0, len(signals), 5000):
            conn.execute(t.user_paper_signals.insert(), signals[i : i + 5000])
        for i in range(0, n, 2000):
            conn.execute(S.insert(), subs[i : i + 2000])
    print(f"{n} For-you readers, {len(signals)} signals ({len(older)} papers to like, "
          f"{len(window)} in the windows)")  # fmt: skip


def embed_windows(engine, store: Store) -> None:
    """What `paperwire index` would have done by then: vectors for the recent papers."""
    with store.db.engine.connect() as conn:
        ids = list(
            conn.execute(
                sa.select(t.papers.c.id).where(
                    t.papers.c.published >= datetime(2026, 6, 8),
                    t.papers.c.published < NOW,
                )
            ).scalars()
        )
    have = {
        s for (s,) in store.db.engine.connect().execute(sa.select(t.paper_embeddings.c.paper_seq))
    }
    seqs = {pid: store.papers.seq_of(pid) for pid in ids}
    todo = [pid for pid in ids if seqs[pid] not in have]
    if todo:
        t0 = time.perf_counter()
        for i in range(0, len(todo), 256):
            engine.embed_papers(todo[i : i + 256])
        print(f"embedded {len(todo)} recent papers in {time.perf_counter() - t0:.1f} s")


def embed_queries(store: Store, engine) -> None:
    """What the site does when someone subscribes: the topic is embedded once, then."""
    S = t.subscriptions
    with store.db.engine.connect() as conn:
        rows = conn.execute(sa.select(S.c.id, S.c.query).where(S.c.kind == "topic")).all()
    t0 = time.perf_counter()
    updates = [{"sid": sid, "v": engine.embed_query(q).tobytes()} for sid, q in rows]
    took = time.perf_counter() - t0
    with store.db.engine.begin() as conn:
        conn.execute(
            S.update().where(S.c.id == sa.bindparam("sid"))
            .values(query_vector=sa.bindparam("v"), query_model=engine.model),
            updates,
        )  # fmt: skip
    print(f"embedded {len(rows)} topic queries in {took:.1f} s "
          f"({took / max(len(rows), 1) * 1000:.1f} ms each, as at subscribe time)")  # fmt: skip


def run(store: Store, label: str, n: int, port: int, tmp: Path, for_you: bool = False) -> dict:
    config = Settings.load(
        overrides={
            "database_url": store.url,
            "smtp_host": "127.0.0.1",
            "smtp_port": port,
            "smtp_starttls": False,
            "base_url": "https://papers.example.org",
            "secret_key": "bench",
            "index_dir": str(tmp / f"index-{label}"),
        },
        environ={},
    )
    engine = engine_for(store, config.search, plugins.search_backends())
    ranker = plugins.rankers().get(config.site.trending_ranker)
    embed_windows(engine, store)
    engine.warm()
    if for_you:
        for_you_readers(store, n)
    else:
        subscribers(store, n)
        embed_queries(store, engine)
    stats = DigestRun(store, config, engine, ranker).run(now=NOW)
    rate = stats.sent / stats.seconds
    print(f"[{label}] {n} subscribers: {stats.line()}")
    parts = ", ".join(f"{k} {v:.1f} s" for k, v in stats.timings.items())
    print(f"[{label}] {rate:.0f} messages/s; time in {parts}")
    again = DigestRun(store, config, engine, ranker).run(now=NOW)
    print(f"[{label}] second run: {again.line()}")
    assert again.sent == 0
    return {"subscribers": n, "sent": stats.sent, "empty": stats.empty, "seconds": stats.seconds,
            "messages_per_s": rate, "timings": stats.timings,
            "second_run_seconds": again.seconds}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", type=Path, default=Path("/tmp/bench-digests.db"))
    ap.add_argument("--subscribers", type=int, default=10000)
    ap.add_argument("--pg", help="also run on this PostgreSQL URL (a scratch database)")
    ap.add_argument("--for-you", action="store_true", help="For-you digests (accounts)")
    ap.add_argument("--json", help="write the figures here (default: bench/results/)")
    args = ap.parse_args()
    figures: dict = {}
    build(args.db)
    store = Store(f"sqlite:///{args.db}")
    store.db.upgrade()
    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", SMTP_SERVER, str(port)],
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert server.stdout.readline().strip() == "ready"
    try:
        figures["sqlite"] = run(
            store, "sqlite", args.subscribers, port, args.db.parent, args.for_you
        )
        if args.pg:
            pg = copy_to_pg(store, args.pg)
            figures["postgresql"] = run(
                pg, "postgresql", args.subscribers, port, args.db.parent, args.for_you
            )
    finally:
        server.send_signal(signal.SIGTERM)
        out, _ = server.communicate(timeout=30)
    count, nbytes = map(int, out.split())
    print(f"SMTP server accepted {count} messages, {nbytes / max(count, 1) / 1024:.1f} KB each")
    figures["smtp"] = {"messages": count, "kb_each": nbytes / max(count, 1) / 1024}
    write_json("digests-for-you" if args.for_you else "digests", figures, args.json)


if __name__ == "__main__":
    main()
