"""For-you ranking: the per-reader model (rank/foryou.py) on real papers, on both backends,
and ``paperwire recommend --batch`` end to end."""

from __future__ import annotations

import json
import math
import re
from collections import Counter

import numpy as np
import pytest
from click.testing import CliRunner

from paperwire.cli import main
from paperwire.ingest.listing import listing_record
from paperwire.ingest.pipeline import import_jsonl
from paperwire.rank.foryou import (
    IDF_POWER,
    DocumentFrequencies,
    ForYou,
    Tuning,
    grams,
    mean_terms,
    scores,
    soft_max,
    terms,
    unit_vector,
    word_likeness,
    word_similarity,
)
from paperwire.search.semantic import IndexVectors

from .storekit import TRUST
from .test_search import embedder  # noqa: F401 - the shared test model (a fixture)
from .webkit import LISTING, MODEL_CACHE

# Papers of the fixture listing (2025-03-18), by subject.
SPLAT_SENSORS = "2503.11731"  # Gaussian splatting for driving-sensor simulation
SPLAT_SLAM = "2503.11979"  # real-time Gaussian-splatting SLAM
SPLAT_STREET = "2503.12001"  # Gaussian splatting of street scenes
CROWD_NET = "2503.12061"  # crowd counting and localisation
CROWD_DENSE = "2503.12168"  # extremely dense crowds
CELLS = "2503.12063"  # dense cell counting
CROPS = "2503.11807"  # crop classification labels
SAR_SHIPS = "2503.11906"  # survey: SAR ship classification
DISTILL = "2503.12067"  # survey: knowledge distillation
SAFE_VLM = "2503.11742"  # safe vision-language models
JAILBREAK = "2503.11750"  # jailbreaking vision-language models
OTHERS = [CROPS, SAR_SHIPS, DISTILL, "2503.12102", "2503.11930", "2503.12034"]


@pytest.fixture
def model(store, embedder, tmp_path):  # noqa: F811 - the fixture imported above
    """The 60 papers of the fixture listing, embedded, on each backend."""
    import_jsonl(store, TRUST, LISTING, listing_record)
    vectors = IndexVectors(store, tmp_path / "index", embedder=embedder)
    assert vectors.embed_missing() == 60
    return ForYou(store, vectors)


def order(model: ForYou, liked, candidates, disliked=()) -> list[str]:
    return [p.paper_id for p in model.rank(liked, candidates, disliked).picks]


def test_papers_like_the_liked_ones_come_first(model):
    candidates = [*OTHERS, SPLAT_STREET, JAILBREAK]
    ranked = model.rank([SPLAT_SENSORS, SPLAT_SLAM], candidates)
    assert ranked.unknown == []
    assert sorted(p.paper_id for p in ranked.picks) == sorted(candidates)
    assert ranked.picks[0].paper_id == SPLAT_STREET
    scores_ = [p.score for p in ranked.picks]
    assert scores_ == sorted(scores_, reverse=True)
    # Another reader, other interests, the same candidates: another first paper.
    assert order(model, [SAFE_VLM], candidates)[0] == JAILBREAK


def test_each_pick_names_the_liked_paper_it_is_most_like(model):
    ranked = model.rank([SPLAT_SENSORS, CROWD_NET], [SPLAT_STREET, CROWD_DENSE, CROPS])
    why = {p.paper_id: p for p in ranked.picks}
    assert why[SPLAT_STREET].because == SPLAT_SENSORS
    assert why[CROWD_DENSE].because == CROWD_NET
    assert why[CROWD_DENSE].because_title.startswith("EHNet: An Efficient Hybrid Network")
    # Crop labels are like neither (cosine 0.39 and 0.35): no reason rather than a weak one.
    assert why[CROPS].because is None and why[CROPS].reason is None


def test_disliked_papers_push_similar_ones_down(model):
    liked, candidates = [CELLS, SPLAT_SENSORS], [CROWD_DENSE, SPLAT_STREET, *OTHERS]
    before = model.rank(liked, candidates)
    after = model.rank(liked, candidates, disliked=[CROWD_NET])
    place = {p.paper_id: i for i, p in enumerate(before.picks)}
    later = {p.paper_id: i for i, p in enumerate(after.picks)}
    assert later[CROWD_DENSE] > place[CROWD_DENSE]
    score = {p.paper_id: p.score for p in before.picks}
    score_after = {p.paper_id: p.score for p in after.picks}
    # Crowds lose more than the unrelated splatting paper does.
    drop = {i: score[i] - score_after[i] for i in score}
    assert drop[CROWD_DENSE] > drop[SPLAT_STREET]


