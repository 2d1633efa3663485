"""Account-holder names in the half-width kana that Zengin transfer files accept.

A Zengin name field holds single-byte JIS X 0201 characters only: half-width katakana
with ﾞ and ﾟ as bytes of their own, A-Z, 0-9, space and ``( ) - .``.  People type
names in full-width katakana or hiragana, so :func:`to_zengin_kana` converts:

* full-width katakana and hiragana → half-width (ガ→ｶﾞ, パ→ﾊﾟ, ヴ→ｳﾞ);
* small kana → large (キュ→ｷﾕ, ッ→ﾂ, ァ→ｱ, ヮ→ﾜ, ヵ→ｶ, ヶ→ｹ), as bank ledgers do;
* archaic ヰ→ｲ, ヱ→ｴ; ヲ stays ｦ;
* the long-vowel mark ー (and ｰ, －, ‐, −) → ``-``: many banks refuse ｰ, all take ``-``;
* full-width letters, digits and ``（）．`` → half-width; lower case → upper case;
* the ideographic space → a space; spaces at either end are dropped.

Anything else (漢字 such as 株式会社, emoji, ＠, ・, ／, 、) raises :class:`KanaError`
naming the characters, so the treasurer fixes the name instead of the bank bouncing
the transfer.  Corporate prefixes are written the bank's way, e.g. ｶ) for 株式会社.
"""

from __future__ import annotations

import re
import unicodedata

DAKUTEN = "ﾞ"
HANDAKUTEN = "ﾟ"
MARK_BYTES = frozenset({0xDE, 0xDF})  # ﾞ ﾟ in JIS X 0201 / Shift_JIS

# Half-width katakana without the small ones: ｦ and ｱ..ﾝ.
_HALF_LARGE = chr(0xFF66) + "".join(chr(c) for c in range(0xFF71, 0xFF9E))
_ASCII_ALLOWED = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ()-."

#: Every character a converted name may contain.
ZENGIN_CHARS = frozenset(_ASCII_ALLOWED + _HALF_LARGE + DAKUTEN + HANDAKUTEN)

_SMALL_TO_LARGE = str.maketrans("ァィゥェォッャュョヮヵヶヰヱ", "アイウエオツヤユヨワカケイエ")
_HYPHENS = "-－ー‐−ｰ"  # the look-alikes people type for the long vowel
_MARKS = {"\u3099": DAKUTEN, "\u309a": HANDAKUTEN, "゛": DAKUTEN, "゜": HANDAKUTEN}


def _build_table() -> dict[str, str]:
    table: dict[str, str] = {c: c for c in _ASCII_ALLOWED + DAKUTEN + HANDAKUTEN}
    table.update((c.lower(), c) for c in _ASCII_ALLOWED if c.isalpha())
    # Full-width ASCII (U+FF01..FF5E) is ASCII shifted by 0xFEE0.
    for code in range(0x21, 0x7F):
        if chr(code) in table:
            table[chr(code + 0xFEE0)] = table[chr(code)]
    table["\u3000"] = " "
    table.update((c, "-") for c in _HYPHENS)
    table.update(_MARKS)
    # unicodedata knows half → full (NFKC); invert it for the large kana.
    full_to_half = {unicodedata.normalize("NFKC", h): h for h in _HALF_LARGE}
    for code in range(0x30A1, 0x30FB):  # ァ..ヺ
        kata = chr(code)
        decomposed = unicodedata.normalize("NFD", kata.translate(_SMALL_TO_LARGE))
        half = full_to_half.get(decomposed[0])
        if half is None:
            continue  # e.g. ヸ: no half-width base, refused
        half += "".join(_MARKS[m] for m in decomposed[1:])
        table[kata] = half
        hira = chr(code - 0x60)
        if unicodedata.name(hira, "").startswith("HIRAGANA"):
            table[hira] = half
    # Half-width input is accepted as well, small kana made large (ｰ is a hyphen, above).
    for half in map(chr, range(0xFF66, 0xFF9E)):
        full = unicodedata.normalize("NFKC", half).translate(_SMALL_TO_LARGE)
        if half not in table:
            table[half] = full_to_half[full]
    return table


_TABLE = _build_table()
# The pairs a ﾞ/ﾟ may complete: exactly those some composed kana converts to.
_MARK_PAIRS = frozenset(v for v in _TABLE.values() if len(v) == 2)


class KanaError(ValueError):
    """The text contains characters a Zengin name cannot hold."""

    def __init__(self, text: str, characters: tuple[str, ...]) -> None:
        self.text = text
        self.characters = characters
        shown = ", ".join(describe_char(c) for c in characters)
        super().__init__(f"not allowed in a Zengin kana name: {shown}")


