"""Bank transfers: references, instructions, statement files (Zengin 01/03, CSV), matching."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import zengin_statement_writer as zw
from hypothesis import given
from hypothesis import strategies as st

from oflocal.payments import PaymentRequest
from oflocal.payments.bank_statements import CsvLayout, parse_day, parse_yen
from oflocal.payments.bank_transfer import (
    BankTransferProvider,
    ExpectedTransfer,
    ReceivingAccount,
    StatementUnreadable,
    Transfer,
    check_digit,
    is_reference,
    make_reference,
    match,
    read_csv,
    read_statement,
    read_zengin,
    sender_name,
)
from oflocal.payments.cash import CashProvider
from oflocal.settlement.zengin import Payee, Requester, build_zengin_file

TODAY = date(2026, 5, 8)
ACCOUNT = ReceivingAccount("0001", "001", 1, "1234567", "オープンファクトリージッコウイインカイ")


def request(pledge_id: int = 42, method: str = "bank_transfer", **kw: object) -> PaymentRequest:
    fields: dict[str, object] = dict(
        pledge_id=pledge_id, amount=5_500, method=method, supporter_name="やまだ たろう",
        supporter_email="", supporter_phone="", description="ひつじ団",
        deadline=datetime(2026, 5, 14, 14, 59, 59, tzinfo=UTC),
    )
    fields.update(kw)
    return PaymentRequest(**fields)  # type: ignore[arg-type]


# --- references ----------------------------------------------------------------------


def test_a_reference_is_six_digits_and_a_check_digit() -> None:
    assert make_reference(1) == "0000018"
    assert make_reference(999_999) == "9999996"
    assert all(is_reference(make_reference(n)) for n in (1, 42, 123_456, 999_999))
    for bad in (0, 1_000_000, -1):
        with pytest.raises(ValueError):
            make_reference(bad)


def test_the_crowdfunding_references_check_the_same_way() -> None:
    # the domain's own: the return's number, a 5-digit serial, the same Luhn digit
    body = "3" + "00017"
    assert is_reference(body + str(check_digit(body)))


@given(st.integers(1, 999_999), st.data())
def test_every_single_digit_typo_is_caught(number: int, data: st.DataObject) -> None:
    ref = make_reference(number)
    i = data.draw(st.integers(0, len(ref) - 1))
    digit = data.draw(st.sampled_from([d for d in "0123456789" if d != ref[i]]))
    assert not is_reference(ref[:i] + digit + ref[i + 1 :])


def test_the_sender_name_puts_the_reference_first() -> None:
    assert sender_name("0000422", "やまだ たろう") == "0000422 ﾔﾏﾀﾞ ﾀﾛｳ"
    assert sender_name("0000422", "山田太郎") == "0000422 ｵﾅﾏｴ"
    long = sender_name("0000422", "ア" * 60)
    assert len(long) == 48 and long.startswith("0000422 ")


def test_bank_transfer_instructions() -> None:
    start = BankTransferProvider(ACCOUNT).start(request())
    bank = start.bank
    assert bank is not None and start.status == "pending"
    assert (bank.bank_name, bank.branch_name) == ("みずほ", "東京営業部")
    assert (bank.account_type_ja, bank.account_number) == ("普通", "1234567")
    assert bank.account_holder == "ｵ-ﾌﾟﾝﾌｱｸﾄﾘ-ｼﾞﾂｺｳｲｲﾝｶｲ"
    assert bank.reference == make_reference(42) and start.payment_id == "bank:0000422"
    assert bank.sender_name_example == "0000422 ﾔﾏﾀﾞ ﾀﾛｳ"
    assert (bank.amount, bank.deadline) == (5_500, start.deadline)
    own = BankTransferProvider(ACCOUNT).start(request(reference="3000175"))
    assert own.bank is not None and own.bank.reference == "3000175"


def test_a_receiving_account_is_checked() -> None:
    with pytest.raises(ValueError, match="bank code"):
        ReceivingAccount("9", "001", 1, "1234567", "ｵｵﾉ")
    with pytest.raises(ValueError, match="holder"):
        ReceivingAccount("0001", "001", 1, "1234567", "大野")


def test_cash_at_the_desk() -> None:
    desk = CashProvider()
    start = desk.start(request(method="cash"))
    assert start.cash is not None and start.cash.amount == 5_500
    assert start.payment_id == "cash:42" and start.status == "pending"
    state = desk.received(42, 5_500)
    assert state.paid and state.fee == 0 and state.payment_id == start.payment_id
    assert not desk.has_events and not desk.refunds_online and desk.reconcile(
        datetime.now(UTC)) == []


# --- Zengin 振込入金通知 (01) ---------------------------------------------------------


DEPOSITS = [
    zw.Deposit(5_500, "0000422 ﾔﾏﾀﾞ ﾀﾛｳ", number=11, sender_code="12345"),
    zw.Deposit(3_000, "ｽｽﾞｷ ﾊﾅｺ", number=12, booked=date(2026, 5, 7)),
    zw.Deposit(9_999, "ｷﾔﾝｾﾙ", number=13, cancelled=True),
    zw.Deposit(12_000, "ｶ)ｵｵﾉﾓｸｺｳ", number=14, edi="0000039", value_date=date(2026, 5, 6)),
]


def test_a_deposit_notice_is_read() -> None:
    statement = read_statement(zw.deposit_notice([(zw.Group(), DEPOSITS)]), today=TODAY)
    assert statement.source == "zengin_deposit_notice"
    assert statement.created_on == date(2026, 5, 8)
    assert statement.period == (date(2026, 5, 1), date(2026, 5, 7))
    (account,) = statement.accounts
    assert (account.bank_code, account.branch_code, account.account_number) == (
        "0001", "001", "1234567")
    assert account.holder == "ｵ-ﾌﾟﾝﾌｱｸﾄﾘ-ｼﾞﾂｺｳｲｲﾝｶｲ" and account.bank_name == "ﾐｽﾞﾎ"
    first, _, third = statement.transfers
    assert (first.amount, first.sender, first.sender_code) == (5_500, "0000422 ﾔﾏﾀﾞ ﾀﾛｳ", "12345")
    assert first.booked_on == date(2026, 5, 7) and first.sender_bank == "ﾐﾂﾋﾞｼﾕ-ｴﾌｼﾞｴｲ"
    assert first.key == "zengin01:0001-001-1-1234567:2026-05-07:000011"
    assert third.memo == "0000039" and third.value_date == date(2026, 5, 6)
    assert [c.amount for c in statement.cancellations] == [9_999]
    assert len({t.key for t in statement.transfers}) == 3


def test_without_separators_and_with_several_accounts() -> None:
    other = zw.Group(account=zw.Account(account_number="7654321"))
    data = zw.deposit_notice(
        [(zw.Group(), DEPOSITS[:2]), (other, [zw.Deposit(700, "ﾀﾅｶ", number=11)])], newline=b""
    )
    assert len(data) == 200 * 8
    statement = read_zengin(data, today=TODAY)
    assert [t.account[-7:] for t in statement.transfers] == ["1234567", "1234567", "7654321"]
    assert len({t.key for t in statement.transfers}) == 3  # same 照会番号, other account


def test_western_years_when_the_bank_writes_them() -> None:
    data = zw.deposit_notice([(zw.Group(), DEPOSITS[:1])], western=True)
    assert read_zengin(data, years="western").transfers[0].booked_on == date(2026, 5, 7)


def test_heisei_dates_are_read_as_heisei() -> None:
    old = zw.Deposit(100, "ｱ", booked=date(2018, 3, 30))
    group = zw.Group(created=date(2026, 5, 8), start=date(2026, 5, 1))
    data = bytearray(zw.deposit_notice([(group, [old])]))
    data[202 + 7 : 202 + 13] = b"300330"  # 平成30年3月30日 (Reiwa would be 2048)
    assert read_zengin(bytes(data), today=TODAY).transfers[0].booked_on == date(2018, 3, 30)


@pytest.mark.parametrize(
    ("damage", "words"),
    [
        ("trailer", "trailer"),
        ("cut", "multiple of 200"),
        ("no_end", "no end record"),
        ("short", "bytes long"),
        ("ebcdic", "EBCDIC"),
        ("after_end", "after the end"),
        ("amount", "not a number"),
        ("date", "not a YYMMDD date"),
    ],
)
def test_a_damaged_deposit_notice_is_refused(damage: str, words: str) -> None:
    good = zw.deposit_notice([(zw.Group(), DEPOSITS)])
    data = {
        "trailer": lambda: zw.deposit_notice([(zw.Group(), DEPOSITS)], trailer_fix=(0, 1)),
        "cut": lambda: zw.deposit_notice([(zw.Group(), DEPOSITS)], newline=b"")[:-50],
        "no_end": lambda: good[: -202],
        "short": lambda: good.replace(b"\r\n9", b" \r\n9"),
        "ebcdic": lambda: good[:3] + b"1" + good[4:],
        "after_end": lambda: good + good[202:404],
        "amount": lambda: good[:202 + 19] + b"12345X7890" + good[202 + 29 :],
        "date": lambda: good[:202 + 7] + b"081399" + good[202 + 13 :],
    }[damage]()
    with pytest.raises(StatementUnreadable) as refused:
        read_statement(data, today=TODAY)
    assert words in refused.value.message("en")
    assert refused.value.code == "payment.statement_unreadable" and refused.value.status == 422


def test_a_transfer_file_is_not_a_statement() -> None:
    """The existing 総合振込 writer's output: refused with its kind named."""
    requester = Requester("1234567890", "ｵ-ﾌﾟﾝﾌｱｸﾄﾘ", "0001", "001", 1, "1234567")
    payee = Payee("W1", "大野", "ｵｵﾉ", "0005", "001", 1, "0000001", 1_000)
    data = build_zengin_file(requester, [payee], date(2026, 9, 30))
    with pytest.raises(StatementUnreadable) as refused:
        read_statement(data)
    assert "21" in refused.value.message("en")


