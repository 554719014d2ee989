"""Hugging Face ``api/daily_papers``: parser and paging client.

Each item is a paper submitted to the daily feed, with its upvotes, submitter, organization
and code links. Field names follow the public API (see tests/fixtures/hf-api).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, datetime

from .github import canonical_repo, find_repo
from .http import PoliteClient, SourceError
from .records import BadRecord, FeedItem, PaperRecord

DEFAULT_URL = "https://huggingface.co"
MAX_PAGES = 200


def _dt(value) -> datetime | None:
    if not value or not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def parse_item(item: dict, where: str = "") -> FeedItem:
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
        source="hf",
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


def parse_daily_papers(data) -> tuple[list[FeedItem], list[str]]:
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
