"""Authors: the store finds a name among a paper's authors on both backends (unicode, quotes,
slashes, case), search filters by author (syntax, API, page, command line), author pages,
their Atom feeds and links to them."""

from __future__ import annotations

from datetime import datetime

import pytest

from paperwire.core.query import SearchFilters, parse
from paperwire.core.records import PaperRecord

from .storekit import TRUST, search_engine

ATOM = "{http://www.w3.org/2005/Atom}"
ODD = [
    "José Müller-Lüdenscheidt",
    "李飞飞",
    "Conan O'Brien",
    'Ada "The Countess" Lovelace',
    "AC/DC Collaboration",
    "Émile Borel",
]


def rec(pid: str, authors: list[str], day: int, title: str | None = None) -> PaperRecord:
    return PaperRecord(
        id=pid,
        title=title or f"Paper {pid} on sparse attention",
        abstract="We study sparse attention for long documents.",
        authors=authors,
        published=datetime(2026, 3, day),
        categories=["cs.LG"],
        primary_category="cs.LG",
        source="arxiv-api",
    )


PAPERS = [
    rec("2603.00001", ["Yann LeCun", "Wei Zhang"], 1),
    rec("2603.00002", ["Zhang Wei", "Yann LeCun"], 5),
    rec("2603.00003", ["Wei Zhang Li", "Alice Yann", "LeCun Bob"], 7),
    rec("2603.00004", ["José Müller-Lüdenscheidt", "李飞飞"], 3),
    rec("2603.00005", ["Conan O'Brien", 'Ada "The Countess" Lovelace', "AC/DC Collaboration"], 4),
    rec("2603.00006", ["Émile Borel", "yann lecun"], 9),
]


@pytest.fixture
def authored(store):
    store.papers.upsert(PAPERS, TRUST)
    return store


def _ids(cards) -> list[str]:
    return [c.id for c in cards]


def test_author_papers_exact_name_newest_first(authored):
    cards, total = authored.authors.papers("Yann LeCun")
    # whole names only ("Alice Yann", "LeCun Bob" is no match); ASCII case does not matter
    assert _ids(cards) == ["2603.00006", "2603.00002", "2603.00001"] and total == 3
    assert _ids(authored.authors.papers("Wei Zhang")[0]) == ["2603.00001"]
    assert _ids(authored.authors.papers("Yann LeCun", limit=1, offset=1)[0]) == ["2603.00002"]
    assert authored.authors.papers("Yann")[1] == 0
    assert authored.authors.papers("Nobody Atall") == ([], 0)


@pytest.mark.parametrize("name", ODD)
def test_author_papers_with_unusual_names(authored, name):
    cards, total = authored.authors.papers(name)
    assert total == 1 and name in cards[0].authors


@pytest.mark.parametrize("name", ["", "   ", "—", "%", "_", "\\", "' OR 1=1 --", '"', "x" * 5000])
def test_author_lookup_never_fails(authored, name):
    cards, total = authored.authors.papers(name)
    assert total == len(cards) == 0


def test_claimed_profiles_are_approved_claims(authored):
    uid = authored.accounts.create_user("ylecun", "y@example.org", None)
    other = authored.accounts.create_user("pretender", "p@example.org", None)
    authored.accounts.claim_authorship(uid, "2603.00001", "Yann LeCun")
    authored.accounts.claim_authorship(other, "2603.00002", "Yann LeCun")
    assert authored.authors.claimed_by("Yann LeCun") == []  # pending claims prove nothing
    claim = next(c for c in authored.accounts.claims() if c.user_id == uid)
    authored.accounts.decide_claim(claim.id, True, uid)
    assert [u.username for u in authored.authors.claimed_by("yann lecun")] == ["ylecun"]


def test_query_syntax_author_filter():
    p = parse('author:"Yann  LeCun" sparse attention')
    assert p.author == "Yann LeCun" and p.terms() == ["sparse", "attention"]
    assert parse("author:LeCun").author == "LeCun" and parse("author:LeCun").empty
    assert parse('AUTHOR:"李飞飞"').author == "李飞飞"
    # not a filter: no name, or a space after the colon
    assert parse('author:""').author is None and parse("author: LeCun").author is None
    assert parse('author:"unclosed').author is None


def test_search_filters_by_author_on_each_backend(authored, tmp_path):
    engine = search_engine(authored, semantic=False)
    for text, filters in [
        ('author:"Yann LeCun" sparse', None),
        ("sparse", SearchFilters(author="Yann LeCun")),
        ('author:"Yann LeCun"', None),
    ]:
        result = engine.search(text, filters)
        assert {h.paper_id for h in result.hits} == {"2603.00001", "2603.00002", "2603.00006"}
    result = engine.search('author:"Conan O\'Brien"', SearchFilters(category="cs"))
    assert [h.paper_id for h in result.hits] == ["2603.00005"]
    assert engine.search('author:"Nobody" sparse').total == 0
