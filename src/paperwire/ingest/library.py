"""A reader's reference library as entries: BibTeX, RIS and Zotero (or any titled) CSV
exports parsed into titles, authors, years, DOIs and arXiv ids, whatever the file holds.

The format is told by the content. A malformed entry is skipped and reported with its line;
the rest is kept. Input is bounded (:data:`MAX_BYTES`, :data:`MAX_ENTRIES`); bytes are read
as UTF-8 (with or without a BOM), else as Latin-1."""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, field

from ..core.errors import BadRecord, InvalidArxivId
from ..core.ids import parse_arxiv_id

MAX_BYTES = 5 * 1024 * 1024
MAX_ENTRIES = 5000
MAX_FIELD = 200_000  # characters of one field (a 3,000-author collaboration fits)
MAX_TITLE = 1000
MAX_FIELDS = 200  # in one BibTeX entry
MAX_AUTHORS = 10_000  # in one entry
FORMATS = ("bibtex", "ris", "csv")


class LibraryError(BadRecord):
    """A library file, or one entry of it, cannot be read. ``line``: where (1-based), when
    known."""

    def __init__(self, message: str, line: int | None = None):
        super().__init__(message, f"line {line}" if line else "")
        self.line = line


@dataclass
class LibraryEntry:
    title: str
    authors: list[str] = field(default_factory=list)
    year: int | None = None
    doi: str | None = None
    arxiv_id: str | None = None  # without version
    line: int = 0


@dataclass
class Library:
    """What a file held: its format, the usable entries, and the entries skipped (each a
    :class:`LibraryError` with its line)."""

    format: str
    entries: list[LibraryEntry]
    problems: list[LibraryError] = field(default_factory=list)


# -- identifiers ---------------------------------------------------------------------------
_ARXIV_IN_TEXT = re.compile(
    r"(?:arxiv\.org/(?:abs|pdf|html)/|arxiv\s*[:\s]\s*|abs/|arXiv\.)"
    r"(\d{4}\.\d{4,5}(?:v\d+)?|[a-z]+(?:-[a-z]+)?(?:\.[A-Z]{2})?/\d{7}(?:v\d+)?)",
    re.IGNORECASE,
)
_DOI = re.compile(r"\b(10\.\d{4,9}/[^\s\"<>{}]+)")
_ARXIV_DOI = re.compile(r"^10\.48550/arxiv\.(.+)$", re.IGNORECASE)
_YEAR = re.compile(r"(?<!\d)(1[5-9]\d\d|2\d\d\d)(?!\d)")


def arxiv_id_in(text: str | None) -> str | None:
    """The first arXiv id named in ``text`` (a URL, "arXiv:ID", "arXiv preprint
    arXiv:ID", DBLP's "abs/ID", an arXiv DOI), versionless; or the whole text as an id."""
    if not text:
        return None
    for m in _ARXIV_IN_TEXT.finditer(text):
        ident = m.group(1)
        if "/" in ident:  # old style: archive in lower case, subject class in upper
            where, number = ident.split("/", 1)
            archive, dot, subject = where.partition(".")
            ident = f"{archive.lower()}{dot}{subject.upper()}/{number}"
        try:
            return parse_arxiv_id(ident)[0]
        except InvalidArxivId:
            continue
    try:
        return parse_arxiv_id(text.strip())[0]
    except InvalidArxivId:
        return None


def doi_in(text: str | None) -> str | None:
    """The DOI in ``text`` (bare, doi:..., or a doi.org URL), without trailing punctuation."""
    if not text:
        return None
    m = _DOI.search(text)
    if not m:
        return None
    doi = m.group(1).rstrip(".,;)]")
    return doi if len(doi) <= 300 else None


def year_in(text: str | None) -> int | None:
    if not text:
        return None
    m = _YEAR.search(text)
    return int(m.group(1)) if m else None


# Control, surrogate and private-use characters and bidi overrides, as core.text.clean drops
# them (one regular expression: a library holds hundreds of thousands of names).
_DROPPED = re.compile(
    "[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\uf8ff\ufffe\uffff\U000f0000-\U0010ffff]"
)


