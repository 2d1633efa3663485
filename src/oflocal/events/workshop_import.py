"""The workshop list from a spreadsheet: CSV (UTF-8 or Shift_JIS) or XLSX, all or nothing.

A committee of 57 firms does not type 57 forms. The file has one workshop a row under a
header row (Japanese or English column names, see :data:`COLUMNS`). :func:`plan_import`
reads it and checks every row with the same rules as the form (katakana, the bank
account as the transfer file needs it and a bank and branch the zengin-code data knows,
invoice number), and also: a code twice in the file. Each problem names its row and
field in plain words. Nothing is written until :func:`apply_import` is called with a
plan that has no problem; importing the same file again updates the workshops by their
code.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from oflocal.db.engine import Database
from oflocal.errors import Refusal
from oflocal.events.invoice import invoice_number_warning
from oflocal.events.models import Workshop
from oflocal.events.setup import (
    BANK_FIELDS,
    WorkshopDetails,
    add_workshop,
    check_workshop,
    update_workshop,
)

# field → the column names a committee may use (the template's first).
COLUMNS: dict[str, tuple[str, ...]] = {
    "code": ("コード", "code"),
    "name": ("工房名", "name"),
    "name_kana": ("フリガナ", "name_kana"),
    "craft": ("業種", "craft"),
    "tools": ("道具", "tools"),
    "introduction": ("紹介文", "introduction"),
    "contact": ("連絡先", "contact"),
    "invoice_number": ("登録番号", "invoice_number"),
    "participating": ("参加", "participating"),
    "bank_code": ("銀行コード", "bank_code"),
    "branch_code": ("支店コード", "branch_code"),
    "account_type": ("預金種目", "account_type"),
    "account_number": ("口座番号", "account_number"),
    "account_holder_kana": ("口座名義", "account_holder_kana"),
}
REQUIRED = ("code", "name", "name_kana")
NO = {"0", "no", "false", "いいえ", "不参加", "×", "x"}


@dataclass(frozen=True)
class Problem:
    row: int  # the spreadsheet's row number (the header is row 1)
    field: str
    message_ja: str
    message_en: str


@dataclass
class ImportPlan:
    rows: list[tuple[int, dict[str, Any]]] = field(default_factory=list)  # (row, details)
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    adds: int = 0
    updates: int = 0


def read_rows(filename: str, data: bytes) -> Iterator[dict[str, str]]:
    """The rows of a CSV or XLSX file as {header: text}, empty rows skipped."""
    if filename.lower().endswith(".xlsx"):
        from openpyxl import load_workbook  # only when a spreadsheet is imported

        sheet = load_workbook(io.BytesIO(data), read_only=True, data_only=True).worksheets[0]
        values = [["" if v is None else str(v).strip() for v in row]
                  for row in sheet.iter_rows(values_only=True)]
    else:
        for encoding in ("utf-8-sig", "cp932"):
            try:
                text = data.decode(encoding)
                break
            except UnicodeDecodeError:
                continue
        else:
            raise Refusal("request.invalid", detail="the file is neither UTF-8 nor Shift_JIS")
        values = [[cell.strip() for cell in row] for row in csv.reader(io.StringIO(text))]
    if not values:
        return
    header = values[0]
    for row in values[1:]:
        if any(row):
            yield dict(zip(header, row, strict=False))


def _columns(header: list[str]) -> dict[str, str]:
    """field → the file's column for it."""
    found = {}
    for name, aliases in COLUMNS.items():
        for alias in aliases:
            if alias in header:
                found[name] = alias
                break
    return found


def _details(row: dict[str, str], columns: dict[str, str]) -> dict[str, Any]:
    value = {name: row.get(column, "").strip() for name, column in columns.items()}
    details: dict[str, Any] = {name: value.get(name, "") for name in
                               ("name", "name_kana", "craft", "tools", "introduction",
                                "contact")}
    details["code"] = value.get("code", "").upper()
    details["invoice_number"] = value.get("invoice_number", "").upper() or None
    details["participating"] = value.get("participating", "").lower() not in NO
    bank: dict[str, Any] = {name: value.get(name, "") for name in BANK_FIELDS}
    if not any(v for k, v in bank.items() if k != "account_type"):
        details.update(dict.fromkeys(BANK_FIELDS))
    else:
        kind = bank["account_type"] or "1"
        bank["account_type"] = int(kind) if kind.isdigit() else -1
        bank["account_number"] = bank["account_number"].zfill(7)
        details.update(bank)
    return details


