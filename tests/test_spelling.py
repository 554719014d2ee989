"""Did you mean …? The speller: its distance, its choice among close words, what it never
touches, several words at once, the whole store's word, and its vocabulary kept fresh."""

from __future__ import annotations

import pytest

from paperwire.core.query import parse, query_words
from paperwire.core.records import PaperRecord
from paperwire.search import spelling
from paperwire.search.spelling import Speller, Vocabulary, distance, suggest

from .storekit import TRUST


def texts(**counts: int) -> list[str]:
    """A sample where each keyword's words (underscores for spaces) are held by that many
    papers, one text per paper."""
    return [words.replace("_", " ") for words, n in counts.items() for _ in range(n)]


@pytest.fixture(scope="module")
def vocabulary() -> Vocabulary:
    return Vocabulary(
        texts(
            transformer_vision=40,
            diffusion_models_generate=30,
            reinforcement_learning=20,
            gaussian_splatting=10,
            gaussians=50,  # more papers than "gaussian", two edits from "gaussain"
            model=30,
            model_mode=5,  # "model" in 35 papers, "mode" in 5
            three_branches=30,
            language_vision=12,
            transformed=2,  # fewer than a replacement needs
        )
    )


def fixed(vocabulary: Vocabulary, text: str, **kw) -> str | None:
    found = suggest(vocabulary, parse(text).text, **kw)
    return found.text if found else None


def test_distance_counts_a_swap_of_neighbours_as_one_edit():
    assert distance("tranformer", "transformer") == 1  # a letter left out
    assert distance("trasnformer", "transformer") == 1  # two letters swapped
    assert distance("modle", "model") == 1
    assert distance("vison", "vision") == 1
    assert distance("difuson", "diffusion") == 2
    assert distance("model", "model") == 0
    assert distance("graph", "model") == 3  # more than the limit: limit + 1
    assert distance("a", "abcdef") == 3  # lengths too far apart, without measuring


def test_a_misspelled_word_gets_the_closest_then_most_frequent_word(vocabulary):
    assert fixed(vocabulary, "tranformer") == "transformer"
    assert fixed(vocabulary, "trasnformer") == "transformer"
    assert fixed(vocabulary, "reinforcment") == "reinforcement"
    # "model" and "mode" are both one edit from "modle": the more frequent wins
    assert fixed(vocabulary, "modle") == "model"
    # one edit to "gaussian" beats two to "gaussians", held by five times as many papers
    assert fixed(vocabulary, "gaussain") == "gaussian"
    # five letters: one edit at most ("difuson" is two from "diffusion")
    assert fixed(vocabulary, "vsion") == "vision"
    assert fixed(vocabulary, "difuson") == "diffusion"  # seven letters: two edits
    assert fixed(vocabulary, "mdl") is None
    assert fixed(vocabulary, "kolmogorov") is None  # no word close enough
    # "transformed" is one edit away, but held by too few papers to be offered
    assert fixed(vocabulary, "transformd") == "transformer"


def test_correct_and_common_words_get_no_suggestion(vocabulary):
    for query in ["transformer", "diffusion models", "Gaussian splatting", "three branches"]:
        assert fixed(vocabulary, query) is None
    assert suggest(vocabulary, "") is None


def test_a_rare_word_is_replaced_only_by_one_far_more_frequent(monkeypatch):
    # "tranformer" held by one paper: "transformer" needs 1,000 times as many (RATIO)
    many = Vocabulary(texts(transformer=1000, tranformer=1))
    assert many.df("tranformer") == 1 and many.df("transformer") == 1000
    assert fixed(many, "tranformer") == "transformer"
    fewer = Vocabulary(texts(transformer=999, tranformer=1))
    assert fixed(fewer, "tranformer") is None
    # A word COMMON_DF papers hold is meant as typed, however frequent a close one is.
    monkeypatch.setattr(spelling, "RATIO", 2)
    common = Vocabulary(texts(transformer=1000, transformers=spelling.COMMON_DF))
    assert fixed(common, "transformers") is None
    nearly = Vocabulary(texts(transformer=1000, transformers=spelling.COMMON_DF - 1))
    assert fixed(nearly, "transformers") == "transformer"


def test_what_is_never_corrected(vocabulary):
    never = [
        "-tranformer vision",  # a word left out
        'vision -"tranformer models"',
        'author:"Tranformer Smith" vision',  # filters
        "author:tranformer vision",
        "category:cs.tranformer vision",
        "tranformer2",  # digits, identifiers, links, addresses
        "2601.21579",
        "arXiv:2601.21579v2",
        "https://arxiv.org/abs/tranformer",
        "tranformer@example.org",
        "teh mdl",  # three letters or fewer
        "there",  # a stopword ("three" is one swap away)
    ]
    for query in never:
        assert fixed(vocabulary, query) is None, query
    # The rest of such a query is still corrected.
    assert fixed(vocabulary, "-tranformer vison") == "-tranformer vision"
    assert fixed(vocabulary, "author:tranformer vison") == "author:tranformer vision"


def test_quoted_phrases(vocabulary, monkeypatch):
    assert fixed(vocabulary, '"tranformer vision"') == '"transformer vision"'
    # papers hold every word and phrase: the phrase stays as typed
    assert fixed(vocabulary, '"tranformer vision"', keep_phrases=True) is None
    assert fixed(vocabulary, '"tranformer vision" difusion', keep_phrases=True) == (
        '"tranformer vision" diffusion'
    )
    # a phrase's word some paper holds stays, even where a bare word would not
    monkeypatch.setattr(spelling, "RATIO", 1)
    assert fixed(vocabulary, "transformed") == "transformer"
    assert fixed(vocabulary, '"transformed"') is None


