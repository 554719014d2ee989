"""The ``tantivy`` keyword backend (issue 16): a Tantivy index beside the store, built and
caught up from it, compared with the exact method (every paper read and judged in Python)
on both database backends."""

from __future__ import annotations

import json
import time
from datetime import date, datetime

import pytest
from click.testing import CliRunner

from paperwire.cli import main
from paperwire.core import query as Q
from paperwire.core.categories import canonical
from paperwire.core.query import SearchFilters
from paperwire.core.records import PaperRecord
from paperwire.ingest.listing import listing_record
from paperwire.ingest.pipeline import import_jsonl
from paperwire.search.keyword import DatabaseKeywords
from paperwire.store import words as store_words

from .storekit import TRUST, site_engine
from .webkit import LISTING, Visitor, make_config, seed, site

tk = pytest.importorskip("paperwire.search.tantivy_keywords")
pytest.importorskip("tantivy", reason="the tantivy keyword backend needs the tantivy package")

QUERIES = [
    "model",
    "learning",
    "propose",
    "learning model",
    "gaussian splatting",
    '"language models"',
    '"language models" -vision',
    "diffusion OR gaussian",
    "neural -network",
    "3d reconstruction images",
]
FILTERS = [
    SearchFilters(),
    SearchFilters(category="cs.CV"),
    SearchFilters(category="cs"),
    SearchFilters(category="cs.LG", date_from=date(2025, 3, 14)),
    SearchFilters(date_to=date(2025, 3, 13)),
    SearchFilters(has_code=True),
    SearchFilters(category="cs.cv"),  # as typed: arXiv's spelling is cs.CV
    SearchFilters(category="hep-th"),  # an archive that is itself the category
    SearchFilters(category="cond-mat"),
    SearchFilters(category="quant-ph", has_code=True),
]


@pytest.fixture
def words(store, tmp_path):
    import_jsonl(store, TRUST, LISTING, listing_record)
    store.papers.upsert(
        [
            rec("9901.00001", "Gaussian splatting with code", "A model of splats.", repo="a/b"),
            rec("9901.00011", "A learning model of strings", "We propose images of branes.",
                categories=["hep-th"]),
            rec("9901.00012", "Neural network learning on chips", "We propose a 3d model.",
                categories=["cond-mat.mes-hall", "quant-ph"], repo="c/d"),
        ],
        TRUST,
    )  # fmt: skip
    kw = tk.TantivyKeywords(store, tmp_path / "words", DatabaseKeywords(store), refresh=0.0)
    kw.update()
    return kw


def rec(
    pid: str, title: str, abstract: str, repo: str | None = None, categories=("cs.CV",), **kw
) -> PaperRecord:
    return PaperRecord(
        id=pid,
        title=title,
        abstract=abstract,
        authors=["Ada Lovelace"],
        categories=list(categories),
        source="arxiv-api",
        published=datetime(2025, 3, 19),
        github_repo=repo,
        **kw,
    )


def exact(store, parsed, filters: SearchFilters, mode: str) -> set[int]:
    """Which papers hold every unit (``mode`` all) or any, and no excluded phrase, passing
    the filters: every paper read from the database and judged here."""
    an = tk.analyzer()
    out = set()
    for p in store.words.papers_after(0, 100_000):
        fields = [an.analyze(v) for _, _, values in tk.FIELDS for v in values(p)]

        def holds(words: list[str], fields: list[list[str]] = fields) -> bool:
            tokens = [t for w in words for t in an.analyze(w)]
            return bool(tokens) and any(
                f[i : i + len(tokens)] == tokens for f in fields for i in range(len(f))
            )

        units = [any(holds(a) for a in u.alternatives) for u in parsed.units]
        if not (all(units) if mode == "all" else any(units)):
            continue
        if any(holds(e) for e in parsed.excluded):
            continue
        day = p.published
        if filters.date_from and (day is None or day < filters.date_from):
            continue
        if filters.date_to and (day is None or day > filters.date_to):
            continue
        if filters.category:
            c = canonical(filters.category)
            if not any(x == c or ("." not in c and x.startswith(c + ".")) for x in p.categories):
                continue
        if filters.has_code and not p.has_code:
            continue
        out.add(p.seq)
    return out


