"""Search in the site, the API and Atom; similar papers on paper pages."""

from __future__ import annotations

import re
from urllib.parse import urlencode
from xml.etree import ElementTree as ET

import pytest

from paperwire.core.records import PaperRecord

from .storekit import TRUST, search_engine
from .test_search import embedder  # noqa: F401 - the session's embedding model fixture
from .webkit import Visitor

ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture
def searchable(web, embedder):  # noqa: F811
    """The seeded site with every paper embedded, plus one paper with a hostile title."""
    app, store, ids, config = web
    store.papers.upsert(
        [
            PaperRecord(
                id="2503.19999",
                title="<script>alert('x')</script> Gaussian splatting <img src=x onerror=alert(1)>",
                abstract="We splat Gaussians <b>fast</b> & safely.",
                source="arxiv-api",
            )
        ],
        TRUST,
    )
    search_engine(store, embedder=embedder).indexer().embed_missing()
    return app, store, ids, config


def test_search_page(searchable):
    app, store, _, _ = searchable
    v = Visitor(app)
    r = v.get("/papers", params={"q": "gaussian splatting"})
    assert r.status_code == 200
    html = r.text
    assert "Results for “gaussian splatting”" in html
    assert "<mark>Gaussian</mark> <mark>Splatting</mark>" in html
    assert "by words and meaning" in html and "Atom feed of this search" in html
    # The hostile title is escaped, highlights and all.
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert('x')&lt;/script&gt; <mark>Gaussian</mark>" in html
    # Sorting, filters and pagination links keep the query.
    assert 'href="/papers?q=gaussian+splatting&amp;sort=date"' in html
    newest = v.get("/papers", params={"q": "gaussian splatting", "sort": "date"})
    assert newest.status_code == 200 and 'aria-current="true">Newest' in newest.text
    cv = v.get("/papers", params={"q": "vision", "category": "cs.RO", "code": "1"})
    assert cv.status_code == 200
    # Dates that cannot be used: the search goes on without them, keeping the rest, and says so
    odd = v.get("/papers", params={"q": "vision", "from": "yesterday", "category": "cs.RO"})
    assert odd.status_code == 200 and "Results for “vision”" in odd.text
    assert "The dates were left out of this search: “yesterday” is not a date" in odd.text
    assert 'name="category" value="cs.RO"' in odd.text
    swapped = v.get("/papers", params={"q": "vision", "from": "2026-07-01", "to": "2026-01-01"})
    assert "“From” (2026-07-01) is after “To” (2026-01-01)" in swapped.text
    assert v.get("/papers", params={"q": "vision", "category": "<b>"}).status_code == 400
    assert v.get("/papers", params={"q": "vision", "sort": "best"}).status_code == 400
    # Page 2 arrives as a fragment for "More papers".
    first = v.get("/papers", params={"q": "vision language"})
    assert "data-more" in first.text
    more = v.get("/papers", params={"q": "vision language", "p": 1, "fragment": 1})
    assert more.status_code == 200 and "<html" not in more.text
    # Words nobody used: an explanation, not an error.
    none = v.get("/papers", params={"q": "zzqx wvvu"})
    assert none.status_code == 200 and "No paper matches" in none.text
    # Paging past the last result: where the results are, not "no paper matches".
    past = v.get("/papers", params={"q": "vision", "sort": "date", "p": 99})
    assert past.status_code == 200 and "No paper matches" not in past.text
    assert "No more results on this page" in past.text
    assert 'href="/papers?q=vision&amp;sort=date">Back to the first page' in past.text
    for q in ['"', "-", "a OR", "x" * 10000, "((", "NOT"]:
        assert v.get("/papers", params={"q": q}).status_code == 200


def test_search_says_what_it_left_out(searchable):
    app, _, _, _ = searchable
    v = Visitor(app)
    chain = " OR ".join(["gaussian", "splatting", "vision"] * 200)
    page = v.get("/papers", params={"q": chain})
    assert page.status_code == 200
    assert "597 repeated or extra terms left out" in page.text
    assert "repeated or extra" not in v.get("/papers", params={"q": "gaussian splatting"}).text
    api = v.get("/api/papers/search", params={"q": chain})
    assert api.status_code == 200 and api.headers["X-Search-Terms-Dropped"] == "597"
    assert "X-Search-Terms-Dropped" not in v.get("/api/papers/search", params={"q": "x"}).headers


