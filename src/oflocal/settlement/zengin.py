"""The Zengin 総合振込 (bulk transfer) file the treasurer uploads to the bank.

Layout (Japanese Bankers Association; see docs/zengin.md): a header record, one data
record per payee, a trailer with count and total, an end record.  Every record is
120 single-byte characters; each record, the end record included, is followed by
CR LF, which is what bank upload screens expect of a file made on a PC.

:func:`validate` reports every problem at once, in words a treasurer understands;
:func:`build_zengin_file` refuses (:class:`ZenginBlocked`) while any remains.  What
cannot be checked here is left to the bank: that the account exists and its holder
name matches, and national holidays.  Payees with an amount of 0 are left out of the
file and not checked.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date

from oflocal.settlement.bank_days import why_closed
from oflocal.settlement.banks import is_bank_code, is_branch_code, lookup_bank, lookup_branch
from oflocal.settlement.kana import KanaError, describe_char, fit, to_zengin_kana

RECORD_LENGTH = 120
RECORD_SEPARATOR = b"\r\n"
KIND_GENERAL_TRANSFER = "21"
CODE_SET_JIS = "0"
MAX_AMOUNT = 9_999_999_999  # 10 digits in a data record
MAX_TOTAL = 999_999_999_999  # 12 digits in the trailer
MAX_RECORDS = 999_999  # 6 digits in the trailer

REQUESTER_ACCOUNT_TYPES = {1: ("普通", "ordinary"), 2: ("当座", "current"), 9: ("その他", "other")}
PAYEE_ACCOUNT_TYPES = {**REQUESTER_ACCOUNT_TYPES, 4: ("貯蓄", "savings")}


@dataclass(frozen=True, slots=True)
class Requester:
    """The committee's own account, the one the bank debits."""

    code: str  # 委託者コード: 10 digits given by the bank
    name_kana: str
    bank_code: str
    branch_code: str
    account_type: int  # 1 普通, 2 当座, 9 その他
    account_number: str  # 7 digits


@dataclass(frozen=True, slots=True)
class Payee:
    key: str  # e.g. the workshop code; duplicates are refused (a double payment)
    display_name: str  # how the treasurer knows the workshop, used in messages
    name_kana: str  # 口座名義 as the bank holds it; converted by to_zengin_kana
    bank_code: str
    branch_code: str
    account_type: int  # 1 普通, 2 当座, 4 貯蓄, 9 その他
    account_number: str  # 7 digits
    amount: int  # yen; 0 = not paid in this file
    customer_code: str = ""  # up to 10 digits, for the committee's own reconciliation


@dataclass(frozen=True, slots=True)
class ZenginProblem:
    payee_key: str | None  # None: the committee's account or the file as a whole
    field: str
    code: str  # stable, e.g. "zengin.bank_unknown"
    message_ja: str
    message_en: str


