"""The fast QR encoder against segno, and its single-path drawing."""

from __future__ import annotations

import re

import pytest
import segno
import zxingcpp
from PIL import Image
from print_helpers import PROGRAMME_ID, QR_ONLY, SIGNER

from oflocal.printing import qr

CODES = [SIGNER.make("T", PROGRAMME_ID, s) for s in range(1, 121)] + [
    SIGNER.make("B", 32767, 33554431),
    "A",
    "AB",
    "HELLO WORLD",
    "012345678",
    "$%*+-./: ",
]
# segno 1.6 pads a byte-aligned bit stream with a needless 0x00 codeword, so payloads
# whose data ends on a byte boundary (like this one) are compared by decoding only.
BYTE_ALIGNED = "0123456789"


def segno_rows(payload: str, mask: int) -> qr.Rows:
    symbol = segno.make(payload, error="m", mode="alphanumeric", mask=mask, micro=False,
                        boost_error=False)
    return tuple(sum(bit << c for c, bit in enumerate(row)) for row in symbol.matrix)


@pytest.mark.parametrize("mask", range(8))
def test_fast_encoder_matches_segno_module_for_module(mask: int) -> None:
    for payload in CODES:
        assert qr.encode_rows(payload, mask) == segno_rows(payload, mask), payload


def test_every_code_is_a_version_1_symbol() -> None:
    assert all(len(qr.encode_rows(code)) == 21 for code in CODES)


def test_payloads_beyond_the_fast_path_go_through_segno() -> None:
    long = "A" * 30  # too long for version 1-M
    assert not qr.fits_fast_path(long)
    assert qr.encode_rows(long) == segno_rows(long, qr.DEFAULT_MASK)
    lower = "abc"  # not alphanumeric: byte mode
    assert not qr.fits_fast_path(lower)
    assert len(qr.encode_rows(lower)) == 21


def _paint(ops: str, size: int) -> list[list[int]]:
    """Fill the rectangles of a path back into a grid (y up, as in PDF)."""
    grid = [[0] * size for _ in range(size)]
    assert ops.endswith(" f") and ops.count(" f") == 1  # one path, one fill
    for x, y, w, h in re.findall(r"(\d+) (\d+) (\d+) (\d+) re", ops):
        for dx in range(int(w)):
            for dy in range(int(h)):
                assert grid[size - 1 - (int(y) + dy)][int(x) + dx] == 0, "rectangles overlap"
                grid[size - 1 - (int(y) + dy)][int(x) + dx] = 1
    return grid


@pytest.mark.parametrize("mask", [0, qr.DEFAULT_MASK, 7])
def test_path_redraws_exactly_the_dark_modules(mask: int) -> None:
    for code in [*CODES, "A" * 30]:
        rows = qr.encode_rows(code, mask)
        fast, modules = qr.symbol_path(code, mask)
        assert modules == len(rows)
        for ops in (qr.path_ops(rows), fast):
            grid = _paint(ops, len(rows))
            assert [sum(b << c for c, b in enumerate(r)) for r in grid] == list(rows)


def test_symbols_decode_with_the_fixed_mask() -> None:
    scale, quiet = 4, qr.QUIET_ZONE
    for code in [*CODES[:60], BYTE_ALIGNED]:
        rows = qr.encode_rows(code)
        size = len(rows) + 2 * quiet
        image = Image.new("L", (size, size), 255)
        for r, row in enumerate(rows):
            for c in range(len(rows)):
                if row >> c & 1:
                    image.putpixel((c + quiet, r + quiet), 0)
        image = image.resize((size * scale, size * scale), Image.Resampling.NEAREST)
        (result,) = zxingcpp.read_barcodes(image, formats=QR_ONLY)
        assert result.text == code
        assert result.ec_level == "M"