def test_search_api(searchable):
    app, *_ = searchable
    v = Visitor(app)
    r = v.get("/api/papers/search", params={"q": "gaussian splatting", "limit": 2})
    assert r.status_code == 200
    items = r.json()
    assert len(items) == 2 and int(r.headers["X-Total-Count"]) > 2
    assert r.headers["X-Search-Mode"] == "hybrid"
    assert 'rel="next"' in r.headers["Link"] and "p=1" in r.headers["Link"]
    first = items[0]
    assert first["paper"]["id"] and first["title"] and "summary" in first
    assert "<mark>" in first["highlightedTitle"]
    assert first["why"]["all_words"] is True
    page2 = v.get("/api/papers/search", params={"q": "gaussian splatting", "limit": 2, "p": 1})
    assert {i["paper"]["id"] for i in page2.json()}.isdisjoint({i["paper"]["id"] for i in items})
    hostile = v.get("/api/papers/search", params={"q": "gaussians splat safely"}).json()
    mine = next(i for i in hostile if i["paper"]["id"] == "2503.19999")
    assert (
        "<script>" not in mine["highlightedTitle"] and "&lt;script&gt;" in mine["highlightedTitle"]
    )
    assert mine["title"].startswith("<script>")  # JSON carries the raw title, as HF's does
    semantic = v.get("/api/papers/search", params={"q": "crowd", "mode": "semantic"})
    assert semantic.headers["X-Search-Mode"] == "semantic"
    assert v.get("/api/papers/search", params={"q": "x", "limit": 121}).status_code == 400
    assert v.get("/api/papers/search", params={"q": "x", "sort": "best"}).status_code == 400
    bad = v.get("/api/papers/search", params={"q": "x", "from": "2025-13-01"})
    assert bad.status_code == 400 and "from must be a date" in bad.json()["error"]
    swapped = v.get(
        "/api/papers/search", params={"q": "x", "from": "2025-05-01", "to": "2025-01-01"}
    )
    assert swapped.status_code == 400
    assert v.get("/api/papers/search", params={"q": "x", "category": "cs CV'"}).status_code == 400
    assert len(v.get("/api/papers/search").json()) == 50  # no query: the newest papers


def test_similar_papers_page_and_api(searchable):
    app, *_ = searchable
    v = Visitor(app)
    page = v.get("/papers/2503.11731")
    assert "Similar papers" in page.text and 'href="/papers/2503.12001"' in page.text
    r = v.get("/api/papers/2503.11731/similar", params={"limit": 3})
    assert r.status_code == 200
    got = r.json()
    assert len(got) == 3 and all(0 < p["similarity"] <= 1 for p in got)
    assert "2503.11731" not in [p["id"] for p in got]
    assert v.get("/api/papers/2999.99999/similar").status_code == 404
    assert v.get("/api/papers/not-an-id/similar").status_code == 400


