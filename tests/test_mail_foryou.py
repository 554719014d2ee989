"""The For-you e-mail digest (issue 15, item 5): a signed-in account's For-you papers, ranked
exactly as the tab ranks them, each with its reason, sent once per period over real SMTP
conversations (aiosmtpd) — also by two runners at once — and stopped with the account."""

from __future__ import annotations

import re
import subprocess
from datetime import time as dtime

import pytest

from paperwire.mail import schedule
from paperwire.mail import subscriptions as subs
from paperwire.mail.run import DigestRun
from paperwire.rank.foryou import ForYou
from paperwire.rank.reader import reader_inputs

from .mailkit import SMTPServer, digest_cli
from .storekit import search_engine, trending_ranker
from .test_foryou import model  # noqa: F401 - the 60 listing papers, embedded, on each backend
from .test_mail import WEEK, backdate, subscribe, upvote_some
from .test_search import embedder  # noqa: F401 - the session's embedding model fixture
from .test_web_foryou import closest_pair
from .webkit import MODEL_CACHE, PASSWORD, Visitor, add_user, make_config, seed, site

CARD = re.compile(r'id="paper-([^"]+)"')


@pytest.fixture
def mailed(store, tmp_path, embedder):  # noqa: F811 - the fixture imported above
    """The seeded papers, every one embedded (what `paperwire index` keeps up), on each
    backend; the engine shares the index the CLI runners open."""
    ids = seed(store)
    upvote_some(store, ids)
    engine = search_engine(store, tmp_path / "vector-index", embedder=embedder)
    engine.indexer().embed_missing()
    return store, ids, engine, tmp_path


def _for_you(store, name: str, frequency: str = "weekly") -> tuple[int, int]:
    """An account subscribed to its For-you digest (long ago: this period is its due)."""
    uid = add_user(store, name)
    user = store.accounts.get_user(id=uid)
    req, errors = subs.validate(
        {"email": "ignored@example.org", "kind": "foryou", "frequency": frequency}
    )
    assert req is not None, errors
    active = subs.subscribe_for_you(store, req, user)
    assert active.sub.email == f"{name}@example.org" and active.sub.status == "confirmed"
    backdate(store, active.sub.id)
    return uid, active.sub.id


def _run(store, config, engine, **kw):
    return DigestRun(store, config, engine, trending_ranker()).run(**kw)


def test_for_you_digest_ranks_as_the_tab_with_reasons_once_per_period(mailed):
    store, ids, engine, tmp_path = mailed
    with SMTPServer() as smtp:
        config = make_config(tmp_path, **smtp.settings)
        ada, ada_sub = _for_you(store, "ada")
        liked = ids[0]
        store.feed.set_upvote(ada, liked, True)
        # a first ranking; the top paper is then dismissed ("not interested")
        window = [p.id for p in store.mail.new_papers(*_window())]
        model = ForYou(store, engine.semantic())
        first = model.rank([liked], [i for i in window if i != liked]).picks
        dismissed = first[0].paper_id
        store.signals.mark(ada, dismissed, "dismissed", True)
        _for_you(store, "bob")  # nothing liked: nothing to rank, no mail
        subscribe(store, "cy@example.org", "trending", frequency="weekly")  # the other kinds

        stats = _run(store, config, engine, period=WEEK)
        assert (stats.sent, stats.empty) == (2, 1), stats.line()
        msgs = {m["To"]: m for m in smtp.messages}
        assert set(msgs) == {"ada@example.org", "cy@example.org"}
        mail = msgs["ada@example.org"]
        assert mail["Subject"].startswith("Papers for you — week of ")
        assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        text = mail.get_body(("plain",)).get_content()
        html = mail.get_body(("html",)).get_content()

        # exactly the tab's model, on the reader's signals, less what they liked or dismissed
        reader = reader_inputs(store, ada, window)
        want = [p.paper_id for p in model.rank(reader.liked, reader.candidates,
                                               reader.disliked).picks][:10]  # fmt: skip
        got = re.findall(r"^   http://testserver/papers/(\d{4}\.\d{4,5})\s*$", text, re.M)
        assert got == want and len(got) == 10
        assert liked not in got and dismissed not in got
        title = store.feed.cards([liked])[0].title
        # a reason where the model has one (a close likeness, else the rare words shared
        # with the closest liked paper), the same as on the tab's cards
        picks = model.words_why(
            model.rank(reader.liked, reader.candidates, reader.disliked).picks[:10]
        )
        reasons = sum(p.because == liked and not p.because_words for p in picks)
        assert text.count(f"Why: like “{title}”, one of yours") == reasons >= 3
        assert text.count("Why:") == sum(p.reason is not None for p in picks)
        for pick in picks:
            assert pick.reason is None or f"Why: {pick.reason}" in text
        assert "http://testserver/papers/for-you?span=week" in text
        assert 'href="http://testserver/papers/for-you?span=week"' in html
        assert "Why: like “" in html and "<script" not in html

        # the same period again: nothing; the next one leaves out what Ada got
        before = len(smtp.messages)
        again = _run(store, config, engine, period=WEEK)
        assert again.sent == 0 and again.already == 3, again.line()
        assert len(smtp.messages) == before
        assert store.mail.sent_paper_ids([ada_sub])[ada_sub] == set(got)
        # a period without new papers: nothing to rank, no mail
        composer = DigestRun(store, config, engine, trending_ranker()).composer
        sub = store.mail.get_subscription(ada_sub)
        quiet = schedule.period_due("weekly", "UTC", dtime(8), "2024-W10")
        assert composer.compose(sub, quiet, set()) == []
        assert len(composer.compose(sub, schedule.period_due("weekly", "UTC", dtime(8), WEEK),
                                    set(got))) == 10  # fmt: skip