@pytest.mark.parametrize("text", QUERIES)
def test_tantivy_finds_exactly_the_papers_holding_the_words(words, store, text):
    """Every paper holding the words and passing the filters, and only those, on SQLite and
    PostgreSQL alike; the same with any of the words."""
    parsed = Q.parse(text)
    for filters in FILTERS:
        for mode in ("all", "any"):
            got = {s for s, _ in words._search(parsed, filters, 10_000, mode)}
            assert got == exact(store, parsed, filters, mode), (text, filters, mode)
    assert exact(store, parsed, SearchFilters(), "all"), "the query must match something"


@pytest.mark.parametrize("text", ["model", "learning", "propose", "learning model", "images"])
def test_tantivy_top_k_is_the_top_of_every_match_scored(words, text):
    """The top k Tantivy gives without scoring every match (block-max WAND) is the top k of
    every match scored: no paper that should rank is skipped."""
    parsed = Q.parse(text)
    every = words._search(parsed, SearchFilters(), 10_000, "all")
    assert len(every) > 10
    for k in (1, 5, 10):
        top = words._search(parsed, SearchFilters(), k, "all")
        assert [round(s, 4) for _, s in top] == [round(s, 4) for _, s in every[:k]]
        cut = every[k - 1][1]
        assert {s for s, x in top} >= {s for s, x in every if x > cut + 1e-4}


def test_a_sentence_no_paper_holds_ranks_its_rarer_words(words, store):
    """No paper holds every word: the rarer ones rank (the common ones are left to the
    semantic side), as the database backend does; none of them holds every word."""
    words.fallback.rare_floor = 10
    parsed = Q.parse("gaussian splatting for models of unicorns")
    hits, all_words = words.retrieve(parsed, SearchFilters(), 50)
    assert hits and not all_words
    common = Q.parse("models").units[0]
    assert common not in words._rare_units(parsed)
    rare = exact(store, Q.parse("gaussian OR splatting OR unicorns"), SearchFilters(), "all")
    assert {s for s, _ in hits} == rare
    db_hits, _ = words.fallback.retrieve(parsed, SearchFilters(), 50)
    assert {s for s, _ in db_hits} == rare


def test_hostile_queries_give_an_answer_not_an_error(words):
    from .test_search import HOSTILE

    for text in [*HOSTILE, "model " + "x" * 200, '"a b c d e f g h i j k l m n o p"', "-model"]:
        for filters in FILTERS:
            hits, all_words = words.retrieve(Q.parse(text), filters, 50)
            assert all_words <= {s for s, _ in hits}


def test_title_words_weigh_more_than_abstract_words(words, store):
    store.papers.upsert(
        [
            rec("9901.00002", "Zebrafish tracking", "We count fish in tanks."),
            rec("9901.00003", "Counting fish", "Zebrafish are tracked in tanks."),
        ],
        TRUST,
    )
    words.catch_up()
    hits, all_words = words.retrieve(Q.parse("zebrafish"), SearchFilters(), 10)
    seqs = store.words.papers_after(0, 100_000)
    by_title = {p.title: p.seq for p in seqs}
    assert [s for s, _ in hits] == [by_title["Zebrafish tracking"], by_title["Counting fish"]]
    assert all_words == {s for s, _ in hits}


def test_changes_to_papers_are_caught_up_from_the_word_log(words, store):
    """New, changed and deleted papers reach the index through the word log: each change
    once (no paper twice), and applying changes again after a crash changes nothing."""

    def found(text: str, filters: SearchFilters | None = None) -> set[int]:
        return {s for s, _ in words.retrieve(Q.parse(text), filters or SearchFilters(), 50)[0]}

    assert not found("axolotl")
    store.papers.upsert([rec("9901.00004", "Axolotl regeneration", "Limbs grow back.")], TRUST)
    seq = store.papers.seq_of("9901.00004")
    words.catch_up()
    assert found("axolotl") == {seq}
    assert found("axolotl", SearchFilters(category="cs.CV")) == {seq}
    assert not found("axolotl", SearchFilters(category="cs.LG"))
    # A changed title: the old words go, the new ones come.
    store.papers.upsert([rec("9901.00004", "Salamander regeneration", "Limbs grow back.")], TRUST)
    words.catch_up()
    assert not found("axolotl") and found("salamander") == {seq}
    docs = words._searcher.num_docs
    assert docs == store.db.count("papers")
    # A crash after a commit, before the state noted it: the changes are applied again.
    state = tk.read_state(words.words.folder)
    tk.write_state(words.words.folder, {**state, "settled": state["settled"] - 3})
    words.catch_up()
    assert words._searcher.num_docs == docs and found("salamander") == {seq}
    assert tk.read_state(words.words.folder)["settled"] == store.words.log_end()
    # A deleted paper leaves the index.
    store.papers.delete("9901.00004")
    words.catch_up()
    assert not found("salamander") and words._searcher.num_docs == docs - 1


