"""Japanese text: embedded IPAex Gothic, or the built-in CID font; never tofu."""

from __future__ import annotations

import ctypes
import re
from collections.abc import Callable
from pathlib import Path

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
import pytest
from print_helpers import booklets, decode_page, render

from oflocal.printing import FONT_ENV, FontError, PrintLayout
from oflocal.printing.fonts import DEFAULT_FONT_PATHS, choose_font_path

OpenPdf = Callable[[bytes], pdfium.PdfDocument]
IPAEX = next((p for p in DEFAULT_FONT_PATHS if Path(p).is_file()), None)
needs_ipaex = pytest.mark.skipif(IPAEX is None, reason="IPAex Gothic is not installed")
JAPANESE = ("燕三条 工場の祭典", "使用期限 2026年11月30日", "おつりは出ません", "山田刃物製作所")


def _fonts_used(pdf: pdfium.PdfDocument) -> set[tuple[str, bool]]:
    """(base font name, embedded?) of every text object, inside forms too."""
    fonts = set()
    for page in pdf:
        for obj in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_TEXT], max_depth=5):
            font = pdfium_c.FPDFTextObj_GetFont(obj.raw)
            size = pdfium_c.FPDFFont_GetBaseFontName(font, None, 0)
            buffer = ctypes.create_string_buffer(size)
            pdfium_c.FPDFFont_GetBaseFontName(font, buffer, size)
            fonts.add((buffer.value.decode(), bool(pdfium_c.FPDFFont_GetIsEmbedded(font))))
    return fonts


def _all_text(pdf: pdfium.PdfDocument) -> str:
    return "".join(str(page.get_textpage().get_text_bounded()) for page in pdf)


@needs_ipaex
def test_ipaex_gothic_is_embedded_as_a_subset(open_pdf: OpenPdf) -> None:
    data = render(booklets(1, 6), font=IPAEX)
    pdf = open_pdf(data)
    (font,) = _fonts_used(pdf)
    name, embedded = font
    assert re.fullmatch(r"[A-Z]{6}\+IPAexGothic", name) and embedded
    assert data.count(b"/FontFile2") == 1 and b"/CIDToGIDMap" in data
    assert len(data) < 400_000  # a subset, not the 6 MB font
    text = _all_text(pdf)
    assert all(s in text for s in JAPANESE)
    assert "\ufffd" not in text


def test_builtin_cid_font_when_asked(open_pdf: OpenPdf) -> None:
    items = booklets(1, 6)
    data = render(items, font="cid")
    pdf = open_pdf(data)
    assert _fonts_used(pdf) == {("HeiseiKakuGo-W5", False)}
    assert b"/Encoding /UniJIS-UCS2-H" in data and b"/Ordering (Japan1)" in data
    assert b"/FontFile" not in data
    text = _all_text(pdf)
    assert all(s in text for s in JAPANESE)
    assert "\ufffd" not in text
    assert sorted(d.text for d in decode_page(pdf[1])) == sorted(t.code for t in items[0].tickets)


def test_environment_variable_chooses_the_font(monkeypatch: pytest.MonkeyPatch,
                                               open_pdf: OpenPdf) -> None:
    monkeypatch.setenv(FONT_ENV, "cid")
    assert choose_font_path() is None
    pdf = open_pdf(render(booklets(1, 1)))
    assert _fonts_used(pdf) == {("HeiseiKakuGo-W5", False)}
    if IPAEX is not None:
        monkeypatch.setenv(FONT_ENV, IPAEX)
        assert choose_font_path() == IPAEX


def test_a_missing_font_file_is_an_error_not_a_silent_fallback(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(FONT_ENV, str(tmp_path / "nope.ttf"))
    with pytest.raises(FontError, match=r"OFLOCAL_FONT_PATH names .*nope\.ttf.*not a file"):
        render(booklets(1, 1))
    not_a_font = tmp_path / "fake.ttf"
    not_a_font.write_bytes(b"not a font at all")
    with pytest.raises(FontError, match="cannot embed"):
        render(booklets(1, 1), font=str(not_a_font))


@needs_ipaex
def test_characters_missing_from_the_font_are_reported(tmp_path: Path) -> None:
    import io
    from dataclasses import replace

    from print_helpers import programme

    from oflocal.printing import render_booklets

    rare = replace(programme(), event_name="𠮷野家まつり")  # 𠮷 is not in IPAex Gothic
    stats = render_booklets(rare, booklets(1, 1), io.BytesIO(), PrintLayout(), font=IPAEX)
    assert stats.font == "IPAexGothic" and stats.font_embedded
    assert stats.missing_glyphs == "𠮷"