def test_the_digest_says_the_rare_words_a_paper_shares_as_the_tab_does(mailed, monkeypatch):
    """A pick with no likeness or link to show is given the rare words it shares with the
    liked paper it is closest to, by the tab's own step (ForYou.words_why), on the papers
    sent: here that step says the same words for each, and the e-mail carries them."""
    from dataclasses import replace

    store, ids, engine, tmp_path = mailed
    seen: list[int] = []

    def words_why(self, picks, texts=None):
        seen.append(len(picks))
        return [p if p.reason else replace(p, because=p.closest, because_title="A liked paper",
                                           because_words=("draft model",))
                for p in picks]  # fmt: skip

    monkeypatch.setattr(ForYou, "words_why", words_why)
    with SMTPServer() as smtp:
        config = make_config(tmp_path, **smtp.settings)
        ada, _ = _for_you(store, "ada")
        store.feed.set_upvote(ada, ids[0], True)
        assert _run(store, config, engine, period=WEEK).sent == 1
        text = smtp.messages[0].get_body(("plain",)).get_content()
    assert seen and all(n <= 10 for n in seen)  # only the papers that can be sent
    assert "Why: shares “draft model” with “A liked paper”, one of yours" in text


def test_a_reader_with_only_topics_gets_their_digest_with_reasons(mailed):
    store, ids, engine, tmp_path = mailed
    with SMTPServer() as smtp:
        config = make_config(tmp_path, **smtp.settings)
        ada, _ = _for_you(store, "ada")
        store.readers.add_topic(ada, "crowd counting")
        stats = _run(store, config, engine, period=WEEK)
        assert stats.sent == 1, stats.line()
        text = smtp.messages[0].get_body(("plain",)).get_content()
        window = [p.id for p in store.mail.new_papers(*_window())]
        model = ForYou(store, engine.semantic())
        want = model.rank([], window, topics=["crowd counting"]).picks[:10]
        got = re.findall(r"^   http://testserver/papers/(\d{4}\.\d{4,5})\s*$", text, re.M)
        assert got == [p.paper_id for p in want]
        assert (
            text.count("Why: about “crowd counting”, one of your topics")
            == sum(p.because_topic is not None for p in want)
            >= 2
        )
        assert text.count("Why:") == sum(p.reason is not None for p in want)


def _window():
    due = schedule.period_due("weekly", "UTC", dtime(8), WEEK)
    return due.start, due.end


def _cli(url: str, smtp: SMTPServer, tmp_path, *args) -> subprocess.Popen:
    return digest_cli(
        url, smtp.port, tmp_path, *args,
        model_cache_dir=str(MODEL_CACHE), index_dir=str(tmp_path / "vector-index"),
    )  # fmt: skip


