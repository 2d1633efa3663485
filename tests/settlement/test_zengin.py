import unicodedata
from dataclasses import replace
from datetime import date

import pytest
import zengin_code
import zengin_reader
from hypothesis import given, settings
from hypothesis import strategies as st

from oflocal.settlement.banks import lookup_bank, lookup_branch
from oflocal.settlement.zengin import (
    Payee,
    Requester,
    ZenginBlocked,
    ZenginProblem,
    build_zengin_file,
    iter_zengin_records,
    validate,
)

TRANSFER = date(2026, 9, 30)  # a Wednesday

REQUESTER = Requester(
    code="1234567890",
    name_kana="オープンファクトリージッコウイインカイ",
    bank_code="0009",  # 三井住友
    branch_code="001",  # 神保町
    account_type=1,
    account_number="7654321",
)

ONO = Payee(
    key="W001",
    display_name="大野木工所",
    name_kana="オオノモクコウシヨ",
    bank_code="0001",  # みずほ
    branch_code="001",  # 東京営業部
    account_type=1,
    account_number="1234567",
    amount=52_000,
    customer_code="101",
)
PAYEES = [
    ONO,
    Payee("W002", "燕製作所", "（カ）ツバメセイサクシヨ", "0005", "004", 2, "0000001", 1),
    Payee("W003", "郵貯花子", "ユウチヨ　ハナコ", "9900", "019", 1, "0012345", 9_999_999_999),
    Payee("W004", "休業中", "キユウギヨウ", "0010", "005", 1, "1111111", 0),
    Payee("W005", "山田工房", "やまだ たろう", "0010", "013", 4, "7777777", 3_000, "9999999999"),
]

# What the file must say, written out by hand from zengin-code's data.
EXPECTED = [
    ("0001", "ﾐｽﾞﾎ", "001", "ﾄｳｷﾖｳ", "1", "1234567", "ｵｵﾉﾓｸｺｳｼﾖ", 52_000, "0000000101"),
    ("0005", "ﾐﾂﾋﾞｼﾕ-ｴﾌｼﾞｴｲ", "004", "ｾﾝﾊﾞ", "2", "0000001", "(ｶ)ﾂﾊﾞﾒｾｲｻｸｼﾖ", 1, ""),
    ("9900", "ﾕｳﾁﾖ", "019", "ｾﾞﾛｲﾁｷﾕｳ", "1", "0012345", "ﾕｳﾁﾖ ﾊﾅｺ", 9_999_999_999, ""),
    ("0010", "ﾘｿﾅ", "013", "ｺｲｽﾞﾐ", "4", "7777777", "ﾔﾏﾀﾞ ﾀﾛｳ", 3_000, "9999999999"),
]


def build(requester: Requester = REQUESTER, payees: list[Payee] = PAYEES) -> bytes:
    return build_zengin_file(requester, payees, TRANSFER)


def codes(problems: list[ZenginProblem]) -> set[tuple[str | None, str, str]]:
    return {(p.payee_key, p.field, p.code) for p in problems}


def test_records_are_120_bytes_each_followed_by_crlf() -> None:
    blob = build()
    records = blob.split(b"\r\n")
    assert records[-1] == b""  # the end record is followed by CR LF too
    assert [len(r) for r in records[:-1]] == [120] * (1 + 4 + 2)
    assert [r[:1] for r in records[:-1]] == [b"1", b"2", b"2", b"2", b"2", b"8", b"9"]
    assert len(blob) == 7 * 122


def test_header_round_trips() -> None:
    header = zengin_reader.read(build()).header
    assert header == zengin_reader.Header(
        kind="21",
        code_set="0",
        requester_code="1234567890",
        requester_name="ｵ-ﾌﾟﾝﾌｱｸﾄﾘ-ｼﾞﾂｺｳｲｲﾝｶｲ",
        transfer_mmdd="0930",
        bank_code="0009",
        bank_name="ﾐﾂｲｽﾐﾄﾓ",
        branch_code="001",
        branch_name="ｼﾞﾝﾎﾞｳﾁﾖｳ",
        account_type="1",
        account_number="7654321",
    )


def test_every_paid_payee_round_trips_and_zero_amounts_are_left_out() -> None:
    data = zengin_reader.read(build()).data
    got = [
        (
            d.bank_code,
            d.bank_name,
            d.branch_code,
            d.branch_name,
            d.account_type,
            d.account_number,
            d.payee_name,
            d.amount,
            d.customer_code_1,
        )
        for d in data
    ]
    assert got == EXPECTED
    for d in data:
        assert d.clearing_house == "0000"
        assert d.new_payee_code == "0"
        assert d.customer_code_2 == ""
        assert (d.transfer_kind, d.edi_flag) == (" ", " ")


def test_trailer_counts_and_totals_the_paid_payees() -> None:
    parsed = zengin_reader.read(build())
    assert parsed.count == 4 == len(parsed.data)
    assert parsed.total == 52_000 + 1 + 9_999_999_999 + 3_000


