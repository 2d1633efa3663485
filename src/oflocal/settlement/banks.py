"""Bank and branch codes, checked against the ``zengin-code`` package's data.

The data (about 1,150 banks and their branches) is loaded on first use only: importing
``zengin_code`` parses some 8 MB of JSON.  Its kana are full-width with a full-width
``－``; we hand out Zengin half-width kana (see :mod:`oflocal.settlement.kana`).

Japan Post Bank (ゆうちょ銀行, 9900): transfers from other banks use the branch code
and 7-digit number printed as 「振込用の店名・預金種目・口座番号」, not the 記号・番号.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

from oflocal.settlement.kana import to_zengin_kana

_BANK_CODE = re.compile(r"[0-9]{4}")
_BRANCH_CODE = re.compile(r"[0-9]{3}")


@dataclass(frozen=True, slots=True)
class BankInfo:
    code: str
    name: str  # as people write it, e.g. みずほ
    name_kana: str  # Zengin half-width kana, e.g. ﾐｽﾞﾎ


@dataclass(frozen=True, slots=True)
class BranchInfo:
    bank: BankInfo
    code: str
    name: str
    name_kana: str


@functools.cache
def _banks() -> dict[str, Any]:
    import zengin_code  # deferred: see module docstring

    banks: dict[str, Any] = zengin_code.Bank.all
    return banks


def bank_data_version() -> str:
    """``zengin-code``'s version; its last part is the date of the bank list."""
    import zengin_code

    return str(zengin_code.__version__)


def is_bank_code(code: str) -> bool:
    return _BANK_CODE.fullmatch(code) is not None


def is_branch_code(code: str) -> bool:
    return _BRANCH_CODE.fullmatch(code) is not None


@functools.lru_cache(maxsize=4096)  # bounded: codes come from user input
def lookup_bank(bank_code: str) -> BankInfo | None:
    """The bank with this 4-digit code, or None if there is none."""
    bank = _banks().get(bank_code) if is_bank_code(bank_code) else None
    if bank is None:
        return None
    return BankInfo(code=bank.code, name=bank.name, name_kana=to_zengin_kana(bank.kana))


@functools.lru_cache(maxsize=4096)
def lookup_branch(bank_code: str, branch_code: str) -> BranchInfo | None:
    """The branch with this 3-digit code at this bank, or None if either is unknown."""
    bank = lookup_bank(bank_code)
    if bank is None or not is_branch_code(branch_code):
        return None
    branch = _banks()[bank_code].branches.get(branch_code)
    if branch is None:
        return None
    return BranchInfo(
        bank=bank, code=branch.code, name=branch.name, name_kana=to_zengin_kana(branch.kana)
    )


@dataclass(frozen=True, slots=True)
class BankChoice:
    """One bank (branch code and name empty) or one branch, as a search offers it."""

    bank_code: str
    bank_name: str
    branch_code: str
    branch_name: str


def _normal(text: str) -> str:
    """Full-width digits and letters to half-width; case and spaces ignored."""
    import unicodedata

    return unicodedata.normalize("NFKC", text).replace(" ", "").lower()


@functools.cache
def _search_index() -> tuple[list[tuple[str, BankChoice]], list[tuple[str, BankChoice]]]:
    """(banks, branches), each with its searchable text, built once per process."""
    banks, branches = [], []
    for bank in _banks().values():
        banks.append(("|".join(_normal(t) for t in (bank.code, bank.name, bank.kana, bank.hira)),
                      BankChoice(bank.code, bank.name, "", "")))
        for branch in bank.branches.values():
            text = "|".join(_normal(t) for t in (branch.name, branch.kana, branch.hira))
            branches.append((text, BankChoice(bank.code, bank.name, branch.code, branch.name)))
    return banks, branches


def search_banks(query: str, limit: int = 30) -> list[BankChoice]:
    """Banks, then branches, whose code, name, kana or hiragana contain ``query``:
    typing 「高岡」 offers 高岡信用金庫 and every bank's 高岡支店."""
    wanted = _normal(query)
    if not wanted:
        return []
    banks, branches = _search_index()
    found = [choice for text, choice in banks if wanted in text]
    found += [choice for text, choice in branches if wanted in text][:limit]
    return found[:limit]
