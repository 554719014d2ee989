"""Pending submissions: when arXiv cannot answer, a visitor gets an answer within seconds and
the request waits in the jobs queue, which retries it with backoff and puts the paper on the
feed when arXiv answers (issue 12, item 5)."""

import socket
import threading
import time
from contextlib import contextmanager
from datetime import timedelta

import pytest
from click.testing import CliRunner

from paperwire.cli import main
from paperwire.core.clock import backoff_delay, utcnow
from paperwire.jobs import QueueRunner
from paperwire.jobs.papers import INDEX, SUBMIT, ArxivFetcher, PaperJobs
from paperwire.jobs.queue import MAX_BACKOFF
from paperwire.jobs.worker import QueueWorker, runner_for
from paperwire.search.retrievers import SearchBackends

from .replay import ReplayServer
from .storekit import TRUST
from .test_arxiv import recorded
from .webkit import Visitor, add_user, make_config, site

PAPER = "1707.08567"  # recorded in tests/fixtures/arxiv-api
NO_SUCH = "0000.0000"  # recorded: arXiv answers with no entry


@contextmanager
def closed_port():
    """A loopback URL where nothing listens: connections are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    yield f"http://127.0.0.1:{port}/api/query"


@contextmanager
def hanging_server():
    """A server that accepts connections and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)  # the kernel completes handshakes; nobody ever reads or writes
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/api/query"
    finally:
        sock.close()


@contextmanager
def unresolvable():
    """A host name that does not resolve ("Name or service not known")."""
    yield "http://export.arxiv.invalid/api/query"


UNREACHABLE = {"refused": closed_port, "hangs": hanging_server, "no-dns": unresolvable}


class Clock:
    def __init__(self):
        self.now = utcnow()

    def __call__(self):
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def queue_runner(store, url, clock, tmp_path, **overrides):
    """A runner of the paper jobs against ``url``, on a clock the test moves."""
    values = {"arxiv_api_url": url, "submit_max_age_days": 0, **overrides}
    config = make_config(tmp_path, database_url=store.url, **values)
    fetcher = ArxivFetcher(config.sources, TRUST)
    handlers = PaperJobs(store, config, fetcher, clock=clock).handlers()
    return QueueRunner(store, handlers, backoff=60, clock=clock), fetcher


def submit_job(store, user_id, pid=PAPER, max_attempts=10):
    payload = {"user_id": user_id, "requested_at": utcnow().isoformat()}
    return store.queue.enqueue(
        SUBMIT, pid, payload, max_attempts=max_attempts, owner_id=user_id, run_at=utcnow()
    )


# -- the visitor's side -----------------------------------------------------------------------
@pytest.fixture
def down_site(web, tmp_path, request):
    """The site with arXiv unreachable in the way the test's parameter says."""
    store = web[1]
    add_user(store, "member")
    with UNREACHABLE[request.param]() as url:
        app, config = site(store, tmp_path, arxiv_api_url=url, submit_max_age_days=0)
        v = Visitor(app)
        v.sign_in("member")
        v.get("/papers/submit")
        yield v, store, config


@pytest.mark.parametrize("down_site", sorted(UNREACHABLE), indirect=True)
def test_unreachable_arxiv_answers_within_seconds_with_pending(down_site):
    v, store, _ = down_site
    start = time.monotonic()
    r = v.post("/papers/submit", {"arxiv_id": "2611.01234"})
    took = time.monotonic() - start
    assert took < 5, f"the visitor waited {took:.1f} s"
    assert r.status_code == 303 and r.headers["location"] == "/papers/pending?id=2611.01234"
    page = v.get(r.headers["location"])
    assert page.status_code == 200
    text = page.text
    assert "arXiv:2611.01234 is saved" in text and "will be on the feed when arXiv answers" in text
    assert "Waiting for arXiv" in text and " UTC</time>" in text  # state and next try
    for leak in ("Errno", "Name or service", "Error", "Traceback", "http://127.0.0.1"):
        assert leak not in text
    assert "arXiv:2611.01234" in v.get("/papers/submit").text  # listed where one submits
    job = store.queue.get(SUBMIT, "2611.01234")
    assert job.state == "queued" and job.owner_id == store.accounts.get_user(username="member").id
    assert job.last_error.startswith("arXiv ")  # worded for people
    # Indexing from the 404 page and the API answer the same way: never a 5xx.
    start = time.monotonic()
    r = v.post("/papers/index", {"arxiv_id": "2611.04321"})
    assert r.status_code == 303 and time.monotonic() - start < 5
    start = time.monotonic()
    api = v.client.post(
        "/api/daily_papers",
        json={"arxivId": "2611.05555"},
        headers={"X-CSRF-Token": v.csrf},
    )
    assert time.monotonic() - start < 5
    assert api.status_code == 202, api.text
    body = api.json()
    assert body["state"] == "pending" and body["arxivId"] == "2611.05555"
    assert body["nextAttemptAt"].endswith("Z") and body["message"]
    mine = v.client.get("/api/papers/pending").json()
    assert {m["arxivId"] for m in mine} == {"2611.01234", "2611.04321", "2611.05555"}


