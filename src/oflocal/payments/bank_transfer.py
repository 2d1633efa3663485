"""Bank transfer (振込) to the committee's own account: what small committees use today.

The supporter is shown the account, the amount, the deadline and a **reference**: a
few digits to type before their name in the 振込依頼人名 field (e.g. ``1234566 ﾔﾏﾀﾞ
ﾀﾛｳ``). The field holds 48 half-width characters at most and banks cut the end, so the
reference goes first. It is digits only (every ATM and net bank takes them, in kana or
alphanumeric mode) and ends with a Luhn check digit, so a typo is caught instead of
paying someone else's pledge. :func:`make_reference` gives 6 digits + 1 check digit; the
domain may use its own numbers (the crowdfunding pledge reference is the return's
number, a 5-digit serial and the same Luhn digit): :func:`match` takes whatever
references it is given.

Money is confirmed by the treasurer: marked by hand, or by importing the bank's
statement (``bank_statements``: Zengin 振込入金通知 / 入出金取引明細, or the bank's
CSV) and :func:`match` ing its transfers to the pledges waiting for one. A transfer is
matched when exactly one known reference is in its sender name (or EDI/摘要) and the
amount is the pledge's; anything else is listed with the reason, for a person to look
at. Pure functions, no database: the domain records the matches once (``Transfer.key``).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal

from oflocal.format import yen
from oflocal.payments.bank_statements import (
    CsvLayout,
    Statement,
    StatementUnreadable,
    Transfer,
    read_csv,
    read_statement,
    read_zengin,
)
from oflocal.payments.contract import (
    BankTransferInstructions,
    Method,
    PaymentProvider,
    PaymentRequest,
    PaymentStart,
)
from oflocal.settlement.banks import lookup_branch
from oflocal.settlement.kana import KanaError, to_zengin_kana
from oflocal.settlement.zengin import PAYEE_ACCOUNT_TYPES, account_problems

__all__ = [
    "BankTransferProvider",
    "CsvLayout",
    "ExpectedTransfer",
    "MatchResult",
    "Matched",
    "ReceivingAccount",
    "Statement",
    "StatementUnreadable",
    "Transfer",
    "Unmatched",
    "check_digit",
    "is_reference",
    "make_reference",
    "match",
    "read_csv",
    "read_statement",
    "read_zengin",
    "sender_name",
]

REFERENCE_BODY = 6  # digits before the check digit
SENDER_NAME_BYTES = 48  # 振込依頼人名 in the Zengin records


# --- The reference -------------------------------------------------------------------


def check_digit(body: str) -> int:
    """The Luhn check digit of a string of digits."""
    if not body.isascii() or not body.isdigit():
        raise ValueError("a reference body is digits")
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return (10 - total % 10) % 10


def make_reference(number: int) -> str:
    """``number`` (1…999,999, e.g. a pledge id) as 6 digits and a check digit."""
    if type(number) is not int or not 0 < number < 10**REFERENCE_BODY:
        raise ValueError(f"a reference number is 1 to {10**REFERENCE_BODY - 1}")
    body = f"{number:0{REFERENCE_BODY}d}"
    return body + str(check_digit(body))


def is_reference(text: str) -> bool:
    """Digits whose last one is the Luhn check digit of the others."""
    return (len(text) >= 2 and text.isascii() and text.isdigit()
            and check_digit(text[:-1]) == int(text[-1]))


def sender_name(reference: str, name: str) -> str:
    """What the supporter types as 振込依頼人名: the reference, a space, their name in
    half-width kana (``ｵﾅﾏｴ``, "your name", when it is not written in kana)."""
    try:
        kana = to_zengin_kana(name)
    except KanaError:
        kana = ""
    return f"{reference} {kana or 'ｵﾅﾏｴ'}"[:SENDER_NAME_BYTES]


# --- The provider --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReceivingAccount:
    """The committee's account supporters transfer to (checked like any account)."""

    bank_code: str
    branch_code: str
    account_type: int  # 1 普通, 2 当座, 4 貯蓄
    account_number: str  # 7 digits
    holder_kana: str  # 口座名義

    def __post_init__(self) -> None:
        problems = account_problems(
            self.bank_code, self.branch_code, self.account_type, self.account_number
        )
        try:
            holder = to_zengin_kana(self.holder_kana)
        except KanaError as e:
            raise ValueError(f"the account holder name: {e}") from None
        if problems:
            raise ValueError("; ".join(p.message_en for p in problems))
        if not holder:
            raise ValueError("the account holder name (kana) is missing")


