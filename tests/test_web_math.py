"""Math on every surface: cards, paper pages, comments, search highlights (page and API),
e-mails (HTML and text); hostile TeX in a title or a comment injects nothing."""

import re
from datetime import date

import pytest

from paperwire.core.records import PaperRecord

from .storekit import TRUST
from .webkit import Visitor, add_user

TITLE = r"Attention in $\mathcal{O}(n^2)$ time at $\tau_0$"
ABSTRACT = (
    r"We bound attention cost by $\mathcal{O}(n \log n)$ for tokens priced at $5 and $10, "
    r"with $$\sum_{i=1}^{n} a_i \le C$$ and \(\tau_0 > 0\)."
)
HOSTILE = r"Costs $5 and $10: $<script>alert(1)</script>$ and $\text{<img src=x onerror=alert(2)>}$"


def add_paper(store, pid, title, abstract):
    store.papers.upsert(
        [PaperRecord(id=pid, title=title, abstract=abstract, source="arxiv-api").validated()],
        TRUST,
    )
    uid = add_user(store, f"sub{pid.replace('.', '')}", role="curator")
    store.feed.submit(pid, uid, date.today())


def between(text, start, end):
    i = text.index(start)
    return text[i : text.index(end, i)]


@pytest.fixture
def math_site(web):
    app, store, ids, _ = web
    add_paper(store, "2601.00001", TITLE, ABSTRACT)
    add_paper(store, "2601.00002", HOSTILE, "An abstract without math.")
    return app, store


def test_titles_and_abstracts_render_as_mathml(math_site):
    app, store = math_site
    visitor = Visitor(app)
    page = visitor.get("/papers/2601.00001").text
    h1 = between(page, "<h1>", "</h1>")
    assert h1.count("<math ") == 2 and "$" not in h1 and "<mi>τ</mi>" in h1
    abstract = between(page, '<p class="abstract-full">', "</p>")
    assert abstract.count("<math ") == 3 and abstract.count('display="block"') == 1
    assert "priced at $5 and $10," in abstract  # dollar amounts stay text
    card = between(visitor.get("/papers").text, 'id="paper-2601.00001"', "</article>")
    assert card.count("<math ") == 5


def test_hostile_tex_in_a_title_injects_nothing(math_site):
    app, _ = math_site
    visitor = Visitor(app)
    for url in ("/papers/2601.00002", "/papers", "/papers?q=costs"):
        text = visitor.get(url).text
        assert "<script>alert" not in text and "<img src=x" not in text
    h1 = between(visitor.get("/papers/2601.00002").text, "<h1>", "</h1>")
    assert h1.startswith("<h1>Costs $5 and $10: <math ")


def test_titles_where_markup_cannot_go_read_their_math_as_text(math_site):
    """A page's title, a button's accessible name, an Atom title: the title's math as plain
    characters ("𝒪(n²)", "τ₀"), not TeX; hostile TeX stays escaped text there too."""
    app, _ = math_site
    visitor = Visitor(app)
    plain = "Attention in 𝒪(n²) time at τ₀"
    page = visitor.get("/papers/2601.00001").text
    assert f"<title>{plain} · " in page
    card = between(visitor.get("/papers").text, 'id="paper-2601.00001"', "</article>")
    assert f'<span class="sr-only">Upvote {plain},</span>' in card
    feed = visitor.get("/feeds/daily.atom").text
    assert f"<title>{plain}</title>" in feed
    # ... and the summary, which a feed reader shows as text (it showed "$\mathcal{O}(…)$")
    assert "We bound attention cost by 𝒪(n log n) for tokens" in feed
    assert "\\mathcal" not in feed
    hostile = between(visitor.get("/papers/2601.00002").text, "<title>", "</title>")
    assert "<script" not in hostile and "&lt;script&gt;alert(1)&lt;/script&gt;" in hostile


def test_comments_render_math_and_keep_thin_spaces(math_site):
    app, store = math_site
    add_user(store, "reader")
    visitor = Visitor(app)
    visitor.sign_in("reader")
    body = r"So $E=mc^2$, and \(a\,b\) $\href{javascript:alert(1)}{x}$ <script>x</script>"
    r = visitor.post("/papers/2601.00001/comments", {"body": body})
    assert r.status_code == 303
    thread = between(visitor.get("/papers/2601.00001").text, 'class="c-body"', "</div>")
    assert thread.count("<math ") == 3 and '<mspace width="0.167em">' in thread
    assert "javascript" not in thread and "<script" not in thread