# --- Zengin 入出金取引明細 (03) -------------------------------------------------------


def test_a_transaction_statement_keeps_money_in() -> None:
    lines = [
        zw.Movement(5_500, "0000422ﾔﾏﾀﾞ ﾀﾛｳ", number=1),
        zw.Movement(80_000, incoming=False, kind="14", number=2, memo="ｼﾖｳﾋﾝﾀﾞｲ"),
        zw.Movement(2_000, "", kind="10", number=3, memo="ｹﾞﾝｷﾝ"),
        zw.Movement(3_300, "ﾀﾅｶ ｼﾞﾛｳ", number=4, edi="0000039"),
    ]
    statement = read_statement(zw.transactions([(zw.Group(), lines)]), today=TODAY)
    assert statement.source == "zengin_transactions" and statement.skipped == 1
    assert [t.amount for t in statement.transfers] == [5_500, 2_000, 3_300]
    assert statement.transfers[0].sender == "0000422ﾔﾏﾀﾞ ﾀﾛｳ"
    assert statement.transfers[1].memo == "ｹﾞﾝｷﾝ" and statement.transfers[2].memo == "0000039"
    assert statement.accounts[0].account_number == "0001234567"
    assert statement.transfers[0].key == "zengin03:0001-001-1-0001234567:2026-05-07:00000001"