class BankTransferProvider(PaymentProvider):
    """Shows the transfer instructions; confirmed by the treasurer or a statement."""

    name: ClassVar[str] = "bank_transfer"
    methods: ClassVar[frozenset[Method]] = frozenset({"bank_transfer"})

    def __init__(self, account: ReceivingAccount) -> None:
        self.account = account
        branch = lookup_branch(account.bank_code, account.branch_code)
        if branch is None:  # ReceivingAccount checked it; the data cannot disappear
            raise AssertionError("unknown branch")
        self._branch = branch

    def start(self, request: PaymentRequest) -> PaymentStart:
        if request.method != "bank_transfer":
            raise ValueError("the bank transfer provider takes bank transfers only")
        reference = request.reference or make_reference(request.pledge_id)
        kind_ja, kind_en = PAYEE_ACCOUNT_TYPES[self.account.account_type]
        instructions = BankTransferInstructions(
            bank_code=self.account.bank_code,
            bank_name=self._branch.bank.name,
            branch_code=self.account.branch_code,
            branch_name=self._branch.name,
            account_type=self.account.account_type,
            account_type_ja=kind_ja,
            account_type_en=kind_en,
            account_number=self.account.account_number,
            account_holder=to_zengin_kana(self.account.holder_kana),
            reference=reference,
            amount=request.amount,
            deadline=request.deadline,
            sender_name_example=sender_name(reference, request.supporter_name),
        )
        return PaymentStart(
            provider=self.name,
            method="bank_transfer",
            payment_id=f"bank:{reference}",
            amount=request.amount,
            deadline=request.deadline,
            status="pending",
            bank=instructions,
        )


# --- Matching a statement to the pledges ---------------------------------------------

Reason = Literal[
    "no_reference",
    "reference_mistyped",
    "reference_unknown",
    "several_references",
    "amount_differs",
    "duplicate",
]


@dataclass(frozen=True, slots=True)
class ExpectedTransfer:
    """A pledge's transfer as the domain expects it. ``paid``: already recorded as
    paid (another transfer for it is then a duplicate, not unknown)."""

    reference: str
    amount: int
    pledge_id: int
    paid: bool = False


@dataclass(frozen=True, slots=True)
class Matched:
    transfer: Transfer
    expected: ExpectedTransfer


@dataclass(frozen=True, slots=True)
class Unmatched:
    transfer: Transfer
    reason: Reason
    references: tuple[str, ...] = ()  # the reference-like numbers found in it
    expected: ExpectedTransfer | None = None  # the pledge its reference names
    suggestion: ExpectedTransfer | None = None  # mistyped: the one pledge it may mean

    @property
    def message_ja(self) -> str:
        refs = "・".join(self.references)
        t, e = self.transfer, self.expected
        if self.reason == "no_reference":
            return "振込依頼人名に受付番号が見つかりません。"
        if self.reason == "reference_mistyped":
            hint = f"（受付番号{self.suggestion.reference}の打ち間違いかもしれません）" if (
                self.suggestion) else ""
            return f"受付番号{refs}の確認数字が合いません。打ち間違いのようです{hint}。"
        if self.reason == "reference_unknown":
            return f"受付番号{refs}に当たる支援がありません。"
        if self.reason == "several_references":
            return f"受付番号が複数あります（{refs}）。1件ずつ確かめてください。"
        assert e is not None
        if self.reason == "amount_differs":
            return (f"金額が違います。振込 {yen(t.amount)}、受付番号{e.reference}の支援 "
                    f"{yen(e.amount)}。")
        return f"受付番号{e.reference}の支援はすでに入金済みです（二重の振込）。"

    @property
    def message_en(self) -> str:
        refs = ", ".join(self.references)
        t, e = self.transfer, self.expected
        if self.reason == "no_reference":
            return "No reference in the sender's name."
        if self.reason == "reference_mistyped":
            hint = f" (perhaps {self.suggestion.reference})" if self.suggestion else ""
            return f"The check digit of {refs} is wrong: a typo{hint}."
        if self.reason == "reference_unknown":
            return f"No pledge has the reference {refs}."
        if self.reason == "several_references":
            return f"Several references ({refs}); check them one by one."
        assert e is not None
        if self.reason == "amount_differs":
            return (f"The amount differs: {yen(t.amount)} transferred, {yen(e.amount)} "
                    f"pledged under {e.reference}.")
        return f"The pledge {e.reference} is already paid (a second transfer)."