def plan_import(session: Session, event_id: int, rows: list[dict[str, str]]) -> ImportPlan:
    plan = ImportPlan()
    if not rows:
        plan.problems.append(Problem(1, "", "工房の行がありません。", "The file has no workshop."))
        return plan
    columns = _columns(list(rows[0]))
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        names = "、".join(COLUMNS[c][0] for c in missing)
        plan.problems.append(Problem(1, ",".join(missing), f"列がありません：{names}",
                                     f"Missing columns: {', '.join(missing)}"))
        return plan
    existing: dict[str, str | None] = {  # code → the invoice number stored
        code: number for code, number in session.execute(
            select(Workshop.code, Workshop.invoice_number).where(Workshop.event_id == event_id))}
    seen: dict[str, int] = {}
    for number, row in enumerate(rows, start=2):
        details = _details(row, columns)
        problems = _row_problems(number, details, seen, existing.get(details["code"]))
        plan.problems += problems
        if not problems:
            plan.rows.append((number, details))
            if details["code"] in existing:
                plan.updates += 1
            else:
                plan.adds += 1
            if warning := invoice_number_warning(details["invoice_number"]):
                plan.warnings.append(Problem(number, "invoice_number", warning, warning))
    return plan


def _row_problems(number: int, details: dict[str, Any], seen: dict[str, int],
                  stored_invoice: str | None = None) -> list[Problem]:
    found: list[Problem] = []
    code = details["code"]
    for name in REQUIRED:
        if not details[name]:
            label = COLUMNS[name][0]
            found.append(Problem(number, name, f"{label}が空です。", f"{name} is empty."))
    if code and code in seen:
        found.append(Problem(number, "code", f"コード「{code}」は{seen[code]}行目と同じです。",
                             f"Code {code} is also on row {seen[code]}."))
    seen.setdefault(code, number)
    if found:
        return found
    try:
        # A failed check digit is a warning here (the preview lists it); applying confirms.
        check_workshop(details, stored_invoice, confirm_invoice_number=True)
    except Refusal as refusal:
        default = "invoice_number" if "invoice_number" in refusal.code else ""
        field = str(refusal.facts.get("field", default)).removeprefix("bank.")  # its column
        return [Problem(number, field, refusal.message("ja"),
                        refusal.message("en"))]
    return found


def apply_import(db: Database, event_id: int, rows: list[dict[str, str]]) -> ImportPlan:
    """Check again and write every row in one transaction, or refuse and write nothing."""
    with db.write() as session:
        plan = plan_import(session, event_id, rows)
        if plan.problems:
            raise Refusal("workshop.import_invalid", count=len(plan.problems))
        by_code = {w.code: w for w in session.execute(
            select(Workshop).where(Workshop.event_id == event_id)).scalars()}
        for _number, details in plan.rows:
            participating = details.pop("participating")
            code = details.pop("code")
            if code in by_code:
                workshop = update_workshop(session, by_code[code].id, details,
                                           confirm_invoice_number=True)
            else:
                workshop = add_workshop(session, event_id, WorkshopDetails(code=code, **details),
                                        confirm_invoice_number=True)
            workshop.participating = participating
        return plan


def template_xlsx() -> bytes:
    """The spreadsheet to fill in: the header row (Japanese names) and one example."""
    import xlsxwriter

    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True})
    sheet = book.add_worksheet("工房")
    sheet.write_row(0, 0, [aliases[0] for aliases in COLUMNS.values()])
    sheet.write_row(1, 0, ["W01", "山田木工所", "ヤマダモクコウシヨ", "木工", "ろくろ、鉋",
                           "ろくろで器を挽く工房です。", "0766-00-0000", "", "1", "0144", "201",
                           "1", "1234567", "ヤマダモクコウシヨ"])
    sheet.set_column(0, len(COLUMNS) - 1, 14)
    book.close()
    return out.getvalue()