def test_two_runners_at_once_send_each_reader_one_for_you_digest(mailed):
    store, ids, _, tmp_path = mailed
    readers = {}
    for i in range(8):
        uid, _ = _for_you(store, f"reader{i}")
        store.feed.set_upvote(uid, ids[i], True)
        readers[f"reader{i}@example.org"] = ids[i]
    with SMTPServer() as smtp:
        smtp.recorder.delay = 0.02
        procs = [_cli(store.url, smtp, tmp_path, "--period", WEEK) for _ in range(2)]
        outs = [p.communicate(timeout=300) for p in procs]
        assert all(p.returncode == 0 for p in procs), outs
        again = _cli(store.url, smtp, tmp_path, "--period", WEEK)
        out, err = again.communicate(timeout=300)
        assert again.returncode == 0 and "0 sent" in out, (out, err)
        sent = [m["To"] for m in smtp.messages]
        assert sorted(sent) == sorted(readers)  # each reader once, none twice
        assert store.mail.delivery_counts() == {"sent": 8}
        for m in smtp.messages:  # each ranked for its own reader
            text = m.get_body(("plain",)).get_content()
            title = store.feed.cards([readers[m["To"]]])[0].title
            assert f"Why: like “{title}”, one of yours" in text


def test_the_account_decides_address_disabling_and_deletion(mailed):
    store, ids, engine, tmp_path = mailed
    ada, sub_id = _for_you(store, "ada")
    store.feed.set_upvote(ada, ids[0], True)
    assert store.accounts.change_email(ada, "ada@example.org", "ada@new.example.org")
    active = {s.id: s for s in store.mail.active_subscriptions()}
    assert active[sub_id].email == "ada@new.example.org"  # the account's address now
    assert store.mail.get_subscription(sub_id).email == "ada@new.example.org"
    assert store.people.set_active(ada, False)
    assert sub_id not in {s.id for s in store.mail.active_subscriptions()}
    with SMTPServer() as smtp:
        config = make_config(tmp_path, **smtp.settings)
        assert _run(store, config, engine, period=WEEK).due == 0
        assert store.people.set_active(ada, True)
        stats = _run(store, config, engine, period=WEEK)
        assert stats.sent == 1 and [m["To"] for m in smtp.messages] == ["ada@new.example.org"]
    assert store.people.delete(ada)
    assert store.mail.get_subscription(sub_id).status == "unsubscribed"
    assert store.mail.active_subscriptions() == []


