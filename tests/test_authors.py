"""Authors: the store finds a name among a paper's authors on both backends (unicode, quotes,
slashes, case), search filters by author (syntax, API, page, command line), author pages,
their Atom feeds and links to them."""

from __future__ import annotations

import json
from datetime import date, datetime
from urllib.parse import quote

import pytest
from click.testing import CliRunner
from lxml import etree

from paperwire.cli import main
from paperwire.core.query import SearchFilters, parse
from paperwire.core.records import PaperRecord

from .storekit import TRUST, search_engine
from .webkit import Visitor, add_user, serve_in_thread, site

ATOM = "{http://www.w3.org/2005/Atom}"
ODD = [
    "José Müller-Lüdenscheidt",
    "李飞飞",
    "Conan O'Brien",
    'Ada "The Countess" Lovelace',
    "AC/DC Collaboration",
    "Émile Borel",
]


def rec(pid: str, authors: list[str], day: int, title: str | None = None) -> PaperRecord:
    return PaperRecord(
        id=pid,
        title=title or f"Paper {pid} on sparse attention",
        abstract="We study sparse attention for long documents.",
        authors=authors,
        published=datetime(2026, 3, day),
        categories=["cs.LG"],
        primary_category="cs.LG",
        source="arxiv-api",
    )


PAPERS = [
    rec("2603.00001", ["Yann LeCun", "Wei Zhang"], 1),
    rec("2603.00002", ["Zhang Wei", "Yann LeCun"], 5),
    rec("2603.00003", ["Wei Zhang Li", "Alice Yann", "LeCun Bob"], 7),
    rec("2603.00004", ["José Müller-Lüdenscheidt", "李飞飞"], 3),
    rec("2603.00005", ["Conan O'Brien", 'Ada "The Countess" Lovelace', "AC/DC Collaboration"], 4),
    rec("2603.00006", ["Émile Borel", "yann lecun"], 9),
]


@pytest.fixture
def authored(store):
    store.papers.upsert(PAPERS, TRUST)
    return store


def _ids(cards) -> list[str]:
    return [c.id for c in cards]


def test_author_papers_exact_name_newest_first(authored):
    cards, total = authored.authors.papers("Yann LeCun")
    # whole names only ("Alice Yann", "LeCun Bob" is no match); ASCII case does not matter
    assert _ids(cards) == ["2603.00006", "2603.00002", "2603.00001"] and total == 3
    assert _ids(authored.authors.papers("Wei Zhang")[0]) == ["2603.00001"]
    assert _ids(authored.authors.papers("Yann LeCun", limit=1, offset=1)[0]) == ["2603.00002"]
    assert authored.authors.papers("Yann")[1] == 0
    assert authored.authors.papers("Nobody Atall") == ([], 0)


@pytest.mark.parametrize("name", ODD)
def test_author_papers_with_unusual_names(authored, name):
    cards, total = authored.authors.papers(name)
    assert total == 1 and name in cards[0].authors


@pytest.mark.parametrize(
    "name", ["", "   ", "—", "%", "_", "\\", "' OR 1=1 --", '"', "x" * 5000, "a\x00b"]
)
def test_author_lookup_never_fails(authored, name):
    cards, total = authored.authors.papers(name)
    assert total == len(cards) == 0
    assert authored.authors.claimed_by(name) == []


def test_claimed_profiles_are_approved_claims(authored):
    uid = authored.accounts.create_user("ylecun", "y@example.org", None)
    other = authored.accounts.create_user("pretender", "p@example.org", None)
    authored.accounts.claim_authorship(uid, "2603.00001", "Yann LeCun")
    authored.accounts.claim_authorship(other, "2603.00002", "Yann LeCun")
    assert authored.authors.claimed_by("Yann LeCun") == []  # pending claims prove nothing
    claim = next(c for c in authored.accounts.claims() if c.user_id == uid)
    authored.accounts.decide_claim(claim.id, True, uid)
    assert [u.username for u in authored.authors.claimed_by("yann lecun")] == ["ylecun"]