def test_search_highlights_stay_outside_math(math_site):
    app, _ = math_site
    visitor = Visitor(app)
    page = visitor.get("/papers", params={"q": "attention tau"}).text
    card = between(page, 'id="paper-2601.00001"', "</article>")
    assert "<mark>Attention</mark>" in card and card.count("<math ") >= 2
    for math in re.findall(r"<math .*?</math>", card, re.S):
        assert "<mark>" not in math
    api = visitor.get("/api/papers/search", params={"q": "attention tau"}).json()
    item = next(i for i in api if i["paper"]["id"] == "2601.00001")
    assert item["highlightedTitle"] == (
        r"<mark>Attention</mark> in $\mathcal{O}(n^2)$ time at $\tau_0$"
    )
    assert item["paper"]["title"] == TITLE  # the API's data stays TeX


def test_emails_show_math(math_site):
    app, store = math_site
    fan = add_user(store, "fan")
    store.feed.set_upvote(fan, "2601.00001", True)
    visitor = Visitor(app)
    html = visitor.get("/digest/preview/email", params={"kind": "trending"}).text
    title = between(html, "Attention in ", "</a>")
    assert title.count("<math ") == 2
    text = visitor.get("/digest/preview", params={"kind": "trending", "format": "text"}).text
    assert TITLE in text and "<math" not in text  # the text part keeps readable TeX


def test_web_addresses_in_an_abstract_and_comment_are_links(web):
    """arXiv comments and abstracts name project pages and code ("Project page: https://…",
    "Code: github.com/…"): the paper page links them, escaped, beside the math, and only
    http(s) addresses; the cards and search keep plain text."""
    app, store, _, _ = web
    record = PaperRecord(
        id="2601.00003",
        title="Links",
        abstract=(
            r"We study the scaling of sparse attention in long-context language models and "
            r"show that the cost grows as $x^2$ only for the first layers, then linearly. "
            r"Code at https://github.com/a/b_(c), and a demo (see www.example.org/x)."
        ),
        comment=(
            "Project page: https://p.github.io/site/. Data: github.com/x/y. "
            'javascript:alert(1) https://e.org/"onclick=alert(1)'
        ),
        source="arxiv-api",
    )
    store.papers.upsert([record.validated()], TRUST)
    page = Visitor(app).get("/papers/2601.00003").text
    abstract = between(page, '<p class="abstract-full">', "</p>")
    rel = 'rel="nofollow noopener ugc"'
    assert f'<a href="https://github.com/a/b_(c)" {rel}>https://github.com/a/b_(c)</a>,' in abstract
    assert f'<a href="https://www.example.org/x" {rel}>www.example.org/x</a>).' in abstract
    assert "<math" in abstract
    comment = between(page, '<p class="arxiv-comment">', "</p>")
    assert (
        f'<a href="https://p.github.io/site/" {rel}>https://p.github.io/site/</a>. Data:' in comment
    )
    assert f'<a href="https://github.com/x/y" {rel}>github.com/x/y</a>.' in comment
    assert f'<a href="https://e.org/" {rel}>https://e.org/</a>&#34;onclick=alert(1)' in comment
    assert 'href="javascript' not in page and comment.count("<a ") == 3


def test_bibtex_keeps_latex_titles_and_escapes_stray_braces():
    from paperwire.web.render import _bibtex_escape

    assert _bibtex_escape(r"SGG-R$^{\rm 3}$:  From") == r"SGG-R$^{\rm 3}$: From"
    assert _bibtex_escape("Evil } @misc{x,") == r"Evil \} @misc\{x,"  # cannot end the field
    assert _bibtex_escape(r"a \{ b") == r"a \{ b"


def test_comment_markdown_links_bare_addresses_and_draws_tables():
    from paperwire.web.render import markdown

    html = markdown(
        "Code: https://github.com/x/y, or www.example.org.\n\n"
        "| model | score |\n|---|---:|\n| ours | $0.9$ |\n\n"
        "Not links: javascript:alert(1), data:text/html;base64,PHNjcmlwdD4="
    )
    assert '<a href="https://github.com/x/y" rel="nofollow ugc noopener">' in html
    assert '<a href="http://www.example.org" rel="nofollow ugc noopener">' in html
    assert "<th>model</th>" in html and "<td>ours</td>" in html and "<math" in html
    assert 'href="javascript' not in html and 'href="data:' not in html
    assert "javascript:alert(1)" in html  # shown as the text it is