def _plain(text: str) -> str:
    """One line of text: NFC, without what :func:`~paperwire.core.text.clean` drops, single
    spaces."""
    spaced = " ".join(unicodedata.normalize("NFC", text).split())
    return " ".join(_DROPPED.sub("", spaced).split())


def _finish(
    title: str,
    authors: list[str],
    year: int | None,
    doi: str | None,
    arxiv: str | None,
    line: int,
) -> LibraryEntry:
    """An entry, checked: something to match it by, and a title of sane length."""
    title = _plain(title)
    if len(title) > MAX_TITLE:
        raise LibraryError(f"title longer than {MAX_TITLE} characters", line)
    if doi and not arxiv:
        m = _ARXIV_DOI.match(doi)
        if m:
            arxiv = arxiv_id_in(m.group(1))
    if not (title or doi or arxiv):
        raise LibraryError("no title, DOI or arXiv id", line)
    if len(authors) > MAX_AUTHORS:
        raise LibraryError(f"more than {MAX_AUTHORS:,} authors", line)
    names = [_plain(a) for a in authors]
    return LibraryEntry(
        title=title,
        authors=[a for a in names if a],
        year=year,
        doi=doi,
        arxiv_id=arxiv,
        line=line,
    )


# -- LaTeX to text ---------------------------------------------------------------------------
_COMBINING = {
    '"': "\u0308",
    "'": "\u0301",
    "`": "\u0300",
    "^": "\u0302",
    "~": "\u0303",
    "=": "\u0304",
    ".": "\u0307",
    "u": "\u0306",
    "v": "\u030c",
    "H": "\u030b",
    "c": "\u0327",
    "k": "\u0328",
    "r": "\u030a",
    "d": "\u0323",
    "b": "\u0331",
}
_LETTERS = {
    "ss": "ß",
    "o": "ø",
    "O": "Ø",
    "aa": "å",
    "AA": "Å",
    "ae": "æ",
    "AE": "Æ",
    "oe": "œ",
    "OE": "Œ",
    "l": "ł",
    "L": "Ł",
    "i": "ı",
    "j": "ȷ",
    "dh": "ð",
    "DH": "Ð",
    "th": "þ",
    "TH": "Þ",
    "textendash": "–",
    "textemdash": "—",
    "textquoteright": "’",
    "textquoteleft": "‘",
    "textasciitilde": "~",
    "ldots": "…",
    "dots": "…",
    "LaTeX": "LaTeX",
    "TeX": "TeX",
}
_SYMBOL_ACCENT = re.compile(r"""\\(["'`^~=.])\s*(?:\{\s*(\\?[A-Za-z])\s*\}|(\\?[A-Za-z]))""")
_LETTER_ACCENT = re.compile(r"\\([uvHckrdb])(?:\s*\{\s*(\\?[A-Za-z])\s*\}|\s+([A-Za-z]))")
_NAMED = re.compile(r"\\([A-Za-z]+)(?![A-Za-z])\s*(?:\{\})?")
_ESCAPED = re.compile(r"\\([&%$#_{}\\ ,;:!])")
_MATH = re.compile(r"((?<!\\)\$(?:[^$\\]|\\.)*\$)")
# Escaped braces and tildes survive the removal of grouping braces as stand-ins.
_KEEP = {"{": "\x01", "}": "\x02", "\\": "\x03"}
_RESTORE = str.maketrans({"\x01": "{", "\x02": "}", "\x03": "\\"})


def _accent(mark: str, base: str) -> str:
    letter = {"\\i": "i", "\\j": "j"}.get(base, base.lstrip("\\"))
    return unicodedata.normalize("NFC", letter + _COMBINING[mark])


def _text_part(text: str) -> str:
    text = _SYMBOL_ACCENT.sub(lambda m: _accent(m.group(1), m.group(2) or m.group(3)), text)
    text = _LETTER_ACCENT.sub(lambda m: _accent(m.group(1), m.group(2) or m.group(3)), text)

    def named(m: re.Match[str]) -> str:
        name = m.group(1)
        return _LETTERS.get(name, "")  # \emph, \textbf, \url ...: keep only their argument

    text = _ESCAPED.sub(
        lambda m: " " if m.group(1) in " ,;:!" else _KEEP.get(m.group(1), m.group(1)), text
    )
    text = _NAMED.sub(named, text)
    text = text.replace("{", "").replace("}", "").replace("~", " ")
    text = text.replace("---", "—").replace("--", "–").replace("``", "“").replace("''", "”")
    return text.translate(_RESTORE)