def test_many_small_catch_ups_keep_few_segments(words, store):
    """The process keeps its writer, whose threads merge the small segments each catch-up
    commits (dropping it after each commit left one more segment every time)."""
    for i in range(40):
        store.papers.upsert([rec(f"9903.{i:05d}", f"Paper {i}", "Text.")], TRUST)
        words.catch_up()
    assert words._searcher.num_docs == store.db.count("papers")
    assert words._searcher.num_segments < 20


def test_searches_catch_up_on_their_own(store, tmp_path):
    """Another process's writes are found soon after, without a call to catch_up: a
    search that finds the index behind starts a background catch-up and does not wait."""
    import_jsonl(store, TRUST, LISTING, listing_record)
    kw = tk.TantivyKeywords(store, tmp_path / "w", DatabaseKeywords(store), refresh=0.2)
    kw.update()
    assert not kw.retrieve(Q.parse("okapi"), SearchFilters(), 5)[0]
    store.papers.upsert([rec("9901.00005", "Okapi stripes", "Camouflage.")], TRUST)
    time.sleep(0.25)
    started = time.monotonic()
    while not kw.retrieve(Q.parse("okapi"), SearchFilters(), 5)[0]:
        assert time.monotonic() - started < 10, "never caught up"
        time.sleep(0.05)
    assert not kw._busy.is_set() or kw._searcher.num_docs == store.db.count("papers")


def test_one_writer_at_a_time_and_readers_keep_reading(words, store, tmp_path):
    """Two processes sharing the index: while one holds the writer the other applies
    nothing and still answers from what was committed; then it catches up."""
    # No refresh of its own: a background catch-up started by a search would race the
    # explicit ones this test counts.
    other = tk.TantivyKeywords(store, words.words.root, DatabaseKeywords(store), refresh=3600)
    store.papers.upsert([rec("9901.00006", "Narwhal tusks", "Sensory organs.")], TRUST)
    held = words.words.index.writer(heap_size=20_000_000, num_threads=1)
    try:
        assert other.catch_up() == 0
        hits, _ = other.retrieve(Q.parse("model"), SearchFilters(), 5)
        assert hits and not other.retrieve(Q.parse("narwhal"), SearchFilters(), 5)[0]
    finally:
        held.rollback()
        del held
    assert other.catch_up() == 1
    assert other.retrieve(Q.parse("narwhal"), SearchFilters(), 5)[0]
    assert words.catch_up() == 0 and words.retrieve(Q.parse("narwhal"), SearchFilters(), 5)[0]


def test_the_database_answers_until_the_index_is_built_and_for_other_filters(store, tmp_path):
    import_jsonl(store, TRUST, LISTING, listing_record)
    db = DatabaseKeywords(store)
    kw = tk.TantivyKeywords(store, tmp_path / "none", db, refresh=0.0)
    parsed = Q.parse("learning model")
    assert kw.retrieve(parsed, SearchFilters(), 20) == db.retrieve(parsed, SearchFilters(), 20)
    assert kw.describe()["built"] is False
    kw.update()
    assert kw.describe() == {**kw.describe(), "built": True, "behind": 0}
    assert kw.retrieve(parsed, SearchFilters(), 20) != db.retrieve(parsed, SearchFilters(), 20)
    # Filters the index does not hold: the database's answer.
    for filters in (SearchFilters(on_feed=True), SearchFilters(author="Ada Lovelace")):
        assert kw.retrieve(parsed, filters, 20) == db.retrieve(parsed, filters, 20)
    # An index built from another database (a restore): not used until rebuilt.
    state = tk.read_state(kw.words.folder)
    tk.write_state(kw.words.folder, {**state, "settled": store.words.log_end() + 5})
    kw.catch_up()
    assert kw.retrieve(parsed, SearchFilters(), 20) == db.retrieve(parsed, SearchFilters(), 20)
    assert "built" in kw.update()


