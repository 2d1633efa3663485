"""The proof: the first booklet's pages as one PNG, for checking a layout on screen.

The image shows the cover and the first sheet of tickets side by side (with duplex,
also the back of that sheet, as it comes out of the printer), rendered with pdfium
from the very PDF the print run would produce.
"""

from __future__ import annotations

import io
import itertools
import os
from collections.abc import Iterable

from .faces import BookletFace, ProgrammeFace
from .layout import PrintLayout
from .writer import render_booklets

GAP_PX = 16


def render_first_sheet_png(
    programme: ProgrammeFace,
    booklets: Iterable[BookletFace],
    layout: PrintLayout,
    dpi: int = 100,
    *,
    font: str | os.PathLike[str] | None = None,
) -> bytes:
    import pypdfium2
    from PIL import Image

    if not 20 <= dpi <= 600:
        raise ValueError("dpi must be between 20 and 600")
    first = list(itertools.islice(booklets, 1))
    buffer = io.BytesIO()
    render_booklets(programme, first, buffer, layout, font=font)
    pdf = pypdfium2.PdfDocument(buffer.getvalue())
    try:
        # cover, [cover back], first ticket front, [its back]
        wanted = [0, 2, 3] if layout.duplex else [0, 1]
        images = []
        for index in wanted:
            if index < len(pdf):
                page = pdf[index]
                images.append(page.render(scale=dpi / 72).to_pil().convert("RGB"))
                page.close()
    finally:
        pdf.close()
    width = sum(im.width for im in images) + GAP_PX * (len(images) + 1)
    height = max(im.height for im in images) + 2 * GAP_PX
    sheet = Image.new("RGB", (width, height), (200, 200, 200))
    x = GAP_PX
    for im in images:
        sheet.paste(im, (x, GAP_PX))
        x += im.width + GAP_PX
    out = io.BytesIO()
    sheet.save(out, format="PNG", optimize=True)
    return out.getvalue()
