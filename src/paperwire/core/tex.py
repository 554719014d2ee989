"""TeX math in paper text (titles, abstracts, comments) as MathML, safely.

Math is ``$…$`` or ``\\(…\\)`` inline and ``$$…$$`` or ``\\[…\\]`` displayed. A single
``$`` opens math only when a non-space follows it, and closes it only after a non-space and
when no digit follows, as pandoc decides, so that "$5 and $10" stays text; ``\\$`` is a
dollar sign. latex2mathml converts each span; its output is parsed and rebuilt from an
allow-list of MathML elements and attributes (it passes ``\\text{…}`` through unescaped and
turns ``\\href`` into a link), so hostile TeX can neither inject HTML nor stretch a page.
A span that does not convert, is too long, or comes after the text's budget is spent stays
as its TeX source, escaped. Conversions are cached: the same titles and abstracts recur.
"""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache

from latex2mathml.converter import convert
from markupsafe import Markup

MAX_SPAN = 400  # characters of TeX in one span; real formulas are far shorter
MAX_TEXT = 4000  # characters of TeX converted per text; the rest stays as source
MAX_DEPTH = 40  # nesting of braces and elements
CACHE_SIZE = 8192

MATHML = "{http://www.w3.org/1998/Math/MathML}"
_ELEMENTS = frozenset(
    "math semantics annotation mrow mi mn mo ms mtext mspace mfrac msqrt mroot mstyle merror "
    "mpadded mphantom menclose msub msup msubsup munder mover munderover mmultiscripts "
    "mprescripts none mtable mtr mtd mlabeledtr".split()
)
_LENGTH = re.compile(r"-?(\d{1,2}(\.\d{1,4})?|\.\d{1,4})(em|ex|mu)?")
_WORD = re.compile(r"[A-Za-z][A-Za-z -]{0,30}")
_NUMBER = re.compile(r"-?\d{1,2}")
_ATTRIBUTES: dict[str, re.Pattern[str]] = {
    "mathvariant": _WORD,
    "stretchy": _WORD,
    "fence": _WORD,
    "separator": _WORD,
    "accent": _WORD,
    "accentunder": _WORD,
    "movablelimits": _WORD,
    "largeop": _WORD,
    "symmetric": _WORD,
    "form": _WORD,
    "notation": _WORD,
    "columnalign": _WORD,
    "rowalign": _WORD,
    "columnlines": _WORD,
    "rowlines": _WORD,
    "frame": _WORD,
    "displaystyle": _WORD,
    "encoding": re.compile(r"[\w/+.-]{1,40}"),
    "scriptlevel": _NUMBER,
    "linethickness": _LENGTH,
    "lspace": _LENGTH,
    "rspace": _LENGTH,
    "width": _LENGTH,
    "height": _LENGTH,
    "depth": _LENGTH,
    "minsize": _LENGTH,
    "maxsize": _LENGTH,
    "columnspacing": re.compile(r"[\d. emx]{1,40}"),
    "rowspacing": re.compile(r"[\d. emx]{1,40}"),
}


@dataclass(frozen=True, slots=True)
class Math:
    """One span of math: its source as written (delimiters included) and its TeX."""

    source: str
    tex: str
    display: bool


Segment = str | Math


def _find_close(text: str, start: int, closer: str) -> int:
    """Where ``closer`` ends the span opened before ``start`` (-1: not math)."""
    end = text.find(closer, start)
    if end <= start or end - start > MAX_SPAN or "\n\n" in text[start:end]:
        return -1
    return end


def _close_dollar(text: str, start: int) -> int:
    if start >= len(text) or text[start].isspace():
        return -1
    j = start
    while True:
        j = text.find("$", j)
        if j < 0 or j - start > MAX_SPAN:
            return -1
        if text[j - 1] == "\\":  # an escaped dollar inside the math
            j += 1
            continue
        break
    # A digit after the closing dollar: money ("$5 and $10"), when what is between starts
    # with the amount and does not read as TeX; "$\\sim$70\\%", "$-$19.0", "$<$4" are math.
    money = (
        text[j + 1 : j + 2].isdigit()
        and text[start].isdigit()
        and not _TEXLIKE.search(text, start, j)
    )
    if text[j - 1].isspace() or money or "\n\n" in text[start:j] or _prose(text[start:j]):
        return -1
    return j


_TEXLIKE = re.compile(r"[\\^_{]")
_BRACED = re.compile(r"\{[^{}]*\}")
_PROSE_WORD = re.compile(r"(?<![\\A-Za-z])[A-Za-z]{3,}(?![A-Za-z])")


