"""Text from visitors and sources made safe to keep and to emit: no control characters, no
bidirectional overrides, nothing an XML document may not hold.

Kept: letters of every script, line breaks and tabs (where text has lines), and the joiners
that emoji sequences and some scripts need (U+200C, U+200D)."""

from __future__ import annotations

import re
import unicodedata

# Embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069): they reorder what
# follows them, so "gnp.exe" can read as "exe.png" in a name.
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")
# Everything XML 1.0 forbids (§2.2), so that an Atom feed stays well-formed.
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def clean(text: str, *, lines: bool = True) -> str:
    """``text`` in NFC without control, surrogate, private-use or bidi-override characters;
    line breaks (normalized to \\n) and tabs survive when ``lines``, else they become spaces.
    Leading and trailing whitespace is removed."""
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    if not lines:
        text = text.replace("\n", " ").replace("\t", " ")
    text = _BIDI.sub("", text)
    return "".join(ch for ch in text if ch in "\n\t" or not _dropped(ch)).strip()


def _dropped(ch: str) -> bool:
    return unicodedata.category(ch) in ("Cc", "Cs", "Co") or ch in "\ufffe\uffff"


def xml_safe(text: str) -> str:
    """``text`` without the characters XML 1.0 does not allow (control characters, lone
    surrogates, U+FFFE/U+FFFF): for values written into XML documents."""
    return _NOT_XML.sub("", text)