def test_a_transaction_statement_with_a_wrong_trailer_is_refused() -> None:
    data = bytearray(zw.transactions([(zw.Group(), [zw.Movement(500, "ｱ")])], newline=b"\n"))
    trailer = 2 * 201
    data[trailer + 54 : trailer + 61] = b"0000002"  # 2 data records claimed, 1 present
    with pytest.raises(StatementUnreadable, match=r"payment\.statement_unreadable"):
        read_zengin(bytes(data), today=TODAY)


# --- CSV -----------------------------------------------------------------------------

ANSER_CSV = (
    '"照会口座","番号","勘定日","(起算日)","出金金額(円)","入金金額(円)","小切手区分",'
    '"残高(円)","取引区分","明細区分","金融機関名","支店名","摘要"\r\n'
    '"普通 1234567","1","2026年05月07日","","","5,500","","1,005,500","振込","",'
    '"ミツビシユーエフジエイ","本店","振込 ００００４２２ ﾔﾏﾀﾞ ﾀﾛｳ"\r\n'
    '"普通 1234567","2","2026年05月07日","","30,000","","","975,500","振替","","","",'
    '"デンキダイ"\r\n'
    '"普通 1234567","3","2026年05月08日","","","3,000","","978,500","振込","","","",'
    '"ｽｽﾞｷ ﾊﾅｺ"\r\n'
)