class ZenginBlocked(Exception):
    """No file was written: the problems say what to fix."""

    def __init__(self, problems: Sequence[ZenginProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__(f"{len(self.problems)} problem(s) block the Zengin file")


@dataclass(frozen=True, slots=True)
class _Who:
    key: str | None
    ja: str
    en: str


_COMMITTEE = _Who(None, "振込元(委員会の口座)", "Committee account (sender)")
_FILE = _Who(None, "振込ファイル", "Transfer file")
_ENTERED = _Who(None, "", "")  # an account as it is entered: no one to name


def _problem(who: _Who, field: str, code: str, ja: str, en: str) -> ZenginProblem:
    if who is _ENTERED:
        return ZenginProblem(who.key, field, f"zengin.{code}", ja, en)
    return ZenginProblem(who.key, field, f"zengin.{code}", f"{who.ja}: {ja}", f"{who.en}: {en}")


def _is_digits(value: object, length: int) -> bool:
    return isinstance(value, str) and len(value) == length and value.isascii() and value.isdigit()


def _check_kana(who: _Who, value: str, label_ja: str, label_en: str) -> list[ZenginProblem]:
    try:
        kana = to_zengin_kana(value)
    except KanaError as e:
        chars = "".join(describe_char(c) for c in e.characters)
        ja = (
            f"{label_ja}に使えない文字「{chars}」があります"
            "（使えるのはカナ・英数字・空白・( ) - . のみ）"
        )
        en = f"the {label_en} contains a character banks refuse: {chars}"
        return [_problem(who, "name_kana", "kana_invalid", ja, en)]
    if not kana:
        ja, en = f"{label_ja}が入力されていません", f"the {label_en} is missing"
        return [_problem(who, "name_kana", "kana_missing", ja, en)]
    return []


def _check_account(
    who: _Who,
    bank_code: str,
    branch_code: str,
    account_type: int,
    account_number: str,
    allowed_types: dict[int, tuple[str, str]],
) -> list[ZenginProblem]:
    found: list[ZenginProblem] = []
    if not is_bank_code(bank_code):
        ja = f"銀行コードは4桁の数字です（入力値「{bank_code}」）"
        en = f"the bank code must be 4 digits (entered: {bank_code!r})"
        found.append(_problem(who, "bank_code", "bank_code_invalid", ja, en))
    elif (bank := lookup_bank(bank_code)) is None:
        ja = f"銀行コード{bank_code}の金融機関が見つかりません"
        en = f"no bank has the bank code {bank_code}"
        found.append(_problem(who, "bank_code", "bank_unknown", ja, en))
    elif not is_branch_code(branch_code):
        ja = f"支店コードは3桁の数字です（入力値「{branch_code}」）"
        en = f"the branch code must be 3 digits (entered: {branch_code!r})"
        found.append(_problem(who, "branch_code", "branch_code_invalid", ja, en))
    elif lookup_branch(bank_code, branch_code) is None:
        ja = f"{bank.name}に支店コード{branch_code}の支店が見つかりません"
        en = f"{bank.name} (bank {bank_code}) has no branch with the code {branch_code}"
        found.append(_problem(who, "branch_code", "branch_unknown", ja, en))

    if isinstance(account_type, bool) or account_type not in allowed_types:
        kinds_ja = "・".join(f"{k} {ja}" for k, (ja, _) in allowed_types.items())
        kinds_en = ", ".join(f"{k} {en}" for k, (_, en) in allowed_types.items())
        ja = f"預金種目は {kinds_ja} のいずれかです（入力値「{account_type}」）"
        en = f"the account type must be one of {kinds_en} (entered: {account_type!r})"
        found.append(_problem(who, "account_type", "account_type_invalid", ja, en))
    if not _is_digits(account_number, 7):
        ja = (
            f"口座番号は7桁の数字です（入力値「{account_number}」）。"
            "7桁未満なら先頭に0を足してください"
        )
        en = (
            f"the account number must be 7 digits (entered: {account_number!r}); "
            "add leading zeros to a shorter one"
        )
        found.append(_problem(who, "account_number", "account_number_invalid", ja, en))
    return found


def account_problems(bank_code: str, branch_code: str, account_type: int, account_number: str,
                     *, requester: bool = False) -> list[ZenginProblem]:
    """The one check of a bank account, wherever one is entered (a workshop's, the
    committee's) and again when a transfer file is made: the shapes the file needs, and
    a bank and branch the zengin-code data knows. Problems are said in ja and en."""
    types = REQUESTER_ACCOUNT_TYPES if requester else PAYEE_ACCOUNT_TYPES
    return _check_account(_ENTERED, bank_code, branch_code, account_type, account_number, types)


def _check_requester(requester: Requester) -> list[ZenginProblem]:
    found: list[ZenginProblem] = []
    if not _is_digits(requester.code, 10):
        ja = f"委託者コードは銀行から通知された10桁の数字です（入力値「{requester.code}」）"
        en = f"the requester code must be the 10 digits your bank gave you ({requester.code!r})"
        found.append(_problem(_COMMITTEE, "code", "requester_code_invalid", ja, en))
    label_ja, label_en = "振込依頼人名(カナ)", "sender name (kana)"
    found += _check_kana(_COMMITTEE, requester.name_kana, label_ja, label_en)
    found += _check_account(
        _COMMITTEE,
        requester.bank_code,
        requester.branch_code,
        requester.account_type,
        requester.account_number,
        REQUESTER_ACCOUNT_TYPES,
    )
    return found


def _check_payee(payee: Payee) -> list[ZenginProblem]:
    who = _Who(payee.key, payee.display_name or payee.key, payee.display_name or payee.key)
    found = _check_kana(who, payee.name_kana, "口座名義(カナ)", "account holder name (kana)")
    found += _check_account(
        who,
        payee.bank_code,
        payee.branch_code,
        payee.account_type,
        payee.account_number,
        PAYEE_ACCOUNT_TYPES,
    )
    amount = payee.amount
    if not isinstance(amount, int) or isinstance(amount, bool) or not 0 < amount <= MAX_AMOUNT:
        ja = f"振込金額 {payee.amount!r} 円は振り込めません（1円以上 {MAX_AMOUNT:,}円以下）"
        en = f"the amount ¥{payee.amount!r} cannot be transferred (¥1 to ¥{MAX_AMOUNT:,})"
        found.append(_problem(who, "amount", "amount_invalid", ja, en))
    code = payee.customer_code
    if code and not (len(code) <= 10 and code.isascii() and code.isdigit()):
        ja = f"顧客コードは10桁までの数字です（入力値「{code}」）"
        en = f"the customer code must be up to 10 digits (entered: {code!r})"
        found.append(_problem(who, "customer_code", "customer_code_invalid", ja, en))
    return found


def _check_date(transfer_date: date, today: date | None) -> list[ZenginProblem]:
    shown = transfer_date.isoformat()
    closed = why_closed(transfer_date)
    if closed:
        ja = f"振込指定日 {shown} は{closed[0]}で銀行が休みです"
        en = f"the transfer date {shown} is {closed[1]}, when banks are closed"
        return [_problem(_FILE, "transfer_date", "transfer_date_not_business_day", ja, en)]
    if today is not None and transfer_date < today:
        ja, en = f"振込指定日 {shown} は過去の日付です", f"the transfer date {shown} is in the past"
        return [_problem(_FILE, "transfer_date", "transfer_date_past", ja, en)]
    return []


def _paid(payees: Sequence[Payee]) -> list[Payee]:
    return [p for p in payees if p.amount != 0]


def validate(
    requester: Requester,
    payees: Sequence[Payee],
    transfer_date: date,
    *,
    today: date | None = None,
) -> list[ZenginProblem]:
    """Every reason the bank would refuse this file; empty when it can be written.

    National holidays are not known here; weekends and 31 Dec-3 Jan are refused.
    Pass *today* to refuse a transfer date in the past.
    """
    found = _check_requester(requester) + _check_date(transfer_date, today)
    paid = _paid(payees)
    for payee in paid:
        found += _check_payee(payee)
    names = {p.key: p.display_name or p.key for p in paid}
    for key, n in Counter(p.key for p in paid).items():
        if n > 1:
            who = _Who(key, names[key], names[key])
            ja = f"同じ振込先({key})が{n}回含まれています。このままでは二重払いになります"
            en = f"the same payee ({key}) appears {n} times; it would be paid twice"
            found.append(_problem(who, "key", "payee_duplicate", ja, en))
    if not paid:
        ja, en = "振り込む金額のある振込先がありません", "there is no payee with an amount to pay"
        found.append(_problem(_FILE, "payees", "no_payments", ja, en))
    if len(paid) > MAX_RECORDS:
        ja, en = f"振込先が{MAX_RECORDS:,}件を超えています", f"more than {MAX_RECORDS:,} payees"
        found.append(_problem(_FILE, "payees", "too_many_payees", ja, en))
    total = sum(p.amount for p in paid if isinstance(p.amount, int) and p.amount > 0)
    if total > MAX_TOTAL:
        ja, en = f"合計金額が{MAX_TOTAL:,}円を超えています", f"the total exceeds ¥{MAX_TOTAL:,}"
        found.append(_problem(_FILE, "payees", "total_too_large", ja, en))
    return found


def _num(value: int | str, width: int) -> bytes:
    text = str(value).rjust(width, "0")
    if len(text) != width or not text.isdigit():  # validate() should have said so
        raise AssertionError(f"{value!r} does not fit a {width}-digit field")
    return text.encode("ascii")


def _record(*fields: bytes) -> bytes:
    record = b"".join(fields).ljust(RECORD_LENGTH, b" ")
    if len(record) != RECORD_LENGTH:
        raise AssertionError(f"record of {len(record)} bytes")
    return record


def _header(requester: Requester, transfer_date: date) -> bytes:
    branch = lookup_branch(requester.bank_code, requester.branch_code)
    assert branch is not None  # checked by validate()
    return _record(
        b"1",
        KIND_GENERAL_TRANSFER.encode(),
        CODE_SET_JIS.encode(),
        _num(requester.code, 10),
        fit(to_zengin_kana(requester.name_kana), 40),
        f"{transfer_date:%m%d}".encode(),
        _num(requester.bank_code, 4),
        fit(branch.bank.name_kana, 15),
        _num(requester.branch_code, 3),
        fit(branch.name_kana, 15),
        _num(requester.account_type, 1),
        _num(requester.account_number, 7),
    )


def _data(payee: Payee) -> bytes:
    branch = lookup_branch(payee.bank_code, payee.branch_code)
    assert branch is not None  # checked by validate()
    customer_code = _num(payee.customer_code, 10) if payee.customer_code else b" " * 10
    return _record(
        b"2",
        _num(payee.bank_code, 4),
        fit(branch.bank.name_kana, 15),
        _num(payee.branch_code, 3),
        fit(branch.name_kana, 15),
        b"0000",  # clearing house number: unused
        _num(payee.account_type, 1),
        _num(payee.account_number, 7),
        fit(to_zengin_kana(payee.name_kana), 30),
        _num(payee.amount, 10),
        b"0",  # new-payee code: 0 other
        customer_code,
        b" " * 10,  # customer code 2
        b" ",  # transfer kind: the bank's default (telegraphic)
        b" ",  # no EDI information
    )


def iter_zengin_records(
    requester: Requester,
    payees: Sequence[Payee],
    transfer_date: date,
    *,
    today: date | None = None,
) -> Iterator[bytes]:
    """The 120-byte records, without separators; raises ZenginBlocked before the first."""
    problems = validate(requester, payees, transfer_date, today=today)
    if problems:
        raise ZenginBlocked(problems)
    paid = _paid(payees)

    def records() -> Iterator[bytes]:
        yield _header(requester, transfer_date)
        yield from (_data(p) for p in paid)
        yield _record(b"8", _num(len(paid), 6), _num(sum(p.amount for p in paid), 12))
        yield _record(b"9")

    return records()


def build_zengin_file(
    requester: Requester,
    payees: Sequence[Payee],
    transfer_date: date,
    *,
    today: date | None = None,
) -> bytes:
    """The whole file: records each followed by CR LF.  Raises ZenginBlocked."""
    records = iter_zengin_records(requester, payees, transfer_date, today=today)
    return b"".join(record + RECORD_SEPARATOR for record in records)
