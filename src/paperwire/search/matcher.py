"""Finding a query's words in a text, for people: highlights, "matches X, Y" and the share of
a topic's words a paper holds. Search results and topic alerts use this one matcher.

Which papers hold every word is decided by the keyword index itself (the store's full-text
search, with the backend's stemming), never here: see ``SearchEngine.word_matches``.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

from ..core import tex
from ..core.query import STOPWORDS, ParsedQuery, Unit

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


def _unit_pattern(unit: Unit) -> re.Pattern[str]:
    """A unit's alternatives, each a sequence of stems (a phrase keeps its order)."""
    alts = [r"\W+".join(re.escape(stem(w)) + r"\w*" for w in words) for words in unit.alternatives]
    return re.compile(r"\b(?:" + "|".join(alts) + ")", re.IGNORECASE)


def _highlight_pattern(terms: list[str]) -> re.Pattern[str] | None:
    stems = sorted({stem(t) for t in terms if t and t not in STOPWORDS}, key=len, reverse=True)
    if not stems:
        return None
    # Words from their stem on ("transform" marks "transformers"); very short terms only
    # as whole words, or "a" would mark half the abstract.
    alts = [re.escape(s) + (r"\w*" if len(s) >= 3 else r"\b") for s in stems]
    return re.compile(r"\b(?:" + "|".join(alts) + ")", re.IGNORECASE)


class Matcher:
    """The words of one parsed query, compiled once and matched against many texts."""

    def __init__(self, query: ParsedQuery):
        self.query = query
        self.terms = [t for t in query.terms() if t not in STOPWORDS]
        self._units = [(u, _unit_pattern(u)) for u in query.units]
        self._terms = [
            (t, re.compile(r"\b" + re.escape(stem(t)), re.IGNORECASE)) for t in self.terms
        ]
        self._highlight = _highlight_pattern(self.terms)

    def matched_units(self, text: str) -> list[Unit]:
        """The query's units (words, phrases, alternatives) found in ``text``."""
        return [u for u, p in self._units if p.search(text)]

    def share(self, text: str) -> float:
        """The fraction of the query's units found in ``text`` (0 without units)."""
        return len(self.matched_units(text)) / len(self._units) if self._units else 0.0

    def matched_terms(self, text: str) -> list[str]:
        """The query's words found (by stem) in ``text``, in query order."""
        return [t for t, p in self._terms if p.search(text)]

    def spans(self, text: str) -> Iterator[tuple[str, bool]]:
        """``text`` in pieces, each with whether it is one of the query's words."""
        last = 0
        if self._highlight is not None:
            for m in self._highlight.finditer(text):
                if m.start() > last:
                    yield text[last : m.start()], False
                yield m.group(0), True
                last = m.end()
        if last < len(text) or not text:
            yield text[last:], False

    def highlight(self, text: str, tag: str = "mark", mathml: bool = False) -> str:
        """HTML-escaped ``text`` with the query's words wrapped in ``<tag>``. Math spans
        are never marked inside: with ``mathml`` they become MathML, otherwise they stay
        as their TeX source (escaped)."""
        if not tex.has_math(text):
            return self._marked(tex.text_mode(text), tag)
        if mathml:
            return tex.to_html(text, lambda plain: self._marked(plain, tag))
        return "".join(
            self._marked(tex.text_mode(seg), tag)
            if isinstance(seg, str)
            else tex.escape(seg.source)
            for seg in tex.split(text)
        )

    def _marked(self, text: str, tag: str) -> str:
        return "".join(
            f"<{tag}>{html.escape(piece, quote=False)}</{tag}>"
            if hit
            else html.escape(piece, quote=False)
            for piece, hit in self.spans(text)
        )

    def explain(self, text: str) -> str:
        """ "matches vision, transformer" for the units found in ``text``, or ""."""
        found = self.matched_units(text)
        if not found:
            return ""
        return "matches " + ", ".join(" ".join(u.alternatives[0]) for u in found)