@pytest.mark.parametrize("down_site", ["refused"], indirect=True)
def test_double_submit_does_not_duplicate(down_site):
    v, store, _ = down_site
    first = v.post("/papers/submit", {"arxiv_id": "2611.01234"})
    again = v.post("/papers/submit", {"arxiv_id": "https://arxiv.org/abs/2611.01234v2"})
    assert first.headers["location"] == again.headers["location"]
    api = v.client.post(
        "/api/daily_papers", json={"arxivId": "2611.01234"}, headers={"X-CSRF-Token": v.csrf}
    )
    assert api.status_code == 202
    assert [j.key for j in store.queue.list(kind=SUBMIT)] == ["2611.01234"]
    # Another member asking for the same paper is told, not queued twice.
    add_user(store, "other")
    w = Visitor(v.client.app)
    w.sign_in("other")
    w.get("/papers/submit")
    r = w.post("/papers/submit", {"arxiv_id": "2611.01234"})
    assert r.status_code == 409 and "Another member submitted 2611.01234" in r.text
    assert len(store.queue.list()) == 1
    assert "arXiv:2611.01234 is saved" in w.get("/papers/pending?id=2611.01234").text


@pytest.mark.parametrize("down_site", ["refused"], indirect=True)
def test_pending_submissions_count_toward_the_daily_limit(down_site, tmp_path):
    v, store, _ = down_site
    for n in range(5):  # the default limit
        assert v.post("/papers/submit", {"arxiv_id": f"2611.0100{n}"}).status_code == 303
    r = v.post("/papers/submit", {"arxiv_id": "2611.01009"})
    assert r.status_code == 429 and "that is the limit" in r.text


def test_worker_puts_the_pending_paper_on_the_feed(web, tmp_path):
    """End to end: submitted while arXiv is down; arXiv comes back; the worker's step puts
    the paper on the feed with its submitter; the member sees what happened."""
    store = web[1]
    uid = add_user(store, "member")
    with closed_port() as url:
        app, config = site(store, tmp_path, arxiv_api_url=url, submit_max_age_days=0)
        v = Visitor(app)
        v.sign_in("member")
        v.get("/papers/submit")
        assert v.post("/papers/submit", {"arxiv_id": PAPER}).status_code == 303
        assert v.post("/papers/submit", {"arxiv_id": NO_SUCH}).status_code == 303
    assert store.feed.entry(PAPER) is None
    with ReplayServer(recorded) as arxiv:
        up = config.replace(arxiv_api_url=f"{arxiv.url}/api/query")
        fetcher = ArxivFetcher(up.sources, TRUST)
        stats = runner_for(store, up, fetcher, SearchBackends()).step()
        fetcher.close()
    assert (stats.claimed, stats.done, stats.failed) == (2, 1, 1), stats.line()
    entry = store.feed.entry(PAPER)
    assert entry.submitted_by == uid and entry.feed_date == app.state.site.clock.feed_date()
    assert store.papers.get(PAPER).title
    page = v.get(f"/papers/pending?id={PAPER}").text
    assert "On the feed of" in page and f'href="/papers/{PAPER}"' in page
    failed = v.get(f"/papers/pending?id={NO_SUCH}").text
    assert f"arXiv:{NO_SUCH} was not added: arXiv has no paper {NO_SUCH}." in failed
    assert store.queue.get(SUBMIT, NO_SUCH).state == "failed"


