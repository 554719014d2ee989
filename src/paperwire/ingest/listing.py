"""Daily arXiv listing files (JSON Lines: id, authors, title, categories, comment, summary,
listing_dates), the format of the bundled benchmark corpus:
``paperwire ingest listing FILE.jsonl[.gz]``."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import click

from ..core.errors import BadRecord
from ..core.hooks import hookimpl
from ..core.records import PaperRecord
from .github import find_repo
from .sources import IngestRuntime, Register, Source, dry_run_option, import_file, pass_runtime

NAME = "listing"


def listing_record(obj: dict[str, Any], where: str = "") -> PaperRecord:
    """One record of a daily arXiv listing file (fields id, authors, title, categories,
    comment, summary, listing_dates)."""
    authors = obj.get("authors") or []
    if not isinstance(authors, list):
        raise BadRecord("authors must be a list", where)
    extra = 0
    if authors and isinstance(authors[-1], str) and authors[-1].startswith("…(+"):
        # Long author lists are cut as "…(+N)": keep the names, count the rest.
        tail = authors[-1][3:].rstrip(")")
        extra = int(tail) if tail.isdigit() else 0
        authors = authors[:-1]
    dates = obj.get("listing_dates") or []
    first = min(dates) if isinstance(dates, list) and dates else None
    comment, abstract = obj.get("comment"), obj.get("summary") or ""
    cats = obj.get("categories") or []
    if not isinstance(cats, list):
        raise BadRecord("categories must be a list", where)
    try:
        published = (
            datetime.combine(date.fromisoformat(first), datetime.min.time()) if first else None
        )
    except (TypeError, ValueError):
        raise BadRecord(f"bad listing date {first!r}", where) from None
    return PaperRecord(
        id=str(obj.get("id") or ""),
        title=obj.get("title") or "",
        abstract=abstract,
        authors=authors,
        num_authors=len(authors) + extra,
        categories=cats,
        published=published,
        comment=comment,
        github_repo=find_repo(
            abstract if isinstance(abstract, str) else "",
            comment if isinstance(comment, str) else "",
        ),
        source=NAME,
    ).validated(where)


@click.command("listing")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option("--limit", type=click.IntRange(1), help="Stop after this many papers.")
@dry_run_option
@pass_runtime
def listing_command(runtime: IngestRuntime, path: str, limit: int | None, dry_run: bool) -> None:
    """Daily arXiv listing JSON lines (the format of the benchmark corpus)."""
    import_file(runtime, path, listing_record, None, limit, dry_run)


SOURCE = Source(
    NAME,
    trust=2,
    description="Daily arXiv listing files (no versions, announcement dates).",
    commands=(listing_command,),
)


@hookimpl
def register_sources(register: Register) -> None:
    register(SOURCE)
