"""Japanese fonts for the PDF: an embedded TrueType subset, or a built-in CID font.

Which font is used, in order:

1. the ``font`` argument of the render functions: a path to a TrueType (.ttf) font, or
   ``"cid"`` for the built-in font;
2. the environment variable ``OFLOCAL_FONT_PATH`` (same values);
3. IPAex Gothic where Debian/Ubuntu install it (``fonts-ipaexfont-gothic``);
4. otherwise reportlab's CID font ``HeiseiKakuGo-W5`` (Adobe-Japan1, not embedded).

The TrueType font is embedded as a subset with CID = the font's own glyph id, so every
process (the page composers run in workers) encodes text the same way without sharing
state; only the set of glyphs used has to be known before the font is written at the
end.  A ToUnicode map makes the text searchable and copyable.

The CID fallback needs no font file, but it is not embedded: the PDF viewer or printer
substitutes its own Japanese gothic, so line widths can differ slightly from the
metrics we laid the text out with.  Print shops usually reject non-embedded fonts.
"""

from __future__ import annotations

import hashlib
import os
from abc import ABC, abstractmethod
from functools import lru_cache
from pathlib import Path
from typing import Any

from .pdf import PdfWriter, num

FONT_ENV = "OFLOCAL_FONT_PATH"
BUILTIN = "cid"
DEFAULT_FONT_PATHS = (
    "/usr/share/fonts/opentype/ipaexfont-gothic/ipaexg.ttf",
    "/usr/share/fonts/truetype/ipaexfont-gothic/ipaexg.ttf",
    "/usr/share/fonts/truetype/fonts-japanese-gothic.ttf",
    "/Library/Fonts/ipaexg.ttf",
    "C:/Windows/Fonts/ipaexg.ttf",
)
CID_FONT = "HeiseiKakuGo-W5"
GETA = "〓"  # the customary stand-in for a character the font cannot show

GlyphTable = dict[str, tuple[str, float]]  # character -> (4 hex digits, width per 1000 em)


class FontError(ValueError):
    pass


def choose_font_path(font: str | os.PathLike[str] | None = None) -> str | None:
    """The TrueType font to embed, or None for the built-in CID font."""
    explicit = os.fspath(font) if font is not None else os.environ.get(FONT_ENV, "").strip()
    if explicit:
        if explicit.lower() == BUILTIN:
            return None
        if not Path(explicit).is_file():
            source = "font argument" if font is not None else FONT_ENV
            raise FontError(f"{source} names {explicit!r}, which is not a file")
        return explicit
    for path in DEFAULT_FONT_PATHS:
        if Path(path).is_file():
            return path
    return None


def open_font(font: str | os.PathLike[str] | None = None) -> DocumentFont:
    path = choose_font_path(font)
    return CidFont() if path is None else TrueTypeFont(path)


class DocumentFont(ABC):
    """One font as used by one document: encodes text and remembers what was used."""

    resource = "F1"
    embedded: bool
    base_font: str

    def __init__(self) -> None:
        self._table: GlyphTable = {}

    @abstractmethod
    def _glyph(self, ch: str) -> tuple[str, float]:
        """Hex code and width (per 1000 em) of one character; records it as used."""

    def glyphs(self, text: str) -> GlyphTable:
        """Glyph codes and widths for these characters, e.g. for a page composer."""
        table = self._table
        for ch in text:
            if ch not in table:
                table[ch] = self._glyph(ch)
        return {ch: table[ch] for ch in set(text)}

    def encode(self, text: str) -> str:
        table = self._table
        try:
            return "".join([table[ch][0] for ch in text])
        except KeyError:
            self.glyphs(text)
            return "".join([table[ch][0] for ch in text])

    def width(self, text: str, size: float) -> float:
        table = self._table
        for ch in text:
            if ch not in table:
                table[ch] = self._glyph(ch)
        return sum(table[ch][1] for ch in text) * size / 1000

    @property
    def missing(self) -> frozenset[str]:
        """Characters this font has no glyph for (printed as a blank box)."""
        return frozenset()

    @abstractmethod
    def write(self, pdf: PdfWriter, number: int) -> None:
        """Write the font objects; ``number`` is the Type0 font's reserved object."""


