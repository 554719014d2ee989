"""TeX math to MathML: where math is, what it becomes, and that hostile TeX stays harmless."""

import time
import xml.etree.ElementTree as ET

import pytest
from markupsafe import Markup

from paperwire.core import tex
from paperwire.core.query import parse
from paperwire.mail.render import excerpt
from paperwire.search.matcher import Matcher
from paperwire.web.render import markdown

BLOCK = 'display="block"'


def spans(text):
    return [(s.tex, s.display) for s in tex.split(text) if isinstance(s, tex.Math)]


@pytest.mark.parametrize(
    "text, found",
    [
        (r"Complexity $\mathcal{O}(n^2)$ at $\tau_0$",
         [(r"\mathcal{O}(n^2)", False), (r"\tau_0", False)]),
        (r"sum $$\sum_i x_i$$ and \[E=mc^2\] and \(a\,b\)",
         [(r"\sum_i x_i", True), ("E=mc^2", True), (r"a\,b", False)]),
        ("costs $5 and $10 each", []),  # dollar amounts
        ("from $5 to $10 and back", []),  # a closing $ needs a non-space before it
        ("a $5$5", []),  # ... and no digit after it when it starts with the amount
        # a digit after, but no amount: math (walkthrough: "$-$19.0pp" paired the next "$")
        ("up to $-$19.0pp and $<$4 lines, $r(246)$=.621",
         [("-", False), ("<", False), ("r(246)", False)]),
        # prose between two dollars is not a formula, whatever pairs them
        ("alpha = 0.87$) and significant inter-dimension correlations (p < 0.001$ all", []),
        ("biases $-$ despite near-orthogonal representations across models $r$",
         [("-", False), ("r", False)]),
        (r"$\text{for all} x \in X$ and $\sin x \cos y \max z$",
         [(r"\text{for all} x \in X", False), (r"\sin x \cos y \max z", False)]),
        ("unbalanced $x + y", []),
        ("$ x$ and $x $", []),
        (r"an escaped \$ then $y$", [("y", False)]),
        ("$$", []),
        ("$a\n\nb$", []),  # no math across paragraphs
        ("$" + "x" * (tex.MAX_SPAN + 1) + "$", []),
    ],
)  # fmt: skip
def test_where_math_is(text, found):
    assert spans(text) == found
    assert "".join(s if isinstance(s, str) else s.source for s in tex.split(text)) == text


def test_math_becomes_mathml():
    out = tex.to_html(r"Bound $\mathcal{O}(n^2)$ for $\tau_0 < 1$ & more")
    assert out.startswith("Bound <math ") and out.endswith("</math> &amp; more")
    assert "<msup><mi>n</mi><mn>2</mn></msup>" in out and "<mo>&lt;</mo>" in out
    assert "𝒪" in out and "τ" in out
    assert BLOCK in tex.to_html(r"$$\frac{a}{b}$$") and BLOCK not in tex.to_html("$a$")
    for markup in (out, tex.to_html(r"\[\begin{pmatrix}a&b\\c&d\end{pmatrix}\]")):
        ET.fromstring(f"<p>{markup}</p>")  # well-formed


@pytest.mark.parametrize(
    "hostile",
    [
        "$<script>alert(1)</script>$",
        r"$\text{<script>alert(1)</script>}$",
        r"$\text{<img src=x onerror=alert(1)>}$",
        r"$\href{javascript:alert(1)}{click}$",
        r"$\style{background:url(x)}{x}$",
        r"$\color{white}{x}\mathbin{\class{x}{y}}$",
        r"$\hspace{100000em}x$",
        r"$\Huge x$",
        r"$\frac{1}{$ and $\begin{matrix}$",
        "$" + "{" * 200 + "x" + "}" * 200 + "$",
        '$a" onmouseover="alert(1)$',
    ],
)
def test_hostile_tex_is_harmless(hostile):
    out = tex.to_html(hostile)
    tree = ET.fromstring(f"<p>{out}</p>")  # well-formed: nothing leaks into the page
    for el in tree.iter():
        tag = el.tag.rsplit("}", 1)[-1]
        assert tag in tex._ELEMENTS | {"p"}
        for name, value in el.attrib.items():  # only the allow-list, no links or styles
            assert name in tex._ATTRIBUTES or (tag, name) == ("math", "display")
            assert "javascript" not in value and "100000" not in value


