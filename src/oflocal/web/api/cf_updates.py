"""A campaign's updates (活動報告) over the API: list, write a draft, read one, change the
draft, publish it, follow its mailing.

The same domain functions as the pages (``supporters.updates``): an update is a draft
until published, once; who reads it is its ``audience`` (``public``: everyone on the
campaign page; ``supporters``: whoever has a paid pledge; ``rewards``: the paid
supporters of the returns in ``reward_ids``). Publishing an update with ``send_mail``
queues its mailing in the same transaction; a background job then queues one message
per address (never two for one address) and the outbox sends them. ``…/progress`` says
how far it is: sent and failed of the total the job counted.

Admins write and publish; admins and treasurers read. Every change runs through
``common.once``, so an ``Idempotency-Key`` makes a retry return the first outcome (a
publish retried, or sent twice without a key, publishes and mails once either way).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from litestar import Request, Response, Router, get, patch, post
from litestar.params import Parameter
from pydantic import BaseModel, Field
from pydantic.json_schema import SkipJsonSchema
from sqlalchemy.orm import Session

from oflocal.db.engine import Database
from oflocal.errors import Refusal
from oflocal.supporters import updates
from oflocal.supporters.models import CampaignUpdate
from oflocal.web.api.common import (
    ADMIN,
    KEY_OPTIONAL,
    MAX_ID,
    MONEY,
    NOT_BLANK,
    Id,
    RequestBody,
    actor_of,
    once,
)
from oflocal.web.errors import require_json_body
from oflocal.web.state import services

CampaignId = Annotated[int, Parameter(ge=1, le=MAX_ID, description="Campaign id")]
UpdateId = Annotated[int, Parameter(ge=1, le=MAX_ID, description="Update (活動報告) id")]
Audience = Literal["public", "supporters", "rewards"]
Title = Annotated[str, Field(min_length=1, max_length=200, pattern=NOT_BLANK)]
Body = Annotated[str, Field(min_length=1, max_length=50_000, pattern=NOT_BLANK,
                            description="Markdown; the campaign's pictures as "
                                        "![説明](image:N)")]
RewardIds = Annotated[list[Id], Field(max_length=100, description=(
    "The returns whose paid supporters read it: with the audience `rewards` only "
    "(`update.invalid` otherwise), returns of this campaign"))]
AUDIENCE_TEXT = ("Who reads it: `public` (everyone), `supporters` (paid supporters), "
                 "`rewards` (paid supporters of the returns in `reward_ids`); others see "
                 "its title and for whom it is")


class UpdateIn(RequestBody):
    """A draft update (`update.invalid`: returns not of this campaign, or returns named
    for another audience)."""

    title: Title
    body: Body
    audience: Audience = Field(description=AUDIENCE_TEXT)
    reward_ids: RewardIds = Field(default_factory=list)
    send_mail: bool = Field(default=True, description="E-mail it to its readers when "
                                                      "published")


class UpdatePatch(RequestBody):
    """Only the fields sent change; a published update no longer changes
    (`update.published`). Another audience than `rewards` drops the returns chosen."""

    title: Title | SkipJsonSchema[None] = None
    body: Body | SkipJsonSchema[None] = None
    audience: Audience | SkipJsonSchema[None] = Field(default=None, description=AUDIENCE_TEXT)
    reward_ids: RewardIds | SkipJsonSchema[None] = None
    send_mail: bool | SkipJsonSchema[None] = None


class MailingOut(BaseModel):
    update_id: int
    published_at: datetime | None = Field(description="null: a draft, nothing mailed yet")
    send_mail: bool
    total: int | None = Field(description=(
        "Addresses the mailing counted (paid supporters of the audience, less those who "
        "unsubscribed, each once); null until it has counted, or when not mailed"))
    queued: int = Field(description="Messages queued so far, whatever their state")
    sent: int
    failed: int = Field(description="Given up after the retries")
    all_queued: bool = Field(description="The mailing job queued every message")
    percent: int = Field(description="Sent and failed, of the total")
    finished: bool = Field(description=(
        "Published, and every message sent or failed (or nothing to mail)"))


class UpdateOut(BaseModel):
    id: int
    campaign_id: int
    number: int = Field(description="1, 2, … within the campaign (the page's #update-N)")
    title: str
    body: str
    audience: Audience
    reward_ids: list[int]
    send_mail: bool
    state: Literal["draft", "published"]
    author: str
    created_at: datetime
    published_at: datetime | None
    mailing: MailingOut | None = Field(description="Published: how far its mailing is")


def _mailing(session: Session, row: CampaignUpdate) -> MailingOut:
    return MailingOut(**updates.mailing_facts(row, updates.progress_of(session, row)))


def _out(session: Session, row: CampaignUpdate) -> UpdateOut:
    return UpdateOut(
        **{f: getattr(row, f) for f in ("id", "campaign_id", "number", "title", "body",
                                        "audience", "send_mail", "author", "created_at",
                                        "published_at")},
        reward_ids=list(row.reward_ids),
        state="draft" if row.published_at is None else "published",
        mailing=None if row.published_at is None else _mailing(session, row))


def _current(db: Database, campaign_id: int, update_id: int) -> UpdateOut:
    with db.read() as session:  # inside a change: that change's own transaction
        return _out(session, updates.update_in(session, campaign_id, update_id))


@get("/campaigns/{campaign_id:int}/updates", opt={"roles": MONEY}, sync_to_thread=True)
def list_updates(request: Request[Any, Any, Any], campaign_id: CampaignId) -> list[UpdateOut]:
    """The campaign's updates, drafts too, newest first, with each mailing's progress."""
    with services(request.app.state).db.read() as session:
        return [_out(session, row) for row in updates.updates_of(session, campaign_id)]


@post("/campaigns/{campaign_id:int}/updates",
      opt={"roles": ADMIN, "idempotency": KEY_OPTIONAL}, sync_to_thread=True, status_code=201)
def new_update(request: Request[Any, Any, Any], campaign_id: CampaignId,
               data: UpdateIn) -> Response[UpdateOut]:
    """A draft update, numbered after the campaign's others (`update.invalid`)."""
    actor = actor_of(request)

    def work() -> UpdateOut:
        db = services(request.app.state).db
        made = updates.write_update(db, campaign_id, title=data.title, body=data.body,
                                    audience=data.audience, reward_ids=data.reward_ids,
                                    send_mail=data.send_mail, author=actor.scope)
        return _current(db, campaign_id, made)

    return once(request, work, campaign_id, data.model_dump(mode="json"))