# -- the queue, on both backends --------------------------------------------------------------
def test_retried_with_backoff_until_arxiv_answers(store, tmp_path):
    uid = add_user(store, "member")
    job, created = submit_job(store, uid)
    assert created
    clock = Clock()
    with closed_port() as url:
        runner, fetcher = queue_runner(store, url, clock, tmp_path)
        stats = runner.step()
        assert (stats.claimed, stats.retried) == (1, 1)
        job = store.queue.get(SUBMIT, PAPER)
        assert job.state == "queued" and job.attempts == 1
        assert job.next_attempt_at == clock.now + timedelta(seconds=60)
        assert job.last_error == "arXiv could not be reached."
        clock.advance(30)
        assert runner.step().claimed == 0  # not due yet
        clock.advance(31)
        assert runner.step().retried == 1
        job = store.queue.get(SUBMIT, PAPER)
        assert job.attempts == 2 and job.next_attempt_at == clock.now + timedelta(seconds=120)
        fetcher.close()
    assert [backoff_delay(n, 60, MAX_BACKOFF) for n in (1, 2, 3, 7, 8)] == [
        60,
        120,
        240,
        3600,
        3600,
    ]
    clock.advance(121)
    with ReplayServer(recorded) as arxiv:
        runner, fetcher = queue_runner(store, f"{arxiv.url}/api/query", clock, tmp_path)
        assert runner.step().done == 1
        fetcher.close()
    job = store.queue.get(SUBMIT, PAPER)
    assert job.state == "done" and job.attempts == 3 and job.result.startswith("On the feed of")
    entry = store.feed.entry(PAPER)
    assert entry.submitted_by == uid and entry.submitted_at == clock.now
    # Submitting it again after it arrived: a finished job starts afresh, and running it
    # again is harmless (the paper is already on the feed, by this member).
    again, created = submit_job(store, uid)
    assert created and again.id == job.id and again.state == "queued"
    assert runner.step().done == 1
    assert store.queue.get(SUBMIT, PAPER).result == job.result


def test_permanent_error_ends_the_job_with_a_reason(store, tmp_path):
    uid = add_user(store, "member")
    submit_job(store, uid, pid=NO_SUCH)
    too_old, _ = submit_job(store, uid)
    clock = Clock()
    with ReplayServer(recorded) as arxiv:
        runner, fetcher = queue_runner(
            store, f"{arxiv.url}/api/query", clock, tmp_path, submit_max_age_days=14
        )
        stats = runner.step()
        fetcher.close()
    assert (stats.claimed, stats.failed, stats.retried) == (2, 2, 0)
    gone = store.queue.get(SUBMIT, NO_SUCH)
    assert gone.state == "failed" and gone.attempts == 1 and gone.finished_at is not None
    assert gone.last_error == f"arXiv has no paper {NO_SUCH}."
    old = store.queue.get(SUBMIT, PAPER)
    assert old.state == "failed"
    assert old.last_error == (
        "Published Jul 27, 2017: only papers from the last 14 days can be submitted."
    )
    assert store.feed.entry(PAPER) is None and store.papers.get(PAPER) is not None


def test_gives_up_after_max_attempts(store, tmp_path):
    uid = add_user(store, "member")
    submit_job(store, uid, max_attempts=2)
    clock = Clock()
    with closed_port() as url:
        runner, fetcher = queue_runner(store, url, clock, tmp_path)
        assert runner.step().retried == 1
        clock.advance(61)
        assert runner.step().failed == 1
        fetcher.close()
    job = store.queue.get(SUBMIT, PAPER)
    assert job.state == "failed"
    assert job.last_error == "arXiv could not be reached. Gave up after 2 tries."


