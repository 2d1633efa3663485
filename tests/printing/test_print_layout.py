"""PrintLayout validation and storage, page sizes and boxes, duplex alignment."""

from __future__ import annotations

import json
from collections.abc import Callable

import pypdfium2 as pdfium
import pytest
from print_helpers import booklets, render
from pydantic import ValidationError

from oflocal.printing import DEFAULT_RULES, PrintLayout
from oflocal.printing.geometry import BLEED_MM, MM, PAPER_MM, SLUG_MM, Rect, page_geometry

OpenPdf = Callable[[bytes], pdfium.PdfDocument]


def test_defaults_are_twelve_tickets_on_a4() -> None:
    layout = PrintLayout()
    assert (layout.paper, layout.mode, layout.columns, layout.rows) == ("A4", "office", 3, 4)
    assert layout.tickets_per_page == 12
    assert layout.rules == DEFAULT_RULES
    assert "おつりは出ません" in layout.rules


@pytest.mark.parametrize(
    "layout",
    [
        PrintLayout(),
        PrintLayout(paper="A3", mode="printshop", columns=4, rows=6, margin_mm=8,
                    accent_colour="#8a1c1c", show_rules=False, rules=("おつりは出ません",),
                    duplex=True, back_side="blank"),
    ],
)
def test_layout_round_trips_through_stored_json(layout: PrintLayout) -> None:
    stored = layout.model_dump_json()
    assert PrintLayout.model_validate(json.loads(stored)) == layout
    assert PrintLayout.model_validate_json(stored) == layout
    assert PrintLayout.model_validate({}) == PrintLayout()  # a programme with nothing saved


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"columns": 3, "rows": 5}, "3 × 5 tickets do not fit on A4 with 10 mm margins"),
        ({"columns": 4}, "each ticket would be 47.5 × 69.2 mm"),
        ({"paper": "B4", "columns": 5, "rows": 5}, "do not fit on B4"),
        ({"accent_colour": "blue"}, "must be a hex colour like #1F5FA8, not 'blue'"),
        ({"accent_colour": "#FFF"}, "must be a hex colour"),
        ({"accent_colour": "#FFEE88"}, "is too light"),
        ({"rules": ("a", "b", "c", "d", "e")}, "at most 4 rule lines"),
        ({"rules": ("{shop}でのみ使えます",)}, "unknown placeholder {shop}"),
        ({"rules": ("",)}, "must not be empty"),
        ({"rules": ("あ" * 41,)}, "at most 40 fit"),
        ({"paper": "Letter"}, "'A4', 'A3' or 'B4'"),
        ({"mode": "inkjet"}, "'office' or 'printshop'"),
        ({"margin_mm": -1}, "greater than or equal to 0"),
        ({"colour": "#000000"}, "Extra inputs are not permitted"),
    ],
)
def test_bad_layouts_are_refused_with_a_clear_reason(
    fields: dict[str, object], message: str
) -> None:
    with pytest.raises(ValidationError) as info:
        PrintLayout.model_validate(fields)
    assert message in str(info.value)


def test_more_rows_fit_with_fewer_rule_lines_only_when_the_card_still_fits() -> None:
    # 4 rule lines leave too little room for the workshop card on a 62 mm ticket.
    fields = {"paper": "A3", "columns": 4, "rows": 6, "margin_mm": 24,
              "rules": ("一", "二", "三", "四")}
    with pytest.raises(ValidationError, match="workshop card would be"):
        PrintLayout.model_validate(fields)
    PrintLayout.model_validate({**fields, "show_workshop": False})


def _mm(points: float) -> float:
    return round(points / MM, 1)


@pytest.mark.parametrize(("paper", "columns", "rows"), [("A4", 3, 4), ("A3", 4, 6), ("B4", 4, 5)])
def test_office_pages_are_the_paper_size(
    open_pdf: OpenPdf, paper: str, columns: int, rows: int
) -> None:
    layout = PrintLayout(paper=paper, columns=columns, rows=rows)
    pdf = open_pdf(render(booklets(1, 3), layout))
    for page in pdf:
        assert (_mm(page.get_width()), _mm(page.get_height())) == PAPER_MM[paper]
        assert page.get_trimbox() == page.get_mediabox()  # no TrimBox written: it falls back