def test_query_syntax_author_filter():
    p = parse('author:"Yann  LeCun" sparse attention')
    assert p.author == "Yann LeCun" and p.terms() == ["sparse", "attention"]
    assert parse("author:LeCun").author == "LeCun" and parse("author:LeCun").empty
    assert parse('AUTHOR:"李飞飞"').author == "李飞飞"
    # not a filter: no name, or a space after the colon
    assert parse('author:""').author is None and parse("author: LeCun").author is None
    assert parse('author:"unclosed').author is None


def test_search_filters_by_author_on_each_backend(authored, tmp_path):
    engine = search_engine(authored, semantic=False)
    for text, filters in [
        ('author:"Yann LeCun" sparse', None),
        ("sparse", SearchFilters(author="Yann LeCun")),
        ('author:"Yann LeCun"', None),
    ]:
        result = engine.search(text, filters)
        assert {h.paper_id for h in result.hits} == {"2603.00001", "2603.00002", "2603.00006"}
    result = engine.search('author:"Conan O\'Brien"', SearchFilters(category="cs"))
    assert [h.paper_id for h in result.hits] == ["2603.00005"]
    assert engine.search('author:"Nobody" sparse').total == 0


# -- pages, links, feeds ---------------------------------------------------------------------
def _url(name: str) -> str:
    return "/authors/" + quote(name, safe="")


@pytest.fixture
def visitor(authored, tmp_path):
    app, _ = site(authored, tmp_path)
    return Visitor(app)


def _atom(r):
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/atom+xml")
    root = etree.fromstring(r.content)
    assert root.tag == f"{ATOM}feed"
    for tag in ("id", "title", "updated"):
        assert root.find(f"{ATOM}{tag}").text, tag
    for entry in root.findall(f"{ATOM}entry"):
        for tag in ("id", "title", "updated"):
            assert entry.find(f"{ATOM}{tag}").text, tag
        assert entry.find(f"{ATOM}author/{ATOM}name").text
        assert entry.find(f"{ATOM}link[@rel='alternate']").get("href").startswith("http")
    return root


@pytest.mark.parametrize("name", ODD)
def test_author_page_for_unusual_names(visitor, name):
    r = visitor.get(_url(name))
    assert r.status_code == 200, r.text
    pid = next(p.id for p in PAPERS if name in p.authors)
    assert f'id="paper-{pid}"' in r.text and "1 paper on" in r.text
    feed = f"/feeds{_url(name)}.atom"
    assert '<link rel="alternate" type="application/atom+xml"' in r.text
    assert r.text.count(f'href="{feed}"') == 2  # in the head and on the page
    root = _atom(visitor.get(feed))
    assert [e.find(f"{ATOM}link").get("href") for e in root.findall(f"{ATOM}entry")] == [
        f"http://testserver/papers/{pid}"
    ]
    uris = [u.text for u in root.iter(f"{ATOM}uri")]
    assert f"http://testserver{_url(name)}" in uris


def test_author_page_newest_first_paged_with_claimed_profile(authored, visitor):
    many = [rec(f"2604.{i:05d}", ["Prolific Person", "Yann LeCun"], 1 + i) for i in range(12)]
    authored.papers.upsert(many, TRUST)
    r = visitor.get(_url("Prolific Person"))
    order = [m for m in (f'id="paper-2604.{i:05d}"' for i in range(11, -1, -1)) if m in r.text]
    assert len(order) == 10 and r.text.index(order[0]) < r.text.index(order[-1])
    assert "12 papers" in r.text and 'href="/authors/Prolific%20Person?p=1"' in r.text
    second = visitor.get(_url("Prolific Person") + "?p=1&fragment=1")
    assert second.text.count('class="card"') == 2 and "<html" not in second.text
    assert "Claimed by" not in r.text
    uid = add_user(authored, "prolific")
    authored.accounts.claim_authorship(uid, "2604.00003", "Prolific Person")
    [claim] = authored.accounts.claims(status="pending")
    authored.accounts.decide_claim(claim.id, True, uid)
    assert 'href="/users/prolific"' in visitor.get(_url("Prolific Person")).text
    assert visitor.get(_url("Nobody Atall")).status_code == 404
    assert visitor.get("/authors/%20").status_code == 404
    assert visitor.get(_url("x" * 300)).status_code == 404
    assert visitor.get(_url("Prolific Person") + "?p=-1").status_code in (400, 422)
    assert visitor.get("/feeds/authors/Nobody.atom").status_code == 404


