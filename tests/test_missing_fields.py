"""Papers that lack a field (authors, abstract, date, categories, organization, code) read
well everywhere: cards, paper pages, profile, organization and search pages, the digest
e-mail, Atom, the JSON API and BibTeX. No "0 authors", no dangling "·", no 1970, no
"Unknown", no "Published on" without a date."""

from __future__ import annotations

import copy
import json
import re
from datetime import UTC, date, datetime, timedelta
from html import unescape
from xml.etree import ElementTree as ET

import pytest

from paperwire.core.models import Subscription
from paperwire.core.records import PaperRecord
from paperwire.mail import render as mail_render

from .storekit import TRUST, search_engine
from .test_search import embedder  # noqa: F401 - the session's embedding model fixture
from .webkit import Visitor, site

ATOM = "{http://www.w3.org/2005/Atom}"
WORD = "Quokka"  # in every title below, and in no real paper of the seed
PUBLISHED = datetime(2025, 3, 17, 18, 0)
FULL = dict(
    abstract="Quokka detection in camera-trap images with a small vision transformer; "
    "we release a dataset of marsupial sightings and code.",
    authors=["Ada Lovelace", "Alan Turing"],
    categories=["cs.CV", "cs.LG"],
    primary_category="cs.CV",
    published=PUBLISHED,
)
# Each paper lacks one field; the last two lack all of them (one with an organization).
LACKING = {
    "2503.90001": ("authors", dict(FULL, authors=[], github_repo="quokka/detector")),
    "2503.90002": ("abstract", dict(FULL, abstract="")),
    "2503.90003": ("published date", dict(FULL, published=None)),
    "2503.90004": ("categories", dict(FULL, categories=[], primary_category=None)),
    "2503.90005": ("everything", {}),
    "2503.90006": ("everything but an organization", {}),
}
OFF_FEED = "2503.90007"  # lacks everything and is not on the feed: only search finds it
ORG = "marsupial-lab"

BLOCK = re.compile(
    r"</?(?:p|li|div|h[1-6]|article|section|aside|ul|ol|tr|td|br|header|footer|nav|pre"
    r"|details|summary|form|main|title)\b[^>]*>",
    re.I,
)


def lines(html: str) -> list[str]:
    """The text of a page or e-mail as a reader sees it, one line per block."""
    html = re.sub(r"<(script|style)\b.*?</\1>", "", html, flags=re.S | re.I)
    html = " ".join(html.split())  # as a browser collapses white space
    text = unescape(re.sub(r"<[^>]+>", " ", BLOCK.sub("\n", html)))
    return [" ".join(line.split()) for line in text.splitlines() if line.strip()]


def ugly(text_lines: list[str]) -> list[str]:
    """Lines that show a missing field badly."""
    bad = []
    for line in text_lines:
        if (
            re.search(r"\b0 authors?\b|\bUnknown\b|\b1970\b|\bnull\b|\bNone\b(?! yet)", line)
            or line.startswith("·")
            or line.endswith("·")
            or re.search(r"·\s*·|\(\s*·|·\s*\)", line)
            or re.search(r"\b(?:Published|published) on\s*(?:·|$|on\b)", line)
            or re.search(r"\bby\s*(?:·|$)", line)
        ):
            bad.append(line)
    return bad


def card_html(page: str, pid: str) -> str:
    m = re.search(rf'<article\b[^>]*\bid="paper-{re.escape(pid)}".*?</article>', page, re.S)
    assert m, f"no card for {pid}"
    return m.group(0)


@pytest.fixture
def sparse(web, tmp_path, embedder):  # noqa: F811
    """The seeded site plus the lacking papers, all on today's feed but one, embedded (so
    that they are each other's similar papers), with a page size that shows them all."""
    _, store, ids, _ = web
    records = [
        PaperRecord(id=pid, title=f"{WORD} {what.title()}: a study", source="arxiv-api", **fields)
        for pid, (what, fields) in LACKING.items()
    ]
    records.append(PaperRecord(id=OFF_FEED, title=f"{WORD} off the feed", source="arxiv-api"))
    store.papers.upsert([r.validated() for r in records], TRUST)
    curator = store.accounts.get_user(username="curator1")
    today = date.today()
    for pid in LACKING:
        store.feed.submit(pid, curator.id, today, datetime.combine(today, datetime.min.time()))
    org = store.accounts.create_organization(ORG, "Marsupial Lab")
    store.accounts.set_paper_organization("2503.90006", org)
    search_engine(store, embedder=embedder).indexer().embed_missing()
    app, config = site(store, tmp_path, page_size=50)
    return app, store, config


