"""Importing the workshop list: 57 firms from an XLSX file, bad rows named and nothing
written, the same file again updates by code, a Shift_JIS CSV from the command line."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook
from sqlalchemy import func, select

from oflocal.db.engine import Database
from oflocal.errors import Refusal
from oflocal.events import changes
from oflocal.events.models import Event, Workshop
from oflocal.events.workshop_import import apply_import, plan_import, read_rows

HEADER = ["コード", "工房名", "フリガナ", "業種", "銀行コード", "支店コード", "預金種目",
          "口座番号", "口座名義", "登録番号"]


def row(n: int, **changed: str) -> list[str]:
    values = {"コード": f"F{n:02d}", "工房名": f"工房{n}", "フリガナ": f"コウボウ{n}",
              "業種": "木工", "銀行コード": "0144", "支店コード": "201", "預金種目": "1",
              "口座番号": f"{1000 + n}", "口座名義": f"コウボウ{n}", "登録番号": ""}
    values.update(changed)
    return [values[h] for h in HEADER]


def xlsx(rows: list[list[str]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(HEADER)
    for r in rows:
        sheet.append(r)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


@pytest.fixture
def event_id(db: Database) -> int:
    from datetime import date

    return changes.new_event(db, slug="imp", name="取り込み", committee_name="委員会",
                             starts_on=date(2026, 10, 1), ends_on=date(2026, 10, 3)).id


def count(db: Database) -> int:
    with db.read() as session:
        return int(session.execute(select(func.count()).select_from(Workshop)).scalar_one())


def test_fifty_seven_firms_from_xlsx_then_again_by_code(db: Database, event_id: int) -> None:
    rows = list(read_rows("firms.xlsx", xlsx([row(n) for n in range(1, 58)])))
    plan = apply_import(db, event_id, rows)
    assert (plan.adds, plan.updates, plan.problems) == (57, 0, [])
    assert count(db) == 57
    with db.read() as session:
        first = session.execute(select(Workshop).where(Workshop.code == "F01")).scalar_one()
        assert (first.account_number, first.bank_code) == ("0001001", "0144")
    renamed = list(read_rows("firms.xlsx", xlsx(
        [row(n, 工房名=f"新工房{n}") for n in range(1, 58)])))
    again = apply_import(db, event_id, renamed)
    assert (again.adds, again.updates) == (0, 57) and count(db) == 57
    with db.read() as session:
        assert session.execute(select(Workshop.name).where(Workshop.code == "F57")
                               ).scalar_one() == "新工房57"


def test_every_bad_row_is_named_and_nothing_is_written(db: Database, event_id: int) -> None:
    rows = list(read_rows("firms.xlsx", xlsx([
        row(1),
        row(2, 工房名=""),
        row(3, フリガナ="yamada木工"),
        row(4, 銀行コード="9998"),
        row(5, コード="F01"),
        row(6, 登録番号="T1180301018772"),
    ])))
    with db.read() as session:
        plan = plan_import(session, event_id, rows)
    named = {(p.row, p.field) for p in plan.problems}
    assert named == {(3, "name"), (4, "name_kana"), (5, "bank_code"), (6, "code")}
    # The check digit fails: a warning in the preview (a sole proprietor's number need
    # not follow the corporate rule, DOMAIN-JAPAN.md); applying the import confirms it.
    (slip,) = plan.warnings
    assert slip.row == 7 and slip.field == "invoice_number"
    assert "T1180301018772" in slip.message_ja and "check digit" in slip.message_en
    assert all(p.message_ja and p.message_en for p in plan.problems)
    with pytest.raises(Refusal) as refused:
        apply_import(db, event_id, rows)
    assert refused.value.code == "workshop.import_invalid" and count(db) == 0


def test_applying_confirms_a_number_the_preview_warned_about(db: Database,
                                                            event_id: int) -> None:
    rows = list(read_rows("firms.xlsx", xlsx([row(1, 登録番号="T1180301018772"), row(2)])))
    plan = apply_import(db, event_id, rows)
    assert (plan.adds, plan.problems, [w.row for w in plan.warnings]) == (2, [], [2])
    with db.read() as session:
        assert session.execute(select(Workshop.invoice_number).where(Workshop.code == "F01")
                               ).scalar_one() == "T1180301018772"


BAD = {"工房名": "", "フリガナ": "abc漢字", "銀行コード": "12", "支店コード": "999",
       "預金種目": "7", "口座名義": "名義", "登録番号": "T12"}


@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_any_broken_field_is_named_on_its_row(db: Database, event_id: int, data: Any) -> None:
    broken = data.draw(st.integers(1, 8), label="row")
    column = data.draw(st.sampled_from(sorted(BAD)), label="column")
    rows = [row(n, **({column: BAD[column]} if n == broken else {})) for n in range(1, 9)]
    parsed = list(read_rows("firms.xlsx", xlsx(rows)))
    with db.read() as session:
        plan = plan_import(session, event_id, parsed)
    assert [p.row for p in plan.problems] == [broken + 1]
    with pytest.raises(Refusal):
        apply_import(db, event_id, parsed)
    assert count(db) == 0


def test_a_shift_jis_csv_from_the_command_line(
        db: Database, db_url: str, event_id: int, tmp_path: Path,
        run_cli) -> None:  # type: ignore[no-untyped-def]
    lines = [",".join(HEADER)] + [",".join(row(n)) for n in range(1, 4)]
    path = tmp_path / "工房一覧.csv"
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("cp932"))
    env = {**os.environ, "OFLOCAL_DATABASE_URL": db_url, "OFLOCAL_DATA_DIR": str(tmp_path)}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-c", "from oflocal.cli import main; main()",
                               "workshop", "import", str(path), "--event", "imp", *args],
                              env=env, capture_output=True, text=True, timeout=120, check=False)

    dry = cli("--dry-run")  # in a real process, as a script runs it
    assert dry.returncode == 0 and "3 to add" in dry.stdout and count(db) == 0
    done = run_cli("workshop", "import", str(path), "--event", "imp")  # in process: faster
    assert done.exit_code == 0 and "saved" in done.stdout and count(db) == 3
    with db.read() as session:
        assert session.execute(select(Event.slug)).scalar_one() == "imp"
