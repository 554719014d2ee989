"""Ingestion runs: read a source, write batches to the store, report what happened.

Every batch is one transaction: a batch is written whole or not at all. If the database
rejects a batch, its records are retried one by one so that only the bad record is skipped.
With ``dry_run`` every transaction is rolled back: the report says what would change.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from datetime import date
from pathlib import Path

import sqlalchemy as sa

from ..ids import normalize_arxiv_id
from ..store import Store
from .arxiv_api import ArxivAPI
from .hf_daily import HFDailyPapers, parse_daily_papers
from .http import SourceError
from .oai import OAIError, OAIHarvester
from .records import BadRecord, FeedItem, ImportReport, PaperRecord
from .snapshot import iter_json_lines, kaggle_record, listing_record, open_input, raw_position

Progress = Callable[[int], None]
BATCH = 1000


class _Rollback(Exception):
    pass


def _write(store: Store, fn: Callable, dry_run: bool):
    """Run ``fn(conn)`` in a transaction; roll it back when ``dry_run``."""
    result = None
    try:
        with store.begin() as conn:
            result = fn(conn)
            if dry_run:
                raise _Rollback
    except _Rollback:
        pass
    return result


def write_papers(
    store: Store, records: list[PaperRecord], report: ImportReport, dry_run: bool
) -> None:
    if not records:
        return
    try:
        counts = _write(store, lambda c: store.upsert_papers(records, c), dry_run)
    except sa.exc.OperationalError:
        raise  # locked or unreachable database: not the records' fault
    except sa.exc.DBAPIError:
        for rec in records:  # isolate the record the database refuses
            try:
                one = _write(store, lambda c, r=rec: store.upsert_papers([r], c), dry_run)
            except sa.exc.OperationalError:
                raise
            except sa.exc.DBAPIError as exc:
                report.skip(f"{rec.id}: database refused the record ({type(exc.orig).__name__})")
                continue
            _add_counts(report, one)
        return
    _add_counts(report, counts)


def _add_counts(report: ImportReport, counts) -> None:
    report.inserted += counts.inserted
    report.updated += counts.updated
    report.unchanged += counts.unchanged


def import_records(
    store: Store,
    items: Iterable[PaperRecord | BadRecord],
    *,
    dry_run: bool = False,
    batch: int = BATCH,
    progress: Progress | None = None,
) -> ImportReport:
    report = ImportReport()
    pending: list[PaperRecord] = []
    for item in items:
        report.seen += 1
        if isinstance(item, BadRecord):
            report.skip(str(item))
        else:
            pending.append(item)
        if len(pending) >= batch:
            write_papers(store, pending, report, dry_run)
            pending = []
        if progress:
            progress(1)
    write_papers(store, pending, report, dry_run)
    return report


def _records_from_lines(
    stream, make: Callable[[dict, str], PaperRecord], keep=None
) -> Iterator[PaperRecord | BadRecord]:
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
    path: str | Path,
    *,
    kind: str = "snapshot",
    keep=None,
    limit: int | None = None,
    dry_run: bool = False,
    progress_bytes: Progress | None = None,
) -> ImportReport:
    """Stream a Kaggle snapshot (``kind='snapshot'``) or a daily listing file (``'listing'``)."""
    make = kaggle_record if kind == "snapshot" else listing_record
    stream, _size = open_input(path)
    last = [0]

    def tick(_n: int) -> None:
        if progress_bytes:
            pos = raw_position(stream)
            if pos > last[0]:
                progress_bytes(pos - last[0])
                last[0] = pos

    records = _records_from_lines(stream, make, keep)
    if limit is not None:
        records = (r for _, r in zip(range(limit), records, strict=False))
    try:
        return import_records(store, records, dry_run=dry_run, progress=tick)
    finally:
        if str(path) != "-":
            stream.close()


def import_arxiv(
    store: Store,
    api: ArxivAPI,
    *,
    search_query: str = "",
    ids: list[str] | None = None,
    max_results: int | None = None,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> ImportReport:
    """Query the arXiv API (by query or id list); each page is one transaction."""
    report = ImportReport()
    wanted = {normalize_arxiv_id(i) for i in ids} if ids else set()
    pages = (
        api.by_ids(sorted(wanted))
        if ids
        else api.pages(search_query=search_query, max_results=max_results)
    )
    for page in pages:
        report.seen += len(page.records) + len(page.errors)
        for err in page.errors:
            report.skip(err)
        write_papers(store, page.records, report, dry_run)
        if progress:
            progress(len(page.records) + len(page.errors))
        if ids:
            for rec in page.records:
                wanted.discard(rec.id)
    for missing in sorted(wanted):
        report.skip(f"{missing}: not found on arXiv")
    return report


def import_feed_items(
    store: Store, items: list[FeedItem], problems: list[str], report: ImportReport, dry_run: bool
) -> None:
    report.seen += len(items) + len(problems)
    for p in problems:
        report.skip(p)
    if not items:
        return
    counts, added = _write(store, lambda c: store.import_feed(items, c), dry_run)
    _add_counts(report, counts)
    report.feed_added += added


def import_hf_file(store: Store, path: str | Path, *, dry_run: bool = False) -> ImportReport:
    """Import a saved ``api/daily_papers`` answer (a JSON list of items)."""
    report = ImportReport()
    stream, _ = open_input(path)
    try:
        data = json.load(stream)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SourceError(f"{path}: not valid JSON ({exc})") from None
    finally:
        stream.close()
    items, problems = parse_daily_papers(data)
    import_feed_items(store, items, problems, report, dry_run)
    return report


def import_hf_days(
    store: Store,
    api: HFDailyPapers,
    days: list[date],
    *,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> ImportReport:
    report = ImportReport()
    for day in days:
        for items, problems in api.pages(day):
            import_feed_items(store, items, problems, report, dry_run)
        if progress:
            progress(1)
    return report


def harvest_oai(
    store: Store,
    harvester: OAIHarvester,
    *,
    from_: date | None = None,
    until: date | None = None,
    set_: str | None = None,
    restart: bool = False,
    dry_run: bool = False,
    progress: Progress | None = None,
    log: Callable[[str], None] = lambda _m: None,
) -> ImportReport:
    """Harvest ListRecords into the store, resumable after a crash.

    Each page's records and the resumption token that follows them are committed together;
    a later run with the same parameters continues from the last committed token.
    """
    report = ImportReport()
    # Not the endpoint URL: a token from elsewhere is refused (badResumptionToken), and
    # that case already restarts the range.
    params = {
        "from": from_.isoformat() if from_ else None,
        "until": until.isoformat() if until else None,
        "set": set_,
    }
    run_id, token, pages_done = None, None, 0
    if not dry_run:
        previous = store.resumable_job("oai", params)
        if previous and restart:
            store.finish_job(previous["id"], "abandoned", previous["stats"] or {}, "--restart")
        elif previous:
            run_id, token = previous["id"], previous["state"]["token"]
            stats = previous["stats"] or {}
            pages_done = stats.get("pages", 0)
            log(f"resuming harvest run {run_id} after page {pages_done}")
            _restore(report, stats)
        if run_id is None:
            run_id = store.start_job("oai", params)

    def harvest(start_token: str | None) -> None:
        nonlocal pages_done
        for page in harvester.pages(from_=from_, until=until, set_=set_, token=start_token):
            pages_done += 1
            _write_oai_page(store, page, report, run_id, pages_done, dry_run)
            if progress:
                progress(len(page.records))

    try:
        try:
            harvest(token)
        except OAIError as exc:
            if exc.code != "badResumptionToken" or token is None:
                raise
            log("the saved resumption token expired; harvesting the range again from the start")
            harvest(None)
    except BaseException as exc:
        if run_id is not None:
            store.fail_job(run_id, f"{type(exc).__name__}: {exc}")
        raise
    if run_id is not None:
        store.finish_job(run_id, "partial" if report.skipped else "ok", _stats(report, pages_done))
    return report


def _write_oai_page(store, page, report, run_id, pages_done, dry_run) -> None:
    report.seen += len(page.records) + len(page.errors)
    for err in page.errors:
        report.skip(err)

    def work(conn):
        counts = store.upsert_papers(page.records, conn) if page.records else None
        if counts:
            _add_counts(report, counts)
        if run_id is not None:
            state = {"token": page.token} if page.token else None
            store.checkpoint_job(run_id, state, _stats(report, pages_done), conn)

    _write(store, work, dry_run)


def _stats(report: ImportReport, pages: int) -> dict:
    return {
        "pages": pages,
        "seen": report.seen,
        "inserted": report.inserted,
        "updated": report.updated,
        "unchanged": report.unchanged,
        "skipped": len(report.skipped),
    }


def _restore(report: ImportReport, stats: dict) -> None:
    report.seen = stats.get("seen", 0)
    report.inserted = stats.get("inserted", 0)
    report.updated = stats.get("updated", 0)
    report.unchanged = stats.get("unchanged", 0)