def test_pages_show_what_is_known_and_nothing_broken(sparse):
    app, store, _ = sparse
    v = Visitor(app)
    today = date.today()
    pages = {
        "daily": v.get(f"/papers/date/{today}"),
        "week": v.get("/papers/week"),
        "trending": v.get("/papers/trending"),
        "profile": v.get("/users/curator1"),
        "organization": v.get(f"/organizations/{ORG}"),
        "search": v.get("/papers", params={"q": WORD.lower()}),
    }
    pages["week"] = v.get(pages["week"].headers["location"])
    for name, r in pages.items():
        assert r.status_code == 200, name
        assert ugly(lines(r.text)) == [], name
    daily, search = pages["daily"].text, pages["search"].text
    for pid, (what, _) in LACKING.items():
        for name in ("daily", "search", "profile"):
            card = lines(card_html(pages[name].text, pid))
            assert ugly(card) == [], (name, what, card)
    # what a card does show
    no_authors = " ".join(lines(card_html(daily, "2503.90001")))
    assert "Mar 17, 2025" in no_authors and "Code" in no_authors
    no_date = " ".join(lines(card_html(daily, "2503.90003")))
    # the authors by name (linked to their pages), the feed day for the missing date
    assert "Ada Lovelace , Alan Turing" in no_date and today.strftime("%b") in no_date
    assert "Marsupial Lab" in " ".join(lines(card_html(pages["organization"].text, "2503.90006")))
    assert '<p class="abstract"></p>' not in daily and '<p class="abstract"></p>' not in search
    off = lines(card_html(search, OFF_FEED))
    assert ugly(off) == [] and f"{WORD} off the feed" in off


def paper_lines(v: Visitor, pid: str) -> list[str]:
    r = v.get(f"/papers/{pid}")
    assert r.status_code == 200
    return lines(r.text)


def test_paper_pages_show_what_is_known(sparse):
    app, store, _ = sparse
    v = Visitor(app)
    for pid, (what, _) in [*LACKING.items(), (OFF_FEED, ("everything, off the feed", {}))]:
        text = paper_lines(v, pid)
        assert ugly(text) == [], (what, ugly(text))
    dated = " ".join(paper_lines(v, "2503.90001"))
    assert "Published on Mar 17, 2025 · on the feed of" in dated
    undated = paper_lines(v, "2503.90003")
    on_feed = next(line for line in undated if "on the feed of" in line.lower())
    assert on_feed.startswith("On the feed of") and "Published" not in on_feed
    assert "submitted by curator1" in on_feed
    # off the feed and undated: no published line at all
    assert not [line for line in paper_lines(v, OFF_FEED) if "Published on" in line]
    # no authors: no empty list of them either
    assert 'class="authors"' not in v.get("/papers/2503.90001").text
    assert 'class="authors"' in v.get("/papers/2503.90002").text
    # a missing abstract says so instead of an empty section
    assert any("No abstract" in line for line in paper_lines(v, "2503.90002"))
    # similar papers lack the same fields and are listed without broken separators
    page = v.get("/papers/2503.90005").text
    similar = page[page.index('class="similar"') :]
    listed = [line for line in lines(similar) if WORD in line]
    assert len(listed) >= 3 and ugly(listed) == []


def bibtex(v: Visitor, pid: str) -> str:
    r = v.get(f"/papers/{pid}/bibtex")
    assert r.status_code == 200
    return r.text


def test_bibtex_leaves_out_what_is_unknown(sparse):
    app, _, _ = sparse
    v = Visitor(app)
    for pid in [*LACKING, OFF_FEED]:
        bib = bibtex(v, pid)
        assert "Unknown" not in bib and "anon" not in bib and "= {}" not in bib, bib
        head, *fields, tail = bib.strip().splitlines()
        assert re.fullmatch(r"@misc\{[a-z][a-z0-9]+,", head), head  # a key LaTeX accepts
        assert tail == "}" and bib.count("{") == bib.count("}")
        assert all(re.fullmatch(r"  \w+ = \{.+\},?", f) for f in fields), fields
        # the year of first submission is in every new-style arXiv id (2503 = 2025)
        assert "  year = {2025}," in fields
    no_authors = bibtex(v, "2503.90001")
    assert "author =" not in no_authors and no_authors.startswith("@misc{quokka2025")
    assert bibtex(v, "2503.90002").startswith("@misc{lovelace2025quokka,")
    assert bibtex(v, "2503.90003").startswith("@misc{lovelace2025quokka,")
    assert "primaryClass" not in bibtex(v, "2503.90004")


def atom_entries(v: Visitor, url: str) -> tuple[ET.Element, dict[str, ET.Element]]:
    r = v.get(url)
    assert r.status_code == 200, url
    feed = ET.fromstring(r.content)
    entries = {e.findtext(f"{ATOM}id").rsplit("/", 1)[1]: e for e in feed.findall(f"{ATOM}entry")}
    return feed, entries


