"""A paper as Markdown, as Hugging Face serves ``/papers/{id}.md`` (what
``huggingface_hub``'s ``read_paper`` reads): title, authors, links, abstract, discussion."""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..core.display import short_date
from ..core.models import Card
from .render import arxiv_links, author_path
from .service import ThreadComment

_SPECIAL = re.compile(r"([\\`*_\[\]<>#|])")


def _text(value: str) -> str:
    """One line of plain text that Markdown shows as typed."""
    return _SPECIAL.sub(r"\\\1", " ".join(value.split()))


def _link(label: str, url: str) -> str:
    # The <…> form keeps parentheses and spaces in the address from ending the link.
    return f"[{label}](<{url.replace('>', '%3E')}>)"


def _comment(c: ThreadComment, depth: int) -> list[str]:
    quote = "> " * depth
    when = short_date(c.created_at)
    who = c.fullname or c.username
    if c.deleted or c.hidden:
        head = "*(comment removed)*"
        body = ""
    else:
        head = f"**{_text(who)}** (@{c.username}) · {when}" + (" · author" if c.is_author else "")
        body = c.body.strip()
    lines = [f"{quote}{head}".rstrip()]
    if body:
        lines.append(quote.rstrip())
        lines.extend(f"{quote}{line}".rstrip() for line in body.splitlines())
    for reply in c.replies:
        lines.append(quote.rstrip())
        lines.extend(_comment(reply, depth + 1))
    return lines


def paper_markdown(card: Card, thread: Sequence[ThreadComment], base_url: str) -> str:
    base = base_url.rstrip("/")
    links = arxiv_links(card.id)
    out = [f"# {_text(card.title)}", ""]
    if card.authors:
        names = [_link(_text(a), f"{base}{author_path(a)}") for a in card.authors]
        more = card.num_authors - len(card.authors)
        out.append("**Authors:** " + ", ".join(names) + (f" and {more} more" if more > 0 else ""))
        out.append("")
    facts = [f"arXiv:{card.id}" + (f"v{card.version}" if card.version else "")]
    if card.published:
        facts.append(f"Published {short_date(card.published)}")
    if card.feed_date:
        facts.append(f"on the feed of {short_date(card.feed_date)}")
    if card.categories:
        facts.append(" ".join(card.categories))
    facts.append(f"{card.upvotes} upvote" + ("" if card.upvotes == 1 else "s"))
    out += [" · ".join(facts), ""]
    link_list = [_link("arXiv", links["abs"]), _link("PDF", links["pdf"])]
    if card.github_repo:
        stars = f" ({card.github_stars} stars)" if card.github_stars is not None else ""
        link_list.append(_link("Code", f"https://github.com/{card.github_repo}") + stars)
    if card.project_page:
        link_list.append(_link("Project page", card.project_page))
    link_list.append(_link("Paper page", f"{base}/papers/{card.id}"))
    out += ["**Links:** " + " · ".join(link_list), ""]
    if card.abstract.strip():
        out += ["## Abstract", "", card.abstract.strip(), ""]
    shown = [c for c in thread if not (c.deleted or c.hidden) or c.replies]
    out += [f"## Discussion ({card.num_comments})", ""]
    if not shown:
        out += ["No comments yet.", ""]
    for c in shown:
        out += _comment(c, 0)
        out.append("")
    return "\n".join(out).rstrip() + "\n"
