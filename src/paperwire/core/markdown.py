"""Comment Markdown read as a reader reads it, without markup: the words of a comment (its
math as plain characters) for where only text goes — a notification's quote on the page
and in an e-mail. The HTML rendering itself is the web layer's (web/render.py), which
shares :func:`math_rule` so that both see the same math."""

from __future__ import annotations

import re
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.rules_inline import StateInline

from . import tex


def math_rule(state: StateInline, silent: bool) -> bool:
    """TeX math as one ``math`` token (its :class:`~paperwire.core.tex` span in ``meta``),
    before backslash escapes can eat ``\\,`` or ``\\(``."""
    if state.src[state.pos] not in "$\\":
        return False
    span = tex.span_at(state.src, state.pos)
    if span is None:
        return False
    if not silent:
        token = state.push("math", "", 0)
        token.meta = {"span": span}
    state.pos += len(span.source)
    return True


_md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
_md.enable(["strikethrough", "table"])
_md.inline.ruler.before("escape", "math", math_rule)
_SPACE = re.compile(r"\s+")


def plain_text(text: str) -> str:
    """``text`` (comment Markdown) as its words on one line: no emphasis marks, link
    targets, fences or quote marks; math as :func:`~paperwire.core.tex.to_text` gives it;
    code as written."""
    out: list[str] = []
    for block in _md.parse(text or "", {}):
        if block.type in ("fence", "code_block"):
            out.append(block.content)
        for token in block.children or ():
            out.append(_inline(token))
        out.append(" ")
    return _SPACE.sub(" ", "".join(out)).strip()


def _inline(token: Any) -> str:
    if token.type in ("text", "code_inline"):
        return str(token.content)
    if token.type == "math":
        return tex.to_text(token.meta["span"].source)
    if token.type in ("softbreak", "hardbreak"):
        return " "
    if token.type == "image":
        return "".join(_inline(t) for t in token.children or ())
    return ""
