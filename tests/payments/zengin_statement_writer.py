"""An independent writer of Zengin bank statements, used only by the tests.

Written from the published layouts (全銀協: 振込入金通知 種別 01, 入出金取引明細 種別 03;
200-byte records, JIS X 0201 / cp932), field by field with their byte positions, without
looking at the reader's code, so a shifted field in the reader shows up here. Dates are
written in the Japanese era (令和 = year − 2018) unless ``western`` is set.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date


def _era(day: date | None, western: bool = False) -> str:
    if day is None:
        return "000000"
    year = day.year - 2000 if western else day.year - 2018
    return f"{year:02d}{day.month:02d}{day.day:02d}"


class Record:
    """A 200-byte record filled field by field at 1-based inclusive positions."""

    def __init__(self) -> None:
        self.buf = bytearray(b" " * 200)

    def n(self, first: int, last: int, value: int | str) -> Record:
        text = str(value).rjust(last - first + 1, "0").encode("ascii")
        assert len(text) == last - first + 1, (first, last, value)
        self.buf[first - 1 : last] = text
        return self

    def c(self, first: int, last: int, value: str) -> Record:
        data = value.encode("cp932")
        width = last - first + 1
        assert len(data) <= width, (first, last, value)
        self.buf[first - 1 : last] = data.ljust(width, b" ")
        return self

    def bytes(self) -> bytes:
        assert len(self.buf) == 200
        return bytes(self.buf)


@dataclass
class Account:
    bank_code: str = "0001"
    bank_name: str = "ﾐｽﾞﾎ"
    branch_code: str = "001"
    branch_name: str = "ﾄｳｷﾖｳｴｲｷﾞﾖｳﾌﾞ"
    account_type: int = 1
    account_number: str = "1234567"
    holder: str = "ｵ-ﾌﾟﾝﾌｱｸﾄﾘ-ｼﾞﾂｺｳｲｲﾝｶｲ"


@dataclass
class Deposit:
    """One incoming transfer in a 振込入金通知."""

    amount: int
    sender: str  # 振込依頼人名, half-width kana
    booked: date = date(2026, 5, 7)
    number: int = 1  # 照会番号
    value_date: date | None = None
    sender_code: str = ""
    sender_bank: str = "ﾐﾂﾋﾞｼﾕ-ｴﾌｼﾞｴｲ"
    sender_branch: str = "ﾎﾝﾃﾝ"
    cancelled: bool = False
    edi: str = ""


@dataclass
class Movement:
    """One line of a 入出金取引明細."""

    amount: int
    sender: str = ""
    incoming: bool = True
    kind: str = "11"  # 11 振込, 10 現金, 14 振替 ...
    booked: date = date(2026, 5, 7)
    number: int = 1  # 照会番号
    memo: str = ""  # 摘要内容
    edi: str = ""
    sender_code: str = ""


@dataclass
class Group:
    account: Account = field(default_factory=Account)
    created: date = date(2026, 5, 8)
    start: date = date(2026, 5, 1)
    end: date = date(2026, 5, 7)


def deposit_notice(groups: list[tuple[Group, list[Deposit]]], *, newline: bytes = b"\r\n",
                   western: bool = False, trailer_fix: tuple[int, int] = (0, 0)) -> bytes:
    """振込入金通知 (01). ``trailer_fix`` adds to the trailer's count and total (a
    damaged file)."""
    records: list[bytes] = []
    for group, deposits in groups:
        a = group.account
        records.append(
            Record().n(1, 1, 1).n(2, 3, "01").n(4, 4, 0)
            .n(5, 10, _era(group.created, western)).n(11, 16, _era(group.start, western))
            .n(17, 22, _era(group.end, western))
            .n(23, 26, a.bank_code).c(27, 41, a.bank_name)
            .n(42, 44, a.branch_code).c(45, 59, a.branch_name)
            .n(60, 60, a.account_type).n(61, 67, a.account_number).c(68, 107, a.holder)
            .bytes()
        )
        for d in deposits:
            records.append(
                Record().n(1, 1, 2).n(2, 7, d.number).n(8, 13, _era(d.booked, western))
                .n(14, 19, _era(d.value_date or d.booked, western))
                .n(20, 29, d.amount).n(30, 39, 0).n(40, 49, d.sender_code or 0)
                .c(50, 97, d.sender).c(98, 112, d.sender_bank).c(113, 127, d.sender_branch)
                .c(128, 128, "1" if d.cancelled else " ").c(129, 148, d.edi)
                .bytes()
            )
        normal = [d for d in deposits if not d.cancelled]
        cancelled = [d for d in deposits if d.cancelled]
        records.append(
            Record().n(1, 1, 8).n(2, 7, len(normal) + trailer_fix[0])
            .n(8, 19, sum(d.amount for d in normal) + trailer_fix[1])
            .n(20, 25, len(cancelled)).n(26, 37, sum(d.amount for d in cancelled))
            .bytes()
        )
    records.append(Record().n(1, 1, 9).bytes())
    return b"".join(r + newline for r in records)


def transactions(groups: list[tuple[Group, list[Movement]]], *, newline: bytes = b"",
                 western: bool = False, balance_before: int = 1_000_000) -> bytes:
    """入出金取引明細 (03)."""
    records: list[bytes] = []
    for group, lines in groups:
        a = group.account
        records.append(
            Record().n(1, 1, 1).n(2, 3, "03").n(4, 4, 0)
            .n(5, 10, _era(group.created, western)).n(11, 16, _era(group.start, western))
            .n(17, 22, _era(group.end, western))
            .n(23, 26, a.bank_code).c(27, 41, a.bank_name)
            .n(42, 44, a.branch_code).c(45, 59, a.branch_name)
            .n(60, 62, 0).n(63, 63, a.account_type).n(64, 73, a.account_number)
            .c(74, 113, a.holder).n(114, 114, 0).n(115, 115, 1).n(116, 129, balance_before)
            .bytes()
        )
        for m in lines:
            records.append(
                Record().n(1, 1, 2).n(2, 9, m.number).n(10, 15, _era(m.booked, western))
                .n(16, 21, _era(m.booked, western)).n(22, 22, 1 if m.incoming else 2)
                .n(23, 24, m.kind).n(25, 36, m.amount).n(37, 48, 0).n(49, 54, 0)
                .n(55, 60, 0).n(61, 61, 0).n(62, 68, 0).n(69, 71, 0)
                .n(72, 81, m.sender_code or 0).c(82, 129, m.sender)
                .c(130, 144, "ｼﾝｷﾝ" if m.sender else "").c(145, 159, "")
                .c(160, 179, m.memo).c(180, 199, m.edi)
                .bytes()
            )
        ins = [m for m in lines if m.incoming]
        outs = [m for m in lines if not m.incoming]
        after = balance_before + sum(m.amount for m in ins) - sum(m.amount for m in outs)
        records.append(
            Record().n(1, 1, 8).n(2, 7, len(ins)).n(8, 20, sum(m.amount for m in ins))
            .n(21, 26, len(outs)).n(27, 39, sum(m.amount for m in outs)).n(40, 40, 0)
            .n(41, 54, after).n(55, 61, len(lines))
            .bytes()
        )
    records.append(Record().n(1, 1, 9).bytes())
    return b"".join(r + newline for r in records)