def test_an_anser_csv_in_shift_jis() -> None:
    statement = read_statement(ANSER_CSV.encode("cp932"))
    assert statement.source == "csv" and statement.skipped == 1
    first, second = statement.transfers
    assert (first.booked_on, first.amount) == (date(2026, 5, 7), 5_500)
    assert first.sender == "振込 ００００４２２ ﾔﾏﾀﾞ ﾀﾛｳ" and first.line == 2
    assert first.key.startswith("csv:2026-05-07:1:5500:")
    assert second.amount == 3_000 and second.line == 4


def test_a_utf8_csv_with_a_bom_named_columns_and_notes() -> None:
    text = (
        "ABC銀行 入出金明細,,,\n"
        "口座,普通 1234567,,\n"
        "日付,お取引内容,お引出金額,お預入金額\n"
        "2026/5/7,ﾌﾘｺﾐ 0000422 ﾔﾏﾀﾞﾀﾛｳ,,\"¥5,500\"\n"
        "R08.05.08,ATM,10000,\n"
        "合計,,10000,5500\n"
    )
    statement = read_csv(b"\xef\xbb\xbf" + text.encode())
    (only,) = statement.transfers
    assert (only.booked_on, only.amount, only.line) == (date(2026, 5, 7), 5_500, 4)
    assert statement.skipped == 2


def test_a_csv_without_a_header_by_column_numbers() -> None:
    text = "20260507,5500,0000422 ﾔﾏﾀﾞ\n20260508,700,ﾀﾅｶ\n"
    layout = CsvLayout(date=0, amount=1, sender=2, header_row=None)
    statement = read_csv(text.encode("cp932"), layout)
    assert [t.amount for t in statement.transfers] == [5_500, 700]


def test_a_csv_whose_columns_cannot_be_found_says_which() -> None:
    with pytest.raises(StatementUnreadable, match="no header row"):
        read_csv(b"a,b,c\n1,2,3\n")
    with pytest.raises(StatementUnreadable, match="sender"):
        read_csv("日付,入金金額\n2026/5/7,100\n".encode())


def test_a_deposit_with_an_unreadable_date_is_refused() -> None:
    with pytest.raises(StatementUnreadable, match="line 2"):
        read_csv("日付,入金金額,摘要\n2026/13/45,100,ｱ\n".encode())


@pytest.mark.parametrize(
    ("text", "day"),
    [("2026/05/07", date(2026, 5, 7)), ("2026-5-7 10:31", date(2026, 5, 7)),
     ("20260507", date(2026, 5, 7)), ("2026年5月7日", date(2026, 5, 7)),
     ("令和8年5月7日", date(2026, 5, 7)), ("R08.05.07", date(2026, 5, 7)),
     ("令和元年5月7日", date(2019, 5, 7)), ("H31.04.30", date(2019, 4, 30)),
     ("２０２６／０５／０７", date(2026, 5, 7)), ("合計", None), ("2026/02/30", None)],
)
def test_parse_day(text: str, day: date | None) -> None:
    assert parse_day(text) == day


@pytest.mark.parametrize(
    ("text", "amount"),
    [("5,500", 5500), ("¥5,500", 5500), ("５５００円", 5500), ("1234.00", 1234),
     ("", None), ("-", None), ("abc", None), ("\\3,000", 3000)],
)
def test_parse_yen(text: str, amount: int | None) -> None:
    assert parse_yen(text) == amount


# --- matching ------------------------------------------------------------------------


def _t(n: int, amount: int, sender: str, memo: str = "") -> Transfer:
    return Transfer(key=f"t{n}", source="csv", booked_on=date(2026, 5, 7), amount=amount,
                    sender=sender, line=n, memo=memo)


EXPECTED = [
    ExpectedTransfer(make_reference(42), 5_500, 42),
    ExpectedTransfer(make_reference(43), 3_000, 43),
    ExpectedTransfer(make_reference(44), 8_000, 44),
    ExpectedTransfer(make_reference(45), 1_000, 45, paid=True),
    ExpectedTransfer(make_reference(46), 2_000, 46),
]