def _prose(tex: str) -> bool:
    """Whether what lies between two dollars reads as sentences, not math: three words of
    three letters or more outside braces and commands. A stray or unpaired dollar would
    otherwise make the prose up to the next one a formula ("up to $-$19.0pp for Judgment
    biases. Despite … $r(246)$"): a formula never wraps, and such a line runs off a phone's
    screen."""
    if " " not in tex:
        return False
    for _ in range(3):
        tex, n = _BRACED.subn(" ", tex)
        if not n:
            break
    return len(_PROSE_WORD.findall(tex)) >= 3


_OPENERS = re.compile(r"\\\$|\$\$|\$|\\\(|\\\[")
_PAIRS = {"$$": ("$$", True), "\\(": ("\\)", False), "\\[": ("\\]", True)}


def _span(text: str, start: int, opener: str) -> Math | None:
    pos = start + len(opener)
    if opener == "\\$":
        return None
    if opener == "$":
        end, closer, display = _close_dollar(text, pos), "$", False
    else:
        closer, display = _PAIRS[opener]
        end = _find_close(text, pos, closer)
    if end < 0 or not text[pos:end].strip():
        return None
    return Math(text[start : end + len(closer)], text[pos:end].strip(), display)


def span_at(text: str, pos: int) -> Math | None:
    """The math span that starts exactly at ``pos``, if one does."""
    m = _OPENERS.match(text, pos)
    return None if m is None else _span(text, pos, m.group(0))


def split(text: str) -> Iterator[Segment]:
    """``text`` as plain strings and :class:`Math` spans, in order."""
    last = pos = 0
    while (m := _OPENERS.search(text, pos)) is not None:
        span = _span(text, m.start(), m.group(0))
        if span is None:
            pos = m.end()
            continue
        if m.start() > last:
            yield text[last : m.start()]
        yield span
        last = pos = m.start() + len(span.source)
    if last < len(text):
        yield text[last:]


def has_math(text: str) -> bool:
    """Cheaply: could ``text`` hold math at all?"""
    return "$" in text or "\\(" in text or "\\[" in text


def _too_deep(tex: str) -> bool:
    depth = 0
    for ch in tex:
        if ch == "{":
            depth += 1
            if depth > MAX_DEPTH:
                return True
        elif ch == "}":
            depth -= 1
    return False


def _attrs(el: ET.Element) -> str:
    out = []
    for name, value in el.attrib.items():
        pattern = _ATTRIBUTES.get(name)
        if pattern is not None and pattern.fullmatch(value):
            out.append(f' {name}="{html.escape(value)}"')
    return "".join(out)


def _rebuild(el: ET.Element, depth: int = 0) -> str:
    """The element as MathML markup from the allow-list; anything else as its text."""
    name = el.tag[len(MATHML) :] if el.tag.startswith(MATHML) else ""
    if name not in _ELEMENTS or name == "math" or depth > MAX_DEPTH:
        return html.escape("".join(el.itertext()), quote=False)
    inner = html.escape(el.text or "", quote=False) + "".join(
        _rebuild(child, depth + 1) + html.escape(child.tail or "", quote=False) for child in el
    )
    return f"<{name}{_attrs(el)}>{inner}</{name}>"


@lru_cache(maxsize=CACHE_SIZE)
def mathml(tex: str, display: bool = False) -> str | None:
    """The TeX as sanitized MathML markup, or None when it cannot be converted."""
    if len(tex) > MAX_SPAN or _too_deep(tex):
        return None
    try:
        root = ET.fromstring(convert(tex))
    except Exception:  # noqa: BLE001 - any failure of the converter means "show the source"
        return None
    if root.tag != f"{MATHML}math":
        return None
    inner = html.escape(root.text or "", quote=False) + "".join(
        _rebuild(child, 1) + html.escape(child.tail or "", quote=False) for child in root
    )
    if not inner.strip():
        return None
    shown = "block" if display else "inline"
    return f'<math xmlns="http://www.w3.org/1998/Math/MathML" display="{shown}">{inner}</math>'


def escape(text: str) -> str:
    return html.escape(text, quote=False)


def span_html(span: Math, budget: list[int]) -> str:
    """One span as MathML, or its escaped source once ``budget[0]`` characters of TeX have
    been converted (the budget is shared by the spans of one text)."""
    budget[0] -= len(span.tex)
    markup = mathml(span.tex, span.display) if budget[0] >= 0 else None
    return markup if markup is not None else escape(span.source)


