"""arXiv API (Atom): parser and paging client.

https://info.arxiv.org/help/api/user-manual.html — at most one request every 3 seconds,
up to 2000 results per page, an Atom error feed (HTTP 400) for bad queries.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import click
from lxml import etree

from ..core.errors import BadRecord, InvalidArxivId, SourceError
from ..core.hooks import hookimpl
from ..core.ids import normalize_arxiv_id, parse_arxiv_id
from ..core.records import PaperRecord
from ..store import Store
from .github import find_repo
from .http import PoliteClient, TransientError, polite_client
from .pipeline import Progress, Trust, write_papers
from .report import ImportReport
from .sources import IngestRuntime, Register, Source, dry_run_option, parse_day, pass_runtime

ATOM = "{http://www.w3.org/2005/Atom}"
ARXIV = "{http://arxiv.org/schemas/atom}"
OPENSEARCH = "{http://a9.com/-/spec/opensearch/1.1/}"
NAME = "arxiv-api"
DEFAULT_URL = "https://export.arxiv.org/api/query"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


class ArxivAPIError(SourceError):
    """arXiv answered with its error feed (e.g. a malformed query or id)."""


@dataclass
class AtomPage:
    total: int
    start: int
    per_page: int
    records: list[PaperRecord] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _dt(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.strip().replace("Z", "+00:00"))


def _int(el: Any) -> int:
    try:
        return int((el.text or "0").strip()) if el is not None else 0
    except ValueError:
        return 0


def parse_atom(xml: bytes) -> AtomPage:
    """Parse one API response. Raises ArxivAPIError for arXiv's error feed and TransientError
    for XML that does not parse (arXiv sometimes cuts responses short)."""
    try:
        root = etree.fromstring(xml, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise TransientError(f"unparseable Atom response: {exc}") from None
    if root.tag != f"{ATOM}feed":
        raise SourceError(f"not an Atom feed (root element {root.tag!r})")
    entries = root.findall(f"{ATOM}entry")
    for entry in entries:
        eid = entry.findtext(f"{ATOM}id") or ""
        if "/api/errors" in eid:
            message = (entry.findtext(f"{ATOM}summary") or "unknown error").strip()
            raise ArxivAPIError(f"arXiv API error: {message}")
    page = AtomPage(
        total=_int(root.find(f"{OPENSEARCH}totalResults")),
        start=_int(root.find(f"{OPENSEARCH}startIndex")),
        per_page=_int(root.find(f"{OPENSEARCH}itemsPerPage")),
    )
    for n, entry in enumerate(entries):
        try:
            page.records.append(parse_entry(entry))
        except (BadRecord, ValueError) as exc:
            page.errors.append(f"entry {page.start + n}: {exc}")
    return page


def parse_entry(entry: Any) -> PaperRecord:
    eid = (entry.findtext(f"{ATOM}id") or "").strip()
    try:
        base, version = parse_arxiv_id(eid)
    except InvalidArxivId as exc:
        raise BadRecord(str(exc)) from None
    primary = entry.find(f"{ARXIV}primary_category")
    comment = entry.findtext(f"{ARXIV}comment")
    abstract = entry.findtext(f"{ATOM}summary") or ""
    rec = PaperRecord(
        id=base,
        version=version,
        title=entry.findtext(f"{ATOM}title") or "",
        abstract=abstract,
        authors=[(a.findtext(f"{ATOM}name") or "").strip() for a in entry.findall(f"{ATOM}author")],
        categories=[c.get("term") for c in entry.findall(f"{ATOM}category") if c.get("term")],
        primary_category=primary.get("term") if primary is not None else None,
        published=_dt(entry.findtext(f"{ATOM}published")),
        updated=_dt(entry.findtext(f"{ATOM}updated")),
        comment=comment,
        journal_ref=entry.findtext(f"{ARXIV}journal_ref"),
        doi=entry.findtext(f"{ARXIV}doi"),
        github_repo=find_repo(abstract, comment),
        source=NAME,
    )
    return rec.validated(eid)


def category_query(category: str, day_from: date, day_until: date) -> str:
    """Search query for papers of a category submitted between two days (inclusive)."""
    end = day_until + timedelta(days=1)
    return f"cat:{category} AND submittedDate:[{day_from:%Y%m%d}0000 TO {end:%Y%m%d}0000]"


class ArxivAPI:
    def __init__(
        self,
        client: PoliteClient,
        base_url: str = DEFAULT_URL,
        page_size: int = 100,
        empty_page_retries: int = 2,
        deadline: float | None = None,
    ):
        self.client = client
        self.deadline = deadline  # time.monotonic() by which every request must be done
        self.base_url = base_url
        self.page_size = max(1, min(page_size, 2000))
        self.empty_page_retries = empty_page_retries

    def _fetch(self, params: dict[str, Any]) -> AtomPage:
        holder: dict[str, AtomPage] = {}

        def check(resp: Any) -> None:
            holder["page"] = parse_atom(resp.content)

        resp = self.client.get(self.base_url, params=params, check=check, deadline=self.deadline)
        if resp.status_code == 400:
            parse_atom(resp.content)  # raises ArxivAPIError with arXiv's own message
        if resp.status_code >= 400:
            raise SourceError(f"arXiv API answered HTTP {resp.status_code}")
        return holder["page"]

    def pages(
        self,
        *,
        search_query: str = "",
        id_list: list[str] | None = None,
        max_results: int | None = None,
        sort_by: str = "submittedDate",
    ) -> Iterator[AtomPage]:
        """Yield pages until ``max_results`` or the end of the results."""
        start, seen, empty_retries = 0, 0, 0
        while True:
            size = (
                self.page_size if max_results is None else min(self.page_size, max_results - seen)
            )
            if size <= 0:
                return
            params: dict[str, Any] = {
                "search_query": search_query,
                "start": start,
                "max_results": size,
            }
            if id_list:
                params["id_list"] = ",".join(id_list)
            else:
                params.update(sortBy=sort_by, sortOrder="descending")
            page = self._fetch(params)
            got = len(page.records) + len(page.errors)
            if got == 0:
                # arXiv occasionally returns an empty page in the middle of a result set.
                if start < page.total and empty_retries < self.empty_page_retries:
                    empty_retries += 1
                    continue
                return
            empty_retries = 0
            yield page
            seen += got
            start += got
            if start >= page.total or (max_results is not None and seen >= max_results):
                return

    def by_ids(self, ids: list[str]) -> Iterator[AtomPage]:
        for i in range(0, len(ids), 100):
            chunk = ids[i : i + 100]
            yield from self.pages(id_list=chunk, max_results=len(chunk))


def import_arxiv(
    store: Store,
    trust: Trust,
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
        write_papers(store, trust, page.records, report, dry_run)
        if progress:
            progress(len(page.records) + len(page.errors))
        if ids:
            for rec in page.records:
                wanted.discard(rec.id)
    for missing in sorted(wanted):
        report.skip(f"{missing}: not found on arXiv")
    return report


@click.command("arxiv")
@click.option("--category", help="arXiv category, e.g. cs.CV.")
@click.option("--from", "from_", callback=parse_day, help="First submission day (YYYY-MM-DD).")
@click.option("--until", callback=parse_day, help="Last submission day (default: --from).")
@click.option("--query", help="A raw arXiv API search_query instead of --category.")
@click.option("--max", "max_results", type=click.IntRange(1), default=2000, show_default=True)
@dry_run_option
@pass_runtime
def arxiv_command(
    runtime: IngestRuntime,
    category: str | None,
    from_: date | None,
    until: date | None,
    query: str | None,
    max_results: int,
    dry_run: bool,
) -> None:
    """Papers from the arXiv API, by category and submission days or by query."""
    if bool(category) == bool(query):
        raise click.UsageError("give either --category (with --from) or --query")
    if category:
        if from_ is None:
            raise click.UsageError("--category needs --from")
        query = category_query(category, from_, until or from_)
    store = runtime.open_store()
    settings = runtime.settings.sources
    with polite_client(settings, arxiv=True) as client, runtime.progress(None, "papers") as bar:
        report = import_arxiv(
            store,
            runtime.sources.trust,
            ArxivAPI(client, settings.arxiv_api_url),
            search_query=query or "",
            max_results=max_results,
            dry_run=dry_run,
            progress=bar.update,
        )
    runtime.report(report, dry_run)


@click.command("id")
@click.argument("ids", nargs=-1, required=True)
@dry_run_option
@pass_runtime
def id_command(runtime: IngestRuntime, ids: tuple[str, ...], dry_run: bool) -> None:
    """One or more papers by arXiv id (or abs/pdf URL)."""
    try:
        wanted = [normalize_arxiv_id(i) for i in ids]
    except InvalidArxivId as exc:
        raise click.BadParameter(str(exc), param_hint="IDS") from None
    store = runtime.open_store()
    settings = runtime.settings.sources
    with polite_client(settings, arxiv=True) as client:
        api = ArxivAPI(client, settings.arxiv_api_url)
        report = import_arxiv(store, runtime.sources.trust, api, ids=wanted, dry_run=dry_run)
    runtime.report(report, dry_run)


SOURCE = Source(
    NAME,
    trust=4,
    description="The arXiv API (Atom): by category and days, by query, or by id.",
    commands=(arxiv_command, id_command),
)


@hookimpl
def register_sources(register: Register) -> None:
    register(SOURCE)
