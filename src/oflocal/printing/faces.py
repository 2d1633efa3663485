"""What the print engine is asked to print: plain values, no database.

The caller (the vouchers service) turns its rows into these faces; the print engine
never looks anything up.  Amounts are integer yen, dates are calendar dates in
Asia/Tokyo.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class WorkshopFace:
    name: str
    name_kana: str
    craft: str
    introduction: str
    image: bytes | None = None  # PNG or JPEG bytes


@dataclass(frozen=True)
class TicketFace:
    serial: int
    code: str  # the plain 20-character code; printed grouped and as the QR payload
    denomination: int  # yen
    workshop: WorkshopFace | None  # the workshop this ticket features, if any


@dataclass(frozen=True)
class BookletFace:
    serial: int
    code: str
    tickets: tuple[TicketFace, ...]


@dataclass(frozen=True)
class ProgrammeFace:
    event_name: str
    committee_name: str
    programme_name: str
    price: int  # what a buyer pays for one booklet
    face_value: int  # what the booklet is worth at the workshops
    issue_date: date  # 発行日
    valid_from: date  # 使用開始
    valid_until: date  # 使用期限: the last day of use
    workshops: tuple[WorkshopFace, ...]  # listed on the cover
    sample: bool = False  # print 「見本 SAMPLE」 across every ticket and cover
