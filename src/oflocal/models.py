"""Imports every capability's models so the metadata (and alembic) sees all tables."""

from oflocal.auth.models import ApiToken, StaffUser, WebSession
from oflocal.crowdfunding.models import (
    Campaign,
    Payment,
    Pledge,
    ProviderEvent,
    Refund,
    Reward,
)
from oflocal.db.base import Base
from oflocal.events.models import Event, Workshop
from oflocal.idempotency.models import IdempotencyRecord
from oflocal.jobs.models import Job, JobAttempt
from oflocal.ledger.models import Account, JournalEntry, Posting
from oflocal.outbox.models import MailMessage
from oflocal.printing.models import PrintJob
from oflocal.settlement.models import (
    RepaymentInvoice,
    RepaymentInvoiceItem,
    RepaymentInvoicePrint,
    SettlementCorrection,
    SettlementLine,
    SettlementPeriod,
    SettlementStatementIssue,
    SettlementTally,
    SettlementTransferPlan,
)
from oflocal.supporters.models import (
    BookletPickup,
    CampaignUpdate,
    ReturnDelivery,
    SignInLink,
    SignInWindow,
    SupporterSession,
    TourBooking,
    TourSlot,
    UpdateUnsubscribe,
)
from oflocal.treasury.models import (
    BankReconciliation,
    BankTick,
    TreasuryAttachment,
    TreasuryEntry,
)
from oflocal.vouchers.models import Booklet, PrintBatch, Programme, Redemption, Sale, Ticket

__all__ = [
    "Account",
    "ApiToken",
    "BankReconciliation",
    "BankTick",
    "Base",
    "Booklet",
    "BookletPickup",
    "Campaign",
    "CampaignUpdate",
    "Event",
    "IdempotencyRecord",
    "Job",
    "JobAttempt",
    "JournalEntry",
    "MailMessage",
    "Payment",
    "Pledge",
    "Posting",
    "PrintBatch",
    "PrintJob",
    "Programme",
    "ProviderEvent",
    "Redemption",
    "Refund",
    "RepaymentInvoice",
    "RepaymentInvoiceItem",
    "RepaymentInvoicePrint",
    "ReturnDelivery",
    "Reward",
    "Sale",
    "SettlementCorrection",
    "SettlementLine",
    "SettlementPeriod",
    "SettlementStatementIssue",
    "SettlementTally",
    "SettlementTransferPlan",
    "SignInLink",
    "SignInWindow",
    "StaffUser",
    "SupporterSession",
    "Ticket",
    "TourBooking",
    "TourSlot",
    "TreasuryAttachment",
    "TreasuryEntry",
    "UpdateUnsubscribe",
    "WebSession",
    "Workshop",
]
