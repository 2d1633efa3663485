"""What the treasurer is shown before closing a period is what the close then settles:
the same membership rule and line arithmetic, read without locks, on both databases."""

from __future__ import annotations

import pytest

from oflocal.db.engine import Database
from oflocal.errors import Refusal
from oflocal.settlement.corrections import adjust_workshop
from oflocal.settlement.preview import preview_close
from oflocal.settlement.rules import FeeRule
from oflocal.settlement.settings import set_fee_rule
from oflocal.vouchers.codes import CodeSigner
from test_settlement import make_world


def _figures(body: dict[str, int]) -> tuple[int, ...]:
    return tuple(body[k] for k in ("workshops", "ticket_count", "face_total",
                                   "adjustment_total", "fee_total", "net_total"))


def test_the_preview_is_what_the_close_settles(db: Database, signer: CodeSigner) -> None:
    w = make_world(db, signer)
    set_fee_rule(db, event_id=w.sc.event_id, rule=FeeRule("rate", 250, 0, "floor"))
    w.redeem(0, 3, minutes=0)
    w.redeem(1, 2, minutes=1)
    w.redeem(2, 1, minutes=9)  # after the cut-off: the next period
    adjust_workshop(db, workshop_id=w.sc.workshop_ids[1], amount=-200,
                    counter_account="breakage", reason="破損", actor="t")
    for number in (1, 2):
        cut = w.at(5 if number == 1 else 20)
        with db.read() as session:
            shown = preview_close(session, w.sc.event_id, cut)
        closed = w.close(5 if number == 1 else 20)
        assert shown.number == closed["number"] == number
        assert (shown.workshops, shown.ticket_count, shown.face_total, shown.adjustment_total,
                shown.fee_total, shown.net_total) == _figures(closed)
        assert not shown.negative
    with db.read() as session, pytest.raises(Refusal) as early:
        preview_close(session, w.sc.event_id, w.at(10))  # not after the last cut-off
    assert early.value.code == "settlement.cutoff_not_after_last"
    w.assert_verified()
