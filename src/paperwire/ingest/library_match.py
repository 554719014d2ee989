"""Library entries matched to the catalogue's papers: by arXiv id, then DOI, then exact title
(normalized; candidates from the keyword index's titles; when the entry has a year, the
paper's year — published, else the one its arXiv id encodes — within one of it)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from ..core.ids import id_month
from ..store import Store
from .library import LibraryEntry

HOW = ("arxiv", "doi", "title")
QUERY_WORDS = 9  # the longest words of a title the keyword index is asked for
GROUP_WORDS = 3  # then asked three at a time when all of them find no paper of that title
GROUPS = 3
CANDIDATES = 50  # papers holding them (the newest) that are compared with the title
YEAR_SLACK = 1  # a preprint's year and its venue's may differ by one
_STOP = frozenset(
    "a an and are as at be by for from how in into is it of on or over the their this to "
    "under via what when where which with without".split()
)
_COMMAND = re.compile(r"\\([A-Za-z]+)")
_NOT_WORD = re.compile(r"[^\w]+|_")
_ASCII_WORD = re.compile(r"^[a-z0-9]+$")
_SEPARATORS = re.compile(r"(?:[^\w\\]|_)+")


class Matched(NamedTuple):
    entry: LibraryEntry
    paper_id: str
    how: str  # one of HOW


@dataclass
class LibraryMatch:
    matched: list[Matched] = field(default_factory=list)
    unknown: list[LibraryEntry] = field(default_factory=list)


def normalize_title(title: str) -> str:
    """A title as compared: no case, accents, punctuation, TeX braces, ``$`` or
    backslashes, and single spaces ("{BERT}: Pre-training ..." == "BERT: pre-training ...")."""
    text = _COMMAND.sub(r"\1", title.replace("{", "").replace("}", "")).replace("$", " ")
    text = unicodedata.normalize("NFKD", text.casefold())
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return " ".join(_NOT_WORD.sub(" ", text).split())


def _query_words(title: str) -> list[str]:
    """The words the keyword index is asked for: ASCII ones (the index of either database
    holds them as written), not stop words, longest first."""
    words = [w for w in dict.fromkeys(title.casefold().split()) if w not in _STOP]
    cleaned = [w for w in (_NOT_WORD.sub("", _COMMAND.sub(r"\1", w)) for w in words)]
    ascii_words = [w for w in dict.fromkeys(cleaned) if _ASCII_WORD.match(w) and len(w) > 1]
    return sorted(ascii_words, key=len, reverse=True)[:QUERY_WORDS]


def _title_words(title: str) -> list[str]:
    # Split at punctuation, "$" and "_" as the keyword index tokenizes ("DS_FusionNet" is
    # two words there); a TeX command stays one word ("$\\alpha$" is "alpha").
    return _query_words(" ".join(_SEPARATORS.split(title)))


def _word_groups(title: str) -> list[list[str]]:
    """The words of a title asked of the index in turn: its longest words together (few
    titles hold them all), then disjoint threes of them, for a word the index reads
    otherwise than the title's text shows (PostgreSQL reads "of~Interval" as "~interval",
    "HyFrac.fun" as a host name) spoils one three only."""
    words = _title_words(title)
    if len(words) <= GROUP_WORDS:
        return [words] if words else []
    parts = [words[k : k + GROUP_WORDS] for k in range(0, len(words), GROUP_WORDS)]
    return [words, *parts[: GROUPS - 1]]


def _same_title(
    entry: LibraryEntry,
    seqs: Sequence[int],
    papers: dict[int, tuple[str, str, datetime | None]],
) -> str | None:
    """The first of ``seqs`` whose title is the entry's, in a year that fits."""
    want = normalize_title(entry.title)
    for seq in seqs:
        if seq not in papers:
            continue
        paper_id, title, published = papers[seq]
        if normalize_title(title) != want:
            continue
        # Without a publication date, the year the arXiv id encodes.
        year = published.year if published else id_month(paper_id)[0]
        if entry.year and abs(year - entry.year) > YEAR_SLACK:
            continue
        return paper_id
    return None


def match(store: Store, entries: Sequence[LibraryEntry]) -> LibraryMatch:
    """Each entry's paper in the catalogue, or the entry listed as unknown. Ids and DOIs
        are looked up in a few bulk queries; a title asks the keyword index once (again, for other
    first words find no paper of that title)."""
    found: dict[int, Matched] = {}
    known = store.papers.known_ids([e.arxiv_id for e in entries if e.arxiv_id])
    for i, e in enumerate(entries):
        if e.arxiv_id and e.arxiv_id in known:
            found[i] = Matched(e, e.arxiv_id, "arxiv")
    rest = [i for i in range(len(entries)) if i not in found]
    dois = store.papers.by_dois([entries[i].doi or "" for i in rest if entries[i].doi])
    for i in rest:
        doi = (entries[i].doi or "").lower()
        if doi in dois:
            found[i] = Matched(entries[i], dois[doi], "doi")
    rest = [i for i in rest if i not in found]
    groups = {i: _word_groups(entries[i].title) for i in rest}
    for attempt in range(GROUPS):
        asked = [i for i in rest if i not in found and attempt < len(groups[i])]
        candidates = {i: store.search.title_hits(groups[i][attempt], CANDIDATES) for i in asked}
        papers = store.papers.titles([s for seqs in candidates.values() for s in seqs])
        for i, seqs in candidates.items():
            paper_id = _same_title(entries[i], seqs, papers)
            if paper_id:
                found[i] = Matched(entries[i], paper_id, "title")
    out = LibraryMatch()
    for i, e in enumerate(entries):
        if i in found:
            out.matched.append(found[i])
        else:
            out.unknown.append(e)
    return out