@dataclass(frozen=True, slots=True)
class MatchResult:
    matched: tuple[Matched, ...]
    unmatched: tuple[Unmatched, ...]
    waiting: tuple[ExpectedTransfer, ...]  # unpaid pledges no transfer was found for


_DIGITS = re.compile(r"\d+")


def references_in(text: str) -> list[str]:
    """Runs of digits, full-width ones included, in the order they appear."""
    return _DIGITS.findall(unicodedata.normalize("NFKC", text))


def _one_typo_apart(a: str, b: str) -> bool:
    if len(a) != len(b) or a == b:
        return False
    diff = [i for i in range(len(a)) if a[i] != b[i]]
    if len(diff) == 1:
        return True
    return (len(diff) == 2 and diff[1] == diff[0] + 1
            and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]])


def match(transfers: Iterable[Transfer], expected: Sequence[ExpectedTransfer]) -> MatchResult:
    """Match transfers to pledges by reference and amount (see the module doc).

    Transfers are taken in the order given (a statement's order: oldest first): when
    two carry the same reference and amount, the first pays the pledge and the second is
    a ``duplicate``. Each transfer ends up in exactly one of ``matched``/``unmatched``.
    """
    known: dict[str, ExpectedTransfer] = {}
    for e in expected:
        if e.reference in known:
            raise ValueError(f"two pledges have the reference {e.reference}")
        known[e.reference] = e
    lengths = {len(r) for r in known} or {REFERENCE_BODY + 1}
    taken: set[str] = set()
    matched: list[Matched] = []
    unmatched: list[Unmatched] = []
    for transfer in transfers:
        found = list(dict.fromkeys(
            r for r in references_in(f"{transfer.sender} {transfer.memo}") if len(r) in lengths
        ))
        hits = [r for r in found if r in known]
        if len(hits) > 1:
            unmatched.append(Unmatched(transfer, "several_references", tuple(hits)))
            continue
        if hits:
            e = known[hits[0]]
            if e.paid or e.reference in taken:
                unmatched.append(Unmatched(transfer, "duplicate", tuple(hits), e))
            elif transfer.amount != e.amount:
                unmatched.append(Unmatched(transfer, "amount_differs", tuple(hits), e))
            else:
                taken.add(e.reference)
                matched.append(Matched(transfer, e))
            continue
        if any(is_reference(r) for r in found):
            unmatched.append(Unmatched(transfer, "reference_unknown", tuple(found)))
        elif found:
            near = [e for r in found for e in known.values()
                    if _one_typo_apart(r, e.reference) and e.amount == transfer.amount
                    and not e.paid]
            unmatched.append(Unmatched(transfer, "reference_mistyped", tuple(found),
                                       suggestion=near[0] if len(near) == 1 else None))
        else:
            unmatched.append(Unmatched(transfer, "no_reference"))
    waiting = tuple(e for e in expected if not e.paid and e.reference not in taken)
    return MatchResult(tuple(matched), tuple(unmatched), waiting)