def test_enqueue_is_unique_per_kind_and_key(store):
    uid = add_user(store, "member")
    a, new_a = store.queue.enqueue(INDEX, PAPER, {"user_id": uid}, max_attempts=3, owner_id=uid)
    b, new_b = store.queue.enqueue(INDEX, PAPER, {"user_id": 0}, max_attempts=3)
    c, new_c = store.queue.enqueue(SUBMIT, PAPER, {"user_id": uid}, max_attempts=3)
    assert (new_a, new_b, new_c) == (True, False, True)
    assert a.id == b.id != c.id and b.payload == {"user_id": uid}  # the active job is kept
    assert store.queue.active_count(uid, INDEX) == 1
    assert [j.kind for j in store.queue.of_owner(uid, [INDEX, SUBMIT], utcnow())] == [INDEX]


def test_a_lapsed_lease_is_taken_over_and_the_old_report_refused(store):
    store.queue.enqueue("example", "k", {}, max_attempts=5)
    first = store.queue.claim("worker-a", lease=60)
    assert store.queue.claim("worker-b", lease=60) is None  # leased
    later = utcnow() + timedelta(seconds=61)
    second = store.queue.claim("worker-b", lease=60, now=later)
    assert second.id == first.id and second.attempts == 2 and second.claimed_by == "worker-b"
    assert not store.queue.done(first, "late")  # worker-a lost it
    assert store.queue.done(second, "ok")
    assert store.queue.get("example", "k").result == "ok"


def test_a_job_that_keeps_killing_its_worker_ends(store):
    store.queue.enqueue("example", "k", {}, max_attempts=1)
    store.queue.claim("dead-worker", lease=60)
    runner = QueueRunner(store, {"example": lambda job: "never"})
    runner.clock = lambda: utcnow() + timedelta(seconds=61)
    assert runner.step().failed == 1
    assert store.queue.get("example", "k").state == "failed"


def test_a_failing_handler_is_retried_and_others_still_run(store):
    def broken(job):
        raise RuntimeError("a bug with internal details")

    store.queue.enqueue("broken", "1", {}, max_attempts=5)
    store.queue.enqueue("fine", "2", {}, max_attempts=5)
    runner = QueueRunner(store, {"broken": broken, "fine": lambda job: "ok"})
    stats = runner.step()
    assert (stats.retried, stats.done) == (1, 1) and "internal details" in stats.errors[0]
    assert "internal" not in store.queue.get("broken", "1").last_error  # words for people
    # Jobs of kinds this runner does not know are left for one that does.
    store.queue.enqueue("unknown", "3", {}, max_attempts=5)
    assert QueueRunner(store, {"fine": lambda job: "ok"}).step().claimed == 0


def test_concurrent_claimers_never_take_the_same_job(store):
    """Eight workers claim from one queue at once: every job is taken exactly once."""
    for n in range(60):
        store.queue.enqueue("example", str(n), {}, max_attempts=3)
    taken: list[int] = []
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def claimer(name):
        barrier.wait()
        while (job := store.queue.claim(name, lease=60)) is not None:
            with lock:
                taken.append(job.id)

    threads = [threading.Thread(target=claimer, args=(f"w{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(taken) == 60 and len(set(taken)) == 60


def test_worker_thread_survives_failures(tmp_path):
    broken = make_config(tmp_path, database_url=f"sqlite:///{tmp_path}/no/such/dir/x.db")
    worker = QueueWorker(broken, TRUST, SearchBackends(), interval=0.05)
    worker.start()
    deadline = time.monotonic() + 10
    while worker.runs < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    worker.stop()
    worker.join(5)
    assert worker.runs >= 3 and worker.last is None  # every tick failed; the loop went on


def test_jobs_commands(sqlite_url):
    from paperwire.store import Store

    with Store(sqlite_url) as store:
        store.db.upgrade()
        uid = add_user(store, "member")
        submit_job(store, uid, pid=NO_SUCH)
    with ReplayServer(recorded) as arxiv:
        env = {"PAPERWIRE_ARXIV_API_URL": f"{arxiv.url}/api/query"}
        run = CliRunner().invoke(main, ["--db", sqlite_url, "jobs", "run"], env=env)
    assert run.exit_code == 1 and "1 job(s): 0 done, 0 to try again, 1 failed" in run.output
    listed = CliRunner().invoke(main, ["--db", sqlite_url, "jobs", "list", "--state", "failed"])
    assert listed.exit_code == 0
    assert f"submit-paper   {NO_SUCH}" in listed.output
    assert f"arXiv has no paper {NO_SUCH}." in listed.output