@lru_cache(maxsize=4)
def _load_face(path: str) -> Any:
    from reportlab.pdfbase.ttfonts import TTFError, TTFontFile

    try:
        return TTFontFile(path)
    except (TTFError, OSError) as exc:  # e.g. OpenType/CFF outlines, or a .ttc
        raise FontError(f"cannot embed {path}: {exc} (a TrueType .ttf font is needed)") from exc


class TrueTypeFont(DocumentFont):
    embedded = True

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
        self._face = _load_face(path)
        if ord("あ") not in self._face.charToGlyph:
            raise FontError(f"{path} has no Japanese glyphs")
        family = self._face.name
        family = family.decode("latin-1") if isinstance(family, bytes) else str(family)
        self.base_font = "".join(ch for ch in family if ch.isascii() and ch.isalnum()) or "Font"
        scale = 1000 / self._face.unitsPerEm
        self._advance = [round(aw * scale, 2) for aw, _lsb in self._face.hmetrics]
        self._used: dict[int, str] = {}  # glyph id -> first character drawn with it
        self._missing: set[str] = set()

    def _glyph(self, ch: str) -> tuple[str, float]:
        gid = self._face.charToGlyph.get(ord(ch), 0)
        if gid == 0:
            self._missing.add(ch)
        self._used.setdefault(gid, ch)
        advance = self._advance[gid] if gid < len(self._advance) else self._advance[-1]
        return f"{gid:04X}", advance

    @property
    def missing(self) -> frozenset[str]:
        return frozenset(self._missing)

    def write(self, pdf: PdfWriter, number: int) -> None:
        gids = sorted(g for g in self._used if g)
        # makeSubset numbers the glyphs 1, 2, ... in the order of the characters given
        # (composite glyph parts follow); CIDToGIDMap maps our CIDs onto that order.
        program = self._face.makeSubset([ord(self._used[g]) for g in gids])
        cid_to_gid = bytearray(2 * ((gids[-1] if gids else 0) + 1))
        for new_gid, gid in enumerate(gids, start=1):
            cid_to_gid[2 * gid : 2 * gid + 2] = new_gid.to_bytes(2, "big")
        tag = "".join(
            chr(65 + b % 26) for b in hashlib.sha256(repr(gids).encode()).digest()[:6]
        )
        base = f"{tag}+{self.base_font}"
        face = self._face
        font_file = pdf.write_stream(None, f" /Length1 {len(program)}", program)
        cid_map = pdf.write_stream(None, "", bytes(cid_to_gid))
        descriptor = pdf.write_object(
            None,
            f"<< /Type /FontDescriptor /FontName /{base} /Flags 4"
            f" /FontBBox [{' '.join(num(v) for v in face.bbox)}] /ItalicAngle 0"
            f" /Ascent {num(face.ascent)} /Descent {num(face.descent)}"
            f" /CapHeight {num(face.capHeight)} /StemV {num(face.stemV)}"
            f" /FontFile2 {font_file} 0 R >>",
        )
        widths = _w_array([(g, self._advance[g]) for g in gids])
        cid_font = pdf.write_object(
            None,
            f"<< /Type /Font /Subtype /CIDFontType2 /BaseFont /{base}"
            " /CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >>"
            f" /FontDescriptor {descriptor} 0 R /DW 1000 /W {widths}"
            f" /CIDToGIDMap {cid_map} 0 R >>",
        )
        to_unicode = pdf.write_stream(None, "", _to_unicode_cmap(self._used))
        pdf.write_object(
            number,
            f"<< /Type /Font /Subtype /Type0 /BaseFont /{base} /Encoding /Identity-H"
            f" /DescendantFonts [{cid_font} 0 R] /ToUnicode {to_unicode} 0 R >>",
        )