def test_matching_by_reference_and_amount() -> None:
    transfers = [
        _t(1, 5_500, "0000422 ﾔﾏﾀﾞ ﾀﾛｳ"),  # matched
        _t(2, 3_100, "0000430ｽｽﾞｷ"),  # amount differs
        _t(3, 3_000, "ｽｽﾞｷ ﾊﾅｺ"),  # no reference
        _t(4, 5_500, "0000422 ﾔﾏﾀﾞ ﾀﾛｳ"),  # paid twice in this file
        _t(5, 1_000, "0000455 ｻﾄｳ"),  # already paid before
        _t(6, 700, "1234566 ﾀﾞﾚｶ"),  # a valid reference of no pledge
        _t(7, 8_000, "0000449 ﾀﾅｶ"),  # one digit mistyped (0000448)
        _t(8, 9_000, "0000430 0000448 ｽｽﾞｷ"),  # two pledges in one transfer
        _t(9, 2_000, "ｶ)ｵｵﾉ", memo="0000463"),  # the reference in the EDI field
    ]
    result = match(transfers, EXPECTED)
    assert [(m.transfer.key, m.expected.pledge_id) for m in result.matched] == [
        ("t1", 42), ("t9", 46)]
    reasons = {u.transfer.key: u.reason for u in result.unmatched}
    assert reasons == {
        "t2": "amount_differs", "t3": "no_reference", "t4": "duplicate", "t5": "duplicate",
        "t6": "reference_unknown", "t7": "reference_mistyped", "t8": "several_references",
    }
    by_key = {u.transfer.key: u for u in result.unmatched}
    assert by_key["t7"].suggestion is not None and by_key["t7"].suggestion.pledge_id == 44
    assert "0000448" in by_key["t7"].message_ja and "typo" in by_key["t7"].message_en
    assert "¥3,100" in by_key["t2"].message_ja and "¥3,000" in by_key["t2"].message_en
    assert by_key["t2"].expected is not None and by_key["t2"].expected.pledge_id == 43
    for u in result.unmatched:
        assert u.message_ja and u.message_en
    assert [e.pledge_id for e in result.waiting] == [43, 44]


def test_a_wrong_amount_first_then_the_right_one() -> None:
    result = match([_t(1, 5_000, "0000422"), _t(2, 5_500, "0000422")], EXPECTED)
    assert [m.transfer.key for m in result.matched] == ["t2"]
    assert [u.reason for u in result.unmatched] == ["amount_differs"]


def test_two_pledges_with_one_reference_is_a_bug_of_the_caller() -> None:
    with pytest.raises(ValueError):
        match([], [EXPECTED[0], EXPECTED[0]])


def test_statement_to_matches_end_to_end() -> None:
    """A 振込入金通知 read and matched, full-width digits typed in a net bank included."""
    deposits = [
        zw.Deposit(5_500, "0000422 ﾔﾏﾀﾞ ﾀﾛｳ", number=1),
        zw.Deposit(8_000, "ﾀﾅｶ 0000448", number=2),
        zw.Deposit(9_999, "0000430 ｷﾔﾝｾﾙ", number=3, cancelled=True),
    ]
    statement = read_statement(zw.deposit_notice([(zw.Group(), deposits)]), today=TODAY)
    csv_statement = read_statement(ANSER_CSV.encode("cp932"))
    result = match([*statement.transfers, *csv_statement.transfers], EXPECTED)
    assert [(m.transfer.source, m.expected.pledge_id) for m in result.matched] == [
        ("zengin_deposit_notice", 42), ("zengin_deposit_notice", 44)]
    assert [(u.transfer.source, u.reason) for u in result.unmatched] == [
        ("csv", "duplicate"), ("csv", "no_reference")]
    assert [e.pledge_id for e in result.waiting] == [43, 46]


def test_deadline_is_kept_for_bank_transfers() -> None:
    req = request(deadline=datetime(2026, 5, 14, 15, 0, tzinfo=UTC) + timedelta(hours=1))
    assert BankTransferProvider(ACCOUNT).start(req).deadline == req.deadline
