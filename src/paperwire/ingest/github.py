"""GitHub: find the code repository a paper links to, and keep its star count fresh."""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import click

from ..core.errors import ExitCode, SourceError
from ..core.hooks import hookimpl
from ..store import Store
from .http import PoliteClient, polite_client
from .sources import IngestRuntime, Register, Source, dry_run_option, pass_runtime

DEFAULT_API = "https://api.github.com"
_REPO_RE = re.compile(
    r"github\.com/([A-Za-z0-9](?:[A-Za-z0-9-]{0,38}))/([A-Za-z0-9._-]{1,100})", re.IGNORECASE
)
# First path segments that are GitHub pages, not users or organizations.
_NOT_OWNERS = {
    "about",
    "apps",
    "collections",
    "contact",
    "customer-stories",
    "enterprise",
    "events",
    "explore",
    "features",
    "issues",
    "login",
    "marketplace",
    "notifications",
    "orgs",
    "pricing",
    "pulls",
    "search",
    "settings",
    "site",
    "sponsors",
    "topics",
    "trending",
    # Hugging Face's own organization appears in the site chrome of scraped HF pages.
    "huggingface",
}


def canonical_repo(url_or_text: str) -> str | None:
    """``owner/repo`` from a GitHub URL or text containing one, or None."""
    m = _REPO_RE.search(url_or_text or "")
    while m:
        owner, repo = m.group(1), m.group(2)
        repo = re.sub(r"\.git$", "", repo.rstrip("."))
        if owner.lower() not in _NOT_OWNERS and repo and repo not in {".", ".."}:
            return f"{owner}/{repo}"
        m = _REPO_RE.search(url_or_text, m.end())
    return None


def find_repo(*texts: str | None) -> str | None:
    """The first GitHub repository mentioned in the given texts (abstract, comment, links)."""
    for text in texts:
        if text:
            repo = canonical_repo(text)
            if repo:
                return repo
    return None


@dataclass
class StarsReport:
    checked: int = 0
    updated: int = 0
    not_modified: int = 0
    gone: int = 0
    errors: list[str] = field(default_factory=list)
    rate_limited_until: datetime | None = None


class RateLimited(SourceError):
    def __init__(self, reset: datetime | None):
        super().__init__(f"GitHub rate limit reached; resets at {reset or 'an unknown time'}")
        self.reset = reset


class GitHubStars:
    """Fetch ``stargazers_count`` with conditional requests (ETag → 304 costs no quota)."""

    def __init__(self, client: PoliteClient, api_url: str = DEFAULT_API, token: str | None = None):
        self.client = client
        self.api_url = api_url.rstrip("/")
        self.headers = {
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
        }
        if token:
            self.headers["Authorization"] = f"Bearer {token}"

    def fetch(self, repo: str, etag: str | None) -> tuple[str, int | None, str | None, str | None]:
        """Return (status, stars, etag, canonical full name); status is ok|not-modified|gone."""
        headers = dict(self.headers)
        if etag:
            headers["If-None-Match"] = etag
        resp = self.client.get(f"{self.api_url}/repos/{repo}", headers=headers)
        if resp.status_code == 304:
            return "not-modified", None, etag, None
        if resp.status_code in (404, 451):
            return "gone", None, None, None
        remaining = resp.headers.get("X-RateLimit-Remaining")
        if resp.status_code in (403, 429) and (remaining == "0" or resp.status_code == 429):
            reset = resp.headers.get("X-RateLimit-Reset")
            when = datetime.fromtimestamp(int(reset), UTC) if reset and reset.isdigit() else None
            raise RateLimited(when)
        if resp.status_code != 200:
            raise SourceError(f"GitHub answered HTTP {resp.status_code} for {repo}")
        try:
            data = resp.json()
            stars = int(data["stargazers_count"])
        except (ValueError, KeyError, TypeError):
            raise SourceError(f"GitHub answer for {repo} has no star count") from None
        return "ok", stars, resp.headers.get("ETag"), data.get("full_name")


def refresh_stars(
    store: Store,
    stars: GitHubStars,
    *,
    limit: int = 500,
    max_age_hours: float = 24.0,
    wait_for_reset: bool = False,
    dry_run: bool = False,
    progress: Callable[[int], None] | None = None,
) -> StarsReport:
    """Refresh star counts of papers whose repo was not checked within ``max_age_hours``
    (``dry_run``: ask GitHub, record nothing)."""
    report = StarsReport()
    record: Callable[..., None] = (
        (lambda *_a, **_k: None) if dry_run else store.papers.record_github
    )
    cutoff = datetime.now(UTC).replace(tzinfo=None) - timedelta(hours=max_age_hours)
    todo = store.papers.due_for_stars(limit, cutoff)
    i = 0
    while i < len(todo):
        row = todo[i]
        try:
            status, count, etag, full_name = stars.fetch(row.github_repo, row.github_etag)
        except RateLimited as exc:
            if not wait_for_reset or exc.reset is None:
                report.rate_limited_until = exc.reset
                break
            time.sleep(max(0.0, (exc.reset - datetime.now(UTC)).total_seconds()) + 1)
            continue  # same repo again after the reset
        except SourceError as exc:
            report.errors.append(str(exc))
            i += 1
            continue
        i += 1
        report.checked += 1
        if status == "gone":
            report.gone += 1
            record(row.id, stars=None, etag=None, gone=True)
        elif status == "not-modified":
            report.not_modified += 1
            record(row.id, stars=None, etag=etag)
        else:
            report.updated += 1
            # full_name is GitHub's canonical spelling, also after a rename or transfer.
            record(row.id, stars=count, etag=etag, repo=full_name)
        if progress:
            progress(1)
    return report


@click.command("github-stars")
@click.option("--limit", type=click.IntRange(1), default=500, show_default=True)
@click.option(
    "--max-age",
    type=click.FloatRange(0),
    default=24.0,
    show_default=True,
    help="Refresh repos checked longer ago than this many hours.",
)
@click.option("--wait", is_flag=True, help="Sleep through a rate limit instead of stopping.")
@dry_run_option
@pass_runtime
def github_stars_command(
    runtime: IngestRuntime, limit: int, max_age: float, wait: bool, dry_run: bool
) -> None:
    """Refresh GitHub star counts (conditional requests; rate-limit aware)."""
    store = runtime.open_store()
    settings = runtime.settings.sources
    with polite_client(settings) as client, runtime.progress(limit, "repos") as bar:
        gh = GitHubStars(client, settings.github_api_url, settings.github_token or None)
        r = refresh_stars(
            store,
            gh,
            limit=limit,
            max_age_hours=max_age,
            wait_for_reset=wait,
            dry_run=dry_run,
            progress=bar.update,
        )
    click.echo(
        f"{r.checked} checked, {r.updated} updated, {r.not_modified} not modified, "
        f"{r.gone} gone, {len(r.errors)} errors"
    )
    for e in r.errors[:20]:
        runtime.say(f"error: {e}")
    if r.rate_limited_until:
        runtime.say(f"stopped: GitHub rate limit until {r.rate_limited_until:%Y-%m-%d %H:%M} UTC")
        sys.exit(ExitCode.SOURCE)
    sys.exit(ExitCode.PARTIAL if r.errors else ExitCode.OK)


SOURCE = Source(
    "github",
    trust=0,
    description="GitHub star counts of the papers' code repositories (no papers).",
    commands=(github_stars_command,),
)


@hookimpl
def register_sources(register: Register) -> None:
    register(SOURCE)
