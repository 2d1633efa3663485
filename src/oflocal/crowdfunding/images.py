"""A campaign's pictures. Read this file to know what happens to a picture staff upload.

A picture arrives as bytes (a form, the API, the CLI) and is checked before anything is
stored: JPEG, PNG or WebP by its first bytes (anything else is ``image.wrong_type``), at
most 5 MB (``image.too_large``), at most 40 million pixels, read from the header before
a single pixel is decoded, so a small file that would unpack into gigabytes (a
decompression bomb) is refused (``image.too_many_pixels``), and decodable by Pillow
(``image.unreadable``). Then it is **re-encoded**: turned upright by its EXIF
orientation, shrunk to at most 1600 px wide (a phone's screen, and enough for a PC), and
written afresh with no metadata: no EXIF, no GPS position, no camera serial. Only the
colour profile is kept, so colours stay as shot. What is stored is that new file.

Each picture has a number that never changes and is never given to another, even once
it is removed (the story places it with ``![alt](image:2)``; a removed one's reference
shows its alt text, never another picture), a position (the gallery's order; the first
is the campaign page's hero image) and an alt text, required: it is what a screen reader
says. Changes take the campaign's row lock, so numbers and positions are given out one
at a time; a decided campaign's pictures are fixed, like its story.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from datetime import datetime

from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from oflocal import clock
from oflocal.crowdfunding.models import DECIDED, Campaign, CampaignImage
from oflocal.db.engine import Database
from oflocal.errors import Refusal

MAX_BYTES = 5 * 1024 * 1024
MAX_PIXELS = 40_000_000  # a 48-megapixel phone photo is 8064 x 6048: refused; 12 or 24 pass
MAX_WIDTH = 1600
MAX_HEIGHT = 2400  # a tall poster keeps its shape but not every pixel
MAX_IMAGES = 20  # per campaign: the page stays light on a phone
MAX_ALT = 300
# First bytes → (Pillow's format, what is stored). The type is read, never trusted from
# the file name or a Content-Type header.
FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}


def sniff(raw: bytes) -> str | None:
    """The format the first bytes say, or None."""
    if raw.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if raw.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if raw[:4] == b"RIFF" and raw[8:12] == b"WEBP":
        return "WEBP"
    return None


@dataclass(frozen=True)
class Prepared:
    """A picture re-encoded, ready to store."""

    content_type: str
    data: bytes
    width: int
    height: int
    sha256: str


def prepare(raw: bytes) -> Prepared:
    """Check and re-encode an uploaded picture (see the module doc). Pure: bytes in,
    bytes out."""
    if len(raw) > MAX_BYTES:
        raise Refusal("image.too_large", size_mb=f"{len(raw) / 1024 / 1024:.1f}",
                      limit_mb=MAX_BYTES // 1024 // 1024)
    fmt = sniff(raw)
    if fmt is None:
        raise Refusal("image.wrong_type")
    try:
        with Image.open(io.BytesIO(raw), formats=[fmt]) as source:
            width, height = source.size  # from the header: nothing decoded yet
            if width * height > MAX_PIXELS:
                raise Refusal("image.too_many_pixels", width=width, height=height,
                              limit=f"{MAX_PIXELS // 1_000_000}")
            source.seek(0)  # an animation: its first frame
            if fmt == "JPEG":  # decode at 1/2, 1/4 or 1/8 when that still covers 1600 px
                source.draft(None, (MAX_WIDTH, MAX_WIDTH))
            picture = ImageOps.exif_transpose(source)  # decodes; upright, as it was shot
            icc = source.info.get("icc_profile")
            return _encode(picture, fmt, icc if isinstance(icc, bytes) else None)
    except Refusal:
        raise
    except Image.DecompressionBombError as error:  # beyond Pillow's own limit
        raise Refusal("image.too_many_pixels", width="?", height="?",
                      limit=f"{MAX_PIXELS // 1_000_000}") from error
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as error:
        raise Refusal("image.unreadable") from error


def _encode(picture: Image.Image, fmt: str, icc: bytes | None) -> Prepared:
    """A new file from the pixels alone (and the colour profile): no metadata survives."""
    if picture.mode.startswith(("I", "F")):  # 16-bit or float greyscale: to 8 bits
        picture = picture.convert("I").point(lambda v: v / 256).convert("L")
    alpha = fmt != "JPEG" and (picture.mode in ("RGBA", "LA", "PA")
                               or "transparency" in picture.info)
    mode = "RGBA" if alpha else "L" if picture.mode in ("L", "1") else "RGB"
    clean = picture.convert(mode) if picture.mode != mode else picture.copy()
    clean.info = {}  # nothing of the source's info is written again
    clean.thumbnail((MAX_WIDTH, MAX_HEIGHT), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    options: dict[str, object] = {"icc_profile": icc} if icc else {}
    if fmt == "JPEG":
        clean.save(out, "JPEG", quality=85, optimize=True, progressive=True, **options)
    elif fmt == "PNG":
        clean.save(out, "PNG", optimize=True, **options)
    else:
        clean.save(out, "WEBP", quality=85, method=4, **options)
    data = out.getvalue()
    return Prepared(FORMATS[fmt], data, clean.width, clean.height,
                    hashlib.sha256(data).hexdigest())


def _alt(text: str | None) -> str:
    alt = " ".join((text or "").split())
    if not alt:
        raise Refusal("image.alt_missing")
    if len(alt) > MAX_ALT:
        raise Refusal("image.alt_too_long", limit=MAX_ALT)
    return alt


def _open_campaign(session: Session, campaign_id: int) -> Campaign:
    """The campaign, locked: pictures change one at a time, never on a decided one."""
    campaign = session.get(Campaign, campaign_id, with_for_update=True)
    if campaign is None:
        raise Refusal("campaign.not_found")
    if campaign.state in DECIDED:
        raise Refusal("image.locked")
    return campaign


def _image(session: Session, image_id: int) -> CampaignImage:
    image = session.get(CampaignImage, image_id)
    if image is None:
        raise Refusal("image.not_found")
    return image


def _ordered(session: Session, campaign_id: int) -> list[CampaignImage]:
    return list(session.execute(
        select(CampaignImage).where(CampaignImage.campaign_id == campaign_id)
        .order_by(CampaignImage.position, CampaignImage.number)).scalars())


def _renumber(images: list[CampaignImage]) -> None:
    for position, image in enumerate(images, 1):
        if image.position != position:
            image.position = position


def add_image(db: Database, campaign_id: int, raw: bytes, *, alt: str,
              now: datetime | None = None) -> CampaignImage:
    """Check, re-encode and store a picture, last in the gallery. The work on the pixels
    is done before the write transaction opens: no lock is held while Pillow runs."""
    described = _alt(alt)
    prepared = prepare(raw)
    with db.write() as session:
        campaign = _open_campaign(session, campaign_id)
        count, last_position = session.execute(
            select(func.count(), func.coalesce(func.max(CampaignImage.position), 0))
            .where(CampaignImage.campaign_id == campaign_id)).one()
        if count >= MAX_IMAGES:
            raise Refusal("image.too_many", limit=MAX_IMAGES)
        campaign.images_made += 1  # under the row lock: numbers are never given twice
        image = CampaignImage(
            campaign_id=campaign_id, number=campaign.images_made, position=last_position + 1,
            alt=described, content_type=prepared.content_type, width=prepared.width,
            height=prepared.height, byte_size=len(prepared.data), sha256=prepared.sha256,
            data=prepared.data, created_at=now or clock.now())
        session.add(image)
        session.flush()
        return image


def edit_image(db: Database, image_id: int, *, alt: str | None = None,
               position: int | None = None) -> CampaignImage:
    """A new alt text, and/or a new place in the gallery (1: the hero image; past the end:
    last). The others close up around it."""
    with db.write() as session:
        campaign_id = _image(session, image_id).campaign_id
        _open_campaign(session, campaign_id)
        image = _image(session, image_id)
        if alt is not None:
            image.alt = _alt(alt)
        if position is not None:
            if position < 1:
                raise Refusal("request.invalid", detail="position: 1 or more")
            others = [i for i in _ordered(session, campaign_id) if i.id != image_id]
            others.insert(min(position, len(others) + 1) - 1, image)
            _renumber(others)
        session.flush()
        return image


def delete_image(db: Database, image_id: int) -> int:
    """Remove a picture; the gallery closes up. A story that still names it shows its
    alt text instead, as for any picture it cannot show. Answers the campaign's id."""
    with db.write() as session:
        campaign_id = _image(session, image_id).campaign_id
        _open_campaign(session, campaign_id)
        session.delete(_image(session, image_id))
        session.flush()
        _renumber(_ordered(session, campaign_id))
        session.flush()
        return campaign_id


# ------------------------------------------------------------------------ reading


def images_of(session: Session, campaign_id: int) -> list[CampaignImage]:
    """The campaign's pictures in gallery order, without their bytes."""
    return _ordered(session, campaign_id)


def image_by_number(session: Session, campaign_id: int, number: int) -> CampaignImage:
    """One picture with its bytes (the web serves them)."""
    image = session.execute(
        select(CampaignImage).where(CampaignImage.campaign_id == campaign_id,
                                    CampaignImage.number == number)
    ).scalar_one_or_none()
    if image is None:
        raise Refusal("image.not_found")
    _ = image.data  # loaded now, inside the session
    return image
