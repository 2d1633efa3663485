"""QR codes for tickets and booklets, drawn as one vector path each.

Every code we print is 20 characters of Crockford base32, which is exactly the capacity
of a version 1 symbol (21 x 21 modules) at error level M in alphanumeric mode.  segno
builds that symbol in ~0.7 ms even with a fixed mask (and ~4 ms when it searches for the
best mask); 13,000 codes per 1,000 booklets made QR encoding the biggest single cost.
So this module has a small encoder for exactly that case (~30 µs per code): function
patterns and format bits are precomputed per mask, and since Reed-Solomon parity is
linear, each data byte's whole effect on the symbol is a precomputed bit pattern (see
``_tables``).  Anything else (longer or non-alphanumeric payloads) goes through segno.
tests/printing/test_print_qr.py checks the fast path module for module against segno
for every mask.

The mask is fixed (``DEFAULT_MASK``) instead of searched: the search only lowers a
penalty score that matters for marginal print quality, and the tests decode every code.
"""

from __future__ import annotations

from functools import cache

ALPHANUMERIC = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
_ALNUM_VALUE = {ch: i for i, ch in enumerate(ALPHANUMERIC)}
_ALNUM_SET = frozenset(ALPHANUMERIC)
_PAIR_VALUE = {
    a + b: _ALNUM_VALUE[a] * 45 + _ALNUM_VALUE[b] for a in ALPHANUMERIC for b in ALPHANUMERIC
}

DEFAULT_MASK = 2
QUIET_ZONE = 4  # modules of white space a reader needs around the symbol

_SIZE = 21  # version 1
_DATA_CODEWORDS = 16  # version 1, level M
_EC_CODEWORDS = 10
_MAX_V1M_CHARS = 20

Rows = tuple[int, ...]  # one int per row, bit j set = dark module in column j


# --- Reed-Solomon over GF(256), polynomial 0x11D ---------------------------------------


def _gf_tables() -> tuple[list[int], list[int]]:
    exp = [0] * 512
    log = [0] * 256
    value = 1
    for i in range(255):
        exp[i] = value
        log[value] = i
        value <<= 1
        if value & 0x100:
            value ^= 0x11D
    for i in range(255, 512):
        exp[i] = exp[i - 255]
    return exp, log


_EXP, _LOG = _gf_tables()


def _generator(degree: int) -> list[int]:
    poly = [1]
    for i in range(degree):
        nxt = [0] * (len(poly) + 1)
        for j, coef in enumerate(poly):
            nxt[j] ^= coef
            if coef:
                nxt[j + 1] ^= _EXP[_LOG[coef] + i]
        poly = nxt
    return poly[1:]  # the leading coefficient is always 1


# _MUL[f] = generator coefficients times f: one table row per possible feedback byte.
_GEN = _generator(_EC_CODEWORDS)
_MUL = [
    tuple(0 if f == 0 or c == 0 else _EXP[_LOG[f] + _LOG[c]] for c in _GEN) for f in range(256)
]


def _ec_codewords(data: list[int]) -> list[int]:
    rem = [0] * _EC_CODEWORDS
    for byte in data:
        row = _MUL[byte ^ rem[0]]
        rem = [a ^ b for a, b in zip([*rem[1:], 0], row, strict=True)]
    return rem


# --- version 1 geometry ----------------------------------------------------------------


def _is_function(r: int, c: int) -> bool:
    """Finder patterns with separators and format areas, timing patterns."""
    if (r <= 8 and c <= 8) or (r <= 8 and c >= _SIZE - 8) or (r >= _SIZE - 8 and c <= 8):
        return True
    return r == 6 or c == 6


def _data_positions() -> list[tuple[int, int]]:
    """Module positions of the 208 data bits in placement order (ISO 18004 7.7.3)."""
    positions: list[tuple[int, int]] = []
    col = _SIZE - 1
    upward = True
    while col > 0:
        if col == 6:  # the vertical timing pattern is skipped as a whole column
            col -= 1
        rows = range(_SIZE - 1, -1, -1) if upward else range(_SIZE)
        for r in rows:
            for c in (col, col - 1):
                if not _is_function(r, c):
                    positions.append((r, c))
        upward = not upward
        col -= 2
    return positions


