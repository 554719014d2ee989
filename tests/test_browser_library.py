"""Import a library, then For you, in a real browser (Chromium via Playwright; issue 15): a new
reader's For-you tab says how to begin, a .bib export of their reference manager becomes a
collection (what is not found here is listed), For you then ranks the week by those papers
and says which one each card is like, and "not interested" takes a card off and changes the
order. Screenshots go to test-artifacts/screenshots/."""

from __future__ import annotations

import re
from datetime import date

import pytest

from paperwire.rank.foryou import ForYou
from paperwire.store import schema as t

from .storekit import search_engine
from .test_browser import browser, expect, page, shot, sign_in  # noqa: F401 - the shared kit
from .test_search import embedder  # noqa: F401 - the session's embedding model fixture
from .test_web_foryou import _week
from .webkit import add_user, seed, serve_in_thread, site


@pytest.fixture
def live_embedded(sqlite_store, tmp_path, embedder):  # noqa: F811
    on_feed = seed(sqlite_store)
    search_engine(sqlite_store, embedder=embedder).indexer().embed_missing()
    app, config = site(sqlite_store, tmp_path, submit_max_age_days=0)
    with serve_in_thread(app) as url:
        yield url, sqlite_store, on_feed, app


def _bibtex(store, on_feed: list[str]) -> tuple[str, list[str]]:
    """A reference manager's export: two papers of this site that are not on the feed (one
    found by its arXiv id, one by its title alone) and one this site does not hold."""
    feed = set(on_feed)
    others = [p.id for p in store.feed.latest(limit=100) if p.id not in feed][:2]
    texts = store.papers.texts_by_id(others)
    by_id, by_title = (texts[i] for i in others)
    bib = f"""% Exported from a reference manager
@article{{first2025,
  title = {{{by_id.title}}},
  author = {{Doe, Jane and Roe, Richard}},
  year = {{2025}},
  eprint = {{{by_id.id}}},
  archivePrefix = {{arXiv}},
}}

@inproceedings{{second2025,
  title = {{{by_title.title}}},
  author = {{Smith, Alan}},
  booktitle = {{Proceedings}},
  year = {{2025}},
}}

@book{{knuth1984,
  title = {{The {{\\TeX}}book}},
  author = {{Knuth, Donald E.}},
  year = {{1984}},
  publisher = {{Addison-Wesley}},
}}
"""
    return bib, others


def _shown(page) -> list[str]:  # noqa: F811
    ids = page.locator("article.card").evaluate_all("cards => cards.map(c => c.id)")
    return [i.removeprefix("paper-") for i in ids]


def test_import_a_library_then_for_you_ranks_by_it(page, live_embedded):  # noqa: F811
    url, store, on_feed, app = live_embedded
    # the seeded feed days (today and the two before) in one week, whatever the weekday
    with store.begin() as conn:
        conn.execute(t.feed_entries.update().values(feed_date=date.today()))
    uid = add_user(store, "reader")
    sign_in(page, url, "reader")

    # A new reader: For you says how to begin, and ranks nothing yet: the week's papers
    # come newest first (by the dates their cards show), with no reason on any card.
    page.get_by_role("link", name="For you").first.click()
    page.get_by_role("link", name=re.compile("This week")).click()
    expect(page.get_by_text("Nothing to learn from yet")).to_be_visible()
    week = {c.id: c for c in store.feed.period(*_week(app), sort="submitted", limit=1000)[0]}
    when = {i: (c.published.date() if c.published else c.feed_date) for i, c in week.items()}
    newest = _shown(page)
    assert newest and [when[i] for i in newest] == sorted((when[i] for i in newest), reverse=True)
    oldest_shown = min(when[i] for i in newest)
    assert all(when[i] <= oldest_shown for i in week if i not in newest)
    expect(page.locator("article.card .why")).to_have_count(0)
    expect(page.get_by_role("link", name="import your library")).to_have_attribute(
        "href", "/collections#import"
    )
    shot(page, "40-for-you-cold-start")

    # Import a .bib from "Your collections".
    bib, imported = _bibtex(store, on_feed)
    page.goto(f"{url}/collections")
    page.get_by_label("Library file").set_input_files(
        {"name": "my-library.bib", "mimeType": "application/x-bibtex", "buffer": bib.encode()}
    )
    page.get_by_label("Name").last.fill("My reading")
    page.get_by_role("button", name="Import").click()
    expect(page.locator("h1")).to_have_text("Library imported")
    status = page.locator(".notice")
    expect(status).to_contain_text("2 papers")
    expect(status).to_contain_text("arXiv id 1")
    expect(status).to_contain_text("title 1")
    expect(page.get_by_text("Not found here (1)")).to_be_visible()
    expect(page.get_by_text("The TeXbook")).to_be_visible()
    shot(page, "41-library-imported")
    [made] = [c for c in store.collections.of_user(uid, viewer=uid) if c.name == "My reading"]
    assert made.visibility == "private"
    assert [i.paper_id for i in store.collections.items(made.id)] == imported

    # For you now ranks the week by the imported papers, each card naming the one it is like.
    status.get_by_role("link", name="For you").click()
    page.get_by_role("link", name=re.compile("This week")).click()
    cards = page.locator("article.card")
    expect(cards.first).to_be_visible()
    shown = _shown(page)
    assert len(shown) > 3 and not set(shown) & set(imported)
    why = cards.first.locator(".why a")
    assert why.get_attribute("href") in {f"/papers/{i}" for i in imported}
    model = ForYou(store, app.state.site.search.semantic())
    week = [c.id for c in store.feed.period(*_week(app), sort="submitted", limit=1000)[0]]
    want = [p.paper_id for p in model.rank(imported, week).picks]
    assert shown == want[: len(shown)]  # the model's order
    shot(page, "42-for-you-from-library")

    # Not interested: the top card gives way to a note at once; on the next visit it has
    # left the tab, and the rest follow the model told so.
    top = shown[0]
    cards.first.get_by_role("button", name=re.compile("^Not interested")).click()
    expect(page.locator(".dismissed-note")).to_contain_text("from your feeds")
    expect(page.locator(f'[id="paper-{top}"]')).to_be_hidden()
    page.reload()
    expect(page.locator(f'[id="paper-{top}"]')).to_have_count(0)
    after = _shown(page)
    rest = [i for i in week if i != top]
    assert after == [p.paper_id for p in model.rank(imported, rest, [top]).picks][: len(after)]
    assert store.signals.signals(uid)["negatives"] == [top]
    shot(page, "43-for-you-not-interested")
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
