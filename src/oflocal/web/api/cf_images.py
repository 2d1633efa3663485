"""A campaign's pictures over the API: list, upload, describe, reorder, remove.

A picture is sent in JSON as base64 (``data_base64``) with its description (``alt``,
required: screen readers read it). ``crowdfunding.images`` checks it (JPEG, PNG or
WebP by its first bytes; at most 5 MB; at most 40 million pixels, read from the header
before decoding) and re-encodes it without metadata (no EXIF, no GPS), at most 1600 px
wide. The answer says the picture's number, which the story uses:
``![description](image:3)``. Every change runs through ``common.once``.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any

from litestar import Request, Response, Router, delete, get, patch, post
from litestar.params import Parameter
from pydantic import BaseModel, Field
from pydantic.json_schema import SkipJsonSchema

from oflocal.crowdfunding import images
from oflocal.crowdfunding.models import CampaignImage
from oflocal.crowdfunding.staff import campaign_or_refusal
from oflocal.errors import Refusal
from oflocal.web.api.common import (
    ADMIN,
    KEY_OPTIONAL,
    MAX_ID,
    MONEY,
    NOT_BLANK,
    RequestBody,
    once,
)
from oflocal.web.errors import require_json_body
from oflocal.web.pictures import staff_url
from oflocal.web.state import services

CampaignId = Annotated[int, Parameter(ge=1, le=MAX_ID, description="Campaign id")]
ImageId = Annotated[int, Parameter(ge=1, le=MAX_ID, description="Campaign picture id")]
Alt = Annotated[str, Field(min_length=1, max_length=images.MAX_ALT, pattern=NOT_BLANK,
                           description="What the picture shows, for screen readers")]
# 5 MB as base64, and a little over, so that a file just too large gets its own refusal.
BASE64_MAX = 7_200_000


class ImageIn(RequestBody):
    alt: Alt
    data_base64: str = Field(min_length=4, max_length=BASE64_MAX,
                             description="The file (JPEG, PNG or WebP, at most 5 MB), base64")


class ImagePatch(RequestBody):
    """Only the fields sent change. ``position`` 1 makes it the campaign page's main
    picture; past the end puts it last; the others close up."""

    alt: Alt | SkipJsonSchema[None] = None
    position: int | SkipJsonSchema[None] = Field(default=None, ge=1, le=1000)


class ImageOut(BaseModel):
    id: int
    campaign_id: int
    number: int = Field(description="Never changes: the story places it with ![alt](image:N)")
    position: int = Field(description="Gallery order; 1 is the main (hero) picture")
    alt: str
    content_type: str
    width: int
    height: int
    byte_size: int
    sha256: str = Field(description="Of the stored (re-encoded) file: its ETag")
    story_reference: str
    url: str = Field(description="Where staff see it (a draft's pictures too)")


class ImageDeleted(BaseModel):
    id: int
    campaign_id: int
    deleted: bool


def _out(image: CampaignImage) -> ImageOut:
    return ImageOut(**{f: getattr(image, f) for f in (
        "id", "campaign_id", "number", "position", "alt", "content_type", "width", "height",
        "byte_size", "sha256")}, story_reference=f"image:{image.number}", url=staff_url(image))


@get("/campaigns/{campaign_id:int}/images", opt={"roles": MONEY}, sync_to_thread=True)
def list_images(request: Request[Any, Any, Any], campaign_id: CampaignId) -> list[ImageOut]:
    """The campaign's pictures in gallery order (the first is the main picture)."""
    with services(request.app.state).db.read() as session:
        campaign_or_refusal(session, campaign_id)
        return [_out(i) for i in images.images_of(session, campaign_id)]


@post("/campaigns/{campaign_id:int}/images",
      opt={"roles": ADMIN, "idempotency": KEY_OPTIONAL}, sync_to_thread=True, status_code=201)
def add_image(request: Request[Any, Any, Any], campaign_id: CampaignId,
              data: ImageIn) -> Response[ImageOut]:
    """Add a picture, last in the gallery (`image.wrong_type`, `image.too_large`,
    `image.too_many_pixels`, `image.unreadable`, `image.too_many`)."""
    try:
        raw = base64.b64decode(data.data_base64, validate=True)
    except (binascii.Error, ValueError):
        raise Refusal("request.invalid", detail="data_base64: not base64") from None

    def work() -> ImageOut:
        return _out(images.add_image(services(request.app.state).db, campaign_id, raw,
                                     alt=data.alt))

    return once(request, work, campaign_id, data.alt, data.data_base64)


@patch("/campaign-images/{image_id:int}", opt={"roles": ADMIN, "idempotency": KEY_OPTIONAL},
       sync_to_thread=True)
def change_image(request: Request[Any, Any, Any], image_id: ImageId,
                 data: ImagePatch) -> Response[ImageOut]:
    """A new description and/or a new place in the gallery."""
    sent = data.model_dump(exclude_unset=True)
    if any(value is None for value in sent.values()):
        raise Refusal("request.invalid", detail="fields cannot be null")

    def work() -> ImageOut:
        return _out(images.edit_image(services(request.app.state).db, image_id, **sent))

    return once(request, work, image_id, sent)


@delete("/campaign-images/{image_id:int}", opt={"roles": ADMIN, "idempotency": KEY_OPTIONAL},
        sync_to_thread=True, status_code=200)
def remove_image(request: Request[Any, Any, Any], image_id: ImageId) -> Response[ImageDeleted]:
    """Remove a picture (a story that names it shows its description instead)."""
    def work() -> ImageDeleted:
        campaign_id = images.delete_image(services(request.app.state).db, image_id)
        return ImageDeleted(id=image_id, campaign_id=campaign_id, deleted=True)

    return once(request, work, image_id)


router = Router(path="/", route_handlers=[list_images, add_image, change_image, remove_image],
                tags=["crowdfunding"], before_request=require_json_body)