@pytest.mark.parametrize("paper", ["A4", "A3", "B4"])
def test_printshop_pages_have_bleed_and_trim_boxes(open_pdf: OpenPdf, paper: str) -> None:
    columns, rows = {"A4": (3, 4), "A3": (4, 6), "B4": (4, 5)}[paper]
    layout = PrintLayout(paper=paper, mode="printshop", columns=columns, rows=rows)
    pdf = open_pdf(render(booklets(1, 3), layout))
    w, h = PAPER_MM[paper]
    for page in pdf:
        left, bottom, right, top = (_mm(v) for v in page.get_mediabox())
        size = (right - left, top - bottom)
        assert (left, bottom, *size) == (0, 0, w + 2 * SLUG_MM, h + 2 * SLUG_MM)
        trim = tuple(_mm(v) for v in page.get_trimbox(fallback_ok=False))
        assert trim == (SLUG_MM, SLUG_MM, SLUG_MM + w, SLUG_MM + h)
        bleed = tuple(_mm(v) for v in page.get_bleedbox(fallback_ok=False))
        assert bleed == (SLUG_MM - BLEED_MM, SLUG_MM - BLEED_MM,
                         SLUG_MM + w + BLEED_MM, SLUG_MM + h + BLEED_MM)


@pytest.mark.parametrize("mode", ["office", "printshop"])
@pytest.mark.parametrize(("paper", "columns", "rows"), [("A4", 3, 4), ("A3", 4, 6), ("A4", 2, 3)])
def test_back_cells_lie_exactly_behind_their_fronts(
    mode: str, paper: str, columns: int, rows: int
) -> None:
    layout = PrintLayout(paper=paper, mode=mode, columns=columns, rows=rows, duplex=True)
    g = page_geometry(layout)
    page_w = g.media.w
    for i, (front, back) in enumerate(zip(g.cells, g.back_cells(), strict=True)):
        col, row = divmod(i, columns)[::-1]
        # Long-edge flip: left and right swap, top and bottom stay.
        assert back.x == pytest.approx(page_w - front.x - front.w)
        assert (back.y, back.w, back.h) == (front.y, front.w, front.h)
        # ... which is where the front cell of the mirrored column is.
        twin = g.cells[row * columns + (columns - 1 - col)]
        assert (back.x, back.y) == pytest.approx((twin.x, twin.y))


def test_duplex_pdf_puts_each_back_behind_its_ticket(open_pdf: OpenPdf) -> None:
    layout = PrintLayout(duplex=True)
    items = booklets(1, 8)
    pdf = open_pdf(render(items, layout))
    # cover, cover back, tickets front, tickets back
    assert len(pdf) == 4
    cells = page_geometry(layout).cells
    page_w = pdf[3].get_width()
    front_text = pdf[2].get_textpage()
    back_text = pdf[3].get_textpage()

    def text_in(textpage: pdfium.PdfTextPage, r: Rect) -> str:
        return str(textpage.get_text_bounded(r.x, r.y, r.right, r.top))

    for i, ticket in enumerate(items[0].tickets):
        serial = f"No. {ticket.serial:06d}"
        front = cells[i]
        assert serial in text_in(front_text, front)
        # The back of this ticket is the front cell flipped about the page's long edge...
        behind = front.mirrored(page_w)
        found = text_in(back_text, behind)
        assert serial in found
        if ticket.workshop is not None:
            assert ticket.workshop.name in found
        # ... and not the cell at the same position (unless that is the same cell).
        if abs(behind.x - front.x) > 1:
            assert serial not in text_in(back_text, front)


def test_blank_backs_are_still_there_to_keep_fronts_and_backs_paired(open_pdf: OpenPdf) -> None:
    layout = PrintLayout(duplex=True, back_side="blank")
    pdf = open_pdf(render(booklets(2, 14), layout))
    # per booklet: cover, its back, 2 ticket sheets with backs
    assert len(pdf) == 12
    assert pdf[3].get_textpage().get_text_bounded().strip() == ""
