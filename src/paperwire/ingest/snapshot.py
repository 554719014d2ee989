"""Kaggle ``arxiv-metadata-oai-snapshot.json`` (JSON Lines, ~4 GB): a streaming reader.

Also reads the daily-listing JSONL used by the bundled benchmark corpus. Both read line by
line, so memory stays flat whatever the file size; plain or gzip files, or standard input.
"""

from __future__ import annotations

import gzip
import io
import json
import sys
from collections.abc import Iterator
from datetime import date, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import BinaryIO

from .github import find_repo
from .records import BadRecord, PaperRecord


def open_input(path: str | Path) -> tuple[BinaryIO, int | None]:
    """Open a (possibly gzipped) file or ``-`` for stdin; return the stream and its size."""
    if str(path) == "-":
        return sys.stdin.buffer, None
    p = Path(path)
    size = p.stat().st_size
    raw = p.open("rb")
    if raw.read(2) == b"\x1f\x8b":
        raw.seek(0)
        return gzip.GzipFile(fileobj=raw), size  # type: ignore[return-value]
    raw.seek(0)
    return raw, size


def raw_position(stream) -> int:
    """Bytes consumed from the underlying file (compressed bytes for gzip)."""
    inner = getattr(stream, "fileobj", None)
    try:
        return (inner or stream).tell()
    except (OSError, ValueError, io.UnsupportedOperation):
        return 0


def iter_json_lines(stream) -> Iterator[tuple[int, dict | BadRecord]]:
    """Yield (line number, object or BadRecord) for each non-blank line."""
    for n, line in enumerate(stream, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except (ValueError, UnicodeDecodeError) as exc:
            yield n, BadRecord(f"invalid JSON ({exc})", f"line {n}")
            continue
        if not isinstance(obj, dict):
            yield n, BadRecord("expected a JSON object", f"line {n}")
            continue
        yield n, obj


def _version_date(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None


def kaggle_record(obj: dict, where: str = "") -> PaperRecord:
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
        doi=(str(obj.get("doi")).split() or [None])[0] if obj.get("doi") else None,
        github_repo=find_repo(
            abstract if isinstance(abstract, str) else "",
            comment if isinstance(comment, str) else "",
        ),
        source="snapshot",
    ).validated(where)


def listing_record(obj: dict, where: str = "") -> PaperRecord:
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
        source="listing",
    ).validated(where)


def snapshot_filter(category: str | None, since: date | None):
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
