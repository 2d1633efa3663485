"""The 特定商取引法に基づく表記 a campaign must show before it can go live.

Reward crowdfunding is mail-order selling (DOMAIN-JAPAN.md): the campaign page and the
final confirmation show the seller, the person responsible, an address, a phone number
(or the promise to disclose it without delay on request), prices and extra charges, when
and how to pay, when returns are delivered, and the cancellation rules.
"""

from __future__ import annotations

from dataclasses import dataclass

from oflocal.crowdfunding.models import Campaign


@dataclass(frozen=True)
class LegalItem:
    field: str
    ja: str
    en: str


LEGAL_ITEMS = (
    LegalItem("seller", "販売事業者名", "seller"),
    LegalItem("representative", "運営責任者", "person responsible"),
    LegalItem("address", "所在地", "address"),
    LegalItem("phone", "電話番号（または請求があれば遅滞なく開示する旨）",
              "phone number (or 'disclosed without delay on request')"),
    LegalItem("price_note", "販売価格（税込表示）", "prices (tax included)"),
    LegalItem("extra_charges", "商品代金以外の必要料金（送料など）",
              "charges besides the price (shipping, ...)"),
    LegalItem("payment_terms", "支払時期・支払方法", "when and how to pay"),
    LegalItem("delivery_terms", "リターンの引渡時期", "when returns are delivered"),
    LegalItem("cancellation_terms", "キャンセル・返品について", "cancellation rules"),
)


def missing_legal_items(campaign: Campaign) -> list[LegalItem]:
    """The required items the campaign does not state yet, in the order of the page."""
    missing = []
    for item in LEGAL_ITEMS:
        if item.field == "phone":
            if not campaign.phone.strip() and not campaign.phone_on_request:
                missing.append(item)
        elif not str(getattr(campaign, item.field) or "").strip():
            missing.append(item)
    return missing