def test_author_names_link_from_cards_paper_page_and_search(authored, visitor):
    uid = add_user(authored, "curator")
    authored.feed.submit("2603.00005", uid, date.today())
    oddly = _url("Conan O'Brien")
    assert oddly == "/authors/Conan%20O%27Brien"
    assert f'href="{oddly}"' in visitor.get("/papers").text  # the feed's card
    paper = visitor.get("/papers/2603.00005").text
    for name in PAPERS[4].authors:
        assert f'href="{_url(name)}"' in paper
    assert 'href="/authors/AC%2FDC%20Collaboration"' in paper
    found = visitor.get("/papers", params={"q": "sparse attention"}).text
    assert f'href="{_url("李飞飞")}"' in found


def test_a_byline_shows_the_author_whose_page_it_is_and_never_and_1_more():
    """On an author's page each card names that author even far down a long list ("A, B,
    …, Them and 8 more"); anywhere, a fourth name fits where "and 1 more" would be."""
    from paperwire.core.models import Card
    from paperwire.web.render import author_names

    names = [f"Author {i}" for i in range(12)]
    card = Card(seq=1, id="2401.00001", title="t", authors=names, num_authors=12)
    plain = author_names(card)
    assert "Author 2</a> and 9 more" in plain and "Author 7" not in plain
    featured = author_names(card, featured="author 7")
    assert ">Author 1</a>, …, <a" in featured and "Author 2" not in featured
    assert ">Author 7</a> and 9 more" in featured
    assert author_names(card, featured="Author 1") == plain  # already shown
    assert author_names(card, featured="Somebody Else") == plain
    four = Card(seq=2, id="2401.00002", title="t", authors=names[:4], num_authors=4)
    assert "more" not in author_names(four) and "Author 3" in author_names(four)
    unknown = Card(seq=3, id="2401.00003", title="t", authors=names[:3], num_authors=4)
    assert author_names(unknown).endswith(" and 1 more")  # the fourth name is not known


def test_an_author_page_names_that_author_on_every_card(authored, visitor):
    many = [f"Coauthor {i}" for i in range(9)] + ["Deep Down"]
    authored.papers.upsert(
        [PaperRecord(id="2603.00077", title="A big collaboration", abstract="Many hands.",
                     authors=many, source="arxiv-api")],
        TRUST,
    )  # fmt: skip
    page = visitor.get(_url("Deep Down")).text
    assert f'…, <a class="author" href="{_url("Deep Down")}">Deep Down</a> and 7 more' in page


def test_names_with_nul_bytes_are_no_error(visitor):
    # PostgreSQL refuses NUL in text: a NUL in an author or user name never reaches it (the
    # address is refused before routing: web/guards.py).
    assert visitor.get("/authors/a%00b").status_code == 400
    assert visitor.get("/feeds/authors/a%00b.atom").status_code == 400
    assert visitor.get("/feeds/users/a%00b.atom").status_code == 400
    assert visitor.get("/users/a%00b").status_code == 400
    for params in ({"q": 'author:"a\x00b"'}, {"q": "sparse", "author": "a\x00b"}):
        assert visitor.get("/papers", params=params).status_code == 400
        assert visitor.get("/api/papers/search", params=params).status_code == 400
        assert visitor.get("/feeds/search.atom", params=params).status_code == 400


def test_search_by_author_on_pages_api_and_feeds(visitor):
    lecun = {"2603.00001", "2603.00002", "2603.00006"}

    def ids(html):
        return {p.id for p in PAPERS if f'id="paper-{p.id}"' in html}

    assert ids(visitor.get("/papers", params={"q": 'author:"Yann LeCun"'}).text) == lecun
    page = visitor.get("/papers", params={"q": "sparse", "author": "Yann LeCun"}).text
    assert ids(page) == lecun and 'value="Yann LeCun"' in page
    api = visitor.client
    got = api.get("/api/papers/search", params={"author": "李飞飞"})
    assert [i["paper"]["id"] for i in got.json()] == ["2603.00004"]
    got = api.get("/api/papers/search", params={"q": 'sparse author:"Yann LeCun"'})
    assert {i["paper"]["id"] for i in got.json()} == lecun
    assert got.headers["x-total-count"] == "3"
    assert api.get("/api/papers/search", params={"author": "x" * 201}).status_code in (400, 422)
    root = _atom(api.get("/feeds/search.atom", params={"q": "sparse", "author": "Émile Borel"}))
    assert len(root.findall(f"{ATOM}entry")) == 1


