"""Query syntax: what users type, turned into something every backend accepts.

Supported, web-search style: words (all of them make a full match; any of them ranks),
``"exact phrases"``, ``-excluded`` words or phrases, ``a OR b``, ``author:"Yann LeCun"``
(or ``author:LeCun``) and ``category:cs.CV`` (or ``cat:cs``, an archive), filters rather
than words (what a topic alert keeps of a filtered search). Anything else — stray quotes, brackets,
colons, operators at the wrong place, 10,000 characters — is read as plain words, so a query
can never be a syntax error. The same parse drives the keyword index of both backends,
the text given to the embedding model, the highlighting of results and topic alerts.
Search filters are plain values too; the store turns both into SQL.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import NamedTuple

from .text import clean

MAX_UNITS = 24  # words/phrases kept for the keyword index
# Terms (words or phrases, OR alternatives included) the keyword index is asked about at
# most: matching cost grows with terms x terms, and a pasted OR chain of 1,450 common words
# took 12 s on 74.7k papers. Repeats are dropped first; what is left out is counted.
MAX_TERMS = 32
MAX_SEMANTIC_CHARS = 2000
MAX_WORD = 64  # the model reads 256 tokens at most anyway

_WORD = re.compile(r"\w+", re.UNICODE)
# Typographic double quotes (what phones and word processors type) delimit a phrase too.
_QUOTES = str.maketrans(dict.fromkeys("“”„‟«»″", '"'))
_TOKEN = re.compile(
    r'(?i:author):(?:"(?P<aq>[^"]*)"|(?P<aw>[^\s"]+))'
    r"|(?i:category|cat):(?P<cat>[A-Za-z][A-Za-z-]*(?:\.[A-Za-z][A-Za-z-]*)?)(?=\s|$)"
    r'|(?P<neg>-?)"(?P<phrase>[^"]*)"|(?P<bare>\S+)'
)

# Very common English words: they make keyword queries slow and rank nothing.
STOPWORDS = frozenset(
    """a an and are as at be by can do does for from has have how i if in into is it its of on
    or our that the their then there these this to was we were what when where which who why
    will with without you your""".split()
)


@dataclass
class Unit:
    """One required element: a word, a phrase (several words in order) or alternatives."""

    alternatives: list[list[str]]  # each alternative is a word sequence

    def words(self) -> list[str]:
        return [w for alt in self.alternatives for w in alt]


@dataclass
class ParsedQuery:
    text: str  # the query as typed (trimmed)
    units: list[Unit] = field(default_factory=list)
    excluded: list[list[str]] = field(default_factory=list)
    semantic: str = ""  # what the embedding model reads
    author: str | None = None  # from author:"…", a filter (the first one typed)
    category: str | None = None  # from category:cs.CV (or cat:cs), a filter (the first)
    dropped: int = 0  # repeated terms, and terms past MAX_TERMS, left out of the keyword side

    @property
    def empty(self) -> bool:
        return not self.units and not self.semantic

    def terms(self) -> list[str]:
        """Every positive word, for highlighting and "why this paper"."""
        seen: dict[str, None] = {}
        for unit in self.units:
            for w in unit.words():
                seen.setdefault(w, None)
        return list(seen)


def _words(text: str) -> list[str]:
    return [w.lower()[:MAX_WORD] for w in _WORD.findall(text)]


@dataclass(frozen=True)
class _Category:
    name: str


def _items(text: str) -> Iterator[tuple[bool, bool, list[str]] | str | _Category | None]:
    """(negated, is_phrase, words) per token, an author's name, a category, or None for
    ``OR``."""
    for m in _TOKEN.finditer(text):
        neg, phrase, bare = m.group("neg"), m.group("phrase"), m.group("bare")
        author = m.group("aq") if m.group("aq") is not None else m.group("aw")
        if m.group("cat") is not None:
            yield _Category(m.group("cat"))
        elif author is not None:
            if author.strip():
                yield " ".join(author.split())
        elif phrase is not None:
            if words := _words(phrase):
                yield bool(neg), True, words
        elif bare == "OR":
            yield None
        else:
            negated = len(bare) > 1 and bare[0] == "-" and bare[1] != "-"
            for i, w in enumerate(_words(bare)):
                yield negated and i == 0, False, [w]


def _bounded(units: list[Unit]) -> tuple[list[Unit], int]:
    """The units without repeats (of a unit, or of an alternative within one), at most
    MAX_UNITS of them and MAX_TERMS terms in all; and how many terms were left out."""
    kept: list[Unit] = []
    seen_units: set[tuple[tuple[str, ...], ...]] = set()
    terms = dropped = 0
    for unit in units:
        alternatives = list({tuple(a): a for a in unit.alternatives}.values())
        dropped += len(unit.alternatives) - len(alternatives)
        key = tuple(sorted(tuple(a) for a in alternatives))
        room = MAX_TERMS - terms if len(kept) < MAX_UNITS else 0
        if key in seen_units or room <= 0:
            dropped += len(alternatives)
            continue
        seen_units.add(key)
        dropped += max(0, len(alternatives) - room)
        kept.append(Unit(alternatives[:room]))
        terms += min(len(alternatives), room)
    return kept, dropped


def parse(text: str) -> ParsedQuery:
    text = clean(text or "", lines=False)
    parsed = ParsedQuery(text=text)
    if not text:
        return parsed
    units: list[Unit] = []
    join = False  # the previous token was OR: this one is an alternative of the last unit
    semantic: list[str] = []
    for item in _items(text[:20000].translate(_QUOTES)):
        if item is None:
            join = bool(units)
            continue
        if isinstance(item, str):
            parsed.author = parsed.author or item
            continue
        if isinstance(item, _Category):
            parsed.category = parsed.category or item.name
            continue
        negated, is_phrase, words = item
        if negated:
            parsed.excluded.append(words)
        else:
            # The model reads the positive words, stopwords included (it was trained on
            # sentences); the keyword index gets no stopwords outside phrases.
            semantic.extend(words)
            if join:
                units[-1].alternatives.append(words)
            elif is_phrase or words[0] not in STOPWORDS:
                units.append(Unit([words]))
        join = False
    parsed.units, parsed.dropped = _bounded(units)
    excluded = list({tuple(w): w for w in parsed.excluded}.values())
    parsed.dropped += len(parsed.excluded) - min(len(excluded), MAX_UNITS)
    parsed.excluded = excluded[:MAX_UNITS]
    parsed.semantic = " ".join(semantic)[:MAX_SEMANTIC_CHARS]
    return parsed


class QueryWord(NamedTuple):
    """One word a query looks for, where it stands in the query's text."""

    start: int
    end: int
    token: str  # the whitespace-delimited token or the quoted phrase it belongs to
    quoted: bool  # inside "a phrase"