def _w_array(widths: list[tuple[int, float]]) -> str:
    """/W as runs of consecutive CIDs: ``[c [w1 w2 ...] c2 [...]]``."""
    parts: list[str] = []
    run: list[str] = []
    start = prev = -2
    for cid, w in widths:
        if cid != prev + 1 and run:
            parts.append(f"{start} [{' '.join(run)}]")
            run = []
        if not run:
            start = cid
        run.append(num(w))
        prev = cid
    if run:
        parts.append(f"{start} [{' '.join(run)}]")
    return "[" + " ".join(parts) + "]"


def _to_unicode_cmap(used: dict[int, str]) -> bytes:
    entries = [(gid, ch) for gid, ch in sorted(used.items()) if gid]
    lines = [
        "/CIDInit /ProcSet findresource begin",
        "12 dict begin",
        "begincmap",
        "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def",
        "/CMapName /Adobe-Identity-UCS def",
        "/CMapType 2 def",
        "1 begincodespacerange",
        "<0000> <FFFF>",
        "endcodespacerange",
    ]
    for i in range(0, len(entries), 100):  # at most 100 entries per block
        block = entries[i : i + 100]
        lines.append(f"{len(block)} beginbfchar")
        lines.extend(f"<{gid:04X}> <{ch.encode('utf-16-be').hex().upper()}>" for gid, ch in block)
        lines.append("endbfchar")
    lines += [
        "endcmap",
        "CMapName currentdict /CMap defineresource pop",
        "end",
        "end",
    ]
    return "\n".join(lines).encode("ascii")


class CidFont(DocumentFont):
    """HeiseiKakuGo-W5 through the predefined UniJIS-UCS2-H CMap (text is UCS-2)."""

    embedded = False
    base_font = CID_FONT

    def __init__(self) -> None:
        super().__init__()
        from reportlab.pdfbase._cidfontdata import widthsByUnichar

        self._widths: dict[str, int] = widthsByUnichar[CID_FONT]

    def _glyph(self, ch: str) -> tuple[str, float]:
        if ord(ch) > 0xFFFF:  # UCS-2 stops at the BMP
            ch = GETA
        return f"{ord(ch):04X}", float(self._widths.get(ch, 1000))

    def write(self, pdf: PdfWriter, number: int) -> None:
        from reportlab.pdfbase._cidfontdata import CIDFontInfo

        info = CIDFontInfo[CID_FONT]["DescendantFonts"][0]
        d = info["FontDescriptor"]
        descriptor = pdf.write_object(
            None,
            f"<< /Type /FontDescriptor /FontName /{CID_FONT} /Flags {d['Flags']}"
            f" /FontBBox [{' '.join(str(v) for v in d['FontBBox'])}] /ItalicAngle 0"
            f" /Ascent {d['Ascent']} /Descent {d['Descent']} /CapHeight {d['CapHeight']}"
            f" /StemV {d['StemV']} /XHeight {d['XHeight']} >>",
        )
        widths = " ".join(
            "[" + " ".join(str(w) for w in item) + "]" if isinstance(item, tuple) else str(item)
            for item in info["W"]
        )
        cid_font = pdf.write_object(
            None,
            f"<< /Type /Font /Subtype /CIDFontType0 /BaseFont /{CID_FONT}"
            " /CIDSystemInfo << /Registry (Adobe) /Ordering (Japan1) /Supplement 2 >>"
            f" /FontDescriptor {descriptor} 0 R /DW 1000 /W [{widths}] >>",
        )
        pdf.write_object(
            number,
            f"<< /Type /Font /Subtype /Type0 /BaseFont /{CID_FONT} /Encoding /UniJIS-UCS2-H"
            f" /DescendantFonts [{cid_font} 0 R] >>",
        )
