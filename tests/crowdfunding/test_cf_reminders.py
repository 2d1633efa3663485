"""A day before the payment deadline, supporters paying by transfer (or at a konbini)
are reminded, once per deadline; cash pledges and paid ones are not (both databases)."""

from __future__ import annotations

from datetime import timedelta

from cf_world import T0, build_world, pledge
from sqlalchemy import select

from oflocal.crowdfunding.payments import mark_paid
from oflocal.crowdfunding.schedule import REMIND_BEFORE
from oflocal.crowdfunding.sweep import remind
from oflocal.db.engine import Database
from oflocal.jobs.models import Job
from oflocal.outbox.models import MailMessage


def _reminded(db: Database) -> list[str]:
    with db.read() as session:
        return list(session.execute(select(MailMessage.about).where(
            MailMessage.kind == "payment_reminder").order_by(MailMessage.id)).scalars())


def test_a_reminder_a_day_before_the_deadline_once(db: Database) -> None:
    w = build_world(db, per_supporter=None)
    waiting = pledge(w, w.limited).body
    paid = pledge(w, w.limited, email="b@example.jp").body
    cash = pledge(w, w.limited, email="c@example.jp", method="cash").body
    mark_paid(db, paid["pledge_id"], source="bank", amount=paid["total"], actor="staff:1",
              now=T0)
    deadline = T0 + timedelta(days=7, hours=12)  # 8 May 24:00 JST (see test_cf_pledge)
    assert waiting["payment_deadline"] == deadline.isoformat()
    with db.read() as session:  # the sweep that reminds is queued with the pledge
        keys = set(session.execute(select(Job.dedupe_key)).scalars())
    assert f"cf-sweep:{w.campaign_id}:{int((deadline - REMIND_BEFORE).timestamp())}" in keys

    with db.write() as session:  # two days before: nothing yet
        assert remind(session, w.campaign_id, deadline - timedelta(days=2)) == 0
    with db.write() as session:
        assert remind(session, w.campaign_id, deadline - REMIND_BEFORE) == 1
    with db.write() as session:  # the sweep running again queues nothing more
        remind(session, w.campaign_id, deadline - timedelta(hours=2))
    assert _reminded(db) == [f"pledge:{waiting['pledge_id']}"]
    assert cash["pledge_id"] != waiting["pledge_id"]
    with db.read() as session:
        body = session.execute(select(MailMessage.text_body).where(
            MailMessage.kind == "payment_reminder")).scalar_one()
    assert waiting["reference"] in body