def check_atom(feed: ET.Element, entries: dict[str, ET.Element]) -> None:
    feed_updated = feed.findtext(f"{ATOM}updated")
    assert feed_updated and not feed_updated.startswith("1970")
    feed_has_author = feed.find(f"{ATOM}author") is not None
    for pid, entry in entries.items():
        stamps = [
            e.text or "" for e in entry.iter() if e.tag in (f"{ATOM}published", f"{ATOM}updated")
        ]
        assert stamps and not [s for s in stamps if s.startswith("1970") or not s], pid
        for s in stamps:
            datetime.fromisoformat(s)
        names = [a.findtext(f"{ATOM}name") for a in entry.findall(f"{ATOM}author")]
        assert names or feed_has_author, f"{pid}: RFC 4287 needs an author"
        assert all(n and not re.search(r"\bauthors?\b|Unknown", n) for n in names), names
        summary = entry.findtext(f"{ATOM}summary") or ""
        assert summary == summary.strip() and "None" not in summary, summary


def test_atom_entries_are_true_and_valid(sparse):
    app, store, _ = sparse
    v = Visitor(app)
    feed, entries = atom_entries(v, f"/feeds/daily.atom?date={date.today()}")
    assert set(LACKING) <= set(entries)
    check_atom(feed, entries)
    dated = entries["2503.90001"]
    assert dated.findtext(f"{ATOM}published") == "2025-03-17T18:00:00+00:00"
    assert dated.find(f"{ATOM}author") is None  # no author is made up...
    assert feed.findtext(f"{ATOM}author/{ATOM}name")  # ...the feed's own author stands in
    undated = entries["2503.90003"]
    assert undated.find(f"{ATOM}published") is None  # optional: left out rather than invented
    submitted = store.feed.card("2503.90003").submitted_at
    assert undated.findtext(f"{ATOM}updated") == submitted.replace(tzinfo=UTC).isoformat()
    assert [a.findtext(f"{ATOM}name") for a in undated.findall(f"{ATOM}author")] == [
        "Ada Lovelace",
        "Alan Turing",
    ]
    org = entries["2503.90006"]
    assert [a.findtext(f"{ATOM}name") for a in org.findall(f"{ATOM}author")] == ["Marsupial Lab"]
    assert entries["2503.90002"].findtext(f"{ATOM}summary") == "0 upvotes"
    for url in (f"/feeds/organizations/{ORG}.atom", f"/feeds/search.atom?q={WORD}"):
        check_atom(*atom_entries(v, url))
    # a feed with no entries still has a true date
    feed, entries = atom_entries(v, "/feeds/search.atom?q=zzzqqqxxx")
    assert entries == {}
    check_atom(feed, entries)
    assert datetime.fromisoformat(feed.findtext(f"{ATOM}updated")) > datetime.now(UTC) - timedelta(
        days=1
    )


def test_api_objects_say_null_not_made_up_values(sparse):
    from huggingface_hub.hf_api import PaperInfo

    app, _, _ = sparse
    v = Visitor(app)
    for pid in [*LACKING, OFF_FEED]:
        r = v.get(f"/api/papers/{pid}")
        assert r.status_code == 200
        text = json.dumps(r.json())
        assert "Unknown" not in text and "1970" not in text and "0 authors" not in text
        PaperInfo(**r.json())  # the Hugging Face client reads it
    undated = v.get("/api/papers/2503.90003").json()
    assert undated["publishedAt"] is None and len(undated["authors"]) == 2
    bare = v.get("/api/papers/2503.90005").json()
    assert bare["authors"] == [] and bare["summary"] == "" and bare["categories"] == []
    assert bare["githubRepo"] is None and "organization" not in bare
    items = v.get("/api/daily_papers", params={"date": str(date.today()), "limit": 100}).json()
    mine = [i for i in items if i["paper"]["id"] in LACKING]
    assert len(mine) == len(LACKING)
    for item in mine:
        pid = item["paper"]["id"]
        assert PaperInfo(**copy.deepcopy(item)).id == pid and "1970" not in json.dumps(item)
    found = v.get("/api/papers/search", params={"q": WORD}).json()
    assert {i["paper"]["id"] for i in found} >= {*LACKING, OFF_FEED}


def test_digest_email_shows_what_is_known(sparse):
    _, store, _ = sparse
    cards = store.feed.cards([*LACKING, OFF_FEED])
    items = [mail_render.DigestItem(c, "", f"http://testserver/papers/{c.id}") for c in cards]
    sub = Subscription(id=1, email="you@example.org", kind="trending", frequency="daily",
                       manage_nonce="n")  # fmt: skip
    link = {"manage": "http://testserver/m", "unsubscribe": "http://testserver/u",
            "site": "http://testserver/papers", "base": "http://testserver"}  # fmt: skip
    subject, text, html = mail_render.digest("Paperwire", sub, "March 17", items, link)
    text_lines = [" ".join(line.split()) for line in text.splitlines() if line.strip()]
    assert ugly(text_lines) == [], ugly(text_lines)
    assert ugly(lines(html)) == [], ugly(lines(html))
    assert "Ada Lovelace, Alan Turing · Mar 17, 2025" in text
    assert "   Ada Lovelace, Alan Turing\n" in text  # undated: no separator after the authors
    assert re.search(r'padding-top:8px;">\s*</div>', html) is None  # no empty abstract box