@get("/campaigns/{campaign_id:int}/updates/{update_id:int}", opt={"roles": MONEY},
     sync_to_thread=True)
def update_detail(request: Request[Any, Any, Any], campaign_id: CampaignId,
                  update_id: UpdateId) -> UpdateOut:
    """One update, with its mailing's progress once published."""
    return _current(services(request.app.state).db, campaign_id, update_id)


@patch("/campaigns/{campaign_id:int}/updates/{update_id:int}",
       opt={"roles": ADMIN, "idempotency": KEY_OPTIONAL}, sync_to_thread=True)
def change_update(request: Request[Any, Any, Any], campaign_id: CampaignId,
                  update_id: UpdateId, data: UpdatePatch) -> Response[UpdateOut]:
    """Change a draft (`update.published` once published, `update.invalid`)."""
    sent = data.model_dump(exclude_unset=True)
    nulls = sorted(name for name, value in sent.items() if value is None)
    if nulls:
        raise Refusal("request.invalid", detail=f"{', '.join(nulls)} cannot be null")

    def work() -> UpdateOut:
        db = services(request.app.state).db
        with db.write() as session:
            updates.update_in(session, campaign_id, update_id)
            updates.edit_update(db, update_id, **sent)
        return _current(db, campaign_id, update_id)

    return once(request, work, campaign_id, update_id,
                data.model_dump(mode="json", exclude_unset=True))


@post("/campaigns/{campaign_id:int}/updates/{update_id:int}/publish",
      opt={"roles": ADMIN, "idempotency": KEY_OPTIONAL}, sync_to_thread=True, status_code=200)
def publish(request: Request[Any, Any, Any], campaign_id: CampaignId,
                   update_id: UpdateId) -> Response[UpdateOut]:
    """Publish, once: again changes nothing and answers the first moment. With
    `send_mail`, its mailing starts in the background; `mailing` says how far it is
    (follow it at `…/progress`)."""
    def work() -> UpdateOut:
        db = services(request.app.state).db
        with db.write() as session:
            updates.update_in(session, campaign_id, update_id)
            updates.publish_update(db, update_id)
        return _current(db, campaign_id, update_id)

    return once(request, work, campaign_id, update_id)


@get("/campaigns/{campaign_id:int}/updates/{update_id:int}/progress", opt={"roles": MONEY},
     sync_to_thread=True)
def mailing_progress(request: Request[Any, Any, Any], campaign_id: CampaignId,
                     update_id: UpdateId) -> MailingOut:
    """How far the update's mailing is: sent and failed of the total (a draft: nothing)."""
    with services(request.app.state).db.read() as session:
        return _mailing(session, updates.update_in(session, campaign_id, update_id))


router = Router(path="/", route_handlers=[list_updates, new_update, update_detail,
                                          change_update, publish, mailing_progress],
                tags=["crowdfunding"], before_request=require_json_body)
