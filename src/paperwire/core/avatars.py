"""Avatars: initials on a colour drawn from the name (SVG, built from escaped parts only),
and uploaded images checked and re-encoded before anyone sees them."""

from __future__ import annotations

import colorsys
import hashlib
import io
import unicodedata
from dataclasses import dataclass
from urllib.parse import quote
from xml.sax.saxutils import escape

from .errors import PaperwireError

SIZE = 256  # uploaded images are stored at most this wide and high
MAX_UPLOAD_BYTES = 512 * 1024
MAX_SIDE = 4096  # larger images are refused before they are decoded
MIN_SIDE = 16
# What is accepted, by the bytes that start the file (never by its name or declared type).
FORMATS = {"PNG": "PNG", "JPEG": "JPEG", "WEBP": "WebP"}


class AvatarError(PaperwireError):
    """An uploaded image that cannot be an avatar; the message says why, for people."""


def _luminance(rgb: tuple[float, float, float]) -> float:
    def channel(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: tuple[float, float, float], b: tuple[float, float, float]) -> float:
    """WCAG contrast ratio of two sRGB colours (components 0..1)."""
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def colour(name: str) -> tuple[float, float, float]:
    """The background of a name's avatar: its hue from a hash of the name, as light as it
    can be while white initials keep a contrast of at least 4.5:1 (so it reads the same on
    light and dark pages)."""
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).digest()
    hue = int.from_bytes(digest[:2], "big") / 65536
    sat = 0.45 + digest[2] / 255 * 0.25
    white = (1.0, 1.0, 1.0)
    light = 0.5
    while light > 0.1 and contrast(white, colorsys.hls_to_rgb(hue, light, sat)) < 4.6:
        light -= 0.01
    return colorsys.hls_to_rgb(hue, light, sat)


def initials(name: str) -> str:
    """One or two letters for a name: the first letters of its first two words
    (``marie_curie`` → MC), or its first letter; ``?`` when it has none."""
    words: list[str] = []
    word = ""
    for ch in unicodedata.normalize("NFC", name):
        if ch.isalnum():
            word += ch
        elif word:
            words.append(word)
            word = ""
    if word:
        words.append(word)
    if not words:
        return "?"
    letters = words[0][0] + (words[1][0] if len(words) > 1 else "")
    return letters.upper()


def svg(name: str) -> str:
    """The generated avatar of a user or organization name, as an SVG document. The name
    itself never appears in it: only its escaped initials and numbers computed from it."""
    r, g, b = colour(name)
    fill = f"#{round(r * 255):02x}{round(g * 255):02x}{round(b * 255):02x}"
    text = escape(initials(name))
    size = 40 if len(text) < 2 else 34
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 96 96" width="96" height="96">'
        f'<rect width="96" height="96" rx="48" fill="{fill}"/>'
        f'<text x="48" y="50" fill="#ffffff" font-family="system-ui,-apple-system,Segoe UI,'
        f'Roboto,sans-serif" font-size="{size}" font-weight="600" text-anchor="middle" '
        f'dominant-baseline="central">{text}</text></svg>'
    )


def sniff(data: bytes) -> str | None:
    """The image format the first bytes announce (PNG, JPEG or WEBP), or None."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


@dataclass(frozen=True)
class Image:
    """An avatar ready to store: re-encoded, square, metadata stripped."""

    data: bytes
    content_type: str
    width: int
    height: int
    sha256: str


def process_upload(data: bytes) -> Image:
    """Check an uploaded file and re-encode it as a WebP of at most SIZE pixels square:
    only PNG, JPEG or WebP (by magic bytes, confirmed by the decoder), at most
    MAX_UPLOAD_BYTES, sides between MIN_SIDE and MAX_SIDE pixels; anything else raises
    :class:`AvatarError`. Re-encoding drops metadata and whatever else rode in the file."""
    from PIL import Image as PILImage
    from PIL import ImageOps

    if not data:
        raise AvatarError("Choose an image file to upload.")
    if len(data) > MAX_UPLOAD_BYTES:
        raise AvatarError(f"The image is larger than {MAX_UPLOAD_BYTES // 1024} KB.")
    kind = sniff(data)
    if kind is None:
        raise AvatarError("Upload a PNG, JPEG or WebP image (SVG and other formats are refused).")
    try:
        with PILImage.open(io.BytesIO(data), formats=[kind]) as opened:
            width, height = opened.size
            if max(width, height) > MAX_SIDE or min(width, height) < MIN_SIDE:
                raise AvatarError(
                    f"The image is {width}×{height} pixels; sides must be between "
                    f"{MIN_SIDE} and {MAX_SIDE}."
                )
            opened.load()
            img = ImageOps.exif_transpose(opened).convert("RGBA")
        side = min(SIZE, width, height)
        img = ImageOps.fit(img, (side, side), PILImage.Resampling.LANCZOS)
        out = io.BytesIO()
        img.save(out, "WEBP", quality=88, method=4)
    except AvatarError:
        raise
    except Exception:  # noqa: BLE001 - hostile files fail decoders in many different ways
        raise AvatarError(
            f"The file starts like a {FORMATS[kind]} image but is not a valid one."
        ) from None
    encoded = out.getvalue()
    return Image(encoded, "image/webp", img.width, img.height, hashlib.sha256(encoded).hexdigest())


GENERATION = "1"  # bump when svg() changes, so that browsers fetch the new drawings
KINDS = ("users", "organizations")


def url(kind: str, name: str, stored: str | None = None) -> str:
    """Where a user's or organization's avatar is served on this site: the uploaded image
    when ``stored`` (the row's ``avatar_url``) points to one, the generated drawing otherwise.
    Avatars elsewhere (imported from Hugging Face) are never linked: pages load nothing
    from other sites."""
    if stored and stored.startswith("/avatars/"):
        return stored
    return f"/avatars/{kind}/{quote(name, safe='')}.svg?v={GENERATION}"