def latex_to_text(text: str) -> str:
    """LaTeX as plain Unicode: accents (``{\\"u}``, ``\\'{e}``, ``\\c{c}``), special letters
    (``\\ss``, ``\\o``), escapes, and commands reduced to their arguments; braces go. Math
    (``$...$``) is kept as written, without its braces."""
    if not any(ch in text for ch in "\\{}~$`'-"):
        return " ".join(text.split())
    parts = _MATH.split(text)
    out = []
    for i, part in enumerate(parts):
        out.append(part.replace("{", "").replace("}", "") if i % 2 else _text_part(part))
    return " ".join("".join(out).split())


# -- BibTeX ---------------------------------------------------------------------------------
_AT = re.compile(r"@\s*([A-Za-z][\w-]*)\s*([{(])")
_NEXT_ENTRY = re.compile(r"^[ \t]*@", re.MULTILINE)
_COMMENT_LINE = re.compile(r"^[ \t]*%", re.MULTILINE)
_BRACE = re.compile(r"\\.|[{}]", re.DOTALL)
_QUOTED = re.compile(r'\\.|[{}"]', re.DOTALL)
# Inside an entry: braces, its closing parenthesis, or a line starting the next entry.
_ENTRY_GROUP = re.compile(r"\\.|[{}()]|\n(?=[ \t]*@\s*[A-Za-z]+\s*[{(])", re.DOTALL)
_NAME = re.compile(r"\s*([A-Za-z_][\w:.+/-]*)\s*")
_KEY = re.compile(r"\s*([^,\s}){]*)\s*,")
_NUMBER = re.compile(r"\s*(\d+)")
_AND = re.compile(r"\s+and\s+", re.IGNORECASE)
_MONTHS = {
    m: m.capitalize()
    for m in ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
}


class _Lines:
    """Offsets to 1-based line numbers."""

    def __init__(self, text: str):
        self.starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def __call__(self, pos: int) -> int:
        return bisect_right(self.starts, pos)


