"""Turning stored data into what pages and the API show: sanitized Markdown with @mentions,
BibTeX, Hugging Face-compatible JSON."""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Collection, Sequence
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import quote, urlencode

import nh3
from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from markdown_it.rules_core import StateCore
from markdown_it.rules_inline import StateInline
from markupsafe import Markup
from starlette.requests import Request

from ..core import avatars, tex
from ..core.errors import InvalidArxivId
from ..core.ids import id_month
from ..core.markdown import math_rule
from ..core.models import Card

MENTION = re.compile(r"(?<![\w@/])@([A-Za-z0-9][A-Za-z0-9_-]{0,63})")
_ALLOWED_TAGS = {
    "p", "br", "em", "strong", "code", "pre", "blockquote", "ul", "ol", "li", "a", "hr",
    "h1", "h2", "h3", "h4", "h5", "h6", "del", "s", "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip
_ALLOWED_ATTRS = {"a": {"href", "title", "class"}}
# A table column's alignment (``|:--|:-:|--:|``) as a class the stylesheet aligns by: the
# site's CSP refuses inline styles, and the sanitizer lets no other class or style through.
_ALIGN = re.compile(r"text-align:(left|center|right)")
_ALIGN_CLASSES = {"align-left", "align-center", "align-right"}


def _mention_rule(state: StateInline, silent: bool) -> bool:
    pos = state.pos
    if state.src[pos] != "@":
        return False
    if pos > 0 and (state.src[pos - 1].isalnum() or state.src[pos - 1] in "@/_"):
        return False
    m = MENTION.match(state.src, pos)
    known = state.env.get("mentions", set())
    if not m or m.group(1) not in known:
        return False
    if not silent:
        token = state.push("link_open", "a", 1)
        token.attrs = {"href": f"/users/{m.group(1)}", "class": "mention"}
        state.push("text", "", 0).content = m.group(0)
        state.push("link_close", "a", -1)
    state.pos = m.end()
    return True


_PH_OPEN, _PH_CLOSE = "\ue000", "\ue001"  # private use: core.text.clean strips them
_PLACEHOLDER = re.compile(f"{_PH_OPEN}(\\d+){_PH_CLOSE}")


def _render_math(self: Any, tokens: Any, idx: int, options: Any, env: dict[str, Any]) -> str:
    # The sanitizer knows no MathML: a placeholder goes through it, the (already sanitized)
    # MathML replaces it afterwards.
    env["math"].append(tex.span_html(tokens[idx].meta["span"], env["math_budget"]))
    return f"{_PH_OPEN}{len(env['math']) - 1}{_PH_CLOSE}"


def _render_cell(self: Any, tokens: Any, idx: int, options: Any, env: dict[str, Any]) -> str:
    token = tokens[idx]
    style = token.attrs.pop("style", None)
    if isinstance(style, str) and (m := _ALIGN.fullmatch(style)):
        token.attrSet("class", f"align-{m.group(1)}")
    return str(self.renderToken(tokens, idx, options, env))


_md = MarkdownIt("commonmark", {"html": False, "linkify": True, "typographer": False})
_md.enable(["strikethrough", "table", "linkify"])  # (linkify: a bare https://… is a link)
_md.inline.ruler.before("emphasis", "mention", _mention_rule)
_md.inline.ruler.before("escape", "math", math_rule)
_md.add_render_rule("math", _render_math)
_md.add_render_rule("th_open", _render_cell)
_md.add_render_rule("td_open", _render_cell)
_SAFE_LINK = re.compile(r"^(https?:|mailto:|/|#)", re.I)
# Every link is parsed, and one to an unsafe address (javascript:, data:, …) keeps its words
# as plain text: "[bad](javascript:…)" reads "bad", not its raw Markdown.
_md.validateLink = lambda url: True  # type: ignore[method-assign]


def _unsafe_links_to_text(state: StateCore) -> None:
    for block in state.tokens:
        if block.type != "inline" or not block.children:
            continue
        kept, dropped = [], []
        for token in block.children:
            if token.type == "link_open":
                dropped.append(not _SAFE_LINK.match(str(token.attrGet("href") or "").strip()))
                if dropped[-1]:
                    continue
            elif token.type == "link_close" and dropped and dropped.pop():
                continue
            kept.append(token)
        block.children = kept


_md.core.ruler.push("unsafe_links_to_text", _unsafe_links_to_text)


def _render_image(self: Any, tokens: Any, idx: int, options: Any, env: dict[str, Any]) -> str:
    """An image is not shown (nothing is loaded from elsewhere: no tracking pixels, and the
    CSP would refuse it): its words are, as a link to it when its address is safe."""
    token = tokens[idx]
    words = escapeHtml(self.renderInlineAsText(token.children or [], options, env) or "image")
    src = str(token.attrGet("src") or "").strip()
    if not _SAFE_LINK.match(src):
        return f"[image: {words}]"
    return f'<a href="{escapeHtml(src)}">[image: {words}]</a>'


_md.add_render_rule("image", _render_image)


def mentions(text: str) -> list[str]:
    return list(dict.fromkeys(MENTION.findall(text)))


def markdown(text: str, known_users: Collection[str] = frozenset()) -> str:
    """Comment Markdown to safe HTML: raw HTML is shown as text, only http(s)/mailto/relative
    links survive, and the result goes through an allow-list sanitizer as a second wall.
    TeX math becomes MathML (sanitized on its own, see :mod:`paperwire.core.tex`)."""
    text = text.replace(_PH_OPEN, "").replace(_PH_CLOSE, "")
    env: dict[str, Any] = {"mentions": set(known_users), "math": [], "math_budget": [tex.MAX_TEXT]}
    clean = sanitize(_md.render(text, env))
    if not env["math"]:
        return clean
    shown: list[str] = env["math"]
    return _PLACEHOLDER.sub(lambda m: shown[int(m.group(1))], clean)


def sanitize(html: str) -> str:
    """Rendered Markdown through the allow-list: its tags, links of safe schemes, a mention's
    class and a table cell's alignment class; no style, no other attribute or class."""
    return nh3.clean(
        html,
        tags=_ALLOWED_TAGS,
        attributes=_ALLOWED_ATTRS,
        allowed_classes={"th": _ALIGN_CLASSES, "td": _ALIGN_CLASSES},
        url_schemes={"http", "https", "mailto"},
        link_rel="nofollow ugc noopener",
    )


# -- links and citations ----------------------------------------------------------------------
def author_path(name: str) -> str:
    """The author page of ``name``: every character but letters and digits escaped, so that
    slashes, dots, quotes and spaces survive browsers and proxies."""
    return "/authors/" + quote(name, safe="")


@functools.lru_cache(maxsize=65536)
def author_link(name: str) -> Markup:
    """A link to the author's page. A cached function, not a macro: a page of cards shows ~75
    names, and the same names come back page after page."""
    return Markup('<a class="author" href="{}">{}</a>').format(author_path(name), name)


def author_names(card: Card, most: int = 3, featured: str | None = None) -> Markup:
    """The first ``most`` authors linked, then "and N more" (never "and 1 more": the name
    fits in its place). ``featured``: an author always shown (on that author's page), after
    an ellipsis when further down the list."""
    every = max(card.num_authors, len(card.authors))
    if every - most == 1 and len(card.authors) == every:
        most += 1
    names = tuple(card.authors[:most])
    if featured and not any(n.casefold() == featured.casefold() for n in names):
        at = next((n for n in card.authors if n.casefold() == featured.casefold()), None)
        if at is not None and most > 1:
            return _byline((*names[: most - 1], at), every - most, gap=True)
    return _byline(names, every - most)


@functools.lru_cache(maxsize=16384)
def _byline(names: tuple[str, ...], more: int, gap: bool = False) -> Markup:
    """A card's byline, made once per list of names: every page of cards shows the same
    papers' bylines again (escaping and joining them was a tenth of a feed page's time).
    ``gap``: names left out before the last one shown."""
    links = [author_link(name) for name in names]
    if gap:
        links[-1] = Markup("…, ") + links[-1]
    shown = Markup(", ").join(links)
    return shown + Markup(" and {} more").format(more) if more > 0 else shown


# A web address in plain text (an arXiv comment): with a scheme, or a bare "www." or code
# host; up to a space or a character that cannot be part of it.
_URL = re.compile(
    r"(?<![\w@/.])(?:https?://|www\.|(?:github|gitlab|huggingface)\.(?:com|co)/)"
    r"[^\s<>\"'`]+",
    re.IGNORECASE,
)
_TRAILING = ".,;:!?'\""  # punctuation after an address, not in it
_CLOSING = {")": "(", "]": "[", "}": "{"}


def _url_end(url: str) -> str:
    """The address without what follows it in the sentence: a final full stop or comma,
    and a closing bracket it does not open itself ("(see https://x.org/a_(b))")."""
    while url:
        last = url[-1]
        if last in _TRAILING:
            url = url[:-1]
        elif last in _CLOSING and url.count(_CLOSING[last]) < url.count(last):
            url = url[:-1]
        else:
            break
    return url


def linkify(text: str | None) -> Markup:
    """Plain text, escaped, with its web addresses made links (``rel="nofollow noopener
    ugc"``: the words are an author's, not this site's)."""
    text = text or ""
    out, at = [], 0
    for m in _URL.finditer(text):
        url = _url_end(m.group(0))
        if "." not in url.split("//", 1)[-1]:
            continue  # "https://" alone, or no host
        out.append(Markup.escape(text[at : m.start()]))
        href = url if re.match(r"https?://", url, re.IGNORECASE) else f"https://{url}"
        out.append(Markup('<a href="{}" rel="nofollow noopener ugc">{}</a>').format(href, url))
        at = m.start() + len(url)
    out.append(Markup.escape(text[at:]))
    return Markup("").join(out)


def tex_links(value: str | None) -> Markup:
    """The Jinja filter ``tex_links``: like ``tex`` (math as MathML), with the web addresses
    of the text around the math made links (a paper page's abstract and arXiv comment)."""
    return Markup(tex.to_html(value or "", plain=linkify))


def arxiv_links(paper_id: str) -> dict[str, str]:
    return {
        "abs": f"https://arxiv.org/abs/{paper_id}",
        "pdf": f"https://arxiv.org/pdf/{paper_id}",
    }


def _bibtex_escape(text: str) -> str:
    """A field's text: arXiv's is LaTeX already ("SGG-R$^{\\rm 3}$"), kept as it is when its
    braces balance; otherwise every brace is escaped, so none can end the field."""
    text = re.sub(r"\s+", " ", text).strip()
    depth = 0
    for brace in re.findall(r"(?<!\\)[{}]", text):
        depth += 1 if brace == "{" else -1
        if depth < 0:
            break
    if depth == 0:
        return text
    return text.replace("{", r"\{").replace("}", r"\}")


def _ascii_word(text: str) -> str:
    """Letters and digits only, accents dropped (Müller -> muller): a BibTeX key part."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^A-Za-z0-9]", "", text).lower()


def _year(card: Card) -> str:
    """The year of first submission: the publication date's, else the one every arXiv id
    carries (2503.01234 and hep-th/9901001 alike), so a citation always has one."""
    if card.published:
        return str(card.published.year)
    try:
        return str(id_month(card.id)[0])
    except InvalidArxivId:
        return ""


def bibtex(card: Card) -> str:
    """A ``@misc`` entry as arXiv suggests; unknown fields are left out, never made up."""
    authors = [a for a in card.authors or [] if a.strip()]
    surname = _ascii_word(authors[0].split()[-1]) if authors else ""
    year = _year(card)
    title_word = next((w for w in re.findall(r"[A-Za-z]+", card.title) if len(w) > 3), "paper")
    parts = [surname, year, title_word] if surname else [title_word, year]
    key = "".join(_ascii_word(p) for p in parts)
    fields = [
        ("title", "{" + _bibtex_escape(card.title) + "}"),
        ("author", " and ".join(_bibtex_escape(a) for a in authors)),
        ("year", year),
        ("eprint", card.id),
        ("archivePrefix", "arXiv"),
        ("primaryClass", card.primary_category or ""),
        ("url", f"https://arxiv.org/abs/{card.id}"),
    ]
    if card.doi:
        fields.append(("doi", card.doi))
    body = ",\n".join(f"  {k} = {{{v}}}" for k, v in fields if v)
    return f"@misc{{{key},\n{body}\n}}"


def unique_bibtex_keys(entries: list[str]) -> list[str]:
    """BibTeX entries whose keys repeat get a, b, c… appended (one file, distinct keys)."""
    seen: dict[str, int] = {}
    out = []
    for entry in entries:
        head, _, rest = entry.partition(",")
        kind, _, key = head.partition("{")
        n = seen.get(key, 0)
        seen[key] = n + 1
        if n:
            suffix = "" if n > 26 else "abcdefghijklmnopqrstuvwxyz"[n - 1]
            entry = f"{kind}{{{key}{suffix or n},{rest}"
        out.append(entry)
    return out


# -- Hugging Face-compatible JSON ---------------------------------------------------------------
def iso_z(value: datetime | date | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.isoformat(timespec="milliseconds") + "Z"
    return datetime(value.year, value.month, value.day).isoformat(timespec="milliseconds") + "Z"


def _avatar(kind: str, name: str, stored: str | None, base_url: str) -> str:
    """An imported avatar's own address, else this site's (uploaded or generated)."""
    if stored and stored.startswith(("https://", "http://")):
        return stored
    return base_url + avatars.url(kind, name, stored)


def _user_json(
    username: str | None, fullname: str | None, avatar: str | None, base_url: str = ""
) -> dict[str, Any] | None:
    if not username:
        return None
    return {
        "avatarUrl": _avatar("users", username, avatar, base_url),
        "fullname": fullname or username,
        "name": username,
        "user": username,
        "type": "user",
        "isPro": False,
        "isHf": False,
        "isMod": False,
        "followerCount": 0,
    }


def _org_json(card: Card, base_url: str = "") -> dict[str, Any] | None:
    if not card.org:
        return None
    return {
        "_id": card.org,
        "name": card.org,
        "fullname": card.org_fullname or card.org,
        "avatar": _avatar("organizations", card.org, card.org_avatar, base_url),
    }


def paper_json(card: Card, base_url: str = "") -> dict[str, Any]:
    """The ``paper`` object of Hugging Face's API (same field names)."""
    out: dict[str, Any] = {
        "id": card.id,
        "authors": [
            {"_id": f"{card.id}-{i}", "name": name, "hidden": False}
            for i, name in enumerate(card.authors or [])
        ],
        "publishedAt": iso_z(card.published),
        "title": card.title,
        "summary": card.abstract or "",
        "upvotes": card.upvotes or 0,
        "discussionId": card.id,
        "numComments": card.num_comments or 0,
        "projectPage": card.project_page,
        "githubRepo": f"https://github.com/{card.github_repo}" if card.github_repo else None,
        "githubStars": card.github_stars,
        "ai_summary": None,
        "ai_keywords": [],
        "categories": card.categories or [],
        "primaryCategory": card.primary_category,
        "version": card.version,
        "url": f"{base_url}/papers/{card.id}",
    }
    if card.submitted_at is not None:
        out["submittedOnDailyAt"] = iso_z(card.submitted_at)
        out["submittedOnDailyBy"] = _user_json(
            card.submitter, card.submitter_fullname, card.submitter_avatar, base_url
        )
    if card.org:
        out["organization"] = _org_json(card, base_url)
    return out


def daily_item_json(card: Card, base_url: str = "") -> dict[str, Any]:
    """One item of ``/api/daily_papers``, shaped like Hugging Face's."""
    return {
        "paper": paper_json(card, base_url),
        "publishedAt": iso_z(card.submitted_at),
        "title": card.title,
        "summary": card.abstract or "",
        # The first page rendered here, else what the source said (an imported feed's URL).
        "thumbnail": (
            f"{base_url}/papers/{card.id}/thumbnail.webp?size=card&v={card.thumb}"
            if card.thumb
            else card.thumbnail or ""
        ),
        "numComments": card.num_comments or 0,
        "submittedBy": _user_json(
            card.submitter, card.submitter_fullname, card.submitter_avatar, base_url
        ),
        "organization": _org_json(card, base_url),
        "isAuthorParticipating": False,
    }


NOTICE_PARAMS = frozenset({"saved_paper", "collection", "new", "dismissed", "fragment"})


def here(request: Request) -> str:
    """Where a card's one-click action should come back to: this page with its query (a
    search, For you's span), without the last action's notice or the scroll's fragment."""
    return _same_query(request, NOTICE_PARAMS)


def page_url(request: Request, p: int) -> str:
    """This list (a feed, a search, an author's papers) at page ``p``: the same query with
    only the page changed (left out for the first), without notices or ``fragment``."""
    return _same_query(request, NOTICE_PARAMS | {"p"}, [("p", str(p))] if p > 0 else [])


def _same_query(request: Request, drop: frozenset[str], add: Sequence[tuple[str, str]] = ()) -> str:
    """This page's path and query, without the parameters ``drop``, with ``add``."""
    kept = [(k, v) for k, v in request.query_params.multi_items() if k not in drop]
    kept.extend(add)
    return request.url.path + (f"?{urlencode(kept)}" if kept else "")
