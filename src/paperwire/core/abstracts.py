"""What counts as an abstract: the one rule every source's records pass through.

Scraped pages and comment threads hand over text that is not a paper's abstract: a bot's
automated comment (Hugging Face's Librarian Bot), a project blurb ("webpage: … code are all
released."), a one-line TL;DR, the title again. Such text is never stored as an abstract
(:meth:`PaperRecord.validated` drops it), and :func:`abstract_quality` lets the merge rule
keep a full abstract when a shorter summary arrives from a more trusted source.

The thresholds were checked against real abstracts: every one of the 74,728 arXiv listing
abstracts in ../shared passes (the shortest has 12 words and 91 characters; a withdrawn
paper's "This paper has been withdrawn by the authors." has 8 words).
"""

from __future__ import annotations

import re

# Below this length a text is a short summary at best: arXiv abstracts are longer, but for
# 18 of 74,728 (those stay stored: only a full abstract replaces them).
FULL_LENGTH = 200
# Fewer words than this is a label or a remark ("work in progress", "Github: <url>").
MIN_WORDS = 8

_BOT = re.compile(
    r"this is an automated (?:message|comment|reply|response)"
    r"|librarian[- ]?bot"
    r"|following papers were recommended by the semantic scholar api"
    r"|arxivlens breakdown of this paper",
    re.IGNORECASE,
)
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
# Words that announce links or releases: in a short text they make it a project blurb.
_RELEASE = re.compile(
    r"\b(?:code|github|project page|webpage|website|homepage|demo|released?|open[- ]sourced?"
    r"|available (?:at|here|on)|check (?:it )?out)\b",
    re.IGNORECASE,
)
_TLDR = re.compile(r"^\W*tl;?\s?dr\b", re.IGNORECASE)


def _words(text: str) -> list[str]:
    return [w for w in _URL.sub(" ", text).split() if any(c.isalnum() for c in w)]


def _norm(text: str) -> str:
    return " ".join(re.sub(r"\W+", " ", text.lower()).split())


def abstract_flaw(text: str, title: str = "") -> str | None:
    """Why ``text`` (whitespace already collapsed) is not an abstract, or None if it is one
    (empty text has no flaw: it is simply missing)."""
    if not text:
        return None
    if _BOT.search(text):
        return "an automated comment"
    if title and _norm(text) == _norm(title):
        return "the title"
    if len(_words(text)) < MIN_WORDS:
        return "a blurb"
    if len(text) < FULL_LENGTH and (_RELEASE.search(text) or _TLDR.search(text)):
        return "a blurb"
    return None


def abstract_quality(text: str | None, title: str = "") -> int:
    """0: missing or not an abstract; 1: a short summary; 2: a full abstract. The merge rule
    never lets a lower grade replace a higher one, whatever the sources' trust."""
    if not text or abstract_flaw(text, title):
        return 0
    return 1 if len(text) < FULL_LENGTH else 2