class _BibReader:
    def __init__(self, text: str):
        self.text = text
        self.line = _Lines(text)
        self.macros: dict[str, str] = dict(_MONTHS)
        self.end = len(text)  # where the group being read must end
        self.comments = {self.line(m.start()) for m in _COMMENT_LINE.finditer(text)}

    def braced(self, pos: int, opener: str = "{", entry: bool = False) -> tuple[str, int]:
        """The text inside the group opening at ``pos`` and the position after it. An
        ``entry`` also ends, as an error, where a line starts another entry before its
        braces balance: an unbalanced entry never swallows the ones after it."""
        closer = "}" if opener == "{" else ")"
        depth, start = 0, pos + 1
        pattern = _ENTRY_GROUP if entry else _BRACE
        for m in pattern.finditer(self.text, start, self.end):
            ch = m.group()
            if ch == "{":
                depth += 1
            elif ch == "}":
                if depth == 0 and closer == "}":
                    return self.text[start : m.start()], m.end()
                depth -= 1
                if depth < 0:
                    raise LibraryError("unbalanced braces (a '}' too many)", self.line(m.start()))
            elif ch == closer and depth == 0:
                return self.text[start : m.start()], m.end()
            elif ch.startswith("\n"):
                raise LibraryError("unbalanced braces: the entry never ends", self.line(pos))
        raise LibraryError("unbalanced braces: the entry never ends", self.line(pos))

    def quoted(self, pos: int) -> tuple[str, int]:
        depth = 0
        for m in _QUOTED.finditer(self.text, pos + 1, self.end):
            ch = m.group()
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            elif ch == '"' and depth <= 0:
                return self.text[pos + 1 : m.start()], m.end()
        raise LibraryError("unterminated quoted value", self.line(pos))

    def value(self, pos: int) -> tuple[str, int]:
        """A field value: pieces ({...}, "...", numbers, @string names) joined by #."""
        pieces: list[str] = []
        size = 0
        text, end = self.text, self.end
        while True:
            while pos < end and text[pos].isspace():
                pos += 1
            ch = text[pos : pos + 1] if pos < end else ""
            if ch == "{":
                piece, pos = self.braced(pos)
            elif ch == '"':
                piece, pos = self.quoted(pos)
            elif m := _NUMBER.match(text, pos, end):
                piece, pos = m.group(1), m.end()
            elif m := _NAME.match(text, pos, end):
                name = m.group(1).lower()
                if name not in self.macros:
                    raise LibraryError(f"unknown @string {m.group(1)!r}", self.line(pos))
                piece, pos = self.macros[name], m.end()
            else:
                raise LibraryError("a field has no value", self.line(pos))
            pieces.append(piece)
            size += len(piece)
            if size > MAX_FIELD:
                raise LibraryError(f"a field longer than {MAX_FIELD:,} characters", self.line(pos))
            while pos < end and text[pos].isspace():
                pos += 1
            if pos >= end or text[pos] != "#":
                return "".join(pieces), pos
            pos += 1

    def fields(self, offset: int, end: int) -> dict[str, str]:
        """``name = value`` pairs between ``offset`` and ``end`` (an entry's body after its
        key)."""
        out: dict[str, str] = {}
        pos = offset
        self.end = end
        try:
            for _ in range(MAX_FIELDS + 1):
                while pos < end and (self.text[pos].isspace() or self.text[pos] == ","):
                    pos += 1
                if pos >= end:
                    return out
                m = _NAME.match(self.text, pos, end)
                if not m or self.text[m.end() : m.end() + 1] != "=":
                    raise LibraryError("expected a field (name = value)", self.line(pos))
                value, pos = self.value(m.end() + 1)
                out.setdefault(m.group(1).lower(), value)
            raise LibraryError(f"more than {MAX_FIELDS} fields in one entry", self.line(pos))
        finally:
            self.end = len(self.text)

    def entries(self) -> Iterator[LibraryEntry | LibraryError]:
        pos, text = 0, self.text
        while True:
            at = text.find("@", pos)
            if at < 0:
                return
            m = _AT.match(text, at)
            line = self.line(at)
            if not m or line in self.comments:  # not an entry, or on a comment line
                pos = at + 1
                continue
            kind, opener = m.group(1).lower(), m.group(2)
            try:
                body, pos = self.braced(m.end() - 1, opener, entry=True)
                if kind in ("comment", "preamble"):
                    continue
                offset, end = m.end(), m.end() + len(body)
                if kind == "string":
                    self.macros.update(self.fields(offset, end))
                    continue
                key = _KEY.match(text, offset, end)
                if not key:
                    raise LibraryError("an entry without a key and fields", line)
                yield self.entry(self.fields(key.end(), end), line)
            except LibraryError as exc:
                yield exc if exc.line else LibraryError(str(exc), line)
                if pos <= at:  # the entry never ended: go on at the next one on a new line
                    nxt = _NEXT_ENTRY.search(text, at + 1)
                    if nxt is None:
                        return
                    pos = nxt.end() - 1

    def entry(self, f: dict[str, str], line: int) -> LibraryEntry:
        title = latex_to_text(f.get("title", ""))
        authors = [_person(latex_to_text(a)) for a in _split_authors(f.get("author", ""))]
        year = year_in(f.get("year")) or year_in(f.get("date"))
        doi = doi_in(f.get("doi")) or doi_in(f.get("url"))
        arxiv = None
        prefix = (f.get("archiveprefix") or f.get("eprinttype") or "").strip().lower()
        if f.get("eprint") and prefix in ("", "arxiv"):
            arxiv = arxiv_id_in(f["eprint"])
        for name in ("journal", "journaltitle", "volume", "url", "howpublished", "note", "pdf"):
            if arxiv:
                break
            arxiv = arxiv_id_in(f.get(name))
        if not doi:
            doi = doi_in(f.get("howpublished")) or doi_in(f.get("note"))
        return _finish(title, authors, year, doi, arxiv, line)


