"""The journal as a Japanese reader wants it: 摘要 in Japanese and the person's name.

Entries keep the memo and the actor they were written with (the journal is never
edited); the exports translate them when they are read, so entries written years ago
read the same as new ones. A memo of a shape not known here is shown as it was written
(the treasurer's own descriptions, which are typed in Japanese anyway). The raw memo
and actor stay in their own columns for the auditor.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from oflocal.auth.models import StaffUser
from oflocal.events.models import Workshop
from oflocal.vouchers.codes import grouped

PAYMENT_SOURCES_JA = {"bank": "銀行振込", "provider": "決済代行", "cash": "現金", "card": "カード",
                      "konbini": "コンビニ", "desk": "窓口", "manual": "手入力"}
REFUND_METHODS_JA = {"bank_transfer": "銀行振込", "provider": "決済代行"}


def _source(value: str) -> str:
    return PAYMENT_SOURCES_JA.get(value, REFUND_METHODS_JA.get(value, value))


_PATTERNS: list[tuple[re.Pattern[str], Callable[[re.Match[str], str], str]]] = [
    (re.compile(r"^(\d+) booklet\(s\) of (.+)$"),
     lambda m, kind: (f"返礼冊子{m[1]}冊の引渡し {m[2]}" if kind == "booklet_pickup"
                      else f"冊子{m[1]}冊の販売 {m[2]}")),
    (re.compile(r"^(\d+) ticket\(s\) at (.+)$"), lambda m, _: f"{m[2]}で券{m[1]}枚の利用"),
    (re.compile(r"^undo of redemption (\d+)$"), lambda m, _: f"仕訳{m[1]}の利用の取消"),
    (re.compile(r"^reversal of entry (\d+)$"), lambda m, _: f"仕訳{m[1]}の取消"),
    (re.compile(r"^(\d+) unredeemed ticket\(s\) expired after (\S+)$"),
     lambda m, _: f"未使用券{m[1]}枚の失効（使用期限 {m[2]}）"),
    (re.compile(r"^pledge (\S+) \((\w+)\)$"),
     lambda m, _: f"支援 {m[1]} の入金（{_source(m[2])}）"),
    (re.compile(r"^pledge (\S+): duplicate payment (.+)$"),
     lambda m, _: f"支援 {m[1]} の重複入金 {m[2]}"),
    (re.compile(r"^fee on late payment (\S+)$"),
     lambda m, _: f"支援 {m[1]} の期限後入金の決済手数料"),
    (re.compile(r"^fee on duplicate payment (.+)$"), lambda m, _: f"重複入金 {m[1]} の決済手数料"),
    (re.compile(r"^fees of failed campaign (\S+)$"),
     lambda m, _: f"クラファン {m[1]}（不成立）の決済手数料"),
    (re.compile(r"^campaign (\S+) succeeded \((\d+) pledges\)$"),
     lambda m, _: f"クラファン {m[1]} 成立（支援{m[2]}件）"),
    (re.compile(r"^refund (\d+) attempt (\d+) \((\w+)\)$"),
     lambda m, _: f"返金 {m[1]}（{m[2]}回目・{_source(m[3])}）"),
    (re.compile(r"^refund (\d+) attempt (\d+) failed$"),
     lambda m, _: f"返金 {m[1]}（{m[2]}回目）不能による戻し"),
    # a treasurer's reversal voucher written before its description was Japanese only
    (re.compile(r"^(伝票\S+ 取消（反対仕訳）.*?: )(\S+)の取消 Reversal of \2(: .*)$", re.S),
     lambda m, _: f"{m[1]}{m[2]}の取消{m[3]}"),
    # a correction names its ticket as stored; the reader wants it as printed on it
    (re.compile(r"^訂正 券([TB][0-9A-Z]{19})（(.*)$", re.S),
     lambda m, _: f"訂正 券{grouped(m[1])}（{m[2]}"),
]


def description_ja(kind: str, memo: str) -> str:
    """The 摘要 of an entry in Japanese, from its kind and its memo as written."""
    for pattern, build in _PATTERNS:
        match = pattern.match(memo)
        if match:
            return build(match, kind)
    return memo


FIXED_ACTORS = {
    "cli": "コマンド操作 (CLI)",
    "demo": "デモデータ (demo)",
    "provider": "決済代行の通知 (payment provider)",
    "system": "システム (system)",
}


class ActorNames:
    """Who wrote an entry, by name: 「会計 山田」 for ``staff:3``, 「W28 山田陶房」 for
    ``workshop:28``. Staff and the event's workshops are read once per export."""

    def __init__(self, session: Session, event_id: int) -> None:
        self.staff = {uid: name for uid, name in session.execute(
            select(StaffUser.id, StaffUser.display_name))}
        self.workshops = {wid: f"{code} {name}" for wid, code, name in session.execute(
            select(Workshop.id, Workshop.code, Workshop.name)
            .where(Workshop.event_id == event_id))}

    def name(self, actor: str) -> str:
        kind, _, rest = actor.partition(":")
        if kind in ("staff", "workshop") and rest.isdigit():
            table = self.staff if kind == "staff" else self.workshops
            return table.get(int(rest), actor)
        if kind == "job":
            return f"自動処理 (job {rest})"
        if kind == "cli" and rest:  # the books commands record the login: cli:yamada
            return f"{FIXED_ACTORS['cli'][:-1]}: {rest})"
        return FIXED_ACTORS.get(actor, actor)
