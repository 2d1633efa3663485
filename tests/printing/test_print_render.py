"""Real PDFs, read back: every QR decodes to its ticket's code, and the text is there."""

from __future__ import annotations

from collections.abc import Callable

import pypdfium2 as pdfium
import pytest
from print_helpers import ISSUE, UNTIL, booklets, decode_page, programme, render

from oflocal.printing import BookletFace, PrintLayout
from oflocal.printing.geometry import PageGeometry, Rect, page_geometry
from oflocal.vouchers.codes import grouped

OpenPdf = Callable[[bytes], pdfium.PdfDocument]


def _text(page: pdfium.PdfPage, r: Rect) -> str:
    return str(page.get_textpage().get_text_bounded(r.x, r.y, r.right, r.top))


def _cell_of(g: PageGeometry, x: float, y: float) -> int:
    (index,) = [i for i, c in enumerate(g.cells) if c.x <= x <= c.right and c.y <= y <= c.top]
    return index


def _code_label(g: PageGeometry, cell: Rect) -> Rect:
    """Where the typed code is printed: the line under the QR."""
    s = g.slots
    return Rect(cell.x + s.rules.x, cell.y + s.code_baseline - 1.0,
                s.rules.w, s.code_size * 0.9)


def _check_booklets(pdf: pdfium.PdfDocument, items: list[BookletFace], layout: PrintLayout,
                    dpi: int = 200, *, stamped: bool = False) -> int:
    """Walk the pages in print order; returns the number of codes decoded."""
    g = page_geometry(layout)
    per_page = layout.tickets_per_page
    pages = iter(pdf)
    decoded = 0
    for booklet in items:
        cover = next(pages)
        found = decode_page(cover, dpi)
        assert [d.text for d in found] == [booklet.code]
        assert grouped(booklet.code) in _text(cover, g.media)
        decoded += 1
        if layout.duplex:
            next(pages)
        for start in range(0, len(booklet.tickets), per_page):
            tickets = booklet.tickets[start : start + per_page]
            page = next(pages)
            found = decode_page(page, dpi)
            # Every code on the sheet decodes, in the cell of the ticket it belongs to.
            assert sorted((_cell_of(g, d.x, d.y), d.text) for d in found) == [
                (i, t.code) for i, t in enumerate(tickets)
            ]
            decoded += len(found)
            for i, ticket in enumerate(tickets):
                cell = g.cells[i]
                label = _text(page, _code_label(g, cell)).strip()
                if stamped:  # letters of the diagonal 「見本 SAMPLE」 cross the line
                    assert label.startswith(grouped(ticket.code))
                else:
                    assert label == grouped(ticket.code)
                text = _text(page, cell)
                assert "発行日 2026年10月1日" in text
                assert "使用期限 2026年11月30日" in text
                assert f"¥{ticket.denomination:,}" in text
                if layout.show_serial:
                    assert f"No. {ticket.serial:06d}" in text
                if ticket.workshop is not None and layout.show_workshop:
                    assert ticket.workshop.name in text
            if layout.duplex:
                next(pages)
    assert next(pages, None) is None
    return decoded


def test_every_code_decodes_in_its_own_cell_and_reads_as_typed(open_pdf: OpenPdf) -> None:
    items = booklets(2, 14)  # 14 tickets: two sheets, the second one partly filled
    layout = PrintLayout()
    pdf = open_pdf(render(items, layout))
    assert len(pdf) == 2 * 3
    assert _check_booklets(pdf, items, layout) == 2 + 28


@pytest.mark.parametrize(
    "layout",
    [
        PrintLayout(paper="A3", columns=4, rows=6, mode="printshop", duplex=True),
        PrintLayout(paper="B4", columns=4, rows=5, show_serial=False, show_workshop=False,
                    show_rules=False, accent_colour="#7A1F2B"),
    ],
    ids=["a3-printshop-duplex", "b4-minimal"],
)
def test_other_papers_and_options_decode_too(open_pdf: OpenPdf, layout: PrintLayout) -> None:
    items = booklets(1, 9)
    pdf = open_pdf(render(items, layout))
    assert _check_booklets(pdf, items, layout) == 1 + 9


def test_codes_still_decode_at_office_scanner_resolution(open_pdf: OpenPdf) -> None:
    items = booklets(1, 12)
    pdf = open_pdf(render(items, PrintLayout()))
    found = decode_page(pdf[1], dpi=100)
    assert sorted(d.text for d in found) == sorted(t.code for t in items[0].tickets)


def test_the_cover_sells_the_booklet(open_pdf: OpenPdf) -> None:
    layout = PrintLayout()
    pdf = open_pdf(render(booklets(1, 6), layout))
    text = _text(pdf[0], page_geometry(layout).media)
    for expected in (
        "燕三条 工場の祭典",
        "工房めぐり券",
        "¥2,500で¥3,000分",
        "販売時にスキャン",
        "発行日",
        "使用期限",
        "2026年11月30日",
        "おつりは出ません",
        "この券は燕三条 工場の祭典参加工房でのみ使えます",
        "参加工房一覧（3工房）",
        "山田刃物製作所（鍛冶・包丁）",
        "No. 000001",
    ):
        assert expected in text, expected


def test_sample_proofs_are_stamped_and_still_scan(open_pdf: OpenPdf) -> None:
    items = booklets(1, 12)
    layout = PrintLayout()
    pdf = open_pdf(render(items, layout, programme=programme(sample=True)))
    assert "見本 SAMPLE" in _text(pdf[0], page_geometry(layout).media)
    cells_text = [_text(pdf[1], c) for c in page_geometry(layout).cells]
    assert all("見本 SAMPLE" in t for t in cells_text)
    assert _check_booklets(pdf, items, layout, stamped=True) == 13


def test_many_workshops_fit_the_cover_list(open_pdf: OpenPdf) -> None:
    from dataclasses import replace

    base = programme()
    many = tuple(replace(base.workshops[0], name=f"工房{i:03d}") for i in range(1, 131))
    data = render(booklets(1, 2), programme=replace(base, workshops=many))
    text = _text(open_pdf(data)[0], page_geometry(PrintLayout()).media)
    assert "参加工房一覧（130工房）" in text
    assert "工房001" in text
    # whatever does not fit is summarised, not dropped silently
    assert "工房130" in text or "ほか" in text


def test_dates_come_from_the_programme() -> None:
    assert (ISSUE.isoformat(), UNTIL.isoformat()) == ("2026-10-01", "2026-11-30")


def test_long_texts_are_fitted_and_odd_codes_still_scan(open_pdf: OpenPdf) -> None:
    from dataclasses import replace

    (booklet,) = booklets(1, 3)
    odd = replace(booklet, code="B" * 30)  # longer than any real code: a bigger symbol
    tickets = (replace(booklet.tickets[0], denomination=10000), *booklet.tickets[1:])
    long_name = "とても長いイベントの名前" * 4
    prog = replace(programme(), event_name=long_name)
    pdf = open_pdf(render([replace(odd, tickets=tickets)], programme=prog))
    assert [d.text for d in decode_page(pdf[0])] == ["B" * 30]
    cell = page_geometry(PrintLayout()).cells[0]
    text = _text(pdf[1], cell)
    assert "¥10,000" in text
    assert "とても長いイベントの名前" in text and "…" in text  # cut, with an ellipsis
    assert sorted(d.text for d in decode_page(pdf[1])) == sorted(t.code for t in tickets)
