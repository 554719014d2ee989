from datetime import UTC, datetime

import pytest

from paperwire.core.errors import BadRecord
from paperwire.core.ids import (
    InvalidArxivId,
    is_arxiv_id,
    never_issued,
    normalize_arxiv_id,
    parse_arxiv_id,
)
from paperwire.core.records import PaperRecord


@pytest.mark.parametrize(
    "text, expected",
    [
        ("1707.08567", ("1707.08567", None)),
        ("1707.08567v3", ("1707.08567", 3)),
        ("2503.11731", ("2503.11731", None)),
        ("0704.0001", ("0704.0001", None)),
        ("hep-th/9901001v2", ("hep-th/9901001", 2)),
        ("math.GT/0309136", ("math.GT/0309136", None)),
        ("astro-ph/0601001", ("astro-ph/0601001", None)),
        ("arXiv:2401.09417", ("2401.09417", None)),
        ("http://arxiv.org/abs/1707.08567v1", ("1707.08567", 1)),
        ("https://arxiv.org/pdf/2401.09417v2.pdf", ("2401.09417", 2)),
        ("https://huggingface.co/papers/2602.23152", ("2602.23152", None)),
        ("oai:arXiv.org:1412.8323", ("1412.8323", None)),
        ("  2401.09417 ", ("2401.09417", None)),
        ("arxiv.org/abs/2401.09417", ("2401.09417", None)),  # pasted without a scheme
        ("www.arxiv.org/pdf/2401.09417v3", ("2401.09417", 3)),
        ("huggingface.co/papers/2602.23152", ("2602.23152", None)),
    ],
)
def test_parse_arxiv_id(text, expected):
    assert parse_arxiv_id(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "abc",
        "1707.085",
        "1707.085678",
        "2401.09417v0",
        "<script>",
        "2401.09417; DROP",
        None,
        42,
    ],
)
def test_bad_ids_are_rejected(text):
    with pytest.raises(InvalidArxivId):
        parse_arxiv_id(text)
    assert not is_arxiv_id(text) if isinstance(text, str) else True


def test_ids_arxiv_never_issued():
    """Well-formed but impossible: no such month, or digits that do not fit the year."""
    assert never_issued("9999.99999") == "there is no month 99"
    assert never_issued("hep-th/0713001") == "there is no month 13"
    assert never_issued("2606.3173") == "ids since 2015 have five digits after the dot"
    assert never_issued("1412.12345") == "ids before 2015 have four digits after the dot"
    assert never_issued("0703.0001") == "ids of this form began in April 2007"
    for possible in ("0704.0001", "1412.8323", "1501.00001", "2606.31734", "hep-th/9901001",
                     "math.GT/0309136"):  # fmt: skip
        assert never_issued(possible) is None, possible


def test_normalize_keeps_no_version():
    assert normalize_arxiv_id("2401.09417v5") == "2401.09417"


def test_record_validation_normalises():
    rec = PaperRecord(
        id="https://arxiv.org/abs/2401.09417v2",
        title="  Vision Mamba:\n  Efficient  Visual ",
        abstract="We  scan\n  images in both directions with state space models.",
        authors=[" Lianghui Zhu ", "", ":", "Bencheng Liao"],
        categories=["cs.CV"],
        primary_category="cs.LG",
        published=datetime(2024, 1, 17, 18, 0, tzinfo=UTC),
    ).validated()
    assert rec.id == "2401.09417" and rec.version == 2
    assert rec.title == "Vision Mamba: Efficient Visual"
    assert rec.abstract == "We scan images in both directions with state space models."
    assert rec.authors == ["Lianghui Zhu", "Bencheng Liao"] and rec.num_authors == 2
    assert rec.categories == ["cs.LG", "cs.CV"]
    assert rec.published.tzinfo is None and rec.published.hour == 18


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"id": "nope", "title": "t"}, "not an arXiv id"),
        ({"id": "2401.00001", "title": "  "}, "no title"),
        ({"id": "2401.00001", "title": "t" * 1001}, "title is"),
        ({"id": "2401.00001", "title": "t", "abstract": "a" * 20001}, "abstract is"),
        ({"id": "2401.00001", "title": "t", "authors": "A, B"}, "list of names"),
        ({"id": "2401.00001", "title": 5}, "expected text"),
    ],
)
def test_bad_records(kwargs, message):
    with pytest.raises(BadRecord, match=message):
        PaperRecord(**kwargs).validated("line 7")


def test_bad_record_says_where():
    with pytest.raises(BadRecord) as err:
        PaperRecord(id="x", title="t").validated("line 7")
    assert str(err.value).startswith("line 7: ")