def _split_authors(text: str) -> list[str]:
    """Names separated by " and " outside braces ({Barnes and Noble} is one name)."""
    if "{" not in text:
        names = _AND.split(text)
        return [n.strip() for n in names if n.strip() and n.strip().lower() != "others"]
    names, depth, start = [], 0, 0
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        elif depth == 0 and ch.isspace():
            m = _AND.match(text, i)
            if m:
                names.append(text[start:i])
                start = i = m.end()
                continue
        i += 1
    names.append(text[start:])
    return [n.strip() for n in names if n.strip() and n.strip().lower() != "others"]


def _person(name: str) -> str:
    """ "Last, First" (or "Last, Jr, First") as "First Last"."""
    parts = [p.strip() for p in name.split(",")]
    if len(parts) == 2 and parts[1]:
        return f"{parts[1]} {parts[0]}"
    if len(parts) == 3 and parts[2]:
        return f"{parts[2]} {parts[0]} {parts[1]}".strip()
    return name.strip()


def parse_bibtex(text: str) -> Iterator[LibraryEntry | LibraryError]:
    return _BibReader(text).entries()


# -- RIS ------------------------------------------------------------------------------------
_RIS_LINE = re.compile(r"^([A-Z][A-Z0-9])  ?-(?: (.*))?$")


def parse_ris(text: str) -> Iterator[LibraryEntry | LibraryError]:
    record: dict[str, list[str]] | None = None
    start, last = 0, ""
    for n, raw in enumerate(text.split("\n"), start=1):
        line = raw.rstrip("\r")
        m = _RIS_LINE.match(line)
        if m is None:
            if record is not None and last and line.strip():  # a continued value
                record[last][-1] += " " + line.strip()
            continue
        tag, value = m.group(1), (m.group(2) or "").strip()
        if tag == "TY":
            if record is not None:
                yield LibraryError("a record without ER (its end)", start)
            record, start, last = {}, n, ""
            continue
        if record is None:
            if tag != "ER":
                yield LibraryError(f"{tag} outside a record (before TY)", n)
            continue
        if tag == "ER":
            try:
                yield _ris_entry(record, start)
            except LibraryError as exc:
                yield exc
            record = None
            continue
        if len(value) > MAX_FIELD:
            yield LibraryError(f"a field longer than {MAX_FIELD:,} characters", n)
            record = None
            continue
        record.setdefault(tag, []).append(value)
        last = tag
    if record is not None:
        yield LibraryError("a record without ER (its end)", start)


def _ris_entry(r: dict[str, list[str]], line: int) -> LibraryEntry:
    def first(*tags: str) -> str:
        for tag in tags:
            for v in r.get(tag, []):
                if v:
                    return v
        return ""

    title = first("TI", "T1", "CT", "BT")
    authors = [_person(a) for tag in ("AU", "A1") for a in r.get(tag, [])]
    year = year_in(first("PY")) or year_in(first("Y1")) or year_in(first("DA"))
    doi = doi_in(first("DO")) or next(
        (d for v in r.get("UR", []) if "doi.org" in v and (d := doi_in(v))), None
    )
    arxiv = None
    for tag in ("UR", "L1", "L2", "M3", "N1", "IS", "JO", "JF", "T2", "VL", "AN", "DO"):
        for v in r.get(tag, []):
            arxiv = arxiv or arxiv_id_in(v)
    return _finish(title, authors, year, doi, arxiv, line)


# -- CSV ------------------------------------------------------------------------------------
_TITLE_COLS = ("title",)
_AUTHOR_COLS = ("author", "authors", "creator", "creators")
_YEAR_COLS = ("publication year", "year", "date", "issued")
_URL_COLS = ("url", "link", "pdf")
_NOTE_COLS = ("extra", "notes", "note", "archive location", "arxiv", "arxiv id", "eprint")


def _csv_header(text: str) -> list[str] | None:
    first = text.split("\n", 1)[0]
    try:
        row = next(csv.reader([first]))
    except (csv.Error, StopIteration):
        return None
    names = [c.strip().lower() for c in row]
    return names if len(names) >= 2 and "title" in names else None