def test_bad_tex_shows_its_source():
    assert tex.to_html(r"see $\frac{1}{$ here") == r"see $\frac{1}{$ here"
    assert tex.to_html(r"$a < b$ <b>").endswith("&lt;b&gt;")


def test_huge_inputs_stay_fast_and_bounded():
    tex.mathml.cache_clear()
    text = " ".join(f"$x_{{{i}}} + y^{{{i}}}$" for i in range(3000))  # 3,000 distinct spans
    started = time.process_time()
    out = tex.to_html(text)
    assert time.process_time() - started < 5
    # The first MAX_TEXT characters of TeX are converted, the rest stay source.
    assert 100 < out.count("<math") < 3000 and out.rstrip().endswith("$")
    long = "$" + "a" * 100000  # one unclosed opener before a huge text
    started = time.process_time()
    assert tex.to_html(long) == long
    assert time.process_time() - started < 1
    # Text-mode commands never read a long run twice over (a space before "\\footnote" was
    # once matched from each space of a run: 20,000 spaces took a second, "{\\em" 3.5 s).
    for hostile in (
        "\\x" + " " * 100000 + "y",
        "{\\em" + " " * 100000,
        "\\x{" + "$" * 100000,
        "\\href{" + " " * 100000,
        "$" + "abc " * 25000 + "$",
    ):
        started = time.process_time()
        tex.to_html(hostile), tex.to_text(hostile), tex.text_mode(hostile)
        assert time.process_time() - started < 0.5, hostile[:8]


def test_conversions_are_cached():
    tex.mathml.cache_clear()
    for _ in range(50):
        tex.to_html(r"title with $\mathcal{O}(n^2)$")
    info = tex.mathml.cache_info()
    assert info.misses == 1 and info.hits == 49


def test_filter_passes_html_through():
    assert tex.tex_html(None) == ""
    assert tex.tex_html(Markup("<mark>x</mark> $y$")) == "<mark>x</mark> $y$"
    assert "<math" in tex.tex_html("$y$") and isinstance(tex.tex_html("$y$"), Markup)
    assert tex.tex_html("<b>$5</b>") == "&lt;b&gt;$5&lt;/b&gt;"


def test_highlights_never_mark_inside_math():
    m = Matcher(parse("transformer attention"))
    title = r"Transformer attention in $\mathcal{O}(n \cdot attention)$ time"
    api = m.highlight(title)
    assert api.startswith("<mark>Transformer</mark> <mark>attention</mark>")
    assert r"$\mathcal{O}(n \cdot attention)$" in api  # the TeX as it was, not marked
    page = m.highlight(title, mathml=True)
    assert page.count("<mark>") == 2 and "<math " in page
    math = page[page.index("<math") : page.index("</math>")]
    assert "<mark>" not in math and "<mi>a</mi>" in math
    hostile = m.highlight("attention $<script>x</script>$", mathml=True)
    assert "<script" not in hostile and "<mark>attention</mark>" in hostile


def test_comment_markdown_renders_math():
    html = markdown(r"We get $E=mc^2$, and \(a\,b\) with **bold** and `$code$`.")
    assert html.count("<math ") == 2 and '<mspace width="0.167em">' in html
    assert "<strong>bold</strong>" in html and "<code>$code$</code>" in html
    assert BLOCK in markdown("$$\n\\sum_i x_i\n$$")
    assert markdown("It costs $5 and $10.") == "<p>It costs $5 and $10.</p>\n"
    hostile = markdown(r"$\text{<script>x</script>}$ <script>y</script> $\href{javascript:z}{w}$")
    assert "<script" not in hostile and "javascript" not in hostile
    forged = markdown("\ue0000\ue001 and $x$")  # a forged placeholder is dropped
    assert forged.count("<math") == 1 and "\ue000" not in forged


def test_email_excerpt_never_cuts_math():
    text = "word " * 60 + r"$\mathcal{O}(n^2 \log n)$ and more words " * 5
    cut = excerpt(text, limit=310)
    assert cut.endswith("…") and cut.count("$") % 2 == 0
    assert "<math" in tex.to_html(excerpt(r"short $\tau_0$ text"))