def test_long_names_are_cut_at_the_field_limits_keeping_voiced_marks() -> None:
    requester = replace(REQUESTER, name_kana="ア" * 39 + "ガ")  # 41 bytes
    payee = replace(ONO, name_kana="イ" * 29 + "ギ" + "ウ")  # 32 bytes, mark at byte 31
    parsed = zengin_reader.read(build(requester, [payee]))
    assert parsed.header.requester_name == "ｱ" * 39  # ｶ without its ﾞ is dropped
    assert parsed.data[0].payee_name == "ｲ" * 29


def test_names_of_exactly_the_field_length_are_kept_whole() -> None:
    requester = replace(REQUESTER, name_kana="ア" * 38 + "ガ", account_type=2)
    payee = replace(ONO, name_kana="イ" * 28 + "ギ")
    parsed = zengin_reader.read(build(requester, [payee]))
    assert parsed.header.requester_name == "ｱ" * 38 + "ｶﾞ"
    assert parsed.header.account_type == "2"
    assert parsed.data[0].payee_name == "ｲ" * 28 + "ｷﾞ"


def test_bank_and_branch_names_come_from_zengin_code() -> None:
    assert lookup_bank("0005") is not None
    assert zengin_code.Bank.all["0005"].kana == "ミツビシユ－エフジエイ"
    assert lookup_branch("0005", "004") is not None
    assert zengin_code.Bank.all["0005"].branches["004"].name == "船場"


def test_every_bank_and_branch_in_zengin_code_converts_and_fits() -> None:
    for code, bank in zengin_code.Bank.all.items():
        info = lookup_bank(code)
        assert info is not None
        names = [info.name_kana]
        for branch_code in bank.branches:
            branch = lookup_branch(code, branch_code)
            assert branch is not None
            names.append(branch.name_kana)
        for name in names:
            data = name.encode("shift_jis")
            assert len(data) == len(name) > 0
            assert set(data) <= zengin_reader.TEXT_BYTES


# --- problems ------------------------------------------------------------------------


def test_the_codes_used_as_unknown_are_unknown_in_zengin_code() -> None:
    assert "0002" not in zengin_code.Bank.all
    assert "0001" in zengin_code.Bank.all
    assert "000" not in zengin_code.Bank.all["0001"].branches


@pytest.mark.parametrize(
    ("change", "field", "code"),
    [
        ({"bank_code": "0002"}, "bank_code", "zengin.bank_unknown"),
        ({"bank_code": "12"}, "bank_code", "zengin.bank_code_invalid"),
        ({"bank_code": "０００１"}, "bank_code", "zengin.bank_code_invalid"),
        ({"branch_code": "000"}, "branch_code", "zengin.branch_unknown"),
        ({"branch_code": "1A"}, "branch_code", "zengin.branch_code_invalid"),
        ({"account_number": "12345A7"}, "account_number", "zengin.account_number_invalid"),
        ({"account_number": "12345678"}, "account_number", "zengin.account_number_invalid"),
        ({"account_number": "123456"}, "account_number", "zengin.account_number_invalid"),
        ({"account_number": ""}, "account_number", "zengin.account_number_invalid"),
        ({"name_kana": ""}, "name_kana", "zengin.kana_missing"),
        ({"name_kana": "　"}, "name_kana", "zengin.kana_missing"),
        ({"name_kana": "株式会社オオノ"}, "name_kana", "zengin.kana_invalid"),
        ({"amount": -1}, "amount", "zengin.amount_invalid"),
        ({"amount": 10_000_000_000}, "amount", "zengin.amount_invalid"),
        ({"amount": 1.5}, "amount", "zengin.amount_invalid"),
        ({"account_type": 3}, "account_type", "zengin.account_type_invalid"),
        ({"account_type": True}, "account_type", "zengin.account_type_invalid"),
        ({"customer_code": "ABC"}, "customer_code", "zengin.customer_code_invalid"),
        ({"customer_code": "12345678901"}, "customer_code", "zengin.customer_code_invalid"),
    ],
)
def test_each_payee_mistake_is_one_specific_problem(
    change: dict[str, object], field: str, code: str
) -> None:
    payees = [replace(ONO, **change), *PAYEES[1:]]  # type: ignore[arg-type]
    problems = validate(REQUESTER, payees, TRANSFER)
    assert codes(problems) == {("W001", field, code)}
    with pytest.raises(ZenginBlocked) as blocked:
        build_zengin_file(REQUESTER, payees, TRANSFER)
    assert list(blocked.value.problems) == problems


