"""Writing what sources read: batches of records into the store, with a report.

Every batch is one transaction: a batch is written whole or not at all. If the database
rejects a batch, its records are retried one by one so that only the bad record is skipped.
With ``dry_run`` every transaction is rolled back: the report says what would change.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO

from ..core.errors import BadRecord, RecordRefused
from ..core.records import FeedItem, PaperRecord
from ..store import Store, UpsertCounts
from .files import iter_json_lines, open_input, raw_position
from .report import ImportReport

Progress = Callable[[int], None]
Trust = Mapping[str, int]
BATCH = 1000


def count(report: ImportReport, counts: UpsertCounts | None) -> None:
    if counts is not None:
        report.inserted += counts.inserted
        report.updated += counts.updated
        report.unchanged += counts.unchanged


def write_papers(
    store: Store, trust: Trust, records: list[PaperRecord], report: ImportReport, dry_run: bool
) -> None:
    if not records:
        return
    try:
        # A database that is down or locked raises StoreError: not the records' fault.
        with store.db.transaction(dry_run) as conn:
            counts = store.papers.upsert(records, trust, conn)
    except RecordRefused:
        for rec in records:  # isolate the record the database refuses
            try:
                with store.db.transaction(dry_run) as conn:
                    one = store.papers.upsert([rec], trust, conn)
            except RecordRefused as exc:
                report.skip(f"{rec.id}: database refused the record ({exc.kind})")
                continue
            count(report, one)
        return
    count(report, counts)


def import_records(
    store: Store,
    trust: Trust,
    items: Iterable[PaperRecord | BadRecord],
    *,
    dry_run: bool = False,
    batch: int = BATCH,
    progress: Progress | None = None,
) -> ImportReport:
    """Records (or the problems of unusable ones) into the store, ``batch`` at a time."""
    report = ImportReport()
    pending: list[PaperRecord] = []
    for item in items:
        report.seen += 1
        if isinstance(item, BadRecord):
            report.skip(str(item))
        else:
            pending.append(item)
        if len(pending) >= batch:
            write_papers(store, trust, pending, report, dry_run)
            pending = []
        if progress:
            progress(1)
    write_papers(store, trust, pending, report, dry_run)
    return report


def write_feed_items(
    store: Store,
    trust: Trust,
    items: list[FeedItem],
    problems: list[str],
    report: ImportReport,
    dry_run: bool,
) -> None:
    """Feed items (papers with their feed entries and upvotes) in one transaction."""
    report.seen += len(items) + len(problems)
    for p in problems:
        report.skip(p)
    if not items:
        return
    with store.db.transaction(dry_run) as conn:
        counts, added = store.feed.import_items(items, trust, conn)
    count(report, counts)
    report.feed_added += added


RecordMaker = Callable[[dict[str, Any], str], PaperRecord]


def records_from_lines(
    stream: BinaryIO, make: RecordMaker, keep: Callable[[dict[str, Any]], bool] | None = None
) -> Iterator[PaperRecord | BadRecord]:
    """One record (or the problem) per JSON line; ``keep`` pre-filters the raw objects."""
    for n, obj in iter_json_lines(stream):
        if isinstance(obj, BadRecord):
            yield obj
            continue
        if keep is not None and not keep(obj):
            continue
        try:
            yield make(obj, f"line {n}")
        except BadRecord as exc:
            yield exc
        except (TypeError, ValueError, AttributeError) as exc:
            yield BadRecord(f"unusable record ({exc})", f"line {n}")


def import_jsonl(
    store: Store,
    trust: Trust,
    path: str | Path,
    make: RecordMaker,
    *,
    keep: Callable[[dict[str, Any]], bool] | None = None,
    limit: int | None = None,
    dry_run: bool = False,
    progress_bytes: Progress | None = None,
) -> ImportReport:
    """Stream a JSON Lines file (plain, gzip or ``-``), one record per line by ``make``."""
    stream, _size = open_input(path)
    last = [0]

    def tick(_n: int) -> None:
        if progress_bytes:
            pos = raw_position(stream)
            if pos > last[0]:
                progress_bytes(pos - last[0])
                last[0] = pos

    records: Iterable[PaperRecord | BadRecord] = records_from_lines(stream, make, keep)
    if limit is not None:
        records = (r for _, r in zip(range(limit), records, strict=False))
    try:
        return import_records(store, trust, records, dry_run=dry_run, progress=tick)
    finally:
        if str(path) != "-":
            stream.close()
