import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oflocal.settlement.kana import KanaError, encode_zengin, fit, letter_kana, to_zengin_kana


@pytest.mark.parametrize(
    ("typed", "zengin"),
    [
        ("ガ", "ｶﾞ"),
        ("パ", "ﾊﾟ"),
        ("ヴ", "ｳﾞ"),
        ("キュ", "ｷﾕ"),
        ("ッ", "ﾂ"),
        ("ァィゥェォャュョヮヵヶ", "ｱｲｳｴｵﾔﾕﾖﾜｶｹ"),
        ("ヰヱヲ", "ｲｴｦ"),
        ("コーヒー", "ｺ-ﾋ-"),
        ("ｺｰﾋｰ", "ｺ-ﾋ-"),  # half-width input, with the half-width long-vowel mark
        ("おおの もっこうしょ", "ｵｵﾉ ﾓﾂｺｳｼﾖ"),
        ("がっこう", "ｶﾞﾂｺｳ"),
        ("ＡＢＣ　１２３", "ABC 123"),
        ("abc ｘｙｚ", "ABC XYZ"),
        ("（カ）オオノ．", "(ｶ)ｵｵﾉ."),
        ("カ\u3099ス", "ｶﾞｽ"),  # decomposed input (macOS) is composed first
        ("か゛す", "ｶﾞｽ"),  # a separate full-width voiced mark
        ("ｶﾞｯｺｳ", "ｶﾞﾂｺｳ"),
        ("　ヤマダ　タロウ　", "ﾔﾏﾀﾞ ﾀﾛｳ"),  # ends trimmed, inner space kept
        ("", ""),
    ],
)
def test_converts_to_zengin_kana(typed: str, zengin: str) -> None:
    assert to_zengin_kana(typed) == zengin


@pytest.mark.parametrize(
    ("stored", "printed"),
    [
        ("ｵｰﾌﾟﾝﾌｧｸﾄﾘｰ", "オープンファクトリー"),  # as typed from a bank's form
        ("ｵ-ﾌﾟﾝ ｶﾞﾗｽ", "オープン ガラス"),  # Zengin's own form: - is the long vowel
        ("ｶ)ﾔﾏﾀﾞ.ｺｳｹﾞｲ", "カ)ヤマダ.コウゲイ"),  # the bank's marks stay as they are
        ("オオノモッコウショ", "オオノモッコウショ"),  # full-width already
        ("ABC-1", "ABC-1"),
    ],
)
def test_a_letter_prints_the_name_full_width(stored: str, printed: str) -> None:
    assert letter_kana(stored) == printed


@pytest.mark.parametrize(
    ("typed", "offending"),
    [
        ("株式会社オオノ", ("株", "式", "会", "社")),
        ("オオノ🙂", ("🙂",)),
        ("ＯＮＯ＠ＭＡＩＬ", ("＠",)),
        ("ヤマダ・タロウ", ("・",)),
        ("ヤマダ／タロウ", ("／",)),
        ("ヤマダ、タロウ", ("、",)),
        ("ヤマダ,タロウ", (",",)),
        ("ア゛", ("゛",)),  # a mark that voices nothing
        ("ﾞｱ", ("ﾞ",)),
        ("ガ゛", ("゛",)),  # a second mark
        ("ヤマダ\tタロウ", ("\t",)),
    ],
)
def test_refuses_what_banks_refuse(typed: str, offending: tuple[str, ...]) -> None:
    with pytest.raises(KanaError) as info:
        to_zengin_kana(typed)
    assert info.value.characters == offending
    assert info.value.text == typed


def test_error_message_shows_invisible_characters_by_code_point() -> None:
    with pytest.raises(KanaError, match="U\\+0009"):
        to_zengin_kana("ア\tイ")


def test_encode_is_one_byte_per_character() -> None:
    assert encode_zengin("ｶﾞｽ-(A1).") == b"\xb6\xde\xbd-(A1)."
    assert encode_zengin("ｦﾝ") == b"\xa6\xdd"


@pytest.mark.parametrize("text", ["ガ", "a", "ｧ", "ｰ", "/", "株"])
def test_encode_refuses_unconverted_text(text: str) -> None:
    with pytest.raises(KanaError):
        encode_zengin(text)


def test_fit_pads_with_spaces() -> None:
    assert fit("ｱｲ", 5) == b"\xb1\xb2   "
    assert fit("", 3) == b"   "


def test_fit_cuts_at_the_byte_limit() -> None:
    assert fit("ABCDEFGHIJ", 4) == b"ABCD"


def test_fit_never_leaves_a_kana_without_its_voiced_mark() -> None:
    # ｶﾞｶﾞ is 4 bytes; 3 would end in a bare ｶ (a different name), so it ends in a space.
    assert fit("ｶﾞｶﾞ", 3) == b"\xb6\xde "
    assert fit("ｶﾞｶﾞ", 2) == b"\xb6\xde"
    assert fit("ﾊﾟ", 1) == b" "
    # a mark right after the limit, at the 30-byte payee name limit
    name = "ｱ" * 29 + "ｶﾞ"
    assert fit(name, 30) == b"\xb1" * 29 + b" "
    assert fit(name, 31) == b"\xb1" * 29 + b"\xb6\xde"


@pytest.mark.parametrize("limit", [15, 30, 40])
def test_long_names_cut_at_field_limits(limit: int) -> None:
    name = to_zengin_kana("ガ" * 30)  # 60 bytes
    field = fit(name, limit)
    assert len(field) == limit
    kept = field.rstrip(b" ")
    assert len(kept) == limit - limit % 2  # whole ｶﾞ pairs only
    assert kept.endswith(b"\xde")


# Large katakana and their hiragana: converting and re-widening with NFKC gives the input
# back, an oracle independent of the conversion table.
_LARGE_KATAKANA = [
    chr(c) for c in range(0x30A1, 0x30F5) if chr(c) not in "ァィゥェォッャュョヮヰヱ"
]
_ALLOWED_BYTES = (
    frozenset(b" ()-.0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ") | {0xA6} | set(range(0xB1, 0xE0))
)


@given(st.text(alphabet=st.sampled_from(_LARGE_KATAKANA), min_size=1, max_size=40))
def test_katakana_round_trips_through_nfkc(text: str) -> None:
    zengin = to_zengin_kana(text)
    data = encode_zengin(zengin)
    assert len(data) <= 2 * len(text)
    assert set(data) <= _ALLOWED_BYTES
    assert unicodedata.normalize("NFKC", data.decode("shift_jis")) == text


@given(st.text(alphabet=st.sampled_from(_LARGE_KATAKANA), min_size=1, max_size=40))
def test_hiragana_converts_like_katakana(katakana: str) -> None:
    hiragana = "".join(chr(ord(c) - 0x60) for c in katakana)
    assert to_zengin_kana(hiragana) == to_zengin_kana(katakana)


_ANY_VALID = [*_LARGE_KATAKANA, *"ァッュヮヰーｰ　 ＡＢＺａ０９（）．－ABZ09()-."]


@given(st.text(alphabet=st.sampled_from(_ANY_VALID), max_size=60))
def test_any_valid_input_encodes_to_allowed_bytes(text: str) -> None:
    data = encode_zengin(to_zengin_kana(text))
    assert len(data) <= 2 * len(text)
    assert set(data) <= _ALLOWED_BYTES
    assert not data.startswith(b" ")
    assert not data.endswith(b" ")
