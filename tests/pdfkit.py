"""Real PDFs made in the test: each page a few filled rectangles and a line of Helvetica text,
written by hand (objects, a cross-reference table with exact offsets, a trailer)."""

from __future__ import annotations

LETTER = (612, 792)  # points: US Letter, as arXiv's PDFs mostly are


def page_stream(title: str, color: tuple[float, float, float], band: bool = True) -> bytes:
    """A page: a dark band across its top (where a paper's title is), a coloured block
    below it, and the title in text."""
    r, g, b = color
    safe = title.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    parts = []
    if band:
        parts.append("0 0 0 rg 50 650 512 100 re f")
    parts.append(f"{r} {g} {b} rg 50 200 512 400 re f")
    parts.append(f"0 0 0 rg BT /F1 18 Tf 60 620 Td ({safe}) Tj ET")
    return "\n".join(parts).encode("latin-1", "replace")


def make_pdf(streams: list[bytes], size: tuple[int, int] = LETTER) -> bytes:
    """A valid PDF whose pages draw ``streams`` (PDF content-stream operators)."""
    n = len(streams)
    page_ids = [4 + 2 * i for i in range(n)]
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids ["
        + b" ".join(b"%d 0 R" % p for p in page_ids)
        + b"] /Count %d >>" % n,
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    for i, stream in enumerate(streams):
        content_id = page_ids[i] + 1
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %d %d] " % size
            + b"/Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>" % content_id
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def paper_pdf(title: str) -> bytes:
    """Three pages: the first with the title band and a blue block, then red, then green."""
    return make_pdf(
        [
            page_stream(title, (0.1, 0.3, 0.9)),
            page_stream("page two", (0.9, 0.1, 0.1), band=False),
            page_stream("page three", (0.1, 0.8, 0.2), band=False),
        ]
    )


def _wrap(text: str, width: int) -> list[str]:
    lines: list[str] = []
    line = ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return lines + ([line] if line else [])


def _text(x: float, y: float, size: float, font: str, line: str) -> str:
    safe = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    return f"BT /{font} {size} Tf {x} {y} Td ({safe}) Tj ET"


def article_pdf(title: str, authors: list[str], abstract: str) -> bytes:
    """A first page laid out like an arXiv paper's (title, authors, abstract), then a second
    page of body text: what the screenshots of the card grid show."""
    y = 700.0
    ops = []
    for line in _wrap(title, 48):
        ops.append(_text(306 - len(line) * 4.6, y, 17, "F1", line))
        y -= 22
    y -= 8
    for line in _wrap(", ".join(authors), 80):
        ops.append(_text(306 - len(line) * 2.6, y, 11, "F1", line))
        y -= 15
    y -= 18
    ops.append(_text(282, y, 12, "F1", "Abstract"))
    y -= 18
    for line in _wrap(abstract, 88):
        ops.append(_text(90, y, 10, "F1", line))
        y -= 13
    body = [_text(72, 720 - 13 * i, 10, "F1", "Body text of the paper.") for i in range(40)]
    first = "\n".join(ops).encode("latin-1", "replace")
    return make_pdf([first, "\n".join(body).encode()])
