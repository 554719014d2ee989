"""Query syntax: what users type, turned into something every backend accepts.

Supported, web-search style: words (all of them make a full match; any of them ranks),
``"exact phrases"``, ``-excluded`` words or phrases, ``a OR b``. Anything else — stray quotes,
brackets, colons, operators at the wrong place, 10,000 characters — is read as plain words, so a
query can never be a syntax error. The same parse drives the keyword index of both backends,
the text given to the embedding model and the highlighting of results.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

MAX_UNITS = 24  # words/phrases kept for the keyword index
MAX_SEMANTIC_CHARS = 2000
MAX_WORD = 64  # the model reads 256 tokens at most anyway

_WORD = re.compile(r"\w+", re.UNICODE)
_TOKEN = re.compile(r'(-?)"([^"]*)"|(\S+)')

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


def _items(text: str):
    """(negated, is_phrase, words) per token, or None for an ``OR`` operator."""
    for m in _TOKEN.finditer(text):
        neg, phrase, bare = m.group(1), m.group(2), m.group(3)
        if phrase is not None:
            if words := _words(phrase):
                yield bool(neg), True, words
        elif bare == "OR":
            yield None
        else:
            negated = len(bare) > 1 and bare[0] == "-" and bare[1] != "-"
            for i, w in enumerate(_words(bare)):
                yield negated and i == 0, False, [w]


def parse(text: str) -> ParsedQuery:
    text = (text or "").strip()
    parsed = ParsedQuery(text=text)
    if not text:
        return parsed
    units: list[Unit] = []
    join = False  # the previous token was OR: this one is an alternative of the last unit
    semantic: list[str] = []
    for item in _items(text[:20000]):
        if item is None:
            join = bool(units)
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
    parsed.units = units[:MAX_UNITS]
    parsed.excluded = parsed.excluded[:MAX_UNITS]
    parsed.semantic = " ".join(semantic)[:MAX_SEMANTIC_CHARS]
    return parsed


# -- backends --------------------------------------------------------------------------------


def _fts5_unit(words: list[str]) -> str:
    # Every word is quoted, so nothing the user typed is read as FTS5 syntax.
    return '"' + " ".join(words) + '"'


def fts5(parsed: ParsedQuery, mode: str) -> str | None:
    """An FTS5 MATCH expression. ``all``: every unit must match; ``any``: at least one.
    Excluded words are applied in both modes."""
    if not parsed.units:
        return None
    parts = []
    for unit in parsed.units:
        alts = [_fts5_unit(a) for a in unit.alternatives]
        parts.append(alts[0] if len(alts) == 1 else "(" + " OR ".join(alts) + ")")
    expr = (" AND " if mode == "all" else " OR ").join(parts)
    if parsed.excluded:
        expr = f"({expr}) NOT (" + " OR ".join(_fts5_unit(e) for e in parsed.excluded) + ")"
    return expr


def fts5_any_of(phrases: list[list[str]]) -> str | None:
    return " OR ".join(_fts5_unit(p) for p in phrases) if phrases else None


def tsquery(
    parsed: ParsedQuery, mode: str, weights: Sequence[float] | None = None
) -> tuple[str, dict] | tuple[str, dict, list[tuple[str, float]]] | None:
    """A PostgreSQL tsquery expression built from bound parameters (never string-pasted).

    With ``weights`` (one per unit, e.g. inverse document frequencies) a third item lists
    each unit's own tsquery with its weight: PostgreSQL's ranking has no notion of how rare a
    word is, so the store scores a paper by the weighted sum of per-unit ranks instead."""
    if not parsed.units:
        return None
    params: dict[str, str] = {}

    def phrase(words: list[str]) -> str:
        name = f"w{len(params)}"
        params[name] = " ".join(words)
        return f"phraseto_tsquery('english', :{name})"

    parts = []
    for unit in parsed.units:
        alts = [phrase(a) for a in unit.alternatives]
        parts.append("(" + " || ".join(alts) + ")")
    expr = (" && " if mode == "all" else " || ").join(parts)
    if parsed.excluded:
        expr = f"({expr}) && !!(" + " || ".join(phrase(e) for e in parsed.excluded) + ")"
    if weights is not None:
        return expr, params, [(p, float(w)) for p, w in zip(parts, weights, strict=True)]
    return expr, params


# -- highlighting ----------------------------------------------------------------------------

_SUFFIXES = (
    "izations",
    "ization",
    "ations",
    "ation",
    "ings",
    "ing",
    "ers",
    "er",
    "ies",
    "es",
    "ed",
    "s",
)


def stem(word: str) -> str:
    """A crude suffix strip: enough to highlight "transformers" for "transformer"."""
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word


def highlight_pattern(terms: list[str]) -> re.Pattern | None:
    stems = sorted({stem(t) for t in terms if t and t not in STOPWORDS}, key=len, reverse=True)
    if not stems:
        return None
    # Words from their stem on ("transform" marks "transformers"); very short terms only
    # as whole words, or "a" would mark half the abstract.
    alts = [re.escape(s) + (r"\w*" if len(s) >= 3 else r"\b") for s in stems]
    return re.compile(r"\b(?:" + "|".join(alts) + ")", re.IGNORECASE)


def highlight(text: str, pattern: re.Pattern | None, tag: str = "mark") -> str:
    """HTML-escaped ``text`` with the matches of ``pattern`` wrapped in ``<tag>``."""
    if pattern is None:
        return html.escape(text, quote=False)
    out, last = [], 0
    for m in pattern.finditer(text):
        out.append(html.escape(text[last : m.start()], quote=False))
        out.append(f"<{tag}>{html.escape(m.group(0), quote=False)}</{tag}>")
        last = m.end()
    out.append(html.escape(text[last:], quote=False))
    return "".join(out)


def matched_terms(text: str, terms: list[str]) -> list[str]:
    """The query words found (by stem) in ``text``."""
    found = []
    lowered = text.lower()
    for term in terms:
        if term in STOPWORDS:
            continue
        if re.search(r"\b" + re.escape(stem(term)), lowered):
            found.append(term)
    return found