def query_words(text: str) -> Iterator[QueryWord]:
    """The words ``text`` looks for, by position, read as :func:`parse` reads them: not the
    words left out, an author's name or a category, nor ``OR``. ``text`` is a query as
    :func:`parse` keeps it (``ParsedQuery.text``), so that a word can be replaced in place."""
    for m in _TOKEN.finditer(text[:20000].translate(_QUOTES)):
        if m.group("phrase") is not None:
            if not m.group("neg"):
                start = m.start("phrase")
                for w in _WORD.finditer(m.group("phrase")):
                    yield QueryWord(start + w.start(), start + w.end(), m.group("phrase"), True)
        elif m.group("bare") is not None and m.group("bare") != "OR":
            bare = m.group("bare")
            negated = len(bare) > 1 and bare[0] == "-" and bare[1] != "-"
            for i, w in enumerate(_WORD.finditer(bare)):
                if not (negated and i == 0):
                    yield QueryWord(m.start() + w.start(), m.start() + w.end(), bare, False)


@dataclass(frozen=True)
class SearchFilters:
    """Restrictions every search path applies the same way."""

    date_from: date | None = None  # publication date, inclusive
    date_to: date | None = None  # inclusive
    category: str | None = None  # "cs.CV", or an archive such as "cs"
    has_code: bool = False
    on_feed: bool = False
    author: str | None = None  # one of the paper's authors, the whole name

    @property
    def active(self) -> bool:
        return bool(
            self.date_from
            or self.date_to
            or self.category
            or self.has_code
            or self.on_feed
            or self.author
        )
