"""Hugging Face ``api/daily_papers``: parser and paging client.

Each item is a paper submitted to the daily feed, with its upvotes, submitter, organization
and code links. Field names follow the public API (see tests/fixtures/hf-api).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from ..core.errors import BadRecord, SourceError
from ..core.hooks import hookimpl
from ..core.records import FeedItem, PaperRecord
from ..store import Store
from .files import open_input
from .github import canonical_repo, find_repo
from .http import PoliteClient, polite_client
from .pipeline import Progress, Trust, write_feed_items
from .report import ImportReport
from .sources import IngestRuntime, Register, Source, dry_run_option, parse_day, pass_runtime

NAME = "hf"
DEFAULT_URL = "https://huggingface.co"
MAX_PAGES = 200


def _dt(value: Any) -> datetime | None:
    if not value or not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def parse_item(item: Any, where: str = "") -> FeedItem:
    if not isinstance(item, dict) or not isinstance(item.get("paper"), dict):
        raise BadRecord("item has no paper object", where)
    paper = item["paper"]
    authors = []
    for a in paper.get("authors") or []:
        if isinstance(a, dict) and isinstance(a.get("name"), str):
            authors.append(a["name"])
    summary = paper.get("summary") or item.get("summary") or ""
    repo = paper.get("githubRepo")
    stars = paper.get("githubStars")
    rec = PaperRecord(
        id=str(paper.get("id") or ""),
        title=paper.get("title") or item.get("title") or "",
        abstract=summary,
        authors=authors,
        published=_dt(paper.get("publishedAt")),
        github_repo=canonical_repo(repo) if isinstance(repo, str) else find_repo(summary),
        github_stars=stars if isinstance(stars, int) and stars >= 0 else None,
        project_page=paper.get("projectPage")
        if isinstance(paper.get("projectPage"), str)
        else None,
        source=NAME,
    ).validated(where)
    submitted = _dt(paper.get("submittedOnDailyAt")) or _dt(item.get("publishedAt"))
    if submitted is None:
        raise BadRecord(f"{rec.id} has no submission time", where)
    by = item.get("submittedBy") or paper.get("submittedOnDailyBy") or {}
    org = item.get("organization") or paper.get("organization") or {}
    upvotes = paper.get("upvotes", 0)
    comments = item.get("numComments", 0)
    return FeedItem(
        paper=rec,
        feed_date=submitted.date(),
        submitted_at=submitted,
        submitted_by=by.get("name") if isinstance(by, dict) else None,
        submitter_fullname=by.get("fullname") if isinstance(by, dict) else None,
        submitter_avatar=by.get("avatarUrl") if isinstance(by, dict) else None,
        upvotes=upvotes if isinstance(upvotes, int) and upvotes >= 0 else 0,
        num_comments=comments if isinstance(comments, int) and comments >= 0 else 0,
        organization=org.get("name") if isinstance(org, dict) else None,
        organization_fullname=org.get("fullname") if isinstance(org, dict) else None,
        organization_avatar=org.get("avatar") if isinstance(org, dict) else None,
        thumbnail=item.get("thumbnail") if isinstance(item.get("thumbnail"), str) else None,
    )


def parse_daily_papers(data: Any) -> tuple[list[FeedItem], list[str]]:
    """Parse a decoded ``api/daily_papers`` answer: (items, problems)."""
    if not isinstance(data, list):
        raise SourceError("daily_papers answer is not a JSON list")
    items, problems = [], []
    for n, raw in enumerate(data):
        try:
            items.append(parse_item(raw, f"item {n}"))
        except (BadRecord, ValueError, TypeError) as exc:
            problems.append(str(exc))
    return items, problems


class HFDailyPapers:
    def __init__(self, client: PoliteClient, base_url: str = DEFAULT_URL, page_size: int = 100):
        self.client = client
        self.base_url = base_url.rstrip("/")
        self.page_size = page_size

    def pages(self, day: date) -> Iterator[tuple[list[FeedItem], list[str]]]:
        """All items of one feed day, page by page (``p`` is zero-based, ``limit`` ≤ 100)."""
        for p in range(MAX_PAGES):
            resp = self.client.get(
                f"{self.base_url}/api/daily_papers",
                params={"date": day.isoformat(), "limit": self.page_size, "p": p},
            )
            if resp.status_code >= 400:
                raise SourceError(
                    f"daily_papers answered HTTP {resp.status_code}: {resp.text[:200]}"
                )
            try:
                data = resp.json()
            except json.JSONDecodeError as exc:
                raise SourceError(f"daily_papers answer is not JSON: {exc}") from None
            items, problems = parse_daily_papers(data)
            if not data:
                return
            for item in items:  # the day we asked for is the feed day, whatever the clock
                item.feed_date = day
            yield items, problems
            if len(data) < self.page_size:
                return


def import_hf_file(
    store: Store, trust: Trust, path: str | Path, *, dry_run: bool = False
) -> ImportReport:
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
    write_feed_items(store, trust, items, problems, report, dry_run)
    return report


def import_hf_days(
    store: Store,
    trust: Trust,
    api: HFDailyPapers,
    days: list[date],
    *,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> ImportReport:
    report = ImportReport()
    for day in days:
        for items, problems in api.pages(day):
            write_feed_items(store, trust, items, problems, report, dry_run)
        if progress:
            progress(1)
    return report


@click.command("hf-daily")
@click.option("--date", "day", callback=parse_day, help="Feed day to fetch (default: today).")
@click.option(
    "--days",
    type=click.IntRange(1, 366),
    default=1,
    show_default=True,
    help="Fetch this many days ending at --date.",
)
@click.option(
    "--file",
    "file_",
    type=click.Path(exists=True, dir_okay=False, allow_dash=True),
    help="Import a saved api/daily_papers answer instead of fetching.",
)
@dry_run_option
@pass_runtime
def hf_daily_command(
    runtime: IngestRuntime, day: date | None, days: int, file_: str | None, dry_run: bool
) -> None:
    """Hugging Face daily papers: feed entries with upvotes, submitters, code links."""
    store = runtime.open_store()
    trust = runtime.sources.trust
    if file_:
        report = import_hf_file(store, trust, file_, dry_run=dry_run)
    else:
        end = day or date.today()
        wanted = [end - timedelta(days=n) for n in range(days - 1, -1, -1)]
        settings = runtime.settings.sources
        with polite_client(settings) as client, runtime.progress(len(wanted), "days") as bar:
            api = HFDailyPapers(client, settings.hf_api_url)
            report = import_hf_days(store, trust, api, wanted, dry_run=dry_run, progress=bar.update)
    runtime.report(report, dry_run)


SOURCE = Source(
    NAME,
    trust=3,
    description="Hugging Face daily papers (api/daily_papers): feed days with upvotes.",
    commands=(hf_daily_command,),
)


@hookimpl
def register_sources(register: Register) -> None:
    register(SOURCE)