def _log_ids(store) -> list[int]:
    return [i for i, _ in store.words.log_after(0, 1_000_000)]


def test_applied_word_log_rows_are_deleted_but_kept_for_an_index_behind(words, store, tmp_path):
    """Each index says how far it has applied the log; pruning deletes only what every one
    has applied, so an index behind still finds every change."""
    other = tk.TantivyKeywords(store, tmp_path / "other", DatabaseKeywords(store), refresh=3600)
    other.update()
    behind = other.words.settled()
    store.papers.upsert(
        [rec("9904.00001", "Quokka smiles", "Marsupials."),
         rec("9904.00002", "Wombat cubes", "Marsupials.")],
        TRUST,
    )  # fmt: skip
    words.catch_up()  # applies the two papers, then prunes (its first catch-up that did)
    ids = _log_ids(store)
    assert ids and min(ids) == behind + 1  # what ``other`` has not applied is all still there
    assert store.words.pruned_through() == behind
    end = store.words.log_end()
    assert other.catch_up() == len(ids)  # then prunes: both have applied everything now
    assert other.retrieve(Q.parse("wombat"), SearchFilters(), 5)[0]
    # All but the newest row is gone (it says where the log ends).
    assert _log_ids(store) == [end] and store.words.log_end() == end
    assert store.words.pruned_through() == end - 1 and store.words.prune() == 0
    # New changes after the pruning are found as before.
    store.papers.upsert([rec("9904.00003", "Tapir snouts", "Browsers.")], TRUST)
    words.catch_up()
    other.catch_up()
    assert words.retrieve(Q.parse("tapir"), SearchFilters(), 5)[0]
    assert other.retrieve(Q.parse("tapir"), SearchFilters(), 5)[0]


def test_an_index_away_past_the_deleted_rows_is_built_anew(words, store, tmp_path):
    """An index not heard of for a week no longer holds rows back. When it comes back
    behind what was deleted, the database answers until a catch-up has built it anew, and
    nothing it missed is lost."""
    import sqlalchemy as sa

    away = tk.TantivyKeywords(store, tmp_path / "away", DatabaseKeywords(store), refresh=0.0)
    away.update()
    old = away.words.folder
    with store.db.begin() as conn:  # a week and a day without a word from it
        conn.execute(
            sa.update(store_words.READERS)
            .where(store_words.READERS.c.reader == away.words.state()["reader"])
            .values(seen_at=datetime(2000, 1, 1))
        )
    store.papers.upsert(
        [rec("9904.00004", "Pangolin scales", "Keratin."), rec("9904.00006", "Sloth", "Slow.")],
        TRUST,
    )
    words.catch_up()  # and prunes
    assert store.words.pruned_through() > away.words.settled()
    parsed = Q.parse("pangolin")
    # Behind: its own index does not hold the pangolin, but the database's answer does.
    assert away.retrieve(parsed, SearchFilters(), 5) == away.fallback.retrieve(
        parsed, SearchFilters(), 5
    )
    assert away.retrieve(parsed, SearchFilters(), 5)[0]
    away.catch_up()  # builds anew
    assert away.words.folder != old and not old.exists()
    assert away.words.settled() >= store.words.pruned_through()
    hits, _ = away.retrieve(parsed, SearchFilters(), 5)
    assert [s for s, _ in hits] == [store.papers.seq_of("9904.00004")]
    assert away._usable and away._searcher.num_docs == store.db.count("papers")


def test_without_an_index_beside_the_store_the_word_log_keeps_one_row(store):
    """With the database's own keyword search nothing reads the log: pruning (``paperwire
    index`` does it) deletes all of it but the newest row, which says where it ends."""
    import_jsonl(store, TRUST, LISTING, listing_record)
    end = store.words.log_end()
    assert len(_log_ids(store)) == 60
    assert store.words.prune() == 59
    assert _log_ids(store) == [end] and store.words.pruned_through() == end - 1
    store.papers.upsert([rec("9904.00005", "Okapi", "Stripes.")], TRUST)
    assert store.words.log_end() == end + 1


