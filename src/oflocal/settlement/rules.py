"""The redemption fee rule, and how bank accounts are shown on paper.

A programme may charge workshops a fee on what they redeemed: none, a rate (in basis
points: 250 = 2.5 %) of the face value redeemed in the period, or a fixed number of
yen per ticket. A rate fee is rounded to whole yen by a stated rule (切り捨て floor,
四捨五入 round half up, 切り上げ ceil). The fee never exceeds the face value.
"""

from __future__ import annotations

from dataclasses import dataclass

from oflocal.format import yen

ACCOUNT_TYPES_JA = {1: "普通", 2: "当座", 4: "貯蓄", 9: "その他"}
ROUNDING_JA = {"floor": "1円未満切り捨て", "round": "1円未満四捨五入", "ceil": "1円未満切り上げ"}
ROUNDING_EN = {
    "floor": "rounded down to the yen",
    "round": "rounded half up to the yen",
    "ceil": "rounded up to the yen",
}


@dataclass(frozen=True)
class FeeRule:
    rule: str = "none"  # none / rate / fixed
    rate_bp: int = 0  # basis points of the face value (rule "rate")
    fixed_yen: int = 0  # yen per ticket (rule "fixed")
    rounding: str = "floor"  # floor / round / ceil (rule "rate")

    def fee(self, face_total: int, ticket_count: int) -> int:
        """The fee on ``face_total`` yen in ``ticket_count`` tickets, in whole yen."""
        if self.rule == "rate":
            numerator = face_total * self.rate_bp
            if self.rounding == "floor":
                fee = numerator // 10_000
            elif self.rounding == "ceil":
                fee = -(-numerator // 10_000)
            else:  # half up, as 四捨五入
                fee = (numerator + 5_000) // 10_000
        elif self.rule == "fixed":
            fee = ticket_count * self.fixed_yen
        else:
            fee = 0
        return max(0, min(fee, face_total))

    @property
    def rate_percent(self) -> str:
        whole, rest = divmod(self.rate_bp, 100)
        return f"{whole}.{rest:02d}%"

    def describe_ja(self) -> str:
        if self.rule == "rate":
            return f"換金額の{self.rate_percent}（{ROUNDING_JA[self.rounding]}）"
        if self.rule == "fixed":
            return f"券1枚につき{yen(self.fixed_yen)}"
        return "手数料なし"

    def describe_en(self) -> str:
        if self.rule == "rate":
            return f"{self.rate_percent} of the face value redeemed ({ROUNDING_EN[self.rounding]})"
        if self.rule == "fixed":
            return f"{yen(self.fixed_yen)} per ticket"
        return "no fee"


def masked_account(account_type: int | None, account_number: str | None) -> str:
    """How a bank account appears on a statement: 普通 ***4567."""
    if not account_number:
        return "未登録"
    kind = ACCOUNT_TYPES_JA.get(account_type or 0, "")
    return f"{kind} ***{account_number[-4:]}".strip()