def test_subscribing_from_the_tab_needs_an_account_and_csrf(store, tmp_path, embedder, monkeypatch):  # noqa: F811, E501
    ids = seed(store)
    search_engine(store, tmp_path / "vector-index", embedder=embedder).indexer().embed_missing()
    app, _ = site(store, tmp_path)
    uid = add_user(store, "ada")
    store.feed.set_upvote(uid, closest_pair(app, store, ids), True)

    anonymous = Visitor(app)
    r = anonymous.post("/subscriptions/for-you", {"frequency": "daily"})
    assert r.status_code == 303 and r.headers["location"].startswith("/signin")
    r = anonymous.post("/subscribe", {"email": "x@example.org", "kind": "foryou"})
    assert r.status_code == 400 and "Sign in to get your For-you papers" in r.text
    r = anonymous.client.post("/api/subscriptions", json={"email": "x@example.org",
                                                          "kind": "foryou"})  # fmt: skip
    assert r.status_code == 400 and r.json()["fields"]["kind"]
    assert store.mail.for_you_subscription(uid) is None

    v = Visitor(app)
    v.sign_in("ada", PASSWORD)
    tab = v.get("/papers/for-you?span=week")
    assert 'action="/subscriptions/for-you"' in tab.text and CARD.search(tab.text)
    assert v.client.post("/subscriptions/for-you", data={"frequency": "weekly"}).status_code == 403
    assert v.post("/subscriptions/for-you", {"frequency": "yearly"}).status_code == 400
    r = v.post_and_follow("/subscriptions/for-you", {"frequency": "weekly",
                                                     "timezone": "Europe/Paris"})  # fmt: skip
    assert r.status_code == 200 and "subscribed: Weekly digest of your For-you papers" in r.text
    assert "For-you papers" in r.text and 'name="kind" value="foryou"' in r.text
    again = v.get("/subscriptions/for-you")  # the result's address opened again: the tab
    assert (again.status_code, again.headers["location"]) == (303, "/papers/for-you")
    sub = store.mail.for_you_subscription(uid)
    assert (sub.kind, sub.frequency, sub.timezone, sub.status, sub.email) == (
        "foryou", "weekly", "Europe/Paris", "confirmed", "ada@example.org")  # fmt: skip
    # the tab now says so, with the link to change or stop it; so do Settings
    tab = v.get("/papers/for-you?span=week")
    assert "every Monday" in tab.text and "/subscriptions/manage?token=" in tab.text
    assert "For-you papers" in v.get("/settings").text
    # asking again updates it (one per account); the manage page keeps it For you
    r = v.post_and_follow("/subscriptions/for-you", {"frequency": "daily"})
    assert "already subscribed" in r.text
    assert store.mail.for_you_subscription(uid).id == sub.id
    token = re.search(r'name="token" value="([^"]+)"', r.text).group(1)
    # its preview ranks with the tab's own model (its words counted already), not a new one
    from paperwire.mail import digest

    monkeypatch.setattr(digest, "ForYou", None)
    preview = v.get(f"/digest/preview?token={token}&format=text")
    assert preview.status_code == 200 and "Why: like “" in preview.text
    monkeypatch.undo()
    r = v.post("/subscriptions/manage", {"token": token, "kind": "trending",
                                          "frequency": "weekly", "timezone": "UTC"})  # fmt: skip
    assert r.status_code == 303
    assert store.mail.get_subscription(sub.id).kind == "foryou"
    # a trending subscription cannot be turned into someone's For you by its link
    other = store.mail.create_subscription("eve@example.org", "trending", None, "daily", "UTC",
                                           confirmed=True)  # fmt: skip
    from paperwire.mail import render

    link = render.manage_token(app.state.site.signer, other)
    r = v.post("/subscriptions/manage", {"token": link, "kind": "foryou",
                                          "frequency": "daily", "timezone": "UTC"})  # fmt: skip
    assert r.status_code == 400 and store.mail.get_subscription(other.id).kind == "trending"
    # the API: the caller's own account, whatever address is given
    api = v.client.post("/api/subscriptions", json={"email": "x@example.org", "kind": "foryou",
                                                    "frequency": "weekly"},
                        headers={"x-csrf-token": v.csrf})  # fmt: skip
    assert api.status_code == 200 and api.json()["subscription"]["email"] == "ada@example.org"
    # unsubscribe by its link; the tab offers the form again
    v.post("/subscriptions/unsubscribe", {"token": token})
    assert store.mail.get_subscription(sub.id).status == "unsubscribed"
    assert 'action="/subscriptions/for-you"' in v.get("/papers/for-you").text


def test_shared_papers_rank_exactly_as_the_tab_for_many_readers(model):  # noqa: F811
    """What a digest run ranks with (each paper laid out once) is the For-you tab's model."""
    import random

    import numpy as np

    from paperwire.rank.foryou import word_similarity
    from paperwire.rank.foryou_many import SharedPapers

    papers = list(model.store.papers.texts_by_id(
        [p.id for p in model.store.papers.newest_texts(100)]).values())  # fmt: skip
    shared = SharedPapers(model, papers)
    ids = [p.id for p in papers]
    for part in (0, 1):  # words, 4-grams; each column kept, the same as computed anew
        docs = [model._features(p)[part] for p in papers]
        first = shared.similarity(part, docs[:7])
        assert np.allclose(first, word_similarity(docs, docs[:7]))
        assert np.array_equal(shared.similarity(part, docs[5:9])[:, :2], first[:, 5:7])
    rng = random.Random(5)
    topics = ["crowd counting", "splatting for driving", "safety of vision-language models"]
    for round_ in range(16):
        liked = rng.sample(ids, rng.randint(0 if round_ % 4 == 3 else 1, 6))
        disliked = rng.sample([i for i in ids if i not in liked], rng.randint(0, 3))
        candidates = [i for i in ids if i not in liked and i not in disliked]
        mine = rng.sample(topics, rng.randint(1 if not liked else 0, 2))
        want = model.rank(liked, candidates, disliked, topics=mine)
        got = shared.rank(liked, candidates, disliked, topics=mine)
        assert [(p.paper_id, p.because, p.because_title, p.because_topic) for p in got.picks] == [
            (p.paper_id, p.because, p.because_title, p.because_topic) for p in want.picks
        ]
        assert np.allclose([p.score for p in got.picks], [p.score for p in want.picks])
    # nothing liked: the candidates as given; papers not laid out are unknown
    assert [p.paper_id for p in shared.rank([], ids[:3]).picks] == ids[:3]
    assert shared.rank([ids[0]], ["2999.99999", ids[1]]).unknown == ["2999.99999"]


