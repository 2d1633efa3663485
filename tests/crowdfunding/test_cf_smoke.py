from cf_world import T0, audit, balances, build_world, pledge

from oflocal.crowdfunding.payments import mark_paid
from oflocal.db.engine import Database


def test_smoke(db: Database) -> None:
    w = build_world(db)
    out = pledge(w, w.limited)
    assert out.body["state"] == "reserved"
    audit(db)
    paid = mark_paid(db, out.body["pledge_id"], source="bank", amount=5000, actor="t", now=T0)
    assert paid.body["accepted"]
    assert balances(db, w.event_id)["pledges_held"] == -5000
    audit(db)
