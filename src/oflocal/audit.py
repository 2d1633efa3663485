"""The auditor: every DESIGN.md identity, each checked from two independent sides.

The ledger checks itself (``ledger.verify``); each capability checks its own
identities against the ledger (``vouchers.audit``, ``settlement.audit``,
``crowdfunding.audit``, ``supporters.audit``). This module only composes them, so the
ledger stays at the bottom of the imports. Used by ``oflocal ledger verify``,
``GET /api/v1/ledger/verify``, the tests after every step, and the treasurer at any time.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from oflocal.crowdfunding.audit import check_crowdfunding
from oflocal.ledger.verify import Report, check_ledger
from oflocal.settlement.audit import check_settlement
from oflocal.supporters.audit import check_fulfilment, check_pickups
from oflocal.vouchers.audit import check_vouchers


def verify(session: Session) -> Report:
    report = Report()
    check_ledger(session, report)
    check_vouchers(session, report)
    check_settlement(session, report)
    check_crowdfunding(session, report)
    check_fulfilment(session, report)
    check_pickups(session, report)
    return report
