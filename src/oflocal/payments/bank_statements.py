"""Reading the committee's bank statement: which transfers came in.

Three kinds of file, all read into the same :class:`Transfer` rows (money in only):

* **振込入金通知** (Zengin, 種別コード ``01``): one data record per incoming transfer,
  with cancellations (取消区分 ``1``) of earlier ones;
* **入出金取引明細** (Zengin, 種別コード ``03``): every movement of the account; the
  deposits (入払区分 ``1``) are kept, the withdrawals counted and skipped;
* **CSV** from a bank's web service: columns found by their header (the common ANSER
  layout and the usual 「日付・入金金額・摘要」 exports work as they are) or named in a
  :class:`CsvLayout`; cp932 or UTF-8 (with or without BOM), detected.

The Zengin files are fixed-length: 200-byte records of single-byte JIS X 0201 (read as
cp932), a header ``1``, data ``2``, a trailer ``8`` and an end record ``9``; several
header…trailer groups (accounts) may come before the end. Records may be followed by
CR LF or not at all. Dates are YYMMDD in the Japanese era (令和: 2018 + YY; a year past
this Reiwa year + 1 is read as 平成), or in the Western calendar when the bank says so.
Byte positions are 1-based and inclusive below, as the published layouts give them.
The trailer's counts and totals are checked: a cut or damaged file is refused with
:class:`StatementUnreadable`, never half read. Pure functions, no database.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

from oflocal.payments.contract import PaymentError

RECORD_LENGTH = 200
DEPOSIT_NOTICE = "01"  # 振込入金通知
TRANSACTIONS = "03"  # 入出金取引明細
KIND_NAMES = {DEPOSIT_NOTICE: "振込入金通知", TRANSACTIONS: "入出金取引明細"}

Source = Literal["zengin_deposit_notice", "zengin_transactions", "csv"]
YearStyle = Literal["wareki", "western"]


class StatementUnreadable(PaymentError):
    """The file is not a statement this reader knows, or is cut or damaged."""

    code_name = "payment.statement_unreadable"

    def __init__(self, problem_ja: str, problem_en: str, *, record: int | None = None) -> None:
        if record is not None:
            problem_ja = f"{record}件目のレコード: {problem_ja}"
            problem_en = f"record {record}: {problem_en}"
        super().__init__(problem=problem_ja, problem_en=problem_en)


@dataclass(frozen=True, slots=True)
class Account:
    bank_code: str
    bank_name: str
    branch_code: str
    branch_name: str
    account_type: str
    account_number: str
    holder: str = ""

    @property
    def label(self) -> str:
        return f"{self.bank_code}-{self.branch_code}-{self.account_type}-{self.account_number}"


@dataclass(frozen=True, slots=True)
class Transfer:
    """Money that came in. ``key`` identifies it across imports of overlapping files
    (the bank's 照会番号 with the account and day), so the domain records it once."""

    key: str
    source: Source
    booked_on: date  # 勘定日
    amount: int
    sender: str  # 振込依頼人名 as the bank wrote it (half-width kana in Zengin files)
    line: int  # record or line number in the file, for messages
    value_date: date | None = None  # 起算日 / 預入日
    sender_code: str = ""  # 振込依頼人コード
    sender_bank: str = ""
    sender_branch: str = ""
    memo: str = ""  # 摘要 / EDI information
    account: str = ""  # Account.label of the receiving account


@dataclass(frozen=True, slots=True)
class Statement:
    source: Source
    transfers: tuple[Transfer, ...]
    accounts: tuple[Account, ...] = ()
    created_on: date | None = None
    period: tuple[date, date] | None = None
    cancellations: tuple[Transfer, ...] = ()  # 振込入金通知: transfers taken back
    skipped: int = 0  # withdrawals and other rows that are not money in


# --- Zengin fixed-length files -------------------------------------------------------


def _records(data: bytes) -> list[bytes]:
    data = data.rstrip(b"\x1a")  # an MS-DOS end-of-file mark
    if b"\n" in data or b"\r" in data:
        lines = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
        records = [line for line in lines if line]
    else:
        if len(data) % RECORD_LENGTH:
            raise StatementUnreadable(
                f"長さ{len(data)}バイトが200バイトの倍数ではありません（途中で切れています）",
                f"{len(data)} bytes is not a multiple of 200 (the file is cut)",
            )
        records = [data[i : i + RECORD_LENGTH] for i in range(0, len(data), RECORD_LENGTH)]
    for n, record in enumerate(records, 1):
        if len(record) != RECORD_LENGTH:
            raise StatementUnreadable(
                f"長さが{len(record)}バイトです（200バイトのはず）",
                f"{len(record)} bytes long instead of 200",
                record=n,
            )
    return records


class _Record:
    def __init__(self, raw: bytes, number: int) -> None:
        self.raw = raw
        self.number = number

    def cut(self, first: int, last: int) -> bytes:
        return self.raw[first - 1 : last]

    def num(self, first: int, last: int, what: str) -> int:
        raw = self.cut(first, last)
        if not raw.isdigit():
            raise StatementUnreadable(
                f"{what}（{first}〜{last}桁目）が数字ではありません",
                f"{what} at {first}-{last} is not a number: {raw!r}",
                record=self.number,
            )
        return int(raw)

    def digits(self, first: int, last: int) -> str:
        return self.cut(first, last).decode("ascii", "replace").strip()

    def text(self, first: int, last: int, what: str) -> str:
        try:
            return self.cut(first, last).decode("cp932").rstrip(" ")
        except UnicodeDecodeError:
            raise StatementUnreadable(
                f"{what}（{first}〜{last}桁目）に読めない文字があります",
                f"{what} at {first}-{last} has bytes that are not Shift_JIS",
                record=self.number,
            ) from None

    def day(self, first: int, last: int, what: str, years: YearStyle, today: date) -> date:
        found = self.maybe_day(first, last, what, years, today)
        if found is None:
            raise StatementUnreadable(
                f"{what}がありません", f"{what} is missing", record=self.number
            )
        return found

    def maybe_day(
        self, first: int, last: int, what: str, years: YearStyle, today: date
    ) -> date | None:
        raw = self.cut(first, last)
        if raw.strip(b" 0") == b"":
            return None
        problem = StatementUnreadable(
            f"{what}（{first}〜{last}桁目）が日付ではありません",
            f"{what} at {first}-{last} is not a YYMMDD date: {raw!r}",
            record=self.number,
        )
        if not raw.isdigit():
            raise problem
        yy, mm, dd = int(raw[:2]), int(raw[2:4]), int(raw[4:6])
        try:
            return date(_year(yy, years, today), mm, dd)
        except ValueError:
            raise problem from None


def _year(yy: int, years: YearStyle, today: date) -> int:
    if years == "western":
        return 2000 + yy
    reiwa_now = today.year - 2018
    return 2018 + yy if 1 <= yy <= reiwa_now + 1 else 1988 + yy  # 令和, else 平成


def read_zengin(
    data: bytes, *, years: YearStyle = "wareki", today: date | None = None
) -> Statement:
    """A 振込入金通知 or 入出金取引明細 file (see the module doc for the layout)."""
    today = today or date.today()
    if data[:1] != b"1":
        raise StatementUnreadable(
            "最初のレコードがヘッダー（データ区分1）ではありません",
            "the first record is not a header (data type 1)",
        )
    kind = data[1:3].decode("ascii", "replace")
    if kind not in KIND_NAMES:
        ja = f"種別コード{kind}のファイルは読めません（01 振込入金通知か 03 入出金取引明細）"
        en = f"kind {kind!r} is not a deposit notice (01) or a transaction statement (03)"
        if kind == "21":
            ja += "。これは総合振込のファイルです"
            en += "; this is a bulk transfer (総合振込) file"
        raise StatementUnreadable(ja, en, record=1)
    records = [_Record(raw, n) for n, raw in enumerate(_records(data), 1)]
    reader = _DepositNotice(years, today) if kind == DEPOSIT_NOTICE else _Transactions(years, today)
    ended = False
    in_group = False
    for record in records:
        rtype = record.cut(1, 1)
        if ended:
            raise StatementUnreadable(
                "エンドレコードの後にレコードがあります", "a record after the end record",
                record=record.number,
            )
        if rtype == b"1":
            if in_group:
                raise StatementUnreadable(
                    "トレーラーのないままヘッダーが来ました", "a header before the trailer",
                    record=record.number,
                )
            if record.digits(2, 3) != kind:
                raise StatementUnreadable(
                    "種別コードの違うヘッダーが混じっています", "headers of different kinds",
                    record=record.number,
                )
            if record.cut(4, 4) != b"0":
                raise StatementUnreadable(
                    "コード区分がJIS（0）ではありません（EBCDICは読めません）",
                    "the code set is not JIS (0); EBCDIC files are not read",
                    record=record.number,
                )
            reader.header(record)
            in_group = True
        elif rtype == b"2" and in_group:
            reader.data(record)
        elif rtype == b"8" and in_group:
            reader.trailer(record)
            in_group = False
        elif rtype == b"9" and not in_group:
            ended = True
        else:
            raise StatementUnreadable(
                f"データ区分「{rtype.decode('ascii', 'replace')}」がこの位置にはありえません",
                f"record type {rtype!r} is out of place",
                record=record.number,
            )
    if not ended:
        raise StatementUnreadable(
            "エンドレコード（データ区分9）がありません（途中で切れています）",
            "no end record (data type 9): the file is cut",
        )
    return reader.statement()


@dataclass
class _Reader:
    years: YearStyle
    today: date
    accounts: list[Account] = field(default_factory=list)
    transfers: list[Transfer] = field(default_factory=list)
    cancellations: list[Transfer] = field(default_factory=list)
    skipped: int = 0
    created_on: date | None = None
    period: tuple[date, date] | None = None
    # counts and totals of the current group, checked against its trailer
    n_in: int = 0
    sum_in: int = 0
    n_out: int = 0
    sum_out: int = 0

    def header(self, record: _Record) -> None:
        raise NotImplementedError

    def data(self, record: _Record) -> None:
        raise NotImplementedError

    def trailer(self, record: _Record) -> None:
        raise NotImplementedError

    def statement(self) -> Statement:
        raise NotImplementedError

    def _dates(self, record: _Record) -> None:
        self.created_on = record.day(5, 10, "作成日", self.years, self.today)
        start = record.day(11, 16, "勘定日(自)", self.years, self.today)
        end = record.day(17, 22, "勘定日(至)", self.years, self.today)
        self.period = (start, end) if self.period is None else (
            min(self.period[0], start), max(self.period[1], end))
        self.n_in = self.sum_in = self.n_out = self.sum_out = 0

    def _check(self, record: _Record, what: str, counted: int, written: int) -> None:
        if counted != written:
            raise StatementUnreadable(
                f"トレーラーの{what}（{written}）が明細（{counted}）と合いません",
                f"the trailer's {what} ({written}) does not match the records ({counted})",
                record=record.number,
            )


class _DepositNotice(_Reader):
    """振込入金通知 (種別 01).

    header: 1 type; 2-3 kind 01; 4 code set; 5-10 created; 11-16 from; 17-22 to;
    23-26 bank code; 27-41 bank name; 42-44 branch code; 45-59 branch name;
    60 account type; 61-67 account number; 68-107 account name; 108-200 blank.
    data: 1 type; 2-7 照会番号; 8-13 勘定日; 14-19 起算日; 20-29 amount;
    30-39 うち他店券金額; 40-49 振込依頼人コード; 50-97 振込依頼人名 (48);
    98-112 仕向銀行名; 113-127 仕向支店名; 128 取消区分; 129-148 EDI; 149-200 blank.
    trailer: 1 type; 2-7 count; 8-19 total; 20-25 cancelled count; 26-37 cancelled total.
    """

    source: Source = "zengin_deposit_notice"

    def header(self, record: _Record) -> None:
        self._dates(record)
        self.accounts.append(Account(
            bank_code=record.digits(23, 26), bank_name=record.text(27, 41, "銀行名"),
            branch_code=record.digits(42, 44), branch_name=record.text(45, 59, "支店名"),
            account_type=record.digits(60, 60), account_number=record.digits(61, 67),
            holder=record.text(68, 107, "口座名"),
        ))

    def data(self, record: _Record) -> None:
        account = self.accounts[-1]
        booked = record.day(8, 13, "勘定日", self.years, self.today)
        number = record.digits(2, 7)
        amount = record.num(20, 29, "金額")
        transfer = Transfer(
            key=f"zengin01:{account.label}:{booked.isoformat()}:{number}",
            source=self.source,
            booked_on=booked,
            value_date=record.maybe_day(14, 19, "起算日", self.years, self.today),
            amount=amount,
            sender=record.text(50, 97, "振込依頼人名"),
            sender_code=record.digits(40, 49).lstrip("0"),
            sender_bank=record.text(98, 112, "仕向銀行名"),
            sender_branch=record.text(113, 127, "仕向支店名"),
            memo=record.text(129, 148, "EDI情報"),
            line=record.number,
            account=account.label,
        )
        if record.cut(128, 128) == b"1":  # 取消: a transfer taken back
            self.cancellations.append(transfer)
            self.n_out += 1
            self.sum_out += amount
        else:
            self.transfers.append(transfer)
            self.n_in += 1
            self.sum_in += amount

    def trailer(self, record: _Record) -> None:
        self._check(record, "振込件数", self.n_in, record.num(2, 7, "振込合計件数"))
        self._check(record, "振込金額", self.sum_in, record.num(8, 19, "振込合計金額"))
        self._check(record, "取消件数", self.n_out, record.num(20, 25, "取消合計件数"))
        self._check(record, "取消金額", self.sum_out, record.num(26, 37, "取消合計金額"))

    def statement(self) -> Statement:
        return Statement(self.source, tuple(self.transfers), tuple(self.accounts),
                         self.created_on, self.period, tuple(self.cancellations), self.skipped)


class _Transactions(_Reader):
    """入出金取引明細 (種別 03).

    header: 1 type; 2-3 kind 03; 4 code set; 5-10 created; 11-16 from; 17-22 to;
    23-26 bank code; 27-41 bank name; 42-44 branch code; 45-59 branch name;
    60-62 blank (000); 63 account type; 64-73 account number (10); 74-113 account name;
    114 貸越区分; 115 通帳・証書区分; 116-129 取引前残高; 130-200 blank.
    data: 1 type; 2-9 照会番号 (8); 10-15 勘定日; 16-21 預入・払出日; 22 入払区分
    (1 in, 2 out); 23-24 取引区分 (10 現金, 11 振込, 12 他店券入金, 13 交換, 14 振替,
    18 その他, 19 訂正); 25-36 amount (12); 37-48 うち他店券金額; 49-54 交換呈示日;
    55-60 不渡返還日; 61 手形・小切手区分; 62-68 手形・小切手番号; 69-71 僚店番号;
    72-81 振込依頼人コード; 82-129 振込依頼人名又は契約者番号 (48); 130-144 仕向銀行名;
    145-159 仕向店名; 160-179 摘要内容; 180-199 EDI情報; 200 blank.
    trailer: 1 type; 2-7 入金件数; 8-20 入金額合計 (13); 21-26 出金件数;
    27-39 出金額合計 (13); 40 貸越区分; 41-54 取引後残高; 55-61 データレコード件数.
    """

    source: Source = "zengin_transactions"
    n_records: int = 0

    def header(self, record: _Record) -> None:
        self._dates(record)
        self.n_records = 0
        self.accounts.append(Account(
            bank_code=record.digits(23, 26), bank_name=record.text(27, 41, "銀行名"),
            branch_code=record.digits(42, 44), branch_name=record.text(45, 59, "支店名"),
            account_type=record.digits(63, 63), account_number=record.digits(64, 73),
            holder=record.text(74, 113, "口座名"),
        ))

    def data(self, record: _Record) -> None:
        self.n_records += 1
        amount = record.num(25, 36, "取引金額")
        direction = record.cut(22, 22)
        if direction == b"2":
            self.n_out += 1
            self.sum_out += amount
            self.skipped += 1
            return
        if direction != b"1":
            raise StatementUnreadable(
                "入払区分が1（入金）でも2（出金）でもありません",
                f"deposit/withdrawal flag {direction!r} is neither 1 nor 2",
                record=record.number,
            )
        self.n_in += 1
        self.sum_in += amount
        account = self.accounts[-1]
        booked = record.day(10, 15, "勘定日", self.years, self.today)
        number = record.digits(2, 9)
        memo = " ".join(t for t in (record.text(160, 179, "摘要内容"),
                                     record.text(180, 199, "EDI情報")) if t)
        self.transfers.append(Transfer(
            key=f"zengin03:{account.label}:{booked.isoformat()}:{number}",
            source=self.source,
            booked_on=booked,
            value_date=record.maybe_day(16, 21, "預入・払出日", self.years, self.today),
            amount=amount,
            sender=record.text(82, 129, "振込依頼人名"),
            sender_code=record.digits(72, 81).lstrip("0"),
            sender_bank=record.text(130, 144, "仕向銀行名"),
            sender_branch=record.text(145, 159, "仕向店名"),
            memo=memo,
            line=record.number,
            account=account.label,
        ))

    def trailer(self, record: _Record) -> None:
        self._check(record, "入金件数", self.n_in, record.num(2, 7, "入金件数"))
        self._check(record, "入金額合計", self.sum_in, record.num(8, 20, "入金額合計"))
        self._check(record, "出金件数", self.n_out, record.num(21, 26, "出金件数"))
        self._check(record, "出金額合計", self.sum_out, record.num(27, 39, "出金額合計"))
        written = record.num(55, 61, "データレコード件数")
        self._check(record, "データレコード件数", self.n_records, written)

    def statement(self) -> Statement:
        return Statement(self.source, tuple(self.transfers), tuple(self.accounts),
                         self.created_on, self.period, (), self.skipped)


# --- CSV from a bank's web service ---------------------------------------------------

Column = str | int  # a header's text, or a 0-based index

DATE_HEADERS = ("勘定日", "取引日", "日付", "お取引日", "年月日", "お取扱日", "取扱日")
AMOUNT_HEADERS = ("入金金額(円)", "入金金額", "お預入金額", "預入金額", "お預り金額",
                  "入金額", "お預入額", "入金")
SENDER_HEADERS = ("振込依頼人名", "依頼人名", "摘要", "お取引内容", "取引内容", "内容",
                  "お取引先", "備考")
NUMBER_HEADERS = ("照会番号", "番号", "取引番号", "明細番号")


@dataclass(frozen=True, slots=True)
class CsvLayout:
    """Which columns hold what. ``None``: found by the usual header names above.

    A column is the header's text (compared after NFKC, spaces and ``（）`` folded) or
    a 0-based index (then ``header_row`` may be ``None``: no header)."""

    date: Column | None = None
    amount: Column | None = None  # money in
    sender: Column | None = None
    number: Column | None = None  # the bank's transaction number, if any
    header_row: int | None = -1  # -1: the first of the first 20 rows naming the columns


def decode_text(data: bytes) -> str:
    """UTF-8 with a BOM, UTF-8, else cp932 (Shift_JIS as Windows writes it)."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp932")
    except UnicodeDecodeError:
        raise StatementUnreadable(
            "文字コードがUTF-8でもShift_JIS（cp932）でもありません",
            "the text is neither UTF-8 nor Shift_JIS (cp932)",
        ) from None


def _fold(text: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))


_ERA = {"R": 2018, "令和": 2018, "H": 1988, "平成": 1988}
_DATE_PATTERNS = (
    re.compile(r"(?P<y>\d{4})\s*[/\-.年]\s*(?P<m>\d{1,2})\s*[/\-.月]\s*(?P<d>\d{1,2})(?!\d)"),
    re.compile(r"(?P<era>令和|平成|R|H)\s*(?P<y>\d{1,2}|元)\s*[/\-.年]\s*(?P<m>\d{1,2})\s*"
               r"[/\-.月]\s*(?P<d>\d{1,2})(?!\d)"),
    re.compile(r"(?P<y>\d{4})(?P<m>\d{2})(?P<d>\d{2})(?!\d)"),
)


def parse_day(text: str) -> date | None:
    """A day as banks' CSVs write it: 2026/05/03, 2026-5-3, 20260503, 2026年5月3日,
    令和8年5月3日, R08.05.03 (a time after it is ignored)."""
    folded = unicodedata.normalize("NFKC", text).strip().upper()
    for pattern in _DATE_PATTERNS:
        found = pattern.match(folded)
        if not found:
            continue
        parts = found.groupdict()
        era = parts.get("era")
        year = 1 if parts["y"] == "元" else int(parts["y"])
        if era:
            year += _ERA[era]
        try:
            return date(year, int(parts["m"]), int(parts["d"]))
        except ValueError:
            return None
    return None


def parse_yen(text: str) -> int | None:
    """¥1,234 / 1,234円 / １２３４ / 1234.00 → int; blank or ``-`` → None."""
    folded = _fold(text)
    for mark in ",¥\\円":
        folded = folded.replace(mark, "")
    found = re.fullmatch(r"(-?\d+)(?:\.0+)?", folded)
    return int(found.group(1)) if found else None


def _find(headers: Sequence[str], wanted: Column | None, names: Sequence[str]) -> int | None:
    folded = [_fold(h).replace("（", "(").replace("）", ")") for h in headers]
    if isinstance(wanted, int):
        return wanted
    candidates = [wanted] if wanted is not None else list(names)
    for name in candidates:
        key = _fold(name)
        if key in folded:
            return folded.index(key)
    return None


def read_csv(data: bytes, layout: CsvLayout | None = None) -> Statement:
    """The money-in rows of a bank's CSV export (see :class:`CsvLayout`). Rows without
    a date (totals, notes) and withdrawals are counted in ``skipped``; a row with money
    in and a date that cannot be read is refused, never dropped."""
    layout = layout or CsvLayout()
    reader = csv.reader(io.StringIO(decode_text(data), newline=""))
    rows: list[tuple[int, list[str]]] = []
    for row in reader:
        if any(c.strip() for c in row):
            rows.append((reader.line_num, row))
    if not rows:
        raise StatementUnreadable("ファイルが空です", "the file is empty")
    start, headers = _header([r for _, r in rows], layout)
    cols = {
        "date": _find(headers, layout.date, DATE_HEADERS),
        "amount": _find(headers, layout.amount, AMOUNT_HEADERS),
        "sender": _find(headers, layout.sender, SENDER_HEADERS),
    }
    missing = [k for k, v in cols.items() if v is None]
    if missing:
        ja = {"date": "日付", "amount": "入金金額", "sender": "摘要・振込依頼人名"}
        raise StatementUnreadable(
            f"{'・'.join(ja[k] for k in missing)}の列が見つかりません（列を指定してください）",
            f"no column for {', '.join(missing)} (name the columns in the CSV layout)",
        )
    number = _find(headers, layout.number, NUMBER_HEADERS)
    transfers: list[Transfer] = []
    skipped = 0
    for line, row in rows[start:]:

        def cell(index: int | None, row: list[str] = row) -> str:
            return row[index].strip() if index is not None and 0 <= index < len(row) else ""

        day_text = cell(cols["date"])
        day = parse_day(day_text)
        amount = parse_yen(cell(cols["amount"]))
        if amount is None or amount <= 0:
            skipped += 1  # a withdrawal, a zero or a total line
            continue
        if day is None:
            if not re.search(r"\d", unicodedata.normalize("NFKC", day_text)):
                skipped += 1  # 「合計」 and the like
                continue
            raise StatementUnreadable(
                f"{line}行目: 日付「{day_text}」を読めません",
                f"line {line}: cannot read the date {day_text!r}",
            )
        sender = cell(cols["sender"])
        ref = cell(number) or f"line{line}"
        transfers.append(Transfer(
            key=f"csv:{day.isoformat()}:{ref}:{amount}:{_fold(sender)}",
            source="csv", booked_on=day, amount=amount, sender=sender, line=line,
        ))
    return Statement("csv", tuple(transfers), skipped=skipped)


def _header(rows: Sequence[Sequence[str]], layout: CsvLayout) -> tuple[int, list[str]]:
    """The index of the first data row and the header's cells."""
    if layout.header_row is None:
        return 0, []
    if layout.header_row >= 0:
        return layout.header_row + 1, list(rows[layout.header_row])
    for i, row in enumerate(rows[:20]):
        if (_find(row, layout.date, DATE_HEADERS) is not None
                and _find(row, layout.amount, AMOUNT_HEADERS) is not None):
            return i + 1, list(row)
    raise StatementUnreadable(
        "見出しの行（日付・入金金額）が見つかりません",
        "no header row naming the date and money-in columns",
    )


# --- Which reader --------------------------------------------------------------------


def read_statement(
    data: bytes,
    *,
    csv_layout: CsvLayout | None = None,
    years: YearStyle = "wareki",
    today: date | None = None,
) -> Statement:
    """Any of the three kinds: a Zengin file when it starts like a Zengin header record
    (``1``, a two-digit kind, a code set; a first record of 200 bytes, or 120 for a
    transfer file, which is refused with its kind named), else a CSV."""
    if looks_like_zengin(data):
        return read_zengin(data, years=years, today=today)
    return read_csv(data, csv_layout)


def looks_like_zengin(data: bytes) -> bool:
    """Whether the file starts like a Zengin header record (``1``, a two-digit kind, a
    code set; a first record of 200 bytes, or 120 for a transfer file)."""
    first = data.lstrip(b"\xef\xbb\xbf").split(b"\n", 1)[0].rstrip(b"\r")
    return bool(re.match(rb"1\d\d[01]", first)) and (
        len(first) in (120, 200) or len(first) == len(data))
