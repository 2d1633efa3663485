"""Ticket codes as people type them: forgiving input, typos caught, forgeries refused."""

from __future__ import annotations

import pytest

from oflocal.vouchers.codes import (
    ALPHABET,
    CodeFormatError,
    CodeSigner,
    check_char,
    grouped,
    parse,
)

SIGNER = CodeSigner(b"code-test-secret-0123456789")


def test_typing_variants_parse_to_the_same_code() -> None:
    code = SIGNER.make("T", 3, 1234)
    full_width = "".join(chr(ord(ch) + 0xFEE0) for ch in code)  # a Japanese IME's output
    variants = [
        code,
        code.lower(),
        grouped(code),
        " " + grouped(code).replace("-", " ") + "\n",
        grouped(code).replace("-", "ー"),
        full_width,
        code.replace("1", "I").replace("0", "O"),  # look-alikes folded as Crockford intends
    ]
    for text in variants:
        assert parse(text).code == code, text


def test_every_single_character_typo_is_caught_by_the_check_character() -> None:
    code = SIGNER.make("T", 3, 1234)
    for position in range(1, len(code)):
        for replacement in ALPHABET:
            if replacement == code[position]:
                continue
            typo = code[:position] + replacement + code[position + 1 :]
            with pytest.raises(CodeFormatError) as error:
                parse(typo)
            assert error.value.reason == "checksum", typo


def test_a_well_formed_code_with_a_wrong_mac_is_not_authentic() -> None:
    code = SIGNER.make("T", 3, 1234)
    body = code[:-2] + ("0" if code[-2] != "0" else "1")  # change the MAC's last character
    forged = body + check_char(body)
    assert parse(forged).code == forged  # shape and check character are fine...
    assert not SIGNER.is_authentic(parse(forged))  # ...but the server's MAC says no
    assert not CodeSigner(b"another-secret-0123456789").is_authentic(parse(code))
    assert SIGNER.is_authentic(parse(code))


@pytest.mark.parametrize("text", ["", "T123", "X" * 20, "T001000051NG3AHJGSWC9", "☃" * 20])
def test_malformed_text_is_refused(text: str) -> None:
    with pytest.raises(CodeFormatError) as error:
        parse(text)
    assert error.value.reason == "malformed"
