"""arXiv categories in search filters: the canonical spelling whatever the letter case, an
archive that is itself a category (hep-th), and a clear notice for a category arXiv lacks."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import parse_qs, urlsplit

import lxml.html
import pytest

from paperwire.core import categories
from paperwire.core.records import PaperRecord

from .storekit import TRUST
from .webkit import Visitor


def test_codes_are_spelled_as_arxiv_spells_them():
    assert categories.canonical(" cs.cv ") == "cs.CV"
    assert categories.canonical("COND-MAT.MES-HALL") == "cond-mat.mes-hall"
    assert categories.canonical("Hep-Th") == "hep-th"
    assert categories.canonical("cmp-lg") == "cmp-lg"  # not arXiv's (any more): as given
    assert categories.known("stat.ml") and categories.known("math") and categories.known("eess")
    assert not categories.known("cs.XX") and not categories.known("physics.quantum")
    assert categories.is_archive("hep-th") and not categories.is_archive("cs.CV")
    assert categories.closest("cs.CVV") == "cs.CV"
    assert categories.closest("quant-phh") == "quant-ph"
    assert categories.closest("zoology") is None
    # Two letters the wrong way round is the commonest slip: cs.VC is cs.CV, not cs.SC.
    assert categories.closest("cs.VC") == "cs.CV"
    assert categories.closest("stat.LM") == "stat.ML"
    assert categories.closest("hep-ht") == "hep-th"
    assert categories.closest("asrto-ph") == "astro-ph"
    assert categories.closest("cs.XX") is None and categories.closest("x" * 500) is None
    every = [f"{a}.{c}" for a, subs in categories.TAXONOMY.items() for c in subs]
    assert len(every) == len(set(every)) == 146  # and 9 archives that are categories


def _paper(pid: str, title: str, cats: list[str]) -> PaperRecord:
    return PaperRecord(
        id=pid,
        title=title,
        abstract="Counting bosons on a lattice, and what the count tells.",
        authors=["Ada Lovelace"],
        categories=cats,
        primary_category=cats[0],
        source="arxiv-api",
        published=datetime(2025, 3, 19),
    )


CLASS = "*[contains(concat(' ', @class, ' '), ' %s ')]"
ALERT = "//*[contains(concat(' ', @class, ' '), ' notice ')][@role='alert']"


def _found(v: Visitor, **params: str) -> list[str]:
    page = lxml.html.fromstring(v.get("/papers", params=params).text)
    return [
        a.text_content().strip() for a in page.xpath(f"//{CLASS % 'card'}//{CLASS % 'title'}//a")
    ]


@pytest.fixture
def lattice(web_both):
    app, store, _, _ = web_both
    store.papers.upsert(
        [
            _paper("9902.00001", "Bosons on a string lattice", ["hep-th"]),
            _paper("9902.00002", "Bosons in a vision lattice", ["cs.CV", "hep-th"]),
            _paper("9902.00003", "Bosons on a quantum dot lattice", ["cond-mat.mes-hall"]),
        ],
        TRUST,
    )
    return Visitor(app)


def test_category_filters_read_the_same_on_both_databases(lattice):
    """Letter case does not matter (PostgreSQL's LIKE and Tantivy's terms are exact), and
    an archive without categories of its own matches its papers."""
    assert _found(lattice, q="bosons", category="hep-th", sort="date") == [
        "Bosons on a string lattice",
        "Bosons in a vision lattice",
    ]
    for typed in ("cs.CV", "cs.cv", "CS.CV"):
        assert _found(lattice, q="bosons lattice", category=typed) == ["Bosons in a vision lattice"]
    assert _found(lattice, q="bosons", category="cond-mat") == ["Bosons on a quantum dot lattice"]
    assert _found(lattice, q="bosons category:Cond-Mat.Mes-Hall") == [
        "Bosons on a quantum dot lattice"
    ]


def test_a_category_arxiv_lacks_says_so_and_offers_the_closest(lattice):
    r = lattice.get("/papers", params={"q": "bosons", "category": "hep-thh"})
    assert r.status_code == 200
    page = lxml.html.fromstring(r.text)
    [notice] = page.xpath(ALERT)
    assert notice.text_content().startswith("arXiv has no category “hep-thh”: did you mean hep-th?")
    fixed = parse_qs(urlsplit(notice.xpath(".//a")[0].get("href")).query)
    assert fixed["category"] == ["hep-th"] and fixed["q"] == ["bosons"]
    assert "Subscribe to an alert" not in r.text  # never a paper to send
    # Typed in the words, the offer mends the words too.
    r = lattice.get("/papers", params={"q": "bosons cat:cs.CVV"})
    link = lxml.html.fromstring(r.text).xpath(ALERT + "//a")[0].get("href")
    assert parse_qs(urlsplit(link).query)["q"] == ["bosons category:cs.CV"]
    assert _found(lattice, **{k: v[0] for k, v in parse_qs(urlsplit(link).query).items()}) == [
        "Bosons in a vision lattice"
    ]
    # Nothing near: the notice explains the form alone; known categories get no notice.
    r = lattice.get("/papers", params={"q": "bosons", "category": "zoology"})
    assert "arXiv has no category “zoology”. A category looks like cs.CV" in r.text
    for fine in ("hep-th", "cs.cv", "math"):
        r = lattice.get("/papers", params={"q": "bosons", "category": fine})
        assert "arXiv has no category" not in r.text, fine


def test_an_old_category_the_papers_carry_is_no_stray(lattice, web_both):
    store = web_both[1]
    store.papers.upsert([_paper("9902.00004", "Bosons parsed as language", ["cmp-lg"])], TRUST)
    r = lattice.get("/papers", params={"q": "bosons", "category": "cmp-lg"})
    assert "arXiv has no category" not in r.text
    assert _found(lattice, q="bosons", category="cmp-lg") == ["Bosons parsed as language"]
