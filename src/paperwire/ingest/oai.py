"""arXiv OAI-PMH (``metadataPrefix=arXiv``): parser and resumable harvester.

https://info.arxiv.org/help/oa/index.html — ListRecords with from/until/set, continued with
resumption tokens. The harvest job saves each token in the same transaction as the records
of its page, so a crash resumes from the last committed page: nothing lost, nothing twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import click
from lxml import etree

from ..core.errors import BadRecord, InvalidArxivId, SourceError
from ..core.hooks import hookimpl
from ..core.ids import parse_arxiv_id
from ..core.records import PaperRecord
from ..store import Store
from .github import find_repo
from .http import PoliteClient, TransientError, polite_client
from .pipeline import Progress, Trust, count
from .report import ImportReport
from .sources import IngestRuntime, Register, Source, dry_run_option, parse_day, pass_runtime

NAME = "oai"
DEFAULT_URL = "https://oaipmh.arxiv.org/oai"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True)


class OAIError(SourceError):
    def __init__(self, code: str, message: str):
        super().__init__(f"OAI-PMH error {code}: {message}")
        self.code = code


@dataclass
class OAIPage:
    records: list[PaperRecord] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    token: str | None = None
    complete_size: int | None = None
    cursor: int | None = None


def _local(el: Any) -> str:
    return etree.QName(el).localname


def _child(el: Any, name: str) -> Any:
    for c in el:
        if isinstance(c.tag, str) and _local(c) == name:
            return c
    return None


def _children(el: Any, name: str) -> list[Any]:
    return [c for c in el if isinstance(c.tag, str) and _local(c) == name]


def _text(el: Any, name: str) -> str | None:
    c = _child(el, name) if el is not None else None
    return c.text if c is not None and c.text else None


def _day(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.combine(date.fromisoformat(text.strip()[:10]), datetime.min.time())


def parse_oai(xml: bytes) -> OAIPage:
    """Parse a GetRecord or ListRecords response (namespace-tolerant)."""
    try:
        root = etree.fromstring(xml, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise TransientError(f"unparseable OAI-PMH response: {exc}") from None
    if _local(root) != "OAI-PMH":
        raise SourceError(f"not an OAI-PMH response (root element {_local(root)!r})")
    err = _child(root, "error")
    if err is not None:
        code = err.get("code", "unknown")
        if code == "noRecordsMatch":
            return OAIPage()
        raise OAIError(code, (err.text or "").strip())
    page = OAIPage()
    body = _child(root, "ListRecords")
    if body is None:
        body = _child(root, "GetRecord")
    if body is None:
        raise SourceError("OAI-PMH response has neither ListRecords nor GetRecord")
    for n, record in enumerate(_children(body, "record")):
        header = _child(record, "header")
        ident = (_text(header, "identifier") or "").strip() if header is not None else ""
        if header is not None and header.get("status") == "deleted":
            page.deleted.append(ident)
            continue
        try:
            page.records.append(parse_record(record))
        except (BadRecord, ValueError) as exc:
            page.errors.append(f"record {n} {ident}: {exc}")
    tok = _child(body, "resumptionToken")
    if tok is not None:
        page.token = (tok.text or "").strip() or None
        size, cursor = tok.get("completeListSize"), tok.get("cursor")
        page.complete_size = int(size) if size and size.isdigit() else None
        page.cursor = int(cursor) if cursor and cursor.isdigit() else None
    return page


def _author(el: Any) -> str:
    parts = [_text(el, "forenames"), _text(el, "keyname"), _text(el, "suffix")]
    return " ".join(p.strip() for p in parts if p and p.strip())


def parse_record(record: Any) -> PaperRecord:
    meta = _child(record, "metadata")
    arxiv = _child(meta, "arXiv") if meta is not None else None
    if arxiv is None:
        raise BadRecord("no arXiv metadata")
    raw_id = (_text(arxiv, "id") or "").strip()
    try:
        base, _ = parse_arxiv_id(raw_id)
    except InvalidArxivId as exc:
        raise BadRecord(str(exc)) from None
    authors_el = _child(arxiv, "authors")
    authors = (
        [_author(a) for a in _children(authors_el, "author")] if authors_el is not None else []
    )
    categories = (_text(arxiv, "categories") or "").split()
    doi = (_text(arxiv, "doi") or "").replace(",", " ").replace(";", " ").split()
    comment, abstract = _text(arxiv, "comments"), _text(arxiv, "abstract") or ""
    return PaperRecord(
        id=base,
        title=_text(arxiv, "title") or "",
        abstract=abstract,
        authors=authors,
        categories=categories,
        primary_category=categories[0] if categories else None,
        published=_day(_text(arxiv, "created")),
        updated=_day(_text(arxiv, "updated")),
        comment=comment,
        journal_ref=_text(arxiv, "journal-ref"),
        doi=doi[0] if doi else None,
        github_repo=find_repo(abstract, comment),
        source=NAME,
    ).validated(raw_id)


class OAIHarvester:
    def __init__(self, client: PoliteClient, base_url: str = DEFAULT_URL):
        self.client = client
        self.base_url = base_url

    def fetch(self, params: dict[str, Any]) -> OAIPage:
        holder: dict[str, OAIPage] = {}

        def check(resp: Any) -> None:
            holder["page"] = parse_oai(resp.content)

        resp = self.client.get(self.base_url, params=params, check=check)
        if resp.status_code >= 400:
            try:
                parse_oai(resp.content)  # OAI errors sometimes come with a 4xx status
            except (SourceError, TransientError) as exc:
                raise SourceError(f"OAI-PMH answered HTTP {resp.status_code}: {exc}") from None
            raise SourceError(f"OAI-PMH answered HTTP {resp.status_code}")
        return holder["page"]

    def pages(
        self,
        *,
        from_: date | None = None,
        until: date | None = None,
        set_: str | None = None,
        token: str | None = None,
    ) -> Iterator[OAIPage]:
        """ListRecords pages; start from ``token`` to continue an interrupted harvest."""
        params: dict[str, Any]
        if token:
            params = {"verb": "ListRecords", "resumptionToken": token}
        else:
            params = {"verb": "ListRecords", "metadataPrefix": "arXiv"}
            if from_:
                params["from"] = from_.isoformat()
            if until:
                params["until"] = until.isoformat()
            if set_:
                params["set"] = set_
        while True:
            page = self.fetch(params)
            yield page
            if not page.token:
                return
            params = {"verb": "ListRecords", "resumptionToken": page.token}


def harvest_oai(
    store: Store,
    trust: Trust,
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
    run_id: int | None = None
    token: str | None = None
    pages_done = 0
    if not dry_run:
        previous = store.jobs.resumable("oai", params)
        if previous and restart:
            store.jobs.finish(previous.id, "abandoned", previous.stats or {}, "--restart")
        elif previous:
            run_id, token = previous.id, (previous.state or {}).get("token")
            stats = previous.stats or {}
            pages_done = stats.get("pages", 0)
            log(f"resuming harvest run {run_id} after page {pages_done}")
            _restore(report, stats)
        if run_id is None:
            run_id = store.jobs.start("oai", params)

    def harvest(start_token: str | None) -> None:
        nonlocal pages_done
        for page in harvester.pages(from_=from_, until=until, set_=set_, token=start_token):
            pages_done += 1
            _write_oai_page(store, trust, page, report, run_id, pages_done, dry_run)
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
            store.jobs.fail(run_id, f"{type(exc).__name__}: {exc}")
        raise
    if run_id is not None:
        store.jobs.finish(run_id, "partial" if report.skipped else "ok", _stats(report, pages_done))
    return report


def _write_oai_page(
    store: Store,
    trust: Trust,
    page: OAIPage,
    report: ImportReport,
    run_id: int | None,
    pages_done: int,
    dry_run: bool,
) -> None:
    report.seen += len(page.records) + len(page.errors)
    for err in page.errors:
        report.skip(err)

    with store.db.transaction(dry_run) as conn:
        counts = store.papers.upsert(page.records, trust, conn) if page.records else None
        count(report, counts)
        if run_id is not None:
            state = {"token": page.token} if page.token else None
            store.jobs.checkpoint(run_id, state, _stats(report, pages_done), conn)


def _stats(report: ImportReport, pages: int) -> dict[str, int]:
    return {
        "pages": pages,
        "seen": report.seen,
        "inserted": report.inserted,
        "updated": report.updated,
        "unchanged": report.unchanged,
        "skipped": len(report.skipped),
    }


def _restore(report: ImportReport, stats: dict[str, Any]) -> None:
    report.seen = stats.get("seen", 0)
    report.inserted = stats.get("inserted", 0)
    report.updated = stats.get("updated", 0)
    report.unchanged = stats.get("unchanged", 0)


@click.command("oai")
@click.option("--from", "from_", callback=parse_day, help="Records changed on or after this day.")
@click.option("--until", callback=parse_day, help="Records changed on or before this day.")
@click.option("--set", "set_", help="OAI set, e.g. cs or physics:hep-th.")
@click.option("--restart", is_flag=True, help="Ignore an interrupted run; start over.")
@dry_run_option
@pass_runtime
def oai_command(
    runtime: IngestRuntime,
    from_: date | None,
    until: date | None,
    set_: str | None,
    restart: bool,
    dry_run: bool,
) -> None:
    """Harvest arXiv OAI-PMH; an interrupted harvest resumes where it stopped."""
    store = runtime.open_store()
    settings = runtime.settings.sources
    with polite_client(settings, arxiv=True) as client, runtime.progress(None, "records") as bar:
        report = harvest_oai(
            store,
            runtime.sources.trust,
            OAIHarvester(client, settings.arxiv_oai_url),
            from_=from_,
            until=until,
            set_=set_,
            restart=restart,
            dry_run=dry_run,
            progress=bar.update,
            log=runtime.say,
        )
    runtime.report(report, dry_run)


SOURCE = Source(
    NAME,
    trust=4,
    description="arXiv OAI-PMH (metadataPrefix=arXiv), resumable after a crash.",
    commands=(oai_command,),
)


@hookimpl
def register_sources(register: Register) -> None:
    register(SOURCE)
