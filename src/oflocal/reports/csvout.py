"""CSV the way Japanese offices open it: UTF-8 with a byte order mark (Excel then reads
it right) by default, or Shift_JIS (Windows code page 932) for older software; CRLF.

Rows are encoded as they come, a few hundred at a time, so an export of a million
rows never sits in memory whole.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence

ENCODINGS = {"utf-8": "utf-8-sig", "utf-8-sig": "utf-8-sig", "shift_jis": "cp932",
             "sjis": "cp932", "cp932": "cp932"}
_RISKY = ("=", "+", "-", "@", "\t", "\r")


def encoding_of(name: str | None) -> str:
    """``utf-8`` (with BOM, the default) or ``shift_jis``; anything else is refused."""
    key = (name or "utf-8").strip().lower().replace("-", "_").replace("utf_8", "utf-8")
    if key not in ENCODINGS:
        raise ValueError(f"unknown CSV encoding {name!r}: use utf-8 or shift_jis")
    return ENCODINGS[key]


def text_cell(value: str) -> str:
    """Text people typed: keep Excel from running it as a formula."""
    return "'" + value if value[:1] in _RISKY else value


def encode_rows(
    rows: Iterable[Sequence[object]], encoding: str = "utf-8-sig", batch: int = 500
) -> Iterator[bytes]:
    """Encode CSV rows in batches. ``encoding`` is a codec from :func:`encoding_of`;
    in Shift_JIS ¥ is written ￥, and characters it lacks become ``?`` rather than
    stopping the export."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    first = True
    pending = 0

    def flush() -> bytes:
        nonlocal first
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        if encoding == "utf-8-sig":
            data = text.encode("utf-8-sig" if first else "utf-8")
        else:  # cp932 has the full-width yen sign only
            data = text.replace("¥", "￥").encode(encoding, errors="replace")
        first = False
        return data

    for row in rows:
        writer.writerow(row)
        pending += 1
        if pending >= batch:
            pending = 0
            yield flush()
    if pending or first:
        yield flush()
