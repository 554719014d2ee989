"""arXiv identifiers: parsing, normalising and splitting off the version."""

from __future__ import annotations

import re

from .errors import InvalidArxivId

# New style (since 2007-04): YYMM.NNNN or YYMM.NNNNN, optional vN.
_NEW = r"(?P<new>\d{4}\.\d{4,5})"
# Old style: archive(.SUBJ)/YYMMNNN, e.g. hep-th/9901001, math.GT/0309136.
_OLD = r"(?P<old>[a-z]+(?:-[a-z]+)?(?:\.[A-Z]{2})?/\d{7})"
_ID_RE = re.compile(rf"^(?:{_NEW}|{_OLD})(?:v(?P<version>\d+))?$")
_PREFIX_RE = re.compile(
    r"^(?:arxiv:|(?:https?://)?(?:export\.|www\.)?arxiv\.org/(?:abs|pdf|html)/|"
    r"(?:https?://)?(?:www\.)?huggingface\.co/papers/|oai:arxiv\.org:)",
    re.IGNORECASE,
)


def parse_arxiv_id(text: str) -> tuple[str, int | None]:
    """Return (id without version, version or None) for an id, URL or OAI identifier.

    >>> parse_arxiv_id("https://arxiv.org/abs/1707.08567v2")
    ('1707.08567', 2)
    """
    if not isinstance(text, str):
        raise InvalidArxivId(f"not an arXiv id: {text!r}")
    raw = text.strip()
    s = _PREFIX_RE.sub("", raw)
    s = s.removesuffix(".pdf").rstrip("/")
    m = _ID_RE.match(s)
    if not m:
        shown = raw if len(raw) <= 60 else raw[:57] + "..."
        raise InvalidArxivId(f"not an arXiv id: {shown!r}")
    base = m.group("new") or m.group("old")
    version = int(m.group("version")) if m.group("version") else None
    if version == 0:
        raise InvalidArxivId(f"arXiv versions start at v1: {raw!r}")
    return base, version


def normalize_arxiv_id(text: str) -> str:
    """The id without version, as used for keys."""
    return parse_arxiv_id(text)[0]


def is_arxiv_id(text: str) -> bool:
    try:
        parse_arxiv_id(text)
    except InvalidArxivId:
        return False
    return True


def id_month(paper_id: str) -> tuple[int, int]:
    """(year, month) of first submission encoded in an id, e.g. 2401.09417 -> (2024, 1)."""
    base = normalize_arxiv_id(paper_id)
    yymm = base.split("/")[-1][:4]
    yy, mm = int(yymm[:2]), int(yymm[2:])
    return (2000 + yy if yy < 91 else 1900 + yy), mm


def never_issued(paper_id: str) -> str | None:
    """Why arXiv can never have issued ``paper_id`` (well-formed, but no such month, or
    the wrong number of digits for its year: four from 0704 to 1412, five since 1501), or
    None when it may exist."""
    base = normalize_arxiv_id(paper_id)
    year, month = id_month(base)
    if not 1 <= month <= 12:
        return f"there is no month {month:02d}"
    if "/" in base:
        return None if year <= 2007 else "old-style ids ended in March 2007"
    digits = len(base.split(".")[1])
    if year < 2007 or (year == 2007 and month < 4):
        return "ids of this form began in April 2007"
    if year <= 2014 and digits != 4:
        return "ids before 2015 have four digits after the dot"
    if year >= 2015 and digits != 5:
        return "ids since 2015 have five digits after the dot"
    return None