# Text-mode TeX outside math, as arXiv abstracts carry it: a command keeps its words
# ("\\textbf{KromHC}" and an author's own "\\revision{KromHC}" read "KromHC"; "\\href{url}{a
# page}" reads "a page", a footnote stands in brackets, "{\\em x}" reads "x"), a symbol is its
# character ("{\\alpha}", "360{\\deg}", "\\pm"), "\\eg" is "e.g.", an escaped
# character is itself ("70\\%"), "56{,}340" is "56,340", "~" between words is a no-break
# space, "--" a dash, ``quotes'' are quotes.
_AROUND_MATH = re.compile(r"\\[A-Za-z]+\*?\s*\{([^{}$]*\$[^{}]*)\}")  # \\mbox{PSNR $=15$}
_HREF = re.compile(r"\\href\s*\{[^{}]*\}\s*\{([^{}]*)\}")  # \\href{url}{text}: the text
# (one space before, not \s*: a run of spaces would be scanned from each of its positions)
_FOOTNOTE = re.compile(r" ?\\footnote\s*\{([^{}]*)\}")  # in brackets where it stands
_COMMAND = re.compile(r"\\[A-Za-z]+\*?\s*\{([^{}]*)\}")  # an author's own \\revision{x}: x
_ABBREVIATIONS = {"eg": "e.g.", "ie": "i.e.", "etal": "et al.", "wrt": "w.r.t.", "etc": "etc.",
                  "vs": "vs.", "cf": "cf."}  # fmt: skip
_ABBREVIATION = re.compile(r"\\(eg|ie|etal|wrt|etc|vs|cf)(?![A-Za-z])\.?(?:\{\}|\\ )?")
_SWITCH = re.compile(
    r"\{\\(?:em|it|bf|sc|sl|tt|rm|sf|itshape|bfseries|scshape)\s++([^{}]*)\}"
)  # {\\em x}
_SYMBOLS = {
    **dict(zip(
        "alpha beta gamma delta epsilon varepsilon zeta eta theta kappa lambda mu nu xi pi "
        "rho sigma tau phi varphi chi psi omega Gamma Delta Theta Lambda Pi Sigma Phi Psi "
        "Omega".split(),
        "αβγδεεζηθκλμνξπρστφφχψωΓΔΘΛΠΣΦΨΩ", strict=True,
    )),
    "pm": "±", "times": "×", "deg": "°", "textdegree": "°", "circ": "°", "approx": "≈",
    "sim": "~", "leq": "≤", "geq": "≥", "le": "≤", "ge": "≥", "neq": "≠", "cdot": "·",
    "rightarrow": "→", "to": "→", "infty": "∞", "textasciitilde": "~", "textbar": "|",
}  # fmt: skip
_SYMBOL = re.compile(r"\{\\(%s)\}|\\(%s)(?![A-Za-z])" % (("|".join(_SYMBOLS),) * 2))  # 360{\\deg}
_AND = re.compile(r" ?\\and(?![A-Za-z])")  # keywords "A \\and B"
_THOUSANDS = re.compile(r"(?<=\d)\{,\}(?=\d)")  # 56{,}340
_ESCAPED = re.compile(r"\\([%&_#{}$])")
_TILDE = re.compile(r"(?<=[\w.,)\]])~(?=\w)")
_EM_DASH = re.compile(r"(?<=\S)---(?=\S)|(?<= )---(?= )")
_EN_DASH = re.compile(r"(?<=\w)--(?=[\w$])|(?<= )--(?= )")
_QUOTES = re.compile(r"``([^`'\n]{1,200})''")
_DOTS = re.compile(r"\\(?:ldots|dots)\b(?:\{\})?")


def text_mode(text: str) -> str:
    """Plain text with its text-mode TeX read as text (see above); text without any is
    returned as it is."""
    if not any(sign in text for sign in ("\\", "~", "--", "``", "{,}")):
        return text
    text = _DOTS.sub("…", text)
    for _ in range(3):  # \\textbf{\\emph{x}}: the inner command first
        text, n = _HREF.subn(r"\1", text)
        text, m = _FOOTNOTE.subn(r" (\1)", text)
        text, k = _SWITCH.subn(r"\1", text)
        text, c = _COMMAND.subn(r"\1", text)
        if not n + m + k + c:
            break
    text = _SYMBOL.sub(lambda m: _SYMBOLS[m.group(1) or m.group(2)], text)
    text = _AND.sub(",", text)
    text = _ABBREVIATION.sub(lambda m: _ABBREVIATIONS[m.group(1)], text)
    text = _THOUSANDS.sub(",", text)
    text = _ESCAPED.sub(r"\1", text)
    text = _TILDE.sub("\u00a0", text)
    text = _EN_DASH.sub("–", _EM_DASH.sub("—", text))
    return _QUOTES.sub(r"“\1”", text)


def _unwrapped(text: str) -> str:
    """A text-mode command around math as its argument ("\\mbox{PSNR $=15.2$}" as "PSNR
    $=15.2$"), so that the math inside is found and the braces go with the command."""
    return _AROUND_MATH.sub(r"\1", text) if "$" in text and "\\" in text else text