def test_search_command_filters_by_author(authored, monkeypatch):
    monkeypatch.setenv("PAPERWIRE_SEMANTIC_SEARCH", "0")
    args = ["--db", authored.url, "search", "--author", "Conan O'Brien", "--json"]
    r = CliRunner().invoke(main, args, catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert [x["id"] for x in json.loads(r.output)["results"]] == ["2603.00005"]
    r = CliRunner().invoke(main, [*args[:3], "sparse", 'author:"Yann LeCun"', "--json"])
    assert {x["id"] for x in json.loads(r.output)["results"]} == {
        "2603.00001",
        "2603.00002",
        "2603.00006",
    }


def test_monthly_user_and_discussion_feeds(authored, visitor):
    uid = add_user(authored, "curator")
    other = add_user(authored, "reader")
    authored.feed.submit("2603.00001", uid, date.today())
    authored.feed.submit("2603.00004", uid, date.today())
    first = authored.discussion.add("2603.00001", other, "Nice *result*: see @curator")
    authored.discussion.add("2603.00001", uid, "Thanks <script>x</script>", first)
    gone = authored.discussion.add("2603.00001", other, "spam")
    authored.discussion.set_flag(gone, hidden=True)

    month = visitor.get(f"/papers/month/{date.today():%Y-%m}").text
    assert 'type="application/atom+xml"' in month and 'href="/feeds/monthly.atom"' in month
    root = _atom(visitor.get("/feeds/monthly.atom"))
    assert {e.find(f"{ATOM}id").text[-10:] for e in root.findall(f"{ATOM}entry")} == {
        "2603.00001",
        "2603.00004",
    }

    profile = visitor.get("/users/curator").text
    assert 'href="/feeds/users/curator.atom"' in profile and "application/atom+xml" in profile
    root = _atom(visitor.get("/feeds/users/curator.atom"))
    assert len(root.findall(f"{ATOM}entry")) == 2
    assert visitor.get("/feeds/users/nobody.atom").status_code == 404

    paper = visitor.get("/papers/2603.00001").text
    assert 'href="/feeds/papers/2603.00001/comments.atom"' in paper
    root = _atom(visitor.get("/feeds/papers/2603.00001/comments.atom"))
    entries = root.findall(f"{ATOM}entry")
    assert len(entries) == 2  # the hidden comment is left out
    contents = [e.find(f"{ATOM}content").text for e in entries]
    # (a mention's link made absolute: a reader shows the entry away from the site)
    assert any(
        "<em>result</em>" in c and 'href="http://testserver/users/curator"' in c for c in contents
    )
    assert not any("<script>" in c or "spam" in c for c in contents)
    assert entries[0].find(f"{ATOM}author/{ATOM}uri").text == "http://testserver/users/curator"
    assert visitor.get("/feeds/papers/2603.99999/comments.atom").status_code == 404
    assert visitor.get("/feeds/papers/not-an-id/comments.atom").status_code == 404
    empty = _atom(visitor.get("/feeds/papers/2603.00002/comments.atom"))
    assert empty.findall(f"{ATOM}entry") == []


# -- the paper as Markdown -------------------------------------------------------------------
def test_paper_as_markdown(authored, visitor):
    uid = add_user(authored, "curator")
    authored.papers.upsert(
        [
            PaperRecord(
                id="2603.00009",
                version=2,
                title="Brackets [and] *stars*\n in a  title",
                abstract="We prove $O(n^2)$ bounds.\n\nSecond paragraph.",
                authors=["Conan O'Brien", "AC/DC Collaboration"],
                published=datetime(2026, 3, 2),
                github_repo="owner/repo",
                github_stars=42,
                project_page="https://example.org/a_(b)",
                source="arxiv-api",
            )
        ],
        TRUST,
    )
    first = authored.discussion.add("2603.00009", uid, "Great **paper**.")
    authored.discussion.add("2603.00009", uid, "A reply\nover two lines", first)
    r = visitor.get("/papers/2603.00009.md")
    assert r.status_code == 200 and r.headers["content-type"] == "text/markdown; charset=utf-8"
    md = r.text
    assert md.startswith("# Brackets \\[and\\] \\*stars\\* in a title\n")
    assert "[Conan O'Brien](<http://testserver/authors/Conan%20O%27Brien>)" in md
    assert "(<http://testserver/authors/AC%2FDC%20Collaboration>)" in md
    for link in (
        "[arXiv](<https://arxiv.org/abs/2603.00009>)",
        "[PDF](<https://arxiv.org/pdf/2603.00009>)",
        "[Code](<https://github.com/owner/repo>) (42 stars)",
        "[Project page](<https://example.org/a_(b)>)",
        "[Paper page](<http://testserver/papers/2603.00009>)",
    ):
        assert link in md
    assert "arXiv:2603.00009v2 · Published Mar 2, 2026" in md
    assert "## Abstract\n\nWe prove $O(n^2)$ bounds.\n\nSecond paragraph." in md
    assert "## Discussion (2)" in md and "Great **paper**." in md
    assert "> A reply\n> over two lines" in md
    assert visitor.get("/papers/2603.00009v2.md").headers["location"] == "/papers/2603.00009.md"
    assert visitor.get("/papers/2603.99999.md").status_code == 404
    assert visitor.get("/papers/nonsense.md").status_code == 404
    bare = visitor.get("/papers/2603.00002.md").text
    assert "No comments yet." in bare and "Code" not in bare


def test_hugging_face_hub_reads_markdown_lists_and_searches(authored, tmp_path, monkeypatch):
    """The official client against a live server: ``read_paper``, ``list_papers()`` without a
    query (recent papers, not nothing) and ``paper_info``."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    from huggingface_hub import HfApi

    app, _ = site(authored, tmp_path)
    with serve_in_thread(app) as url:
        hf = HfApi(endpoint=url, token=False)
        md = hf.read_paper("2603.00004")
        assert md.startswith("# Paper 2603.00004") and "李飞飞" in md
        listed = [p.id for p in hf.list_papers()]
        assert listed[:3] == ["2603.00006", "2603.00003", "2603.00002"] and len(listed) == 6
        info = hf.paper_info("2603.00005")
        assert [a.name for a in info.authors] == PAPERS[4].authors
        assert [p.id for p in hf.list_papers(query='author:"Conan O\'Brien"')] == ["2603.00005"]
        from huggingface_hub.errors import HfHubHTTPError

        with pytest.raises(HfHubHTTPError):
            hf.read_paper("2603.99999")


def test_topic_alert_for_an_author(authored, tmp_path):
    """author:"…" in a topic alert keeps their papers only; alone, it sends all of them."""
    from datetime import timedelta

    from paperwire.mail.digest import Composer

    from .storekit import trending_ranker
    from .webkit import make_config

    config = make_config(tmp_path)
    engine = search_engine(authored, semantic=False)
    composer = Composer(authored, config.digests, trending_ranker(), engine)
    start, end = datetime(2026, 3, 1), datetime(2026, 3, 1) + timedelta(days=30)
    for n, (query, expected) in enumerate(
        [
            ('author:"Yann LeCun"', {"2603.00001", "2603.00002", "2603.00006"}),
            ('sparse author:"李飞飞"', {"2603.00004"}),
            ('author:"Yann LeCun" -"zhang wei"', {"2603.00001", "2603.00006"}),
            ('author:"Nobody Atall"', set()),
        ]
    ):
        sub = authored.mail.create_subscription(
            f"{n}@example.org", "topic", query, "daily", "UTC", confirmed=True
        )
        assert {p.paper_id for p in composer.topic_matches(sub, start, end)} == expected, query