def test_search_atom(searchable):
    app, store, _, _ = searchable
    v = Visitor(app)
    r = v.get("/feeds/search.atom", params={"q": "gaussian splatting", "code": "0"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/atom+xml")
    feed = ET.fromstring(r.content)
    entries = feed.findall(f"{ATOM}entry")
    assert entries
    titles = [e.find(f"{ATOM}title").text for e in entries]
    assert any("Gaussian Splatting" in t for t in titles)
    assert feed.find(f"{ATOM}title").text.endswith("Search: gaussian splatting")
    assert v.get("/feeds/search.atom", params={"q": "x", "to": "nope"}).status_code == 400


def test_search_says_where_relevance_stops_and_date_goes_on(searchable):
    from dataclasses import replace

    app, store, _, _ = searchable
    engine = app.state.site.search
    engine.tuning = replace(engine.tuning, candidates=5)
    v = Visitor(app)
    page = v.get("/papers", params={"q": "model"})
    stop = re.search(r"stops at the best (\d+)\. More papers hold all your words", page.text)
    assert stop and int(stop.group(1)) == len(page.text.split('class="card"')) - 1
    assert "sort=date" in page.text
    api = v.get("/api/papers/search", params={"q": "model"})
    assert "sort=date reaches every match" in api.headers["X-Search-Capped"]
    by_date = v.get("/api/papers/search", params={"q": "model", "sort": "date", "limit": 100})
    assert "X-Search-Capped" not in by_date.headers
    assert int(by_date.headers["X-Total-Count"]) == len(by_date.json()) > 10
    dated = v.get("/papers", params={"q": "model", "sort": "date"}).text
    assert "most relevant papers" not in dated
    # In date order, no relevance is made up: the "why" of each paper has no score.
    assert {item["why"]["score"] for item in by_date.json()} == {None}
    assert all(item["why"]["all_words"] for item in by_date.json())
    assert '">all your words' in dated and "relevance 0.0" not in dated
    assert 'title="Why this paper: it holds all your words' in dated
    ranked = v.get("/api/papers/search", params={"q": "model"}).json()
    assert all(item["why"]["score"] > 0 for item in ranked)
    assert "; relevance 0." in v.get("/papers", params={"q": "model"}).text


def test_sorted_by_date_lists_the_papers_holding_every_word(searchable):
    """By date or upvotes, a search lists the papers holding all its words (a phrase, the
    phrase), not every paper close in meaning: those came first for being newer (new-user
    walkthrough: "speculative decoding" by date opened on a finance benchmark). With no paper
    holding them all, the most relevant few, re-ordered, and the page says so."""
    app, store, _, _ = searchable
    v = Visitor(app)
    api = "/api/papers/search"
    by_relevance = v.get(api, params={"q": "vision language", "limit": 100}).json()
    holding = {i["paper"]["id"] for i in by_relevance if i["why"]["all_words"]}
    assert holding and len(by_relevance) > len(holding)  # the meaning side adds others
    for sort in ("date", "upvotes"):
        r = v.get(api, params={"q": "vision language", "limit": 100, "sort": sort})
        assert {i["paper"]["id"] for i in r.json()} == holding, sort
        assert r.headers["X-Total-Count"] == str(len(holding))
        assert r.headers["X-Search-Mode"] == "keyword" and "X-Search-Closest" not in r.headers
    dates = [
        i["paper"]["publishedAt"]
        for i in v.get(api, params={"q": "vision language", "sort": "date"}).json()
    ]
    assert dates == sorted(dates, key=lambda d: d or "", reverse=True)  # (unknown: last)
    # The same as a phrase; and the search's Atom feed, newest first, holds the same papers.
    phrase = v.get(api, params={"q": '"vision language"', "sort": "date", "limit": 100})
    assert {i["paper"]["id"] for i in phrase.json()} <= holding
    feed = ET.fromstring(v.get("/feeds/search.atom", params={"q": "vision language"}).content)
    ids = {e.find(f"{ATOM}id").text.rsplit("/", 1)[-1] for e in feed.iter(f"{ATOM}entry")}
    assert ids and ids <= holding
    # No paper holds every word: the most relevant 30 at most, said on the page and the API.
    sentence = "how do robots learn to fold laundry from a few human videos zebra"
    r = v.get(api, params={"q": sentence, "sort": "date", "limit": 100})
    assert not any(i["why"]["all_words"] for i in r.json())
    assert 0 < len(r.json()) <= 30 and "X-Search-Closest" in r.headers
    page = v.get("/papers", params={"q": sentence, "sort": "date"}).text
    assert "No paper holds all your words: these are the" in page and "newest first" in page
    assert "No paper holds all your words" not in v.get("/papers", params={"q": sentence}).text
    # Nothing found at all: nothing is "the 0 most relevant" (a helper's walkthrough).
    nothing = {"q": "zebra", "sort": "date", "category": "cs.RO"}
    r = v.get(api, params=nothing)
    assert r.json() == [] and "X-Search-Closest" not in r.headers
    page = v.get("/papers", params=nothing).text
    assert "0 papers" in page and "most relevant" not in page


def test_an_arxiv_id_or_link_as_the_query_opens_that_paper(searchable):
    """Typed or pasted into search, an arXiv id (any of its forms) opens the paper's page;
    one the site lacks says so and offers to add it; with filters, it stays a search."""
    app, store, ids, _ = searchable
    v = Visitor(app)
    pid = ids[0]
    for q in (
        pid,
        f"arXiv:{pid}v2",
        f" https://arxiv.org/abs/{pid} ",
        f"https://arxiv.org/pdf/{pid}v1.pdf",
        f"10.48550/arXiv.{pid}",  # its arXiv DOI, bare or as a link
        f"https://doi.org/10.48550/arxiv.{pid}",
        f"arxiv.org/abs/{pid}",  # pasted without its scheme
        f"www.arxiv.org/pdf/{pid}v2",
        f"huggingface.co/papers/{pid}",
    ):
        r = v.get("/papers", params={"q": q})
        assert (r.status_code, r.headers.get("location")) == (303, f"/papers/{pid}"), q
    impossible = v.get("/papers", params={"q": "2999.00001"})  # no month 99: words
    assert impossible.status_code == 200 and "is not on this site" not in impossible.text
    missing = v.get("/papers", params={"q": "2912.00001"})
    assert missing.status_code == 200
    offer = 'Add it from arXiv: <a href="/papers/submit?id=2912.00001">'
    assert "arXiv:2912.00001 is not on this site." in missing.text and offer in missing.text
    assert "Get new papers about" not in missing.text
    filtered = v.get("/papers", params={"q": pid, "category": "zz.ZZ"})
    assert filtered.status_code == 200 and "with these filters" in filtered.text
    # words that merely contain an id are words
    assert v.get("/papers", params={"q": f"{pid} splatting"}).status_code == 200


def test_a_search_that_looks_for_nothing_or_left_out_every_match_says_so(searchable):
    """Only common words or signs: "no word to search for", not the message for words left
    out, and no "0 papers by words". Words left out that every all-words paper holds: said
    plainly, with the search that keeps them, instead of "no paper holds all your words"."""
    app, store = searchable[0], searchable[1]
    v = Visitor(app)
    for q in ("the", "of the", "*", "!!!???..."):
        r = v.get("/papers", params={"q": q})
        assert r.status_code == 200, q
        assert "has no word to search for" in r.text, q
        assert "only says what to leave out" not in r.text and "by words" not in r.text, q
    out = v.get("/papers", params={"q": "-vision -language"}).text
    assert "as in “diffusion -vision -language”" in out  # an example that can match
    store.papers.upsert(
        [PaperRecord(id="2503.19990", title="Axolotl tail regrowth",
                     abstract="A speculative account of how axolotls regrow tails.",
                     source="arxiv-api"),
         PaperRecord(id="2503.19991", title="Axolotl gill shapes",
                     abstract="Speculative notes on the gills of axolotls.",
                     source="arxiv-api")],
        TRUST,
    )  # fmt: skip
    for sort in ("relevance", "date"):
        r = v.get("/papers", params={"q": "axolotl -speculative", "sort": sort})
        assert r.status_code == 200
        assert "Every paper holding all your other words also holds “speculative”" in r.text
        assert "No paper holds all your words" not in r.text
        assert 'href="/papers?q=axolotl&amp;sort=' in r.text
    kept = v.get("/papers", params={"q": "axolotl -regrowth"}).text
    assert "Every paper holding" not in kept and "Axolotl gill shapes" in kept


def test_a_pasted_paragraph_is_shortened_where_it_is_shown(searchable):
    """A long pasted query: the heading shows its first 120 characters and the alert offer
    its first 80, each ending in "…"; the search, its links and the alert keep it whole."""
    v = Visitor(searchable[0])
    text = (
        "We present a method for counting people in dense crowds from a single image, "
        "using density maps learned without any point annotations at all."
    )
    page = v.get("/papers", params={"q": text}).text
    heading = re.search(r"<h1>Results for “(.*?)”</h1>", page).group(1)
    assert heading.endswith("…") and len(heading) <= 121 and text.startswith(heading[:-1])
    offer = re.search(r"Get new papers about “(.*?)” in your email inbox", page).group(1)
    assert offer.endswith("…") and len(offer) <= 81 and text.startswith(offer[:-1])
    assert f'name="q" value="{text}"' in page  # the filters keep the whole query
    assert urlencode({"kind": "topic", "query": text}).replace("&", "&amp;") in page
    short = v.get("/papers", params={"q": "dense crowds"}).text
    assert "<h1>Results for “dense crowds”</h1>" in short
    assert "Get new papers about “dense crowds”" in short


def test_no_alert_is_offered_for_a_search_an_alert_cannot_keep(searchable):
    """Words only left out, or more than a topic alert keeps (300 characters): no alert is
    offered (it would fail once clicked); the words-left-out search says what is missing."""
    app = searchable[0]
    v = Visitor(app)
    only_out = v.get("/papers", params={"q": "-diffusion"}).text
    assert "“-diffusion” only says what to leave out: add a word to look for" in only_out
    assert "Subscribe to an alert" not in only_out
    long = v.get("/papers", params={"q": "splatting " * 40}).text
    assert "Subscribe to an alert" not in long
    fine = v.get("/papers", params={"q": "splatting -street"}).text
    assert "Subscribe to an alert" in fine and "only says what to leave out" not in fine
    # with a category, words left out still make an alert (every new paper of it, but those)
    r = v.get("/papers", params={"q": "-diffusion", "category": "cs.CV"}).text
    assert "Subscribe to an alert" in r


DID_YOU_MEAN = re.compile(r'<p class="sub notice" role="status">Did you mean (.*?)\?</p>')


def test_did_you_mean_offers_the_search_with_its_words_corrected(web_both):
    """On the 60 real papers, SQLite and PostgreSQL: a misspelled word gets the same search
    (filters and order kept) with the word the papers use; a correct query gets nothing."""
    app, *_ = web_both
    v = Visitor(app)
    # Before this process has its vocabulary: nothing, and no cache keeps the page.
    first = v.get("/papers", params={"q": "tranformer"})
    assert first.status_code == 200 and "Did you mean" not in first.text
    assert "no-cache" in first.headers["Cache-Control"]
    app.state.site.speller.refresh()  # (waits for the build the search started)
    page = v.get("/papers", params={"q": "tranformer", "category": "cs.CV", "sort": "date"})
    link = '<a href="/papers?q=transformer&amp;category=cs.CV&amp;sort=date">'
    assert DID_YOU_MEAN.findall(page.text) == [f"{link}<strong>transformer</strong></a>"]
    assert "public" in page.headers["Cache-Control"]
    # No alert is offered for the misspelled words (the site-wide offer stays); the corrected
    # search offers one.
    assert "Subscribe to an alert" not in page.text and "Get trending papers" in page.text
    # Several words at once, in the case typed; a word left out stays as typed.
    many = v.get("/papers", params={"q": "Difusion modles -tranformer"})
    assert DID_YOU_MEAN.findall(many.text) == [
        '<a href="/papers?q=Diffusion+models+-tranformer&amp;sort=relevance">'
        "<strong>Diffusion</strong> <strong>models</strong> -tranformer</a>"
    ]
    # The link's search finds the papers, and offers nothing more.
    fixed = v.get("/papers", params={"q": "transformer", "category": "cs.CV", "sort": "date"})
    assert "Did you mean" not in fixed.text and "No paper matches" not in fixed.text
    assert "Subscribe to an alert" in fixed.text
    for q in ["transformer", "diffusion models", "Gaussian splatting", '"vision language"']:
        assert "Did you mean" not in v.get("/papers", params={"q": q}).text, q
    assert "Did you mean" not in v.get("/papers", params={"q": "-tranformer vision"}).text
    # The API says it in a header (its body is Hugging Face's list).
    api = v.get("/api/papers/search", params={"q": "gausian splating"})
    assert api.status_code == 200 and api.headers["X-Search-Suggestion"] == "gaussian splatting"
    plain = v.get("/api/papers/search", params={"q": "gaussian splatting"})
    assert "X-Search-Suggestion" not in plain.headers
    quoted = v.get("/api/papers/search", params={"q": "difusion “models”"})  # beyond ASCII
    assert quoted.headers["X-Search-Suggestion"] == "diffusion %E2%80%9Cmodels%E2%80%9D"
    spec = v.get("/openapi.json").json()["paths"]["/api/papers/search"]["get"]
    assert "X-Search-Suggestion" in spec["responses"]["200"]["headers"]
