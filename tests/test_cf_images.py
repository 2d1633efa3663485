"""A campaign's pictures through HTTP on both databases: staff upload them (page and API),
oflocal re-encodes them (no EXIF or GPS, at most 1600 px wide) and refuses what is not a
picture, too large or unreadable, changing nothing; the public sees a live campaign's
pictures (never a draft's) at cacheable URLs; the story places them by number and drops
any other picture."""

from __future__ import annotations

import base64
import io
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from PIL import Image
from sqlalchemy import func, select

from apps import client_for
from cf_staff_world import build
from oflocal.auth.service import create_staff_user, issue_api_token, login_staff, open_session
from oflocal.crowdfunding import images
from oflocal.crowdfunding.models import CampaignImage
from oflocal.db.engine import Database
from oflocal.errors import Refusal
from oflocal.settings import Settings
from oflocal.web.security import SESSION_COOKIE


def picture(fmt: str, size: tuple[int, int], **save: Any) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (20, 120, 110)).save(out, fmt, **save)
    return out.getvalue()


def phone_photo() -> bytes:
    """A JPEG as a phone writes it: maker, GPS position, turned by its orientation tag."""
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x0112] = 6  # Orientation: turn 90° to show
    exif[0x8825] = {1: "N", 2: (35.0, 40.0, 12.0), 3: "E", 4: (139.0, 45.0, 1.0)}  # GPS
    return picture("JPEG", (64, 48), exif=exif)