def test_several_words_are_corrected_together_in_the_case_typed(vocabulary):
    found = suggest(vocabulary, parse("Difusion modle for REINFORCMENT lerning").text)
    assert found is not None
    assert found.text == "Diffusion model for REINFORCEMENT learning"
    assert found.corrected == ["Diffusion", "model", "REINFORCEMENT", "learning"]
    assert found.parts[:3] == (("Diffusion", True), (" ", False), ("model", True))
    # Everything else stays as typed: hyphens, operators, sort of quotes, spacing.
    assert fixed(vocabulary, "vison-langage  “difusion” category:cs.CV") == (
        "vision-language  “diffusion” category:cs.CV"
    )


def test_the_whole_store_is_asked_about_the_typed_word():
    asked: list[tuple[str, int]] = []

    def holding(n: int):
        def count(word: str, cap: int) -> int:
            asked.append((word, cap))
            return min(n, cap)

        return count

    # A sample of 100 papers of the store's 10,000: "transformer" in about 5,000 of them.
    sample = Vocabulary(texts(transformer=50, other_words=50), papers=10_000)
    assert suggest(sample, "tranformer", holding=holding(0)).text == "transformer"
    assert asked == [("tranformer", 6)]  # counted up to 5,000 / RATIO + 1 only
    assert suggest(sample, "tranformer", holding=holding(5)).text == "transformer"  # 1/1,000
    assert suggest(sample, "tranformer", holding=holding(6)) is None  # more
    # Not asked when the sample is the whole store, nor for a word with no replacement.
    asked.clear()
    whole = Vocabulary(texts(transformer=50, other_words=50))
    assert suggest(whole, "tranformer", holding=holding(9)).text == "transformer"
    assert suggest(sample, "kolmogorov", holding=holding(0)) is None
    assert asked == []


def test_query_words_are_the_words_searched_for_where_they_stand():
    text = parse('vison -difusion "a tranformer" -"x y" author:"Ann Lee" cat:cs a OR b').text
    words = [(text[w.start : w.end], w.quoted) for w in query_words(text)]
    assert words == [
        ("vison", False),
        ("a", True),
        ("tranformer", True),
        ("a", False),
        ("b", False),
    ]
    hyphen = parse("-non-local vison").text
    assert [hyphen[w.start : w.end] for w in query_words(hyphen)] == ["local", "vison"]


def _papers(store, start: int, count: int, text: str) -> None:
    store.papers.upsert(
        [
            PaperRecord(
                id=f"2601.{start + i:05d}",
                title=text,
                abstract=f"{text} ({i}).",
                source="arxiv-api",
            )
            for i in range(count)
        ],
        TRUST,
    )


def test_speller_builds_off_the_request_path_and_asks_the_store(store):
    """On SQLite and PostgreSQL (the store counts the typed word with its own index)."""
    _papers(store, 0, 4, "A braid group")  # older papers: the sample does not hold them
    _papers(store, 100, 10, "The brain and transformer models")
    speller = Speller(store, sample=10)
    # The first use starts building in the background and finds nothing yet.
    assert not speller.ready and speller.suggest("tranformer") is None
    assert speller.refresh() is speller.vocabulary and speller.ready  # (waits for it)
    assert speller.suggest("tranformer").text == "transformer"
    assert speller.suggest("brian").text == "brain"  # no paper holds "brian"
    # "braid" is not in the sample, but the store holds it: not "brain"
    assert speller.vocabulary.df("braid") == 0 and speller.suggest("braid") is None


def test_speller_rebuilds_once_enough_papers_came(sqlite_store):
    store, now = sqlite_store, [0.0]
    _papers(store, 0, 40, "Transformer models")
    speller = Speller(store, clock=lambda: now[0])
    first = speller.refresh()
    assert first.docs == 40 and speller.refresh() is first  # nothing new
    _papers(store, 100, 1, "Mamba models")  # fewer than 1/20 of 40: kept
    assert speller.refresh() is first
    now[0] += spelling.MAX_AGE  # ... until it is an hour old
    second = speller.refresh()
    assert second is not first and second.docs == 41 and second.df("mamba") == 1
    _papers(store, 200, 2, "Mamba models")  # 1/20 of 41 or more: rebuilt
    third = speller.refresh()
    assert third is not second and third.df("mamba") == 3


def test_speller_looks_again_after_a_data_change_or_an_hour(sqlite_store, monkeypatch):
    now, started = [0.0], []
    speller = Speller(sqlite_store, clock=lambda: now[0])
    speller.refresh()
    monkeypatch.setattr(speller, "_refresh_in_background", lambda: started.append(now[0]))
    speller.suggest("tranformer")
    speller.data_changed()
    now[0] += spelling.CHECK_EVERY - 1
    speller.suggest("tranformer")
    assert started == []  # looked too recently
    now[0] += 1
    speller.suggest("tranformer")
    assert started == [spelling.CHECK_EVERY]
    started.clear()
    speller.refresh()  # (looked: nothing changed since)
    now[0] += spelling.MAX_AGE - 1
    speller.suggest("tranformer")
    assert started == []
    now[0] += 1
    speller.suggest("tranformer")
    assert started == [now[0]]  # an hour on, with no data change seen
