"""How a programme's booklets are laid out: stored per programme as JSON.

``PrintLayout.model_validate(stored_json)`` must keep working for layouts saved by older
versions, so fields only ever gain defaults, and ``version`` says which shape it is.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from oflocal.errors import Refusal

from .geometry import MIN_TICKET_MM, MIN_WORKSHOP_CARD_MM, MM, cell_size_mm, ticket_slots

DEFAULT_RULES: tuple[str, ...] = (
    "この券は{event}参加工房でのみ使えます",
    "おつりは出ません",
    "使用期限を過ぎた券は使えません",
)
MAX_RULES = 4
MAX_RULE_CHARS = 40
PLACEHOLDERS = ("{event}", "{committee}")
MIN_CONTRAST = 3.0  # WCAG AA for large text: white on the accent band
_HEX = re.compile(r"^#[0-9A-Fa-f]{6}$")
_BRACES = re.compile(r"\{[^{}]*\}")


class PrintLayout(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    version: Literal[1] = 1
    paper: Literal["A4", "A3", "B4"] = "A4"
    # office: plain pages for an office printer, dashed cut guides between tickets.
    # printshop: 3 mm bleed and crop marks around the trim, TrimBox and BleedBox set.
    mode: Literal["office", "printshop"] = "office"
    columns: int = Field(default=3, ge=1, le=8)
    rows: int = Field(default=4, ge=1, le=10)
    margin_mm: float = Field(default=10.0, ge=0, le=40)
    accent_colour: str = "#1F5FA8"
    show_workshop: bool = True
    show_rules: bool = True
    show_serial: bool = True
    # {event} and {committee} are replaced by the programme's names.
    rules: tuple[str, ...] = DEFAULT_RULES
    # Long-edge duplex: the back of each ticket lies exactly behind its front.
    duplex: bool = False
    back_side: Literal["workshop", "blank"] = "workshop"

    @property
    def tickets_per_page(self) -> int:
        return self.columns * self.rows

    @field_validator("accent_colour")
    @classmethod
    def _hex_colour(cls, value: str) -> str:
        if not _HEX.match(value):
            raise _problem("colour_format", value=repr(value))
        contrast = 1.05 / (_luminance(value) + 0.05)
        if contrast < MIN_CONTRAST:
            raise _problem("colour_light", value=value, contrast=f"{contrast:.1f}",
                           needed=f"{MIN_CONTRAST:g}")
        return value.upper()

    @field_validator("rules")
    @classmethod
    def _rules(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(value) > MAX_RULES:
            raise _problem("rules_count", most=MAX_RULES, count=len(value))
        for line in value:
            if not line.strip():
                raise _problem("rule_empty")
            if len(line) > MAX_RULE_CHARS:
                raise _problem("rule_long", length=len(line), most=MAX_RULE_CHARS,
                               line=repr(line))
            unknown = [p for p in _BRACES.findall(line) if p not in PLACEHOLDERS]
            if unknown:
                raise _problem("rule_placeholder", placeholder=unknown[0], line=repr(line),
                               known=" or ".join(PLACEHOLDERS))
        return value

    @model_validator(mode="after")
    def _tickets_fit(self) -> PrintLayout:
        w, h = cell_size_mm(self.paper, self.columns, self.rows, self.margin_mm)
        min_w, min_h = MIN_TICKET_MM
        if w < min_w or h < min_h:
            raise _problem("tickets_fit", columns=self.columns, rows=self.rows,
                           paper=self.paper, margin=f"{self.margin_mm:g}", w=f"{w:.1f}",
                           h=f"{h:.1f}", min_w=f"{min_w:g}", min_h=f"{min_h:g}")
        lines = len(self.rules) if self.show_rules else 0
        card = ticket_slots(w * MM, h * MM, lines).workshop.h / MM
        if self.show_workshop and card < MIN_WORKSHOP_CARD_MM:
            raise _problem("card_fit", lines=lines, card=f"{card:.1f}",
                           needed=f"{MIN_WORKSHOP_CARD_MM:g}")
        return self


# Each layout problem in English (pydantic's message) and Japanese (the committee's page).
PROBLEMS: dict[str, tuple[str, str]] = {
    "colour_format": ("must be a hex colour like #1F5FA8, not {value}",
                      "色は #1F5FA8 のような16進数で指定してください（{value}）"),
    "colour_light": ("{value} is too light: the event name is printed in white on it "
                     "(contrast {contrast}:1, at least {needed}:1 needed)",
                     "{value} は明るすぎます。イベント名を白で印刷するため、コントラスト"
                     "{needed}:1以上が必要です（いまは{contrast}:1）"),
    "rules_count": ("at most {most} rule lines fit on a ticket, got {count}",
                    "券に載せられる注意書きは{most}行までです（{count}行あります）"),
    "rule_empty": ("rule lines must not be empty", "注意書きに空の行があります"),
    "rule_long": ("rule line is {length} characters, at most {most} fit: {line}",
                  "注意書きの1行は{most}文字までです（{length}文字：{line}）"),
    "rule_placeholder": ("unknown placeholder {placeholder} in {line}; use {known}",
                         "注意書きの{placeholder}は使えません。{{event}}か{{committee}}を"
                         "使ってください（{line}）"),
    "tickets_fit": ("{columns} × {rows} tickets do not fit on {paper} with {margin} mm "
                    "margins: each ticket would be {w} × {h} mm, and a ticket needs at "
                    "least {min_w} × {min_h} mm",
                    "{paper}・余白{margin}mmに{columns}列×{rows}段は入りません。券1枚が"
                    "{w}×{h}mmになり、最小{min_w}×{min_h}mm必要です"),
    "card_fit": ("with {lines} rule lines the workshop card would be {card} mm tall "
                 "(at least {needed} mm needed): use fewer rule lines, fewer rows or "
                 "smaller margins",
                 "注意書き{lines}行では工房紹介欄が{card}mmになり、{needed}mm以上必要です。"
                 "注意書きか段数を減らすか、余白を小さくしてください"),
}
FIELD_NAMES_JA = {"paper": "用紙", "mode": "印刷方法", "columns": "列数", "rows": "段数",
                  "margin_mm": "余白", "accent_colour": "色", "rules": "注意書き",
                  "back_side": "裏面", "version": "版"}


def _problem(kind: str, **facts: object) -> PydanticCustomError:
    return PydanticCustomError(f"layout_{kind}", PROBLEMS[kind][0], facts)


def read_layout(fields: object) -> PrintLayout:
    """A layout from what a committee sent, or the refusal ``print.layout_invalid`` that
    names the first problem in Japanese and English."""
    try:
        return PrintLayout.model_validate(fields)
    except ValidationError as error:
        first = error.errors()[0]
        kind = first["type"].removeprefix("layout_")
        facts = first.get("ctx") or {}
        english = first["msg"]
        if kind in PROBLEMS:
            japanese = PROBLEMS[kind][1].format(**facts)
        else:  # pydantic's own checks: a range, a choice, a type
            where = ".".join(str(p) for p in first["loc"])
            label = FIELD_NAMES_JA.get(where, where)
            japanese = f"{label}の値を確かめてください（{english}）"
            english = f"{where}: {english}"
        raise Refusal("print.layout_invalid", problem=japanese, problem_en=english) from error


def _luminance(hex_colour: str) -> float:
    """WCAG relative luminance."""

    def linear(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(v) for v in rgb(hex_colour))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def rgb(hex_colour: str) -> tuple[float, float, float]:
    r, g, b = (int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5))
    return r, g, b
