"""The Kaggle ``arxiv-metadata-oai-snapshot.json`` (JSON Lines, ~4 GB), read as a stream:
``paperwire ingest snapshot FILE [--category cs] [--since D] [--limit N]``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import click

from ..core.errors import BadRecord
from ..core.hooks import hookimpl
from ..core.records import PaperRecord
from .github import find_repo
from .sources import (
    IngestRuntime,
    Register,
    Source,
    dry_run_option,
    import_file,
    parse_day,
    pass_runtime,
)

NAME = "snapshot"


def _version_date(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None


def kaggle_record(obj: dict[str, Any], where: str = "") -> PaperRecord:
    """One Kaggle snapshot object to a record."""
    versions = obj.get("versions") or []
    if not isinstance(versions, list):
        raise BadRecord("versions must be a list", where)
    numbers = []
    for v in versions:
        tag = v.get("version", "") if isinstance(v, dict) else ""
        if isinstance(tag, str) and tag[1:].isdigit():
            numbers.append(int(tag[1:]))
    parsed = obj.get("authors_parsed")
    if isinstance(parsed, list) and parsed:
        authors = [
            " ".join(x for x in (p[1], p[0], *(p[2:3])) if isinstance(x, str) and x.strip())
            for p in parsed
            if isinstance(p, list) and p
        ]
    else:
        authors = [
            a.strip() for a in str(obj.get("authors") or "").replace(" and ", ",").split(",")
        ]
    cats = obj.get("categories") or ""
    if not isinstance(cats, str):
        raise BadRecord("categories must be a string", where)
    comment, abstract = obj.get("comments"), obj.get("abstract") or ""
    first = versions[0] if versions and isinstance(versions[0], dict) else {}
    last = versions[-1] if versions and isinstance(versions[-1], dict) else {}
    return PaperRecord(
        id=str(obj.get("id") or ""),
        version=max(numbers) if numbers else None,
        title=obj.get("title") or "",
        abstract=abstract,
        authors=authors,
        categories=cats.split(),
        published=_version_date(first.get("created")),
        updated=_version_date(last.get("created")),
        comment=comment,
        journal_ref=obj.get("journal-ref"),
        doi=next(iter(str(obj.get("doi")).split()), None) if obj.get("doi") else None,
        github_repo=find_repo(
            abstract if isinstance(abstract, str) else "",
            comment if isinstance(comment, str) else "",
        ),
        source=NAME,
    ).validated(where)


def snapshot_filter(category: str | None, since: date | None) -> Callable[[dict[str, Any]], bool]:
    """A cheap pre-filter on raw objects, applied before building records."""

    def keep(obj: dict) -> bool:
        if category:
            cats = obj.get("categories") or ""
            cats = cats.split() if isinstance(cats, str) else cats
            prefix = category.rstrip(".") + "."
            if not any(
                isinstance(c, str) and (c == category or c.startswith(prefix)) for c in cats
            ):
                return False
        if since:
            stamp = obj.get("update_date") or ""
            if not isinstance(stamp, str) or stamp[:10] < since.isoformat():
                return False
        return True

    return keep


@click.command("snapshot")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option("--category", help="Keep papers with this category or prefix (cs, cs.CV).")
@click.option("--since", callback=parse_day, help="Keep records updated on or after this day.")
@click.option("--limit", type=click.IntRange(1), help="Stop after this many papers.")
@dry_run_option
@pass_runtime
def snapshot_command(
    runtime: IngestRuntime,
    path: str,
    category: str | None,
    since: date | None,
    limit: int | None,
    dry_run: bool,
) -> None:
    """Kaggle arxiv-metadata-oai-snapshot JSON lines (plain or .gz, or - for stdin)."""
    keep = snapshot_filter(category, since) if (category or since) else None
    import_file(runtime, path, kaggle_record, keep, limit, dry_run)


SOURCE = Source(
    NAME,
    trust=4,
    description="The Kaggle snapshot of arXiv's own metadata (JSON Lines).",
    commands=(snapshot_command,),
)


@hookimpl
def register_sources(register: Register) -> None:
    register(SOURCE)