def test_unknown_ids_are_reported_and_left_out(model):
    ranked = model.rank([SPLAT_SENSORS, "2999.00001"], [SPLAT_STREET, "2999.00002", CROPS])
    assert ranked.unknown == ["2999.00001", "2999.00002"]
    assert [p.paper_id for p in ranked.picks] == [SPLAT_STREET, CROPS]


def test_nothing_liked_keeps_the_given_order(model):
    ranked = model.rank([], [CROPS, SPLAT_STREET, CROWD_DENSE], disliked=[CROWD_NET])
    assert [p.paper_id for p in ranked.picks] == [CROPS, SPLAT_STREET, CROWD_DENSE]
    assert all(p.because is None for p in ranked.picks)


def test_a_topic_alone_ranks_by_meaning_and_names_itself(model):
    """The cold start: no liked paper, one topic in the reader's words."""
    candidates = [*OTHERS, CROWD_DENSE, SPLAT_STREET, CELLS, CROWD_NET]
    ranked = model.rank([], candidates, topics=["counting people in crowded scenes"])
    assert ranked.picks[0].paper_id == CROWD_NET
    assert CROWD_DENSE in {p.paper_id for p in ranked.picks[:3]}
    assert ranked.picks[0].because is None
    assert ranked.picks[0].because_topic == "counting people in crowded scenes"
    assert ranked.picks[0].reason == "about “counting people in crowded scenes”, one of your topics"
    other = order_topics(model, candidates, ["3D Gaussian splatting of driving scenes"])
    assert other[0] == SPLAT_STREET
    # blank and repeated topics count once; none at all keeps the given order
    assert model.rank([], candidates, topics=["  ", ""]).picks[0].paper_id == candidates[0]
    twice = model.rank([], candidates, topics=["crowd counting", " Crowd  counting "])
    assert {p.because_topic for p in twice.picks} - {None} == {"crowd counting"}
    # the papers far from the topic are ranked, but not said to be about it
    assert next(p for p in twice.picks if p.paper_id == CROPS).reason is None


def test_topics_and_liked_papers_rank_together_each_card_saying_which(model):
    candidates = [*OTHERS, CROWD_DENSE, SPLAT_STREET]
    liked_only = order(model, [SPLAT_SENSORS], candidates)
    ranked = model.rank([SPLAT_SENSORS], candidates, topics=["dense crowd counting"])
    why = {p.paper_id: p for p in ranked.picks}
    assert why[SPLAT_STREET].because == SPLAT_SENSORS and why[SPLAT_STREET].because_topic is None
    assert why[CROWD_DENSE].because_topic == "dense crowd counting"
    together = [p.paper_id for p in ranked.picks]
    # the topic lifts the crowd paper above where the splatting papers alone put it
    assert together.index(CROWD_DENSE) < liked_only.index(CROWD_DENSE)
    assert set(together[:2]) == {SPLAT_STREET, CROWD_DENSE}  # one for each interest


def order_topics(model: ForYou, candidates, topics) -> list[str]:
    return [p.paper_id for p in model.rank([], candidates, topics=topics).picks]


def test_warming_counts_every_word_ahead_of_the_first_reader(model, monkeypatch):
    import paperwire.rank.foryou as fy

    every = [p.id for p in model.store.papers.newest_texts(100)]
    model.warm([*every, "2999.00001"])  # (an unknown id is no matter)

    def counted_again(text):
        raise AssertionError(f"words counted while ranking: {text[:40]}")

    monkeypatch.setattr(fy, "terms", counted_again)
    ranked = model.rank([SPLAT_SENSORS], [SPLAT_STREET, CROPS, CROWD_DENSE])
    assert ranked.picks[0].paper_id == SPLAT_STREET


def test_papers_without_a_vector_are_embedded_on_the_spot(store, embedder, tmp_path):  # noqa: F811
    import_jsonl(store, TRUST, LISTING, listing_record)
    vectors = IndexVectors(store, tmp_path / "index", embedder=embedder)
    assert store.embeddings.count_to_embed(vectors.model) == 60
    ranked = ForYou(store, vectors).rank([SPLAT_SENSORS], [CROPS, SPLAT_STREET])
    assert ranked.picks[0].paper_id == SPLAT_STREET
    assert store.embeddings.count_to_embed(vectors.model) == 57  # and the vectors are kept


