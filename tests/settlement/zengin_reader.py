"""An independent reader for Zengin 総合振込 files, used only by the tests.

Written from the byte positions in docs DOMAIN-JAPAN.md (1-based, inclusive), without
looking at the writer's constants, so a shifted field in the writer shows up here.
It is strict: a file that a careful bank would refuse raises ReaderError.
"""

from __future__ import annotations

from dataclasses import dataclass

# Bytes a Zengin text field may hold: space ( ) - . 0-9 A-Z ｦ ｱ..ﾝ ﾞ ﾟ.
TEXT_BYTES = (
    frozenset(b" ()-.0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ") | {0xA6} | set(range(0xB1, 0xE0))
)


class ReaderError(ValueError):
    pass


def _cut(record: bytes, first: int, last: int) -> bytes:
    return record[first - 1 : last]


def _digits(record: bytes, first: int, last: int, what: str) -> str:
    raw = _cut(record, first, last)
    if not raw.isdigit():
        raise ReaderError(f"{what} at {first}-{last} is not digits: {raw!r}")
    return raw.decode("ascii")


def _text(record: bytes, first: int, last: int, what: str) -> str:
    raw = _cut(record, first, last)
    bad = set(raw) - TEXT_BYTES
    if bad:
        raise ReaderError(f"{what} at {first}-{last} has bytes {sorted(bad)}: {raw!r}")
    return raw.decode("shift_jis").rstrip(" ")


def _blank(record: bytes, first: int, last: int) -> None:
    if _cut(record, first, last).strip(b" "):
        raise ReaderError(f"{first}-{last} should be blank: {record!r}")


@dataclass(frozen=True)
class Header:
    kind: str
    code_set: str
    requester_code: str
    requester_name: str
    transfer_mmdd: str
    bank_code: str
    bank_name: str
    branch_code: str
    branch_name: str
    account_type: str
    account_number: str


@dataclass(frozen=True)
class DataRecord:
    bank_code: str
    bank_name: str
    branch_code: str
    branch_name: str
    clearing_house: str
    account_type: str
    account_number: str
    payee_name: str
    amount: int
    new_payee_code: str
    customer_code_1: str
    customer_code_2: str
    transfer_kind: str
    edi_flag: str


@dataclass(frozen=True)
class ZenginFile:
    header: Header
    data: list[DataRecord]
    count: int
    total: int


def _header(r: bytes) -> Header:
    _blank(r, 104, 120)
    return Header(
        kind=_digits(r, 2, 3, "kind"),
        code_set=_digits(r, 4, 4, "code set"),
        requester_code=_digits(r, 5, 14, "requester code"),
        requester_name=_text(r, 15, 54, "requester name"),
        transfer_mmdd=_digits(r, 55, 58, "transfer date"),
        bank_code=_digits(r, 59, 62, "bank code"),
        bank_name=_text(r, 63, 77, "bank name"),
        branch_code=_digits(r, 78, 80, "branch code"),
        branch_name=_text(r, 81, 95, "branch name"),
        account_type=_digits(r, 96, 96, "account type"),
        account_number=_digits(r, 97, 103, "account number"),
    )


def _data(r: bytes) -> DataRecord:
    _blank(r, 114, 120)
    clearing = _cut(r, 39, 42)
    if clearing.strip(b" ") and not clearing.isdigit():
        raise ReaderError(f"clearing house number {clearing!r}")
    return DataRecord(
        bank_code=_digits(r, 2, 5, "bank code"),
        bank_name=_text(r, 6, 20, "bank name"),
        branch_code=_digits(r, 21, 23, "branch code"),
        branch_name=_text(r, 24, 38, "branch name"),
        clearing_house=clearing.decode("ascii"),
        account_type=_digits(r, 43, 43, "account type"),
        account_number=_digits(r, 44, 50, "account number"),
        payee_name=_text(r, 51, 80, "payee name"),
        amount=int(_digits(r, 81, 90, "amount")),
        new_payee_code=_digits(r, 91, 91, "new-payee code"),
        customer_code_1=_text(r, 92, 101, "customer code 1"),
        customer_code_2=_text(r, 102, 111, "customer code 2"),
        transfer_kind=_cut(r, 112, 112).decode("ascii"),
        edi_flag=_cut(r, 113, 113).decode("ascii"),
    )


def read(blob: bytes) -> ZenginFile:
    """Parse a whole file whose records are each followed by CR LF."""
    if not blob.endswith(b"\r\n"):
        raise ReaderError("the file does not end with CR LF")
    records = blob[:-2].split(b"\r\n")
    for i, record in enumerate(records):
        if len(record) != 120:
            raise ReaderError(f"record {i + 1} has {len(record)} bytes")
        if b"\r" in record or b"\n" in record:
            raise ReaderError(f"record {i + 1} contains a stray CR or LF")
    types = b"".join(r[:1] for r in records)
    if len(types) < 4 or types[:1] != b"1" or types[-2:] != b"89" or types[1:-2].strip(b"2"):
        raise ReaderError(f"record order {types!r} is not 1 2* 8 9")
    trailer, end = records[-2], records[-1]
    _blank(trailer, 20, 120)
    _blank(end, 2, 120)
    return ZenginFile(
        header=_header(records[0]),
        data=[_data(r) for r in records[1:-2]],
        count=int(_digits(trailer, 2, 7, "record count")),
        total=int(_digits(trailer, 8, 19, "total amount")),
    )