def test_shared_papers_keep_the_columns_in_use(model, monkeypatch):  # noqa: F811
    """With the kept columns full, a call that adds new ones evicts the least recently used,
    never one it returns (the same numbers as computed anew)."""
    import numpy as np

    from paperwire.rank import foryou_many
    from paperwire.rank.foryou import word_similarity
    from paperwire.rank.foryou_many import SharedPapers

    monkeypatch.setattr(foryou_many, "COLUMNS", 3)
    papers = model.store.papers.newest_texts(20)
    shared = SharedPapers(model, papers)
    docs = [model._features(p)[0] for p in papers]
    shared.similarity(0, docs[:3])  # full: columns 0, 1, 2
    got = shared.similarity(0, [docs[0], docs[3], docs[4]])  # keeps 0, adds 3 and 4
    assert np.allclose(got, word_similarity(docs, [docs[0], docs[3], docs[4]]))
    assert len(shared._columns) == 3


def test_a_run_lays_out_its_windows_papers_once_and_ranks_each_as_the_tab(mailed, monkeypatch):
    """A run's For-you windows (a dozen time zones, days and weeks) overlap: their papers are
    laid out once (``Composer.prepare``), and each reader's digest is still exactly the
    tab's ranking of their own window, the same as with each window laid out alone."""
    from datetime import timedelta

    from paperwire.mail import digest as digest_mod
    from paperwire.store import schema as t

    store, ids, engine, tmp_path = mailed
    config = make_config(tmp_path)
    start = schedule.period_due("weekly", "UTC", dtime(8), WEEK).start
    with store.begin() as conn:  # the papers spread over the week
        for j, pid in enumerate(ids):
            when = start + timedelta(days=j % 7, hours=1)
            conn.execute(t.papers.update().where(t.papers.c.id == pid).values(published=when))
    day, hours = timedelta(days=1), timedelta(hours=5)
    windows = [(start, start + 7 * day), (start, start + day),
               (start + 2 * day + hours, start + 3 * day + hours)]  # fmt: skip
    readers = []
    for i, (a, b) in enumerate(windows):
        uid, sid = _for_you(store, f"r{i}")
        for pid in ids[3 * i : 3 * i + 2]:
            store.feed.set_upvote(uid, pid, True)
        readers.append((store.mail.get_subscription(sid), a, b))

    def digests(composer):
        composer.prepare(readers)
        return [[(p.paper_id, p.why) for p in composer.for_you(sub, a, b, 10)]
                for sub, a, b in readers]  # fmt: skip

    together = DigestRun(store, config, engine, trending_ranker()).composer
    got = digests(together)
    sizes = [len(store.mail.new_papers(a, b)) for a, b in windows]
    assert together._all is not None and len(together._all.papers) == sizes[0] > max(sizes[1:])
    monkeypatch.setattr(digest_mod, "SHARED_MAX", 0)  # each window laid out alone
    alone = DigestRun(store, config, engine, trending_ranker()).composer
    assert digests(alone) == got and alone._all is None
    tab = ForYou(store, engine.semantic())
    for (sub, a, b), mine in zip(readers, got, strict=True):
        window = [p.id for p in store.mail.new_papers(a, b)]
        reader = reader_inputs(store, sub.user_id, window)
        want = tab.rank(reader.liked, reader.candidates, reader.disliked).picks[:10]
        assert mine and [p for p, _ in mine] == [p.paper_id for p in want]