def test_the_scoring_function():
    rng = np.random.default_rng(0)
    liked = rng.normal(size=(3, 8))
    liked /= np.linalg.norm(liked, axis=1, keepdims=True)
    noise = rng.normal(size=(3, 8)) * 0.05
    close = liked + noise
    close /= np.linalg.norm(close, axis=1, keepdims=True)
    far = -liked
    cands = np.vstack([far, close])
    s, near, _ = scores(cands, liked)
    assert s[3:].min() > s[:3].max()
    assert near[3:].tolist() == [0, 1, 2]
    # A soft maximum: at least the largest similarity, at most it plus tau·log(k).
    sims = cands @ liked.T
    m = soft_max(sims, 0.05)
    assert np.all(m >= sims.max(axis=1) - 1e-9)
    assert np.all(m <= sims.max(axis=1) + 0.05 * np.log(3) + 1e-9)
    # Disliking the first liked paper's neighbourhood lowers its close candidate most.
    s2, _, _ = scores(cands, liked, disliked=liked[:1], tuning=Tuning())
    drop = s - s2
    assert drop[3] == drop[3:].max()


def test_the_background_lowers_what_is_like_everything():
    """Two candidates equally like the liked paper: the one like the papers listed before
    (the negatives) comes second; the model without them cannot tell the two apart."""
    liked = np.array([[1.0, 0.0, 0.0]])
    cands = np.array([[0.8, 0.6, 0.0], [0.8, 0.0, 0.6], [0.0, 0.0, 1.0]])
    plain, _, _ = scores(cands, liked, tuning=Tuning(background=0.0))
    assert plain[0] == pytest.approx(plain[1])
    background = cands @ np.array([0.0, 1.0, 0.0])  # the feed before was about axis 1
    s, _, _ = scores(cands, liked, background=background)
    assert s[1] > s[0] > s[2]


def test_word_likeness_is_a_sparse_dot_product():
    docs = [(np.array([1, 5, 9]), np.array([0.6, 0.8, 0.0])), (np.array([2]), np.array([1.0]))]
    mean = mean_terms([*docs, (np.array([5, 7]), np.array([0.6, 0.8]))])
    assert mean[0].tolist() == [1, 2, 5, 7, 9]
    assert np.allclose(mean[1], [0.2, 1 / 3, (0.8 + 0.6) / 3, 0.8 / 3, 0.0])
    got = word_likeness([*docs, (np.array([], np.int64), np.array([]))], mean)
    assert np.allclose(got, [0.6 * 0.2 + 0.8 * 1.4 / 3, 1 / 3, 0.0])


def test_the_background_comes_from_the_store_before_the_feed(model):
    """On each backend: the negatives are the papers added before the candidates (not
    after), and weighting them changes the order the similarities alone give."""
    seqs = {t.id: t.seq for t in model.store.papers.newest_texts(100)}
    by_seq = sorted(seqs, key=seqs.__getitem__)
    candidates, earlier = by_seq[40:], by_seq[:40]
    before = model.store.papers.texts_before(seqs[candidates[0]], 25)
    assert [t.id for t in before] == earlier[::-1][:25]
    liked = [earlier[0]]
    plain = ForYou(model.store, model.vectors, Tuning(background=0.0))
    heavy = ForYou(model.store, model.vectors, Tuning(background=50.0))
    alone = order(plain, liked, candidates)
    weighted = order(heavy, liked, candidates)
    assert sorted(weighted) == sorted(alone) and weighted != alone
    # Heavily weighted, the first paper is the one least like those listed before.
    mean = np.mean([model.vectors.vector(seqs[i]) for i in earlier], axis=0)
    emb = np.array([model.vectors.vector(seqs[i]) @ mean for i in candidates])
    assert candidates[int(np.argmin(emb))] in weighted[:3]
    assert (
        model.rank(liked, candidates).picks
        == ForYou(model.store, model.vectors).rank(liked, candidates).picks
    )


