"""Ticket and booklet codes: what is printed under the QR code and typed at the booth.

A code is ``K PPP SSSSS MMMMMMMMMM C`` in Crockford base32 (20 characters):

* ``K``  kind: ``T`` ticket, ``B`` booklet;
* ``PPP`` the programme id (15 bits), ``SSSSS`` the serial within the programme (25 bits);
* ``M…`` a 50-bit HMAC-SHA256 of kind, programme and serial under the server's secret, so
  nobody can make another valid code from the ones they have seen;
* ``C`` a Luhn mod 32 check character, so a typo is caught on the phone before the
  server is asked.

The QR payload is the plain 20 characters (QR alphanumeric mode); people see it grouped
in fours: ``T01K-0003-Q7ZD-X2M9-4F8H``.  Typing is forgiving: case, spaces and dashes do
not matter and the look-alikes I/L→1 and O→0 are folded, as Crockford intends.
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata
from dataclasses import dataclass
from typing import Literal

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_VALUE = {ch: i for i, ch in enumerate(ALPHABET)}
_FOLD = str.maketrans({"I": "1", "L": "1", "O": "0"})

CODE_LENGTH = 20
PROGRAMME_CHARS = 3
SERIAL_CHARS = 5
MAC_CHARS = 10
MAX_PROGRAMME = 32**PROGRAMME_CHARS - 1
MAX_SERIAL = 32**SERIAL_CHARS - 1

Kind = Literal["T", "B"]


class CodeFormatError(ValueError):
    """The text is not shaped like a code at all, or its check character is wrong."""

    def __init__(self, reason: Literal["malformed", "checksum"]) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ParsedCode:
    kind: Kind
    programme_id: int
    serial: int
    code: str  # canonical 20 characters


def _encode(value: int, width: int) -> str:
    chars = []
    for _ in range(width):
        value, digit = divmod(value, 32)
        chars.append(ALPHABET[digit])
    return "".join(reversed(chars))


def _decode(text: str) -> int:
    value = 0
    for ch in text:
        value = value * 32 + _VALUE[ch]
    return value


def check_char(body: str) -> str:
    """Luhn mod N over base32: catches every single-character typo and most swaps."""
    factor = 2
    total = 0
    for ch in reversed(body):
        addend = factor * _VALUE[ch]
        factor = 1 if factor == 2 else 2
        total += addend // 32 + addend % 32
    return ALPHABET[(32 - total % 32) % 32]


def _mac(secret: bytes, kind: str, programme_id: int, serial: int) -> str:
    message = f"oflocal-code-v1:{kind}:{programme_id}:{serial}".encode()
    digest = hmac.new(secret, message, hashlib.sha256).digest()
    return _encode(int.from_bytes(digest[:7], "big") >> 6, MAC_CHARS)  # top 50 bits


class CodeSigner:
    """Makes and checks codes with the server's secret key."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("the code secret must be at least 16 bytes")
        self._secret = secret

    def make(self, kind: Kind, programme_id: int, serial: int) -> str:
        if not 0 < programme_id <= MAX_PROGRAMME:
            raise ValueError(f"programme id {programme_id} does not fit in a code")
        if not 0 < serial <= MAX_SERIAL:
            raise ValueError(f"serial {serial} does not fit in a code")
        body = (
            kind
            + _encode(programme_id, PROGRAMME_CHARS)
            + _encode(serial, SERIAL_CHARS)
            + _mac(self._secret, kind, programme_id, serial)
        )
        return body + check_char(body)

    def is_authentic(self, parsed: ParsedCode) -> bool:
        expected = _mac(self._secret, parsed.kind, parsed.programme_id, parsed.serial)
        given = parsed.code[1 + PROGRAMME_CHARS + SERIAL_CHARS : -1]
        return hmac.compare_digest(expected, given)


def normalise(text: str) -> str:
    """What a person typed or a scanner sent, folded to canonical characters.

    NFKC first: a Japanese input method types full-width ＴＯＯ１… and a long dash ー."""
    folded = unicodedata.normalize("NFKC", text).upper().replace("ー", "-")
    cleaned = "".join(ch for ch in folded if ch not in " -\u3000\t\r\n")
    return cleaned.translate(_FOLD)


def parse(text: str) -> ParsedCode:
    """Parse typed or scanned text; raises CodeFormatError. Does not check the MAC."""
    code = normalise(text)
    if (
        len(code) != CODE_LENGTH
        or code[0] not in ("T", "B")
        or any(ch not in _VALUE for ch in code[1:])
    ):
        raise CodeFormatError("malformed")
    if check_char(code[:-1]) != code[-1]:
        raise CodeFormatError("checksum")
    programme_id = _decode(code[1 : 1 + PROGRAMME_CHARS])
    serial = _decode(code[1 + PROGRAMME_CHARS : 1 + PROGRAMME_CHARS + SERIAL_CHARS])
    kind: Kind = "T" if code[0] == "T" else "B"
    return ParsedCode(kind=kind, programme_id=programme_id, serial=serial, code=code)


def grouped(code: str) -> str:
    """The code as printed for typing: groups of four joined by dashes."""
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))