@pytest.mark.parametrize(
    ("text", "plain"),
    [
        ("AT$^2$PO: agents", "AT²PO: agents"),
        (r"$C$-$\Delta\Theta$ cycles", "C-ΔΘ cycles"),
        (r"$x_i$, $x^{ab}$, $x_{i+1}$, $a_1^2$", "x_i, x^ab, x_(i+1), a₁²"),
        (r"$\frac{a}{b}$ and $\sqrt{2}$", "a/b and √(2)"),
        (r"$\text{big data}$ at scale", "big data at scale"),
        (r"$\mathcal{O}(n \log n)$ and $\sin(x)$", "𝒪(n log n) and sin(x)"),  # names apart
        ("costs $5 and $10", "costs $5 and $10"),
        (r"a $\bad{$ span", r"a \bad{ span"),
        ("no math", "no math"),
    ],
)
def test_math_as_plain_text(text, plain):
    assert tex.to_text(text) == plain


def test_text_mode_tex_outside_math_reads_as_text():
    """arXiv abstracts carry text-mode TeX outside math (walkthrough: "\\textbf{KromHC}",
    "\\underline{Kro}necker", "$\\sim$70\\%", "\\$5--\\$10" shown raw)."""
    from paperwire.core.tex import text_mode, to_html, to_text

    assert text_mode(r"We propose \textbf{KromHC}, via \underline{Kro}necker products") == (
        "We propose KromHC, via Kronecker products"
    )
    assert text_mode(r"\textbf{\emph{both}} at \texttt{https://x.org/a\_b} and \url{y.org}") == (
        "both at https://x.org/a_b and y.org"
    )
    assert text_mode(r"79.6\% of \$5--\$10 in 1990--2000 -- a ``quote'' at 9.8~pp\ldots") == (
        "79.6% of $5–$10 in 1990–2000 – a “quote” at 9.8\u00a0pp…"
    )
    assert text_mode("~10x faster, --flag, plain text") == "~10x faster, --flag, plain text"
    # "$\sim$70": a digit after the closing dollar, but TeX between: math. Money stays text.
    html = to_html(r"plateaus near $\sim$70\% while $5 and $10 are prices")
    assert html.count("<math") == 1 and "70%" in html and "$5 and $10 are prices" in html
    assert to_text(r"\textbf{SGG-R}$^{\rm 3}$ at 50\%") == "SGG-R³ at 50%"
    # An author's own commands, links, footnotes, abbreviations, thousands (walkthrough:
    # "\revision{semantic}", "\href{…}{project page}", "\eg", "56{,}340" shown raw).
    assert text_mode(
        r"its \revision{semantic} map (\eg flames, \ie fire) on our \href{https://a.io}{project"
        r" page} in 56{,}340 examples\footnote{https://github.com/x/y}, \etal."
    ) == (
        "its semantic map (e.g. flames, i.e. fire) on our project page in 56,340 examples"
        " (https://github.com/x/y), et al."
    )
    assert text_mode(r"\ldots{} and \dots") == "… and …"
    assert text_mode("{\\em backdoor attacks} and {\\bf\nRainFusion} at 360{\\deg}") == (
        "backdoor attacks and RainFusion at 360°"
    )
    assert text_mode(r"{\alpha}-UMI, 10 {\mu}m, R2 = 0.60 \pm 0.05, 3\times, A \and B") == (
        "α-UMI, 10 μm, R2 = 0.60 ± 0.05, 3×, A, B"
    )
    assert text_mode(r"\alphabet and \method stay") == r"\alphabet and \method stay"
    # A command around math: the math is found, the command's braces go.
    html = to_html(r"achieved \mbox{PSNR $=15.217$} and \textbf{2.67$\times$} faster")
    assert html.count("<math") == 2 and "{" not in html and "mbox" not in html
    assert (
        to_text(r"\textit{GigaBrain-0.5M$^*$} at \mbox{PSNR $=15$}")
        == "GigaBrain-0.5M^* at PSNR =15"
    )
    # Hostile text stays escaped text after its commands are read.
    assert to_html(r"\textbf{<script>x</script>}") == "&lt;script&gt;x&lt;/script&gt;"
