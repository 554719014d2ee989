"""Render the first page of a PDF as WebP images: the whole page, and the top of it for cards.

PDFium (pypdfium2) draws the page and Pillow encodes it; both are the optional extra
``paperwire[thumbnails]``. WebP alone is enough: every browser the site's CSS supports shows it.
"""

from __future__ import annotations

import hashlib
import io
import threading
from typing import TYPE_CHECKING

from ..core.errors import PaperwireError
from ..core.models import THUMB_CARD, THUMB_PAGE_WIDTH, RenderedPage

if TYPE_CHECKING:
    from PIL.Image import Image

INSTALL_HINT = "thumbnails need pypdfium2 and Pillow: pip install 'paperwire[thumbnails]'"
MAX_ASPECT = 3.0  # a page taller than this many widths is cut (posters, scrolls)
WEBP_QUALITY = 80
WEBP_METHOD = 2  # measured: half the time of 4 for 2% more bytes
# PDFium is not thread-safe; one page at a time per process.
_pdfium_lock = threading.Lock()


class BadPdf(PaperwireError, ValueError):
    """The bytes are not a PDF whose first page can be drawn."""


def renderer_missing() -> str | None:
    """Why thumbnails cannot be rendered here (a missing package), or None."""
    try:
        import PIL.features
        import pypdfium2  # noqa: F401
    except ImportError:
        return INSTALL_HINT
    if not PIL.features.check("webp"):
        return "thumbnails need Pillow built with WebP support"
    return None


def render_first_page(data: bytes) -> RenderedPage:
    """Both images of the first page of the PDF ``data``; raises BadPdf when unreadable."""
    page = _draw_first_page(data)
    width, height = THUMB_CARD
    scaled = page.resize((width, round(page.height * width / page.width)), _lanczos())
    card = _white(width, height)
    card.paste(scaled.crop((0, 0, width, min(height, scaled.height))), (0, 0))
    card_webp, page_webp = _webp(card), _webp(page)
    etag = hashlib.sha256(card_webp + page_webp).hexdigest()[:20]
    return RenderedPage(etag, card_webp, card.size, page_webp, page.size)


def _draw_first_page(data: bytes) -> Image:
    if missing := renderer_missing():
        raise BadPdf(missing)
    import pypdfium2 as pdfium

    with _pdfium_lock:
        try:
            pdf = pdfium.PdfDocument(data)
        except pdfium.PdfiumError as exc:
            raise BadPdf(f"not a readable PDF ({exc})") from None
        try:
            if len(pdf) == 0:
                raise BadPdf("the PDF has no pages")
            page = pdf[0]
            w, h = page.get_size()
            if w < 1 or h < 1:
                raise BadPdf(f"the first page has no area ({w:g} × {h:g} pt)")
            # Cut from the bottom so that the bitmap never exceeds MAX_ASPECT widths.
            cut = max(0.0, h - w * MAX_ASPECT)
            bitmap = page.render(scale=THUMB_PAGE_WIDTH / w, crop=(0, cut, 0, 0))
            image = bitmap.to_pil().convert("RGB")
        except pdfium.PdfiumError as exc:
            raise BadPdf(f"cannot draw the first page ({exc})") from None
        finally:
            pdf.close()
    if image.width != THUMB_PAGE_WIDTH:  # rounding in PDFium: make it exact
        image = image.resize(
            (THUMB_PAGE_WIDTH, round(image.height * THUMB_PAGE_WIDTH / image.width)), _lanczos()
        )
    return image


def _white(width: int, height: int) -> Image:
    from PIL import Image as PILImage

    return PILImage.new("RGB", (width, height), "white")


def _lanczos() -> int:
    from PIL import Image as PILImage

    return int(PILImage.Resampling.LANCZOS)


def _webp(image: Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "WEBP", quality=WEBP_QUALITY, method=WEBP_METHOD)
    return buf.getvalue()