def png_of_size(width: int, height: int) -> bytes:
    """A PNG whose header claims this size (its pixels never come: a bomb's shape)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


def test_prepare_refuses_what_it_cannot_take() -> None:
    """Pure checks, no database: the pixel limit is read from the header, before decoding."""
    for raw, code in ((png_of_size(9000, 9000), "image.too_many_pixels"),
                      (phone_photo()[:300], "image.unreadable"),
                      (b"GIF89a" + b"\0" * 100, "image.wrong_type")):
        with pytest.raises(Refusal) as refused:
            images.prepare(raw)
        assert refused.value.code == code
    kept = images.prepare(picture("WEBP", (3000, 1000)))
    assert (kept.content_type, kept.width, kept.height) == ("image/webp", 1600, 533)


class Client:
    def __init__(self, client: TestClient[Litestar], csrf: str, token: str) -> None:
        self.client, self.csrf, self.token = client, csrf, token

    def api(self, method: str, url: str, body: Any = None, key: str | None = None) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"}
        if key:
            headers["Idempotency-Key"] = key
        return self.client.request(method, f"/api/v1{url}", json=body, headers=headers)

    def upload(self, campaign_id: int, raw: bytes, alt: str, status: int = 200) -> str:
        answer = self.client.post(f"/admin/campaigns/{campaign_id}/images",
                                  data={"_csrf": self.csrf, "alt": alt},
                                  files={"file": ("photo.png", raw, "image/png")})
        assert answer.status_code == status, answer.text[:2000]
        return answer.text


@pytest.fixture
def staff(db: Database, secret: bytes, tmp_path: Path) -> Iterator[Client]:
    admin = create_staff_user(db, username="boss", display_name="事務局", role="admin",
                              password="boss password 1")
    session_token, csrf = open_session(db, login_staff(db, "boss", "boss password 1"), hours=1)
    api_token = issue_api_token(db, name="t", staff_user_id=admin)
    settings = Settings(data_dir=tmp_path, database_url=db.url, secret_key=secret)
    with client_for(settings, db) as client:
        client.cookies.set(SESSION_COOKIE, session_token)
        client.cookies.set("lang", "ja")
        yield Client(client, csrf, api_token)


def _count(db: Database) -> int:
    with db.read() as session:
        return int(session.execute(select(func.count()).select_from(CampaignImage)).scalar_one())


def test_pictures_uploaded_cleaned_served_and_placed(staff: Client, db: Database) -> None:
    w = build(db, live=False)
    cid = w.campaign_id
    # A page upload: a wide PNG, shrunk to 1600 px; the page says how to place it.
    page = staff.upload(cid, picture("PNG", (2000, 100)), "工場の外観")
    assert "image:1" in page and "工場の外観" in page
    # An API upload: a phone's JPEG with its GPS position and maker.
    raw = phone_photo()
    assert b"PhoneMaker" in raw
    made = staff.api("POST", f"/campaigns/{cid}/images",
                     {"alt": "窯の前の職人", "data_base64": base64.b64encode(raw).decode()})
    assert made.status_code == 201, made.text
    jpeg = made.json()
    assert (jpeg["number"], jpeg["position"], jpeg["story_reference"]) == (2, 2, "image:2")
    assert (jpeg["width"], jpeg["height"]) == (48, 64)  # turned upright by its orientation
    served = staff.client.get(jpeg["url"])
    assert served.status_code == 200 and served.headers["content-type"] == "image/jpeg"
    assert served.headers["etag"] == f'"{jpeg["sha256"]}"'
    assert b"PhoneMaker" not in served.content and b"Exif" not in served.content
    assert not Image.open(io.BytesIO(served.content)).getexif()  # no EXIF, no GPS
    listed = staff.api("GET", f"/campaigns/{cid}/images").json()
    assert [(i["number"], i["width"]) for i in listed] == [(1, 1600), (2, 48)]

    # Refusals: clear words, nothing stored.
    assert _count(db) == 2
    not_image = staff.api("POST", f"/campaigns/{cid}/images",
                          {"alt": "x", "data_base64": base64.b64encode(b"%PDF-1.4 x").decode()})
    assert (not_image.status_code, not_image.json()["code"]) == (422, "image.wrong_type")
    assert "JPEG・PNG・WebP" in not_image.json()["message_ja"]
    too_big = staff.upload(cid, b"\xff\xd8\xff" + b"\0" * images.MAX_BYTES, "大きい", 413)
    assert "画像が大きすぎます" in too_big
    no_alt = staff.upload(cid, picture("PNG", (10, 10)), " ", 422)
    assert "代替テキスト" in no_alt
    assert _count(db) == 2

    # A draft's pictures are not public; the staff preview shows them.
    public = f"/c/cfs/hitsuji/images/2?v={jpeg['sha256'][:12]}"
    assert staff.client.get(public).status_code == 404
    story = "# ひつじ団\n\n![窯](image:2)\n\n![外](https://evil.example/x.png) ![無](image:9)"
    assert staff.api("PATCH", f"/campaigns/{cid}", {"story": story}).status_code == 200
    preview = staff.client.get(f"/admin/campaigns/{cid}").text
    assert f'src="{jpeg["url"]}"' in preview and 'class="hero"' in preview

    # Live: the campaign page shows picture 1 as its hero and 2 in the story; the foreign
    # picture and the unknown number are dropped (their alt text stays).
    assert staff.api("POST", f"/campaigns/{cid}/go-live").status_code == 200
    shown = staff.client.get("/c/cfs/hitsuji").text
    assert 'class="cf-hero" src="/c/cfs/hitsuji/images/1?v=' in shown
    assert f'<img src="{public}" alt="窯" width="48" height="64">' in shown
    assert "evil.example" not in shown and "image:9" not in shown and "外" in shown
    api = staff.client.get(f"/api/v1/public/campaigns/{cid}").json()
    assert [i["url"] for i in api["images"]][1] == public and public in api["story_html"]
    got = staff.client.get(public)
    assert got.status_code == 200 and "immutable" in got.headers["cache-control"]
    assert got.headers["cache-control"].startswith("public")
    assert staff.client.get(public, headers={"If-None-Match": got.headers["etag"]}
                            ).status_code == 304

    # Reorder (picture 2 becomes the hero), describe again, remove.
    staff.client.post(f"/admin/campaign-images/{jpeg['id']}",
                      data={"_csrf": staff.csrf, "action": "first"})
    assert 'class="cf-hero" src="/c/cfs/hitsuji/images/2?v=' in staff.client.get(
        "/c/cfs/hitsuji").text
    renamed = staff.api("PATCH", f"/campaign-images/{jpeg['id']}", {"alt": "窯の前"})
    assert renamed.json()["alt"] == "窯の前" and renamed.json()["position"] == 1
    assert staff.api("DELETE", f"/campaign-images/{jpeg['id']}").status_code == 200
    assert staff.client.get(public).status_code == 404
    assert [i["position"] for i in staff.api("GET", f"/campaigns/{cid}/images").json()] == [1]
    again = staff.api("POST", f"/campaigns/{cid}/images",
                      {"alt": "新しい窯", "data_base64": base64.b64encode(raw).decode()})
    assert again.json()["number"] == 3  # never the removed picture's number
