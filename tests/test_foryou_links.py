"""For you's link part (rank/links.py): the accounts and sites a paper links, and new papers
that link what a reader's papers link ranked first, saying so; on both backends."""

from __future__ import annotations

import pytest

from paperwire.rank.foryou import ForYou, Tuning
from paperwire.rank.links import common_keys, link_keys, repository_key
from paperwire.search.semantic import IndexVectors
from paperwire.store import schema as t

from .test_foryou import (
    CROPS,
    CROWD_DENSE,
    DISTILL,
    SAR_SHIPS,
    SPLAT_SENSORS,
    SPLAT_STREET,
    model,  # noqa: F401 - the fixture: 60 real papers, embedded
)
from .test_search import embedder  # noqa: F401 - the shared test model (a fixture)


@pytest.mark.parametrize(
    ("text", "keys"),
    [
        ("Code: https://github.com/Zhu-XLab/Copernicus-FM.", {"github.com/zhu-xlab"}),
        ("see github.com/nvlabs and www.GitLab.com/group/x",
         {"github.com/nvlabs", "gitlab.com/group"}),
        ("Data: huggingface.co/datasets/OpenGVLab/x; model huggingface.co/meta-llama/y",
         {"huggingface.co/opengvlab", "huggingface.co/meta-llama"}),
        ("Project page: https://zju3dv.github.io/sam_3d/ and vision.cs.utexas.edu/projects/spoc",
         {"zju3dv.github.io", "vision.cs.utexas.edu"}),
        ("doi.org/10.5281/zenodo.1 https://openreview.net/forum?id=x arxiv.org/abs/2501.0001",
         set()),
        ("We use e.g. Fig. 2, i.e. 3.5 points, et al. No links.", set()),
        ("https://github.com/ and github.com/.", set()),
    ],
)  # fmt: skip
def test_link_keys(text, keys):
    assert link_keys(text) == keys


def test_repository_owner_and_common_keys():
    assert repository_key("NVlabs/instant-ngp") == {"github.com/nvlabs"}
    assert repository_key(None) == repository_key("") == frozenset()
    papers = [frozenset({"github.com/big"})] * 30 + [frozenset({"lab.example.org"})] * 3
    papers += [frozenset()] * 67  # 100 papers: "big" in 30 of them
    assert common_keys(papers, share=0.1, floor=20) == {"github.com/big"}
    assert common_keys(papers, share=0.5, floor=20) == frozenset()
    assert common_keys(papers, share=0.01, floor=2) == {"github.com/big", "lab.example.org"}


def _comment(store, paper_id: str, text: str) -> None:
    with store.begin() as conn:
        conn.execute(t.papers.update().where(t.papers.c.id == paper_id).values(comment=text))


def test_a_paper_that_links_what_a_liked_one_links_comes_first(model, store):  # noqa: F811
    liked, candidates = [SPLAT_SENSORS], [SPLAT_STREET, CROWD_DENSE, CROPS, SAR_SHIPS]
    assert model.rank(liked, candidates).picks[0].paper_id == SPLAT_STREET  # words, meaning
    _comment(store, SPLAT_SENSORS, "Code: https://github.com/Lab-X/sensors")
    _comment(store, CROPS, "12 pages. Code at github.com/lab-x/crops")
    _comment(store, SAR_SHIPS, "Data at https://doi.org/10.5281/zenodo.42")
    _comment(store, CROWD_DENSE, "Code: https://github.com/someone-else/crowds")
    fresh = ForYou(store, model.vectors)  # (the model keeps what it read of each paper)
    picks = fresh.rank(liked, candidates).picks
    assert [p.paper_id for p in picks[:2]] == [CROPS, SPLAT_STREET]
    first = picks[0]
    assert (first.because, first.because_link) == (SPLAT_SENSORS, "github.com/lab-x")
    assert first.reason.startswith("links github.com/lab-x, like “")
    assert all(p.because_link is None for p in picks[1:])  # a generic site, another account
    # Turned off, the ranking is the words' and meaning's again.
    off = ForYou(store, model.vectors, Tuning(links=0))
    assert off.rank(liked, candidates).picks[0].paper_id == SPLAT_STREET


def test_a_site_most_papers_link_says_nothing(model, store):  # noqa: F811
    """Links more than LINK_MAX_SHARE of the newest papers give (and more than
    LINK_FLOOR of them) are left out."""
    with store.begin() as conn:
        conn.execute(t.papers.update().values(comment="Benchmark at https://everyone.example.org"))
    fresh = ForYou(store, IndexVectors(store, None))
    texts = store.papers.texts_by_id([SPLAT_SENSORS, DISTILL])
    assert link_keys(texts[DISTILL].comment) == {"everyone.example.org"}
    assert "everyone.example.org" not in fresh.links_of(texts[DISTILL])
    picks = fresh.rank([SPLAT_SENSORS], [DISTILL, SPLAT_STREET]).picks
    assert [p.because_link for p in picks] == [None, None]


def test_rare_shared_words_name_what_two_papers_have_in_common():
    from paperwire.core.models import PaperText
    from paperwire.rank.foryou import DocumentFrequencies, RarePhrases, terms

    def rare_shared(a, b, df):
        return RarePhrases.of(a, df).shared(RarePhrases.of(b, df))

    common = "We propose a method and show results on a benchmark with a model."
    sample = [terms(common)] * 400 + [terms("speculative decoding with a draft model")] * 1
    df = DocumentFrequencies.of(sample)
    a = PaperText(1, "a", "Faster speculative decoding", f"A draft model. {common}")
    b = PaperText(2, "b", "Speculative decoding for vision", f"Our draft model. {common}")
    got = rare_shared(a, b, df)
    assert "speculative decoding" in got and "draft model" in got
    assert "decoding" not in got and "model" not in got  # inside a pair, or too common
    c = PaperText(3, "c", "Unrelated", f"Gardening. {common}")
    assert rare_shared(a, c, df) == ()  # only common words shared


def test_a_page_of_picks_without_a_reason_gets_one_from_rare_words(model, store):  # noqa: F811
    liked, candidates = [SPLAT_SENSORS], [SPLAT_STREET, CROWD_DENSE, CROPS, SAR_SHIPS]
    picks = model.rank(liked, candidates).picks
    weak = [p for p in picks if p.reason is None]
    assert weak and all(p.closest == SPLAT_SENSORS for p in weak)
    said = model.words_why(picks)
    assert [p.paper_id for p in said] == [p.paper_id for p in picks]  # same order
    for before, after in zip(picks, said, strict=True):
        if before.reason is not None:
            assert after == before
        elif after.because_words:
            assert after.because == SPLAT_SENSORS
            assert after.reason.startswith("shares “") and "one of yours" in after.reason


def test_words_why_reads_no_paper_it_is_given(model, store, monkeypatch):  # noqa: F811
    """A digest passes the papers it holds already: the reasons are the same, and the store
    is not asked again for every reader."""
    liked, candidates = [SPLAT_SENSORS], [SPLAT_STREET, CROWD_DENSE, CROPS, SAR_SHIPS]
    picks = model.rank(liked, candidates).picks
    expected = model.words_why(picks)
    texts = store.papers.texts_by_id([*liked, *candidates])

    def no_read(ids):
        raise AssertionError(f"read {ids} again")

    monkeypatch.setattr(store.papers, "texts_by_id", no_read)
    assert model.words_why(picks, texts) == expected
