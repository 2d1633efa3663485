"""A voucher's receipt (証憑): a PDF, JPEG or PNG file, checked by its bytes.

The type is read from the file's first bytes, never from its name or a Content-Type
header; a PDF must also end as a PDF does (``%%EOF``: a truncated upload is refused), a
picture must be readable by Pillow (its header and its data, without decoding it into
memory). At most 5 MB: a phone photo of a receipt or a scanned page. The file is kept
as it came (not re-encoded, unlike a campaign's pictures): it is evidence, and an
auditor may compare it with the paper. Checking is pure and happens before anything is
written, so a refused file changes nothing.
"""

from __future__ import annotations

import hashlib
import io
import re
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from oflocal.errors import Refusal

MAX_BYTES = 5 * 1024 * 1024
MAX_PIXELS = 80_000_000
PICTURES = {"JPEG": "image/jpeg", "PNG": "image/png"}
EXTENSIONS = {"application/pdf": "pdf", "image/jpeg": "jpg", "image/png": "png"}


@dataclass(frozen=True)
class Receipt:
    """An uploaded file as it arrived: its name (as the treasurer's computer called it)
    and its bytes."""

    filename: str
    data: bytes


@dataclass(frozen=True)
class CheckedReceipt:
    filename: str
    content_type: str
    data: bytes
    sha256: str


def sniff(raw: bytes) -> str | None:
    if raw.startswith(b"%PDF-"):
        return "application/pdf"
    if raw.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if raw.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    return None


def _readable_picture(raw: bytes, fmt: str) -> bool:
    try:
        with Image.open(io.BytesIO(raw), formats=[fmt]) as picture:
            width, height = picture.size
            if width < 1 or height < 1 or width * height > MAX_PIXELS:
                return False
            picture.verify()  # walks the data without decoding it into pixels
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError,
            Image.DecompressionBombError):
        return False
    return True


def safe_filename(name: str, content_type: str) -> str:
    """The file's own name without folders or control characters, at most 200
    characters, ending as its type does."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = "".join(ch for ch in base if ch.isprintable() and ch not in '"<>|:*?').strip()
    ext = EXTENSIONS[content_type]
    stem = base.rsplit(".", 1)[0] if "." in base else base
    return f"{(stem or 'receipt')[:190]}.{ext}"


def check_receipt(receipt: Receipt) -> CheckedReceipt:
    raw = receipt.data
    if len(raw) > MAX_BYTES:
        raise Refusal("receipt.too_large", size_mb=f"{len(raw) / 1024 / 1024:.1f}",
                      limit_mb=MAX_BYTES // 1024 // 1024)
    content_type = sniff(raw)
    if content_type is None:
        raise Refusal("receipt.wrong_type")
    if content_type == "application/pdf":
        if b"%%EOF" not in raw[-2048:]:
            raise Refusal("receipt.unreadable")
    elif not _readable_picture(raw, "JPEG" if content_type == "image/jpeg" else "PNG"):
        raise Refusal("receipt.unreadable")
    return CheckedReceipt(safe_filename(receipt.filename, content_type), content_type, raw,
                          hashlib.sha256(raw).hexdigest())
