"""arXiv OAI-PMH (``metadataPrefix=arXiv``): parser and resumable harvester.

https://info.arxiv.org/help/oa/index.html — ListRecords with from/until/set, continued with
resumption tokens. The harvest job saves each token in the same transaction as the records
of its page, so a crash resumes from the last committed page: nothing lost, nothing twice.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime

from lxml import etree

from ..ids import InvalidArxivId, parse_arxiv_id
from .github import find_repo
from .http import PoliteClient, SourceError, TransientError
from .records import BadRecord, PaperRecord

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


def _local(el) -> str:
    return etree.QName(el).localname


def _child(el, name: str):
    for c in el:
        if isinstance(c.tag, str) and _local(c) == name:
            return c
    return None


def _children(el, name: str):
    return [c for c in el if isinstance(c.tag, str) and _local(c) == name]


def _text(el, name: str) -> str | None:
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


def _author(el) -> str:
    parts = [_text(el, "forenames"), _text(el, "keyname"), _text(el, "suffix")]
    return " ".join(p.strip() for p in parts if p and p.strip())


def parse_record(record) -> PaperRecord:
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
        source="oai",
    ).validated(raw_id)


class OAIHarvester:
    def __init__(self, client: PoliteClient, base_url: str = DEFAULT_URL):
        self.client = client
        self.base_url = base_url

    def fetch(self, params: dict) -> OAIPage:
        holder: dict[str, OAIPage] = {}

        def check(resp) -> None:
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