_MASKS = (
    lambda i, j: (i + j) % 2 == 0,
    lambda i, j: i % 2 == 0,
    lambda i, j: j % 3 == 0,
    lambda i, j: (i + j) % 3 == 0,
    lambda i, j: (i // 2 + j // 3) % 2 == 0,
    lambda i, j: (i * j) % 2 + (i * j) % 3 == 0,
    lambda i, j: ((i * j) % 2 + (i * j) % 3) % 2 == 0,
    lambda i, j: ((i + j) % 2 + (i * j) % 3) % 2 == 0,
)


def _format_bits(mask: int) -> int:
    """15 format bits for level M (indicator 00) and the mask, BCH(15,5) then XOR mask."""
    data = mask  # level M contributes 0b00 in the top two bits
    value = data << 10
    for shift in range(4, -1, -1):
        if value & (1 << (shift + 10)):
            value ^= 0x537 << shift
    return ((data << 10) | value) ^ 0x5412


def _template(mask: int) -> list[int]:
    """Rows with function patterns, format bits and the mask applied to all-zero data."""
    grid = [[0] * _SIZE for _ in range(_SIZE)]
    for top, left in ((0, 0), (0, _SIZE - 7), (_SIZE - 7, 0)):
        for r in range(7):
            for c in range(7):
                ring = max(abs(r - 3), abs(c - 3))
                grid[top + r][left + c] = 1 if ring != 2 else 0
    for i in range(8, _SIZE - 8):
        grid[6][i] = grid[i][6] = 1 if i % 2 == 0 else 0
    fmt = _format_bits(mask)
    for i in range(8):
        vbit = (fmt >> i) & 1
        hbit = (fmt >> (14 - i)) & 1
        grid[i if i < 6 else i + 1][8] = vbit  # upper left, vertical (skips timing row)
        grid[8][i if i < 6 else i + 1] = hbit  # upper left, horizontal (skips timing col)
        grid[8][_SIZE - 1 - i] = vbit  # upper right
        grid[_SIZE - 1 - i][8] = hbit  # lower left
    grid[_SIZE - 8][8] = 1  # the dark module
    for r, c in _data_positions():
        grid[r][c] = 1 if _MASKS[mask](r, c) else 0
    return [sum(bit << c for c, bit in enumerate(row)) for row in grid]


@cache
def _tables(mask: int) -> tuple[int, list[list[int]]]:
    """The template, and per data codeword and byte value the module bits it flips.

    Reed-Solomon parity is linear (addition in GF(256) is XOR), so the effect of one
    data byte on the finished symbol, its own modules and all the parity modules it
    changes, can be precomputed; a symbol is then the template XOR 16 table entries.
    Symbols are ints with bit ``21 * row + column`` set for a dark module.
    """
    positions = _data_positions()

    def place(codewords: list[int]) -> int:
        bits = 0
        for k, value in enumerate(codewords):
            for b in range(8):
                if value & (0x80 >> b):
                    r, c = positions[k * 8 + b]
                    bits |= 1 << (r * _SIZE + c)
        return bits

    # One basis vector per data bit, then every byte value as XOR of its bits' vectors.
    effects: list[list[int]] = []
    for k in range(_DATA_CODEWORDS):
        basis = []
        for b in range(8):
            data = [0] * _DATA_CODEWORDS
            data[k] = 0x80 >> b
            basis.append(place(data + _ec_codewords(data)))
        per_value = [0] * 256
        for value in range(1, 256):
            low = value & -value
            b = 7 - (low.bit_length() - 1)
            per_value[value] = per_value[value ^ low] ^ basis[b]
        effects.append(per_value)
    template = sum(row << (r * _SIZE) for r, row in enumerate(_template(mask)))
    return template, effects


def _v1m_data(payload: str) -> list[int]:
    bits = 0b0010  # alphanumeric mode indicator
    nbits = 4
    bits = (bits << 9) | len(payload)
    nbits += 9
    pairs = _PAIR_VALUE
    for i in range(0, len(payload) - 1, 2):
        bits = (bits << 11) | pairs[payload[i : i + 2]]
        nbits += 11
    if len(payload) % 2:
        bits = (bits << 6) | _ALNUM_VALUE[payload[-1]]
        nbits += 6
    capacity = _DATA_CODEWORDS * 8
    terminator = min(4, capacity - nbits)
    bits <<= terminator
    nbits += terminator
    pad = -nbits % 8
    bits <<= pad
    nbits += pad
    data = list((bits).to_bytes(nbits // 8, "big"))
    pad_bytes = (0xEC, 0x11)
    while len(data) < _DATA_CODEWORDS:
        data.append(pad_bytes[(len(data) - nbits // 8) % 2])
    return data


def fits_fast_path(payload: str) -> bool:
    return 0 < len(payload) <= _MAX_V1M_CHARS and set(payload) <= _ALNUM_SET


def _v1m_symbol(payload: str, mask: int) -> int:
    """Version 1-M symbol as one int: bit ``21 * row + column`` set = dark module."""
    symbol, effects = _tables(mask)
    for k, value in enumerate(_v1m_data(payload)):
        symbol ^= effects[k][value]
    return symbol


def encode_rows(payload: str, mask: int = DEFAULT_MASK) -> Rows:
    """The symbol as row bitmaps (bit j = column j dark); quiet zone not included."""
    if not fits_fast_path(payload):
        return _segno_rows(payload, mask)
    symbol = _v1m_symbol(payload, mask)
    full = (1 << _SIZE) - 1
    return tuple((symbol >> (r * _SIZE)) & full for r in range(_SIZE))


def _segno_rows(payload: str, mask: int) -> Rows:
    import segno  # only for payloads the fast path does not cover

    qr = segno.make(payload, error="m", mask=mask, micro=False, boost_error=False)
    return tuple(sum(bit << c for c, bit in enumerate(row)) for row in qr.matrix)


def _runs(bits: int, x0: int, y: int) -> str:
    """``x y w 1 re`` for each run of dark modules in a row segment."""
    parts: list[str] = []
    while bits:
        start = (bits & -bits).bit_length() - 1
        filled = bits | ((1 << start) - 1)
        end = (~filled & (filled + 1)).bit_length() - 1
        parts.append(f"{x0 + start} {y} {end - start} 1 re")
        bits &= ~((1 << end) - 1)
    return " ".join(parts)


def path_ops(rows: Rows) -> str:
    """One filled path in module units, origin at the symbol's lower-left corner.

    Runs of dark modules in a row are merged into one rectangle, and all rectangles go
    into a single path with a single fill, so there are no hairline seams between modules
    when rasterised (which separate fills would leave, and which scanners dislike).
    """
    top = len(rows) - 1
    return " ".join([_runs(row, 0, top - r) for r, row in enumerate(rows) if row]) + " f"


_SEGMENT = 7  # a version 1 row is three segments of 7 modules
_SEGMENT_MASK = (1 << _SEGMENT) - 1
_ROW_CACHE_LIMIT = 1 << 14
_row_ops: dict[int, str] = {}
_segment_ops: dict[int, str] = {}  # at most 21 rows x 3 segments x 128 patterns


def _row_from_segments(r: int, row: int) -> str:
    """A row's rectangles, assembled from its three segments' (cached) rectangles.

    A run crossing a segment boundary becomes two touching rectangles of the same path,
    which fill exactly like one.
    """
    parts = []
    for segment in range(_SIZE // _SEGMENT):
        bits = (row >> (segment * _SEGMENT)) & _SEGMENT_MASK
        if bits:
            key = (r * 3 + segment) << _SEGMENT | bits
            ops = _segment_ops.get(key)
            if ops is None:
                ops = _segment_ops[key] = _runs(bits, segment * _SEGMENT, _SIZE - 1 - r)
            parts.append(ops)
    return " ".join(parts)


def symbol_path(payload: str, mask: int = DEFAULT_MASK) -> tuple[str, int]:
    """(path, modules per side): the modules of ``path_ops(encode_rows(...))``, faster.

    Most rows of a version 1 symbol repeat between codes (the finder patterns fill much
    of rows 0-8 and 13-20), so each row's rectangles are looked up once formatted; a new
    row is put together from cached 7-module segments.  The row cache is cleared when
    it reaches ``_ROW_CACHE_LIMIT`` entries, so memory stays bounded on long runs.
    """
    if not fits_fast_path(payload):
        rows = encode_rows(payload, mask)
        return path_ops(rows), len(rows)
    symbol = _v1m_symbol(payload, mask)
    cache = _row_ops
    full = (1 << _SIZE) - 1
    parts: list[str] = []
    for r in range(_SIZE):
        row = (symbol >> (r * _SIZE)) & full
        key = (r << _SIZE) | row
        ops = cache.get(key)
        if ops is None:
            if len(cache) >= _ROW_CACHE_LIMIT:
                cache.clear()
            ops = cache[key] = _row_from_segments(r, row)
        if ops:
            parts.append(ops)
    return " ".join(parts) + " f", _SIZE