@pytest.mark.parametrize(
    ("change", "field", "code"),
    [
        ({"code": "12345"}, "code", "zengin.requester_code_invalid"),
        ({"code": "123456789X"}, "code", "zengin.requester_code_invalid"),
        ({"account_type": 4}, "account_type", "zengin.account_type_invalid"),  # no 貯蓄 here
        ({"bank_code": "0002"}, "bank_code", "zengin.bank_unknown"),
        ({"name_kana": "委員会"}, "name_kana", "zengin.kana_invalid"),
    ],
)
def test_each_committee_mistake_is_one_specific_problem(
    change: dict[str, object], field: str, code: str
) -> None:
    requester = replace(REQUESTER, **change)  # type: ignore[arg-type]
    assert codes(validate(requester, PAYEES, TRANSFER)) == {(None, field, code)}


def test_a_savings_account_is_fine_for_a_payee() -> None:
    assert validate(REQUESTER, [replace(ONO, account_type=4)], TRANSFER) == []


def test_messages_name_the_workshop_and_the_field() -> None:
    payees = [replace(ONO, name_kana="株式会社オオノモクコウシヨ")]
    [problem] = validate(REQUESTER, payees, TRANSFER)
    assert problem.message_ja.startswith("大野木工所: 口座名義(カナ)に使えない文字「株式会社」")
    assert problem.message_en.startswith("大野木工所: the account holder name (kana)")
    assert "株" in problem.message_en


def test_unknown_branch_message_names_the_bank() -> None:
    [problem] = validate(REQUESTER, [replace(ONO, branch_code="000")], TRANSFER)
    assert "みずほ" in problem.message_ja
    assert "000" in problem.message_ja


def test_all_problems_are_reported_together() -> None:
    requester = replace(REQUESTER, code="", account_number="1")
    payees = [
        replace(ONO, bank_code="0002", name_kana="大野", account_number="ABCDEFG"),
        replace(PAYEES[1], branch_code="000", amount=-5),
        PAYEES[2],
    ]
    assert codes(validate(requester, payees, TRANSFER)) == {
        (None, "code", "zengin.requester_code_invalid"),
        (None, "account_number", "zengin.account_number_invalid"),
        ("W001", "bank_code", "zengin.bank_unknown"),
        ("W001", "name_kana", "zengin.kana_invalid"),
        ("W001", "account_number", "zengin.account_number_invalid"),
        ("W002", "branch_code", "zengin.branch_unknown"),
        ("W002", "amount", "zengin.amount_invalid"),
    }


def test_nothing_is_produced_when_blocked() -> None:
    bad = [replace(ONO, bank_code="0002"), *PAYEES[1:]]
    with pytest.raises(ZenginBlocked) as blocked:
        iter_zengin_records(REQUESTER, bad, TRANSFER)  # refused before any record exists
    assert len(blocked.value.problems) == 1


def test_zero_amount_payees_are_not_checked() -> None:
    resting = replace(PAYEES[3], bank_code="0002", name_kana="株")
    assert validate(REQUESTER, [ONO, resting], TRANSFER) == []


def test_the_same_workshop_twice_is_refused_as_a_double_payment() -> None:
    problems = validate(REQUESTER, [ONO, replace(ONO, amount=1)], TRANSFER)
    assert codes(problems) == {("W001", "key", "zengin.payee_duplicate")}
    assert "大野木工所" in problems[0].message_ja


def test_a_file_with_nothing_to_pay_is_refused() -> None:
    problems = validate(REQUESTER, [PAYEES[3]], TRANSFER)
    assert codes(problems) == {(None, "payees", "zengin.no_payments")}


@pytest.mark.parametrize(("day", "why"), [
    (date(2026, 10, 3), "土曜日"), (date(2026, 10, 4), "日曜日"), (date(2026, 12, 31), "年末年始"),
    (date(2026, 11, 3), "文化の日"), (date(2026, 9, 22), "国民の休日"),
])
def test_a_transfer_date_when_banks_are_closed_is_refused(day: date, why: str) -> None:
    problems = validate(REQUESTER, PAYEES, day)
    assert codes(problems) == {(None, "transfer_date", "zengin.transfer_date_not_business_day")}
    assert why in problems[0].message_ja and "banks are closed" in problems[0].message_en


def test_a_past_transfer_date_is_refused_when_today_is_given() -> None:
    assert validate(REQUESTER, PAYEES, TRANSFER, today=TRANSFER) == []
    problems = validate(REQUESTER, PAYEES, TRANSFER, today=date(2026, 10, 1))
    assert codes(problems) == {(None, "transfer_date", "zengin.transfer_date_past")}


# --- property ------------------------------------------------------------------------

_LARGE_KATAKANA = [
    chr(c) for c in range(0x30A1, 0x30F5) if chr(c) not in "ァィゥェォッャュョヮヰヱ"
]


@settings(max_examples=200)
@given(st.text(alphabet=st.sampled_from(_LARGE_KATAKANA), min_size=1, max_size=15))
def test_random_names_come_back_from_the_file(name: str) -> None:
    parsed = zengin_reader.read(build(REQUESTER, [replace(ONO, name_kana=name)]))
    written = parsed.data[0].payee_name
    assert len(written.encode("shift_jis")) <= 2 * len(name)
    assert unicodedata.normalize("NFKC", written) == name