def parse_csv(text: str) -> Iterator[LibraryEntry | LibraryError]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [c.strip().lower() for c in next(reader)]
    except (csv.Error, StopIteration):
        yield LibraryError("no header row", 1)
        return
    col = {name: i for i, name in reversed(list(enumerate(header)))}

    def pick(row: list[str], names: tuple[str, ...]) -> str:
        for name in names:
            i = col.get(name)
            if i is not None and i < len(row) and row[i].strip():
                return row[i]
        return ""

    start = reader.line_num + 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield LibraryError(f"unreadable row ({exc})", start)
            start = reader.line_num + 1
            continue
        line, start = start, reader.line_num + 1
        if not any(c.strip() for c in row):
            continue
        try:
            if any(len(c) > MAX_FIELD for c in row):
                raise LibraryError(f"a field longer than {MAX_FIELD:,} characters", line)
            authors = [_person(a) for a in re.split(r";\s*", pick(row, _AUTHOR_COLS)) if a.strip()]
            notes = " ".join(pick(row, (n,)) for n in _NOTE_COLS)
            url = pick(row, _URL_COLS)
            doi = doi_in(pick(row, ("doi",))) or (doi_in(url) if "doi.org" in url else None)
            arxiv = arxiv_id_in(url) or arxiv_id_in(notes)
            year = year_in(pick(row, _YEAR_COLS))
            yield _finish(pick(row, _TITLE_COLS), authors, year, doi, arxiv, line)
        except LibraryError as exc:
            yield exc


# -- the file -------------------------------------------------------------------------------
def decode(data: bytes) -> str:
    """UTF-8 (a BOM is dropped), else Latin-1 (every byte is a character)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _looks_binary(text: str) -> bool:
    head = text[:4096]
    if not head:
        return False
    controls = sum(1 for ch in head if ord(ch) < 32 and ch not in "\t\n\r\f")
    return controls > len(head) // 20


def detect(text: str) -> str | None:
    """ "bibtex", "ris" or "csv" by what the text holds; None when it is none of them."""
    body = text.lstrip()
    if _csv_header(body):
        return "csv"
    if re.search(r"^TY  ?- ", body[:20000], re.MULTILINE):
        return "ris"
    if re.search(r"^[ \t]*@\s*[A-Za-z]+\s*[{(]", text, re.MULTILINE):
        return "bibtex"
    return None


def parse(data: bytes | str, name: str = "") -> Library:
    """The entries of a library export. Raises :class:`LibraryError` when the whole file is
    unusable (too large, binary, no known format, too many entries); a bad entry is only
    listed in ``problems``."""
    size = len(data.encode("utf-8", "surrogatepass")) if isinstance(data, str) else len(data)
    what = name or "the file"
    if size > MAX_BYTES:
        raise LibraryError(f"{what} is {size / 1e6:.1f} MB; a library may be 5 MB at most")
    text = decode(data) if isinstance(data, bytes) else data.removeprefix("\ufeff")
    if _looks_binary(text):
        raise LibraryError(f"{what} is not text (a BibTeX, RIS or CSV export was expected)")
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    kind = detect(text)
    if kind is None:
        raise LibraryError(
            f"{what} is not a BibTeX, RIS or CSV export (CSV needs a header row with a "
            "Title column)"
        )
    reader = {"bibtex": parse_bibtex, "ris": parse_ris, "csv": parse_csv}[kind]
    entries: list[LibraryEntry] = []
    problems: list[LibraryError] = []
    for item in reader(text):
        if isinstance(item, LibraryError):
            if len(problems) >= MAX_ENTRIES:
                raise LibraryError(
                    f"{what} has more than {MAX_ENTRIES:,} entries that cannot be read", item.line
                )
            problems.append(item)
            continue
        if len(entries) >= MAX_ENTRIES:
            raise LibraryError(f"{what} has more than {MAX_ENTRIES:,} entries; split it", item.line)
        entries.append(item)
    return Library(kind, entries, problems)