def test_word_similarity_is_tfidf_cosine():
    """Sublinear tf, idf from the document frequencies of a sample (terms in more than a
    tenth of it count for nothing), stop words out, word pairs in: checked against a plain
    computation."""
    texts = [
        "Gaussian splatting for sensor simulation",
        "Real-time Gaussian splatting SLAM",
        "Counting dense crowds, and crowds of cells",
        "",
        "A cell counting network for the microscope",
    ]
    docs = [terms(x) for x in texts]
    common = terms("network")[0][0]
    sample = [*docs, *[(np.array([common]), np.array([1.0]))] * 15]
    freq = DocumentFrequencies.of(sample)
    units = [unit_vector(d, freq) for d in docs]
    rows, against = units[:4], [units[4], units[0]]
    got = word_similarity(rows, against)
    assert got.shape == (4, 2)
    df = Counter(t for ids, _ in sample for t in ids.tolist())

    def unit(doc):
        v = {
            t: (1 + math.log(n)) * (math.log((1 + len(sample)) / (1 + df[t])) + 1) ** IDF_POWER
            for t, n in zip(doc[0].tolist(), doc[1].tolist(), strict=True)
            if df[t] <= 0.1 * len(sample)
        }
        norm = math.sqrt(sum(x * x for x in v.values())) or 1.0
        return {t: x / norm for t, x in v.items()}

    plain = [unit(d) for d in docs]
    want = [
        [sum(x * plain[j].get(t, 0.0) for t, x in plain[i].items()) for j in (4, 0)]
        for i in range(4)
    ]
    assert np.allclose(got, want)
    assert got[0, 1] == pytest.approx(1.0)  # the same text
    assert got[3].tolist() == [0.0, 0.0]  # no words
    assert got[2, 0] > 0 and got[1, 0] == 0  # "counting" / nothing shared
    assert float(freq.idf(np.array([common]))[0]) == 0.0  # in 16 of 20 papers
    _, counts = terms("The crowds and the crowds")
    assert sorted(counts.tolist()) == [1.0, 2.0]  # "crowds" twice, "crowds crowds" once


def _plain_grams(text: str) -> Counter:
    """Character 4-grams within words, each word padded with a space at both ends (as
    scikit-learn's ``char_wb`` analyser), case kept."""
    out: Counter = Counter()
    for word in re.findall(r"[^\W]+", text):
        padded = f" {word} "
        out.update(padded[i : i + 4] for i in range(len(padded) - 3))
    return out


@pytest.mark.parametrize(
    "text",
    [
        "Gaussian Splatting for SLAM: 3DGS-based mapping, in real time (≈30 fps)!",
        "Schrödinger bridges and the Fokker–Planck equation",
        "a of ab abc abcd_e x",
        "",
        "  ",
    ],
)
def test_grams_are_char_wb_4grams(text):
    """The hashed 4-grams of a text are those of a plain computation: as many distinct ones
    with the same counts; none cross a word's end; case is kept."""
    ids, counts = grams(text)
    want = _plain_grams(text)
    assert len(ids) == len(want) and sorted(counts.tolist()) == sorted(want.values())
    assert ids.dtype == np.int64 and (np.diff(ids) > 0).all()


def test_grams_keep_case_and_match_word_forms():
    """Case is kept: "Splat" and "splat" share only their grams without the capital; and
    "splatting" shares its first grams with "splats" (word forms match, whole words not)."""
    assert len(set(grams("Splat")[0].tolist()) & set(grams("splat")[0].tolist())) == 2
    shared = set(grams("splatting")[0].tolist()) & set(grams("splats")[0].tolist())
    assert len(shared) == 3  # " spl", "spla", "plat"
    assert not set(terms("splatting")[0].tolist()) & set(terms("splats")[0].tolist())


def test_the_grams_part_ranks_a_readers_spelling_first():
    """Candidates alike in embeddings and words: the one whose 4-grams are the liked
    paper's comes first, and without the part (weight 0) the given order stays."""
    cands = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]])
    liked = np.array([[1.0, 0.0]])
    words = (np.zeros((3, 1)), None)
    gram_sims = (np.array([[0.1], [0.6], [0.2]]), None)
    s, _, _ = scores(cands, liked, words=words, grams=gram_sims)
    assert np.argsort(-s, kind="stable").tolist() == [1, 2, 0]
    s, _, _ = scores(cands, liked, words=words, grams=gram_sims, tuning=Tuning(grams=0.0))
    assert np.argsort(-s, kind="stable").tolist() == [0, 1, 2]


