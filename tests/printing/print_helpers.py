"""Print engine test helpers: a programme, booklets with real codes, and PDF readers.

Everything is checked on real PDFs: pages are rasterised with pdfium and every QR code
is decoded with zxing-cpp; text is read back with pdfium's text extraction.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date

import pypdfium2 as pdfium
import zxingcpp
from PIL import Image, ImageDraw

from oflocal.printing import (
    BookletFace,
    PrintLayout,
    ProgrammeFace,
    TicketFace,
    WorkshopFace,
    render_booklets,
)
from oflocal.vouchers.codes import CodeSigner

PROGRAMME_ID = 7
QR_ONLY = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)
SIGNER = CodeSigner(b"x" * 32)
ISSUE = date(2026, 10, 1)
UNTIL = date(2026, 11, 30)


def _image(kind: str, colour: tuple[int, int, int]) -> bytes:
    mode = "RGBA" if kind == "PNG" else "RGB"
    image = Image.new(mode, (120, 90), colour)
    ImageDraw.Draw(image).ellipse((20, 10, 100, 80), fill=(250, 250, 250))
    out = io.BytesIO()
    image.save(out, kind)
    return out.getvalue()


WORKSHOPS = (
    WorkshopFace("山田刃物製作所", "やまだはものせいさくしょ", "鍛冶・包丁",
                 "三代続く鍛冶屋です。火造りの実演をご覧ください。", _image("PNG", (90, 140, 90))),
    WorkshopFace("木工房こだま", "もっこうぼうこだま", "木工・家具",
                 "地元の杉で椅子を作っています。", _image("JPEG", (160, 110, 60))),
    WorkshopFace("漆のいえ", "うるしのいえ", "漆器", "拭き漆の体験ができます。"),
)


def programme(*, sample: bool = False) -> ProgrammeFace:
    return ProgrammeFace(
        event_name="燕三条 工場の祭典",
        committee_name="工場の祭典実行委員会",
        programme_name="工房めぐり券",
        price=2500,
        face_value=3000,
        issue_date=ISSUE,
        valid_from=ISSUE,
        valid_until=UNTIL,
        workshops=WORKSHOPS,
        sample=sample,
    )


def booklets(count: int, tickets: int = 6, *, first: int = 1) -> list[BookletFace]:
    result = []
    for b in range(first, first + count):
        faces = []
        for i in range(tickets):
            serial = (b - 1) * tickets + i + 1
            faces.append(
                TicketFace(
                    serial=serial,
                    code=SIGNER.make("T", PROGRAMME_ID, serial),
                    denomination=1000 if i == 0 else 500,
                    workshop=WORKSHOPS[serial % len(WORKSHOPS)] if serial % 5 else None,
                )
            )
        result.append(BookletFace(b, SIGNER.make("B", PROGRAMME_ID, b), tuple(faces)))
    return result


def render(
    items: list[BookletFace],
    layout: PrintLayout | None = None,
    **kwargs: object,
) -> bytes:
    out = io.BytesIO()
    prog = kwargs.pop("programme", None) or programme()
    render_booklets(prog, items, out, layout or PrintLayout(), **kwargs)  # type: ignore[arg-type]
    return out.getvalue()


@dataclass(frozen=True)
class Decoded:
    text: str
    x: float  # centre, PDF points
    y: float


def decode_page(page: pdfium.PdfPage, dpi: int = 200) -> list[Decoded]:
    scale = dpi / 72
    image = page.render(scale=scale, grayscale=True).to_pil()
    height = page.get_height()
    found = []
    for result in zxingcpp.read_barcodes(image, formats=QR_ONLY):
        p = result.position
        xs = [p.top_left.x, p.top_right.x, p.bottom_left.x, p.bottom_right.x]
        ys = [p.top_left.y, p.top_right.y, p.bottom_left.y, p.bottom_right.y]
        found.append(Decoded(result.text, sum(xs) / 4 / scale, height - sum(ys) / 4 / scale))
    return found
