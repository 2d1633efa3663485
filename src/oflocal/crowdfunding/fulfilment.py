"""The committee starts preparing the returns: supporters' answers are frozen from then.

Locking is a conditional update (once; a second lock answers the first moment);
unlocking lets supporters correct again, e.g. after a mistake spotted in the list.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update

from oflocal import clock
from oflocal.crowdfunding.models import Campaign
from oflocal.db.engine import Database
from oflocal.errors import Refusal


def lock_fulfilment(db: Database, campaign_id: int, *, now: datetime | None = None) -> datetime:
    """Freeze supporters' answers; answers the moment they were frozen."""
    at = now or clock.now()
    with db.write() as session:
        session.execute(
            update(Campaign).where(Campaign.id == campaign_id,
                                   Campaign.fulfilment_locked_at.is_(None))
            .values(fulfilment_locked_at=at).execution_options(synchronize_session=False)
        )
        locked = session.execute(
            select(Campaign.fulfilment_locked_at).where(Campaign.id == campaign_id)
        ).first()
    if locked is None:
        raise Refusal("campaign.not_found")
    assert locked[0] is not None
    return locked[0]


def unlock_fulfilment(db: Database, campaign_id: int) -> None:
    with db.write() as session:
        found = session.execute(
            update(Campaign).where(Campaign.id == campaign_id)
            .values(fulfilment_locked_at=None).execution_options(synchronize_session=False)
            .returning(Campaign.id)
        ).first()
    if found is None:
        raise Refusal("campaign.not_found")
