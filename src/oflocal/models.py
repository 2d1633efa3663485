"""Imports every capability's models so the metadata (and alembic) sees all tables."""

from oflocal.auth.models import ApiToken, StaffUser, WebSession
from oflocal.db.base import Base
from oflocal.events.models import Event, Workshop
from oflocal.idempotency.models import IdempotencyRecord
from oflocal.jobs.models import Job, JobAttempt
from oflocal.ledger.models import Account, JournalEntry, Posting
from oflocal.outbox.models import MailMessage
from oflocal.printing.models import PrintJob
from oflocal.settlement.models import (
    SettlementCorrection,
    SettlementLine,
    SettlementPeriod,
    SettlementTally,
)
from oflocal.vouchers.models import Booklet, PrintBatch, Programme, Redemption, Sale, Ticket

__all__ = [
    "Account",
    "ApiToken",
    "Base",
    "Booklet",
    "Event",
    "IdempotencyRecord",
    "Job",
    "JobAttempt",
    "JournalEntry",
    "MailMessage",
    "Posting",
    "PrintBatch",
    "PrintJob",
    "Programme",
    "Redemption",
    "Sale",
    "SettlementCorrection",
    "SettlementLine",
    "SettlementPeriod",
    "SettlementTally",
    "StaffUser",
    "Ticket",
    "WebSession",
    "Workshop",
]
