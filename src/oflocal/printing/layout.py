"""How a programme's booklets are laid out: stored per programme as JSON.

``PrintLayout.model_validate(stored_json)`` must keep working for layouts saved by older
versions, so fields only ever gain defaults, and ``version`` says which shape it is.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

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
            raise ValueError(f"must be a hex colour like #1F5FA8, not {value!r}")
        contrast = 1.05 / (_luminance(value) + 0.05)
        if contrast < MIN_CONTRAST:
            raise ValueError(
                f"{value} is too light: the event name is printed in white on it "
                f"(contrast {contrast:.1f}:1, at least {MIN_CONTRAST:g}:1 needed)"
            )
        return value.upper()

    @field_validator("rules")
    @classmethod
    def _rules(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(value) > MAX_RULES:
            raise ValueError(f"at most {MAX_RULES} rule lines fit on a ticket, got {len(value)}")
        for line in value:
            if not line.strip():
                raise ValueError("rule lines must not be empty")
            if len(line) > MAX_RULE_CHARS:
                raise ValueError(
                    f"rule line is {len(line)} characters, at most {MAX_RULE_CHARS} fit: {line!r}"
                )
            unknown = [p for p in _BRACES.findall(line) if p not in PLACEHOLDERS]
            if unknown:
                raise ValueError(
                    f"unknown placeholder {unknown[0]} in {line!r}; "
                    f"use {' or '.join(PLACEHOLDERS)}"
                )
        return value

    @model_validator(mode="after")
    def _tickets_fit(self) -> PrintLayout:
        w, h = cell_size_mm(self.paper, self.columns, self.rows, self.margin_mm)
        min_w, min_h = MIN_TICKET_MM
        if w < min_w or h < min_h:
            raise ValueError(
                f"{self.columns} × {self.rows} tickets do not fit on {self.paper} with "
                f"{self.margin_mm:g} mm margins: each ticket would be {w:.1f} × {h:.1f} mm, "
                f"and a ticket needs at least {min_w:g} × {min_h:g} mm"
            )
        lines = len(self.rules) if self.show_rules else 0
        card = ticket_slots(w * MM, h * MM, lines).workshop.h / MM
        if self.show_workshop and card < MIN_WORKSHOP_CARD_MM:
            raise ValueError(
                f"with {lines} rule lines the workshop card would be {card:.1f} mm tall "
                f"(at least {MIN_WORKSHOP_CARD_MM:g} mm needed): use fewer rule lines, "
                "fewer rows or smaller margins"
            )
        return self


def _luminance(hex_colour: str) -> float:
    """WCAG relative luminance."""

    def linear(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(v) for v in rgb(hex_colour))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def rgb(hex_colour: str) -> tuple[float, float, float]:
    r, g, b = (int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5))
    return r, g, b