def describe_char(ch: str) -> str:
    """The character itself, or ``U+XXXX`` when it would be invisible in a message."""
    return ch if ch.isprintable() and not ch.isspace() else f"U+{ord(ch):04X}"


def to_zengin_kana(text: str) -> str:
    """Convert a kana name to Zengin half-width kana, or raise :class:`KanaError`."""
    out: list[str] = []
    bad: dict[str, None] = {}  # ordered set
    for ch in text:  # combining marks (macOS input: カ + U+3099) are in the table
        conv = _TABLE.get(ch)
        if conv is None:
            bad[ch] = None
        elif conv in (DAKUTEN, HANDAKUTEN) and (not out or out[-1][-1] + conv not in _MARK_PAIRS):
            bad[ch] = None  # a mark that voices nothing (ｱﾞ) would garble the name
        else:
            out.append(conv)
    if bad:
        raise KanaError(text, tuple(bad))
    return "".join(out).strip(" ")


_HALF_WIDTH_RUN = re.compile("[\uFF61-\uFF9F]+")
_LONG_VOWEL = re.compile("(?<=[\u30A1-\u30FC])-")  # Zengin's ``-`` after a kana


def letter_kana(name: str) -> str:
    """A kana name as a letter prints it (口座名義 on a statement or an invoice): the
    half-width katakana that Zengin needs made full-width (NFKC: ｵｰﾌﾟﾝ → オープン, ｶﾞ → ガ)
    and Zengin's ``-`` for the long vowel read as ー; letters, digits and ``( ) .`` as
    they were. Files for the bank keep the half-width form (:func:`to_zengin_kana`)."""
    full = _HALF_WIDTH_RUN.sub(lambda run: unicodedata.normalize("NFKC", run[0]), name)
    return _LONG_VOWEL.sub("ー", full)


def input_regex() -> str:
    """The names :func:`to_zengin_kana` accepts, not blank, as a regular expression that
    JSON Schema (ECMA-262) and Python read alike (``\\uXXXX`` escapes, no look-arounds):
    the API's schema for a requester name. A ﾞ/ﾟ mark is allowed only after a kana it
    voices, exactly as the conversion checks."""
    # For each mark: the typed characters that become it, and those it may follow.
    marks: dict[str, set[str]] = {DAKUTEN: set(), HANDAKUTEN: set()}
    takes: dict[str, set[str]] = {DAKUTEN: set(), HANDAKUTEN: set()}
    plain: set[str] = set()
    for typed, conv in _TABLE.items():
        if conv in marks:
            marks[conv].add(typed)
            continue
        plain.add(typed)
        for mark in marks:
            if conv[-1] + mark in _MARK_PAIRS:
                takes[mark].add(typed)
    voiced = {m: f"{_char_class(takes[m])}{_char_class(marks[m])}" for m in marks}
    token = f"(?:{voiced[DAKUTEN]}|{voiced[HANDAKUTEN]}|{_char_class(plain)})"
    letter = f"(?:{voiced[DAKUTEN]}|{voiced[HANDAKUTEN]}|{_char_class(plain - {' ', chr(0x3000)})})"
    return f"^{_char_class({' ', chr(0x3000)})}*{letter}{token}*$"


def _char_class(chars: set[str]) -> str:
    codes = sorted(ord(c) for c in chars)
    runs: list[list[int]] = []
    for code in codes:
        if runs and code == runs[-1][1] + 1:
            runs[-1][1] = code
        else:
            runs.append([code, code])
    esc = "\\u{:04X}".format
    return "[" + "".join(esc(a) if a == b else f"{esc(a)}-{esc(b)}" for a, b in runs) + "]"


def encode_zengin(text: str) -> bytes:
    """Encode already-converted Zengin text, one byte per character."""
    bad = tuple(dict.fromkeys(c for c in text if c not in ZENGIN_CHARS))
    if bad:
        raise KanaError(text, bad)
    data = text.encode("cp932")
    if len(data) != len(text):  # cannot happen for ZENGIN_CHARS; guards the record layout
        raise AssertionError(f"{text!r} did not encode to one byte per character")
    return data


def fit(text: str, nbytes: int) -> bytes:
    """Encode *text* into a field of *nbytes*: cut if longer, space-filled if shorter.

    A cut never separates a kana from its ﾞ/ﾟ: ｶﾞ cut after ｶ would read as a different
    name, so the dangling base is dropped too and the field ends in a space instead.
    """
    data = encode_zengin(text)
    if len(data) > nbytes:
        cut = nbytes
        while cut > 0 and data[cut] in MARK_BYTES:
            cut -= 1
        data = data[:cut]
    return data.ljust(nbytes, b" ")