def test_a_log_gap_is_waited_for_then_given_up():
    """PostgreSQL may show id 5 before id 4 commits: 4 is waited for, then skipped."""
    reader = tk.LogReader()
    assert reader.settle(0, [1, 2, 3], now=0.0) == 3
    assert reader.settle(3, [5, 6], now=1.0) == 3  # 4 may still be committing
    assert reader.settle(3, [4], now=2.0) == 6
    assert reader.settle(6, [8], now=3.0) == 6
    assert reader.settle(6, [], now=3.0 + tk.GAP_GRACE) == 8  # 7 was rolled back


def test_the_site_searches_through_tantivy_and_the_cli_builds_it(store, tmp_path):
    """``keyword_backend = "tantivy"``: the engine the site builds searches through it,
    ``paperwire index`` builds it and ``paperwire stats`` reports it."""
    config = make_config(tmp_path, keyword_backend="tantivy", semantic_search=False)
    import_jsonl(store, TRUST, LISTING, listing_record)
    engine = site_engine(store, config)
    assert isinstance(engine.keyword, tk.TantivyKeywords)
    assert engine.keyword.words.root == tk.words_dir_for(config.search, store)
    before = engine.search("gaussian splatting", limit=5)
    assert before.hits  # the database answers before the index is built
    engine.keyword.update()
    after = engine.search("gaussian splatting", limit=5)
    assert {h.paper_id for h in after.hits} == {h.paper_id for h in before.hits}
    if store.dialect != "sqlite":
        return
    db = tmp_path / "cli.db"
    env = {"PAPERWIRE_KEYWORD_BACKEND": "tantivy", "PAPERWIRE_SEMANTIC_SEARCH": "false"}
    run = CliRunner().invoke
    r = run(main, ["--db", f"sqlite:///{db}", "ingest", "listing", str(LISTING)], env=env)
    assert r.exit_code == 0, r.output
    r = run(main, ["--db", f"sqlite:///{db}", "index"], env=env)
    assert r.exit_code == 0 and "keyword index built (60 papers)" in r.output, r.output
    assert "word log: 59 applied changes deleted" in r.output, r.output
    r = run(main, ["--db", f"sqlite:///{db}", "stats", "--json"], env=env)
    kw = json.loads(r.output)["keyword_index"]
    assert kw["built"] and kw["papers"] == 60 and kw["behind"] == 0 and kw["log_kept"] == 1
    r = run(main, ["--db", f"sqlite:///{db}", "stats"], env=env)
    assert "word log                    1  (changes kept" in r.output, r.output
    r = run(main, ["--db", f"sqlite:///{db}", "search", "gaussian", "splatting"], env=env)
    assert r.exit_code == 0 and "Gaussian" in r.output, r.output
    r = run(main, ["--db", f"sqlite:///{db}", "index", "--rebuild-words"], env=env)
    assert "keyword index built (60 papers)" in r.output, r.output


def test_the_search_page_finds_a_new_paper_through_tantivy(sqlite_store, tmp_path):
    """A site with ``keyword_backend = "tantivy"``: its search page answers from the index,
    and a paper stored since is found once the site sees the data version change (it
    catches the index up before it publishes the new version)."""
    store = sqlite_store
    seed(store)
    app, config = site(store, tmp_path, keyword_backend="tantivy", semantic_search=False)
    try:
        kw = tk.TantivyKeywords(
            store, tk.words_dir_for(config.search, store), DatabaseKeywords(store)
        )
        kw.update()
        visitor = Visitor(app)
        r = visitor.get("/papers", params={"q": "gaussian splatting"})
        assert r.status_code == 200 and "Results for" in r.text
        assert "Quokka" not in visitor.get("/papers", params={"q": "quokka"}).text
        store.papers.upsert([rec("9901.00007", "Quokka smiles", "Marsupials.")], TRUST)
        started = time.monotonic()  # the data version is polled in the background
        while "Quokka smiles" not in visitor.get("/papers", params={"q": "quokka"}).text:
            assert time.monotonic() - started < 10, "the new paper was never found"
            time.sleep(0.1)
        # Found through the index: the site's engine caught it up (not the database).
        assert kw.describe()["behind"] == 0
    finally:
        app.state.page_cache.version.close()
