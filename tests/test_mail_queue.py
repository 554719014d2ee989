"""Visitors' e-mails go through the jobs queue: sent by the worker, retried with backoff,
failed for good on a refusal, never twice when a worker dies mid-way, and no secret in the
queue."""

from __future__ import annotations

import json
from datetime import timedelta

from click.testing import CliRunner

from paperwire.cli import main
from paperwire.core.clock import utcnow
from paperwire.jobs import QueueRunner
from paperwire.mail import outgoing

from .mailkit import SMTPServer
from .test_web_auth import delivered, outbox
from .webkit import Visitor, add_user, make_config


def test_a_queued_message_is_sent_at_once_not_at_the_next_look(sqlite_store, tmp_path):
    """The queue thread looks every ``job_interval`` (10 s by default): a visitor's e-mail
    wakes it, so the confirmation arrives in a moment (a walkthrough saw it 10 s late)."""
    import time

    from paperwire.jobs.worker import QueueWorker
    from paperwire.search.retrievers import SearchBackends

    from .storekit import TRUST

    store = sqlite_store
    config = make_config(tmp_path, database_url=store.db.url)
    add_user(store, "ada")
    worker = QueueWorker(config, TRUST, SearchBackends(), interval=3600,
                         more=[outgoing.handlers])  # fmt: skip
    worker.start()
    try:
        deadline = time.monotonic() + 10
        while worker.runs < 1 and time.monotonic() < deadline:  # its first look: nothing
            time.sleep(0.02)
        started = time.monotonic()
        outgoing.queue(store, "reset", "ada@example.org")
        while not outbox(config) and time.monotonic() - started < 10:
            time.sleep(0.02)
        assert outbox(config) and time.monotonic() - started < 5
    finally:
        worker.stop()
        worker.join(5)
    assert not worker.is_alive()


def test_a_worker_dying_after_sending_does_not_send_twice(sqlite_store, tmp_path):
    store, config = sqlite_store, make_config(tmp_path)
    add_user(store, "ada")
    outgoing.queue(store, "reset", "ada@example.org")
    # A worker claims the job, sends, and dies before its report.
    job = store.queue.claim("dead-worker", lease=300)
    outgoing.OutgoingMail(store, config).run(job)
    assert len(outbox(config)) == 1
    # Its lease runs out; another worker takes the job over and finishes it.
    later = utcnow() + timedelta(seconds=301)
    stats = QueueRunner(store, outgoing.handlers(store, config), clock=lambda: later).step()
    assert (stats.claimed, stats.done) == (1, 1)
    [msg] = outbox(config)  # the same message (same Message-ID), written once
    assert msg["Message-ID"] == outgoing.OutgoingMail(store, config).message_id(job)
    assert store.queue.get("mail", job.key).state == "done"


def test_a_worker_dying_after_smtp_accepted_resends_the_same_message_id(sqlite_store, tmp_path):
    """Over SMTP the one gap left: the server has it, the worker died before its report. The
    second message carries the same Message-ID, which receiving systems drop."""
    store = sqlite_store
    with SMTPServer() as smtp:
        config = make_config(tmp_path, **smtp.settings)
        add_user(store, "ada")
        outgoing.queue(store, "reset", "ada@example.org")
        job = store.queue.claim("dead-worker", lease=300)
        outgoing.OutgoingMail(store, config).run(job)
        later = utcnow() + timedelta(seconds=301)
        QueueRunner(store, outgoing.handlers(store, config), clock=lambda: later).step()
        ids = {m["Message-ID"] for m in smtp.messages}
    assert len(smtp.messages) == 2 and len(ids) == 1


def test_temporary_failures_back_off_and_a_refusal_fails_for_good(sqlite_store, tmp_path):
    store = sqlite_store
    with SMTPServer() as smtp:
        config = make_config(tmp_path, **smtp.settings, job_backoff=60)
        add_user(store, "ada")
        add_user(store, "bob")
        smtp.recorder.refuse["ada@example.org"] = ["451 4.3.0 busy"]
        smtp.recorder.refuse["bob@example.org"] = ["550 5.1.1 no such user"]
        outgoing.queue(store, "reset", "ada@example.org")
        outgoing.queue(store, "reset", "bob@example.org")
        runner = QueueRunner(store, outgoing.handlers(store, config), backoff=60)
        stats = runner.step()
        assert (stats.retried, stats.failed) == (1, 1) and smtp.messages == []
        [waiting] = store.queue.list(kind="mail", state="queued")
        [failed] = store.queue.list(kind="mail", state="failed")
        assert waiting.payload["to"] == "ada@example.org" and "451" in waiting.last_error
        assert waiting.next_attempt_at >= utcnow() + timedelta(seconds=50)
        assert failed.payload["to"] == "bob@example.org" and "550" in failed.last_error
        assert runner.step().claimed == 0  # not due yet
        later = utcnow() + timedelta(seconds=200)
        runner.clock = lambda: later
        assert runner.step().done == 1
        [msg] = smtp.messages
    assert msg["To"] == "ada@example.org" and "Reset" in msg["Subject"]


def test_the_queue_holds_no_secret(web, tmp_path, monkeypatch):
    """A reset link is signed when the message is composed: neither `paperwire jobs list` nor
    the jobs table ever holds it."""
    app, store, _, config = web
    add_user(store, "ada")
    visitor = Visitor(app)
    assert visitor.post("/reset", {"email": "ada@example.org"}).status_code == 303
    [job] = store.queue.list(kind="mail")
    assert job.owner_id is None  # so never on anyone's /papers/pending either
    [msg] = delivered(store, config)
    body = msg.get_body(preferencelist=("plain",)).get_content()
    token = body.split("/reset/", 1)[1].split()[0]
    monkeypatch.setenv("PAPERWIRE_SECRET_KEY", config.site.secret_key)
    db = str(store.db.engine.url)
    listed = CliRunner().invoke(main, ["--db", db, "jobs", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    [row] = [json.loads(line) for line in listed.output.splitlines()]
    assert row["kind"] == "mail" and row["result"] == "sent to ada@example.org"
    assert token not in listed.output and token[:20] not in json.dumps(row)