def to_html(text: str, plain: Callable[[str], str] = escape) -> str:
    """``text`` as HTML: math as MathML, the rest (its text-mode TeX read as text) through
    ``plain`` (escaped by default; the search highlighter passes its own, so that marks
    never land inside math)."""
    text = _unwrapped(text)
    if not has_math(text):
        return plain(text_mode(text))
    budget = [MAX_TEXT]
    return "".join(
        plain(text_mode(seg)) if isinstance(seg, str) else span_html(seg, budget)
        for seg in split(text)
    )


def tex_html(value: object) -> Markup:
    """The Jinja filter ``tex``: text with its math as MathML; HTML (``Markup``, such as
    highlighted search results, which render their math themselves) as it is."""
    if value is None:
        return Markup("")
    if isinstance(value, Markup):
        return value
    return Markup(to_html(str(value)))


_SUPERSCRIPT = dict(zip("0123456789+-=()ni", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁼⁽⁾ⁿⁱ", strict=True))
_SUBSCRIPT = dict(zip("0123456789+-=()", "₀₁₂₃₄₅₆₇₈₉₊₋₌₍₎", strict=True))


def _script(text: str, chars: dict[str, str], mark: str) -> str:
    """A sub- or superscript in plain text: Unicode's small digits and signs where it has
    them all ("²"), else after ``^`` or ``_`` ("^{ab}" as "^ab", "^(a b)")."""
    if text and all(c in chars for c in text):
        return "".join(chars[c] for c in text)
    return f"{mark}{text}" if len(text) <= 1 or text.isalnum() else f"{mark}({text})"


def _plain_math(el: ET.Element) -> str:
    """The text a MathML element reads as: its characters, with scripts, fractions and
    roots spelled out on one line."""
    name = el.tag[len(MATHML) :] if el.tag.startswith(MATHML) else el.tag
    kids = list(el)
    if name == "annotation":
        return ""
    parts = [_spaced(k, _plain_math(k)) for k in kids]
    if name in ("msup", "msub", "msubsup") and len(parts) >= 2:
        if name == "msub":
            return parts[0] + _script(parts[1], _SUBSCRIPT, "_")
        if name == "msup":
            return parts[0] + _script(parts[1], _SUPERSCRIPT, "^")
        if len(parts) == 3:
            sub, sup = _script(parts[1], _SUBSCRIPT, "_"), _script(parts[2], _SUPERSCRIPT, "^")
            return parts[0] + sub + sup
    if name == "mfrac" and len(parts) == 2:
        return f"{parts[0]}/{parts[1]}"
    if name == "msqrt":
        return f"√({''.join(parts)})"
    keep = (lambda t: t) if name == "mtext" else str.strip  # (text keeps its spaces)
    return keep(el.text or "") + "".join(
        p + keep(k.tail or "") for p, k in zip(parts, kids, strict=True)
    )


def _spaced(el: ET.Element, text: str) -> str:
    """A function's name ("log", "sin") stands apart from its neighbours: "n log n"."""
    name = el.tag[len(MATHML) :] if el.tag.startswith(MATHML) else el.tag
    return f" {text} " if name == "mi" and len(text) > 1 and text.isalpha() else text


_SPACES = re.compile(r"(?<=[(\[{]) +| +(?=[()\]},.;:])| {2,}")


@lru_cache(maxsize=CACHE_SIZE)
def _math_text(tex: str) -> str | None:
    markup = mathml(tex)
    if markup is None:
        return None
    text = _plain_math(ET.fromstring(markup)).replace("\xa0", " ")
    return _SPACES.sub(lambda m: " " if m.group(0).startswith("  ") else "", text).strip()


def to_text(text: str) -> str:
    """``text`` with its math as plain characters, for where markup cannot go (a page's
    title, an accessible name, an Atom title): "AT$^2$PO" as "AT²PO", "$x_i$" as "x_i";
    a span that does not convert keeps its TeX without the dollars."""
    text = _unwrapped(text)
    if not has_math(text):
        return text_mode(text)
    out = []
    for seg in split(text):
        if isinstance(seg, str):
            out.append(text_mode(seg))
        else:
            got = _math_text(seg.tex)
            out.append(got if got is not None else seg.tex)
    return "".join(out)


def safe_cut(text: str, limit: int) -> int:
    """A cut position at or before ``limit`` that is not inside a math span."""
    if not has_math(text[:limit]):
        return limit
    pos = 0
    for seg in split(text):
        size = len(seg) if isinstance(seg, str) else len(seg.source)
        if pos + size > limit:
            return pos if isinstance(seg, Math) else limit
        pos += size
    return limit
