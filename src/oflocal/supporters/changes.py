"""What a signed-in supporter may change about their own pledges.

Only their own: a pledge made with another address is "not found", never "not yours".
Answers (social-media handle, wall name, postal address) can be corrected until the
committee locks fulfilment; the lock and the correction meet in one conditional update,
so a correction that loses the race changes nothing. An unpaid pledge can be cancelled
(``crowdfunding.pledge.cancel_pledge``: its stock comes back at once).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import exists, select, update

from oflocal.crowdfunding.items import check_answers
from oflocal.crowdfunding.models import Campaign, Pledge, Reward
from oflocal.crowdfunding.pledge import STATE_NAMES, cancel_pledge
from oflocal.db.engine import Database
from oflocal.db.rows import affected
from oflocal.errors import Refusal
from oflocal.idempotency.store import IdempotencyKey, Outcome


def _own(db: Database, email: str, pledge_id: int) -> tuple[Pledge, Reward, Campaign]:
    with db.read() as session:
        row = session.execute(
            select(Pledge, Reward, Campaign)
            .join(Reward, Reward.id == Pledge.reward_id)
            .join(Campaign, Campaign.id == Pledge.campaign_id)
            .where(Pledge.id == pledge_id, Pledge.supporter_email == email)
        ).first()
    if row is None:
        raise Refusal("pledge.not_found")
    return row[0], row[1], row[2]


def correct_answers(db: Database, email: str, pledge_id: int,
                    answers: dict[str, Any]) -> dict[str, Any]:
    """Replace the answers of ``email``'s pledge with ``answers``, checked as at pledge
    time (postal code ↔ prefecture, phone); answers the stored, cleaned answers."""
    pledge, reward, campaign = _own(db, email, pledge_id)
    if campaign.fulfilment_locked_at is not None:
        raise Refusal("pledge.fulfilment_locked", when=campaign.fulfilment_locked_at)
    if pledge.state not in ("reserved", "paid"):
        ja, en = STATE_NAMES[pledge.state]
        raise Refusal("pledge.not_changeable", state=ja, state_en=en)
    cleaned = check_answers(list(reward.items), answers)
    with db.write() as session:
        unlocked = ~exists().where(Campaign.id == Pledge.campaign_id,
                                   Campaign.fulfilment_locked_at.is_not(None))
        done = affected(session.execute(
            update(Pledge)
            .where(Pledge.id == pledge_id, Pledge.state.in_(("reserved", "paid")), unlocked)
            .values(answers=cleaned).execution_options(synchronize_session=False)
        ))
        if done != 1:  # locked, or ended, since we looked: say which
            locked_at, state = session.execute(
                select(Campaign.fulfilment_locked_at, Pledge.state)
                .join(Pledge, Pledge.campaign_id == Campaign.id).where(Pledge.id == pledge_id)
            ).one()
            if locked_at is not None:
                raise Refusal("pledge.fulfilment_locked", when=locked_at)
            ja, en = STATE_NAMES[state]
            raise Refusal("pledge.not_changeable", state=ja, state_en=en)
    return cleaned


def cancel_mine(db: Database, email: str, pledge_id: int, *,
                idem: IdempotencyKey | None = None) -> Outcome:
    _own(db, email, pledge_id)
    return cancel_pledge(db, pledge_id, idem=idem)