def test_grams_change_the_ranking_of_real_papers(model):
    """On the fixture's papers, the 4-gram part moves candidates (it is not dead weight),
    and the model without it ranks as the words and embeddings alone."""
    liked, candidates = (
        [SPLAT_SENSORS, CROWD_NET],
        [SPLAT_SLAM, SPLAT_STREET, CROWD_DENSE, CELLS, *OTHERS],
    )
    plain = ForYou(model.store, model.vectors, Tuning(grams=0.0)).rank(liked, candidates)
    full = model.rank(liked, candidates)
    assert [p.score for p in plain.picks] != [p.score for p in full.picks]
    assert {p.paper_id for p in full.picks[:3]} <= {SPLAT_SLAM, SPLAT_STREET, CROWD_DENSE, CELLS}


def _cli(db, args, tmp_path, stdin=None):
    env = {"PAPERWIRE_MODEL_CACHE_DIR": str(MODEL_CACHE), "PAPERWIRE_INDEX_DIR": str(tmp_path)}
    return CliRunner().invoke(main, ["--db", db, *args], input=stdin, env=env)


def test_recommend_batch_end_to_end(store, tmp_path, embedder):  # noqa: F811
    """On each backend, papers not embedded yet (the command embeds them)."""
    import_jsonl(store, TRUST, LISTING, listing_record)
    db = store.db.url
    lines = [
        {
            "user": "splats",
            "liked": [SPLAT_SENSORS, SPLAT_SLAM],
            "candidates": [*OTHERS, SPLAT_STREET],
        },
        {
            "user": "crowds",
            "liked": [CROWD_NET],
            "disliked": [SPLAT_SLAM],
            "candidates": [SPLAT_STREET, CROWD_DENSE, CROPS],
        },
        {
            "user": "newcomer",
            "liked": [],
            "topics": ["counting crowds of people"],
            "candidates": [SPLAT_STREET, CROPS, CROWD_DENSE],
        },
    ]
    batch = tmp_path / "batch.jsonl"
    batch.write_text("".join(json.dumps(x) + "\n" for x in lines))
    r = _cli(db, ["recommend", "--batch", str(batch)], tmp_path)
    assert r.exit_code == 0, r.output
    assert r.stderr == ""
    out = [json.loads(x) for x in r.stdout.splitlines()]
    assert [o["user"] for o in out] == ["splats", "crowds", "newcomer"]
    assert out[0]["ranked"][0] == SPLAT_STREET
    assert sorted(out[0]["ranked"]) == sorted([*OTHERS, SPLAT_STREET])
    assert out[1]["ranked"][0] == CROWD_DENSE
    assert sorted(out[1]["ranked"]) == sorted([SPLAT_STREET, CROWD_DENSE, CROPS])
    # Exactly the ranking the model gives in process (the site's code path).
    same = ForYou(store, IndexVectors(store, None, embedder=embedder))
    for line, got in zip(lines, out, strict=True):
        want = same.rank(
            line["liked"], line["candidates"], line.get("disliked", ()), line.get("topics", ())
        )
        assert got["ranked"] == [p.paper_id for p in want.picks]
    assert out[2]["ranked"][0] == CROWD_DENSE

    # Unknown ids: named on stderr, left out, exit 1, every line still written, in order.
    lines.insert(1, {"user": "lost", "liked": ["2999.00001"], "candidates": [CROPS, "2999.00002"]})
    text = "".join(json.dumps(x) + "\n" for x in lines)
    r = _cli(db, ["recommend", "--batch", "-"], tmp_path, stdin=text)
    assert r.exit_code == 1
    out = [json.loads(x) for x in r.stdout.splitlines()]
    assert [o["user"] for o in out] == ["splats", "lost", "crowds", "newcomer"]
    assert out[1]["ranked"] == [CROPS]
    assert "2999.00001" in r.stderr and "2999.00002" in r.stderr
    assert "2999" not in r.stdout


@pytest.mark.parametrize(
    "bad",
    [
        "not json",
        "[1]",
        '{"user": 1, "liked": [], "candidates": []}',
        '{"user": "u", "liked": "2503.11731", "candidates": []}',
        '{"user": "u", "liked": [], "candidates": [1]}',
        '{"user": "u", "liked": [], "disliked": {}, "candidates": []}',
        '{"user": "u", "liked": [], "topics": "crowds", "candidates": []}',
        '{"user": "u", "liked": [], "topics": ["%s"], "candidates": []}' % ("x" * 201),
    ],
)
def test_recommend_batch_refuses_malformed_lines(sqlite_store, tmp_path, bad):
    db = sqlite_store.db.url
    r = _cli(db, ["recommend", "--batch", "-"], tmp_path, stdin=bad + "\n")
    assert r.exit_code == 2, r.output
    assert "line 1" in r.stderr
